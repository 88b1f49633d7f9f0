"""Measurement math on image coordinates: lengths, angles, ROI statistics (no VTK, no Qt).

Points are ``(col, row)`` image coordinates (pixel centres on integers). Distances use the
pixel spacing in PS3.3 10.7.1.3 order, *row spacing \\ column spacing*; statistics are
computed on modality values (e.g. HU for CT, PS3.3 C.11.1), never on display values.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]


class MeasureKind(enum.Enum):
    """The measurement tools."""

    LENGTH = "length"
    ANGLE = "angle"
    RECTANGLE = "rectangle"
    ELLIPSE = "ellipse"
    PROBE = "probe"


def length(p0: Point, p1: Point, spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Distance between two points, in mm (or pixels with unit spacing).

    Parameters
    ----------
    p0, p1 : tuple of float
        ``(col, row)`` image coordinates.
    spacing : tuple of float
        ``(row_spacing, column_spacing)`` (PS3.3 10.7.1.3).
    """
    dx = (p1[0] - p0[0]) * spacing[1]
    dy = (p1[1] - p0[1]) * spacing[0]
    return math.hypot(dx, dy)


def angle(vertex: Point, a: Point, b: Point, spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Angle ``a - vertex - b`` in degrees (0..180), measured in the patient plane.

    Non-square pixels are scaled first, so the angle is the true one and not the one the
    pixel grid shows.
    """
    ax, ay = (a[0] - vertex[0]) * spacing[1], (a[1] - vertex[1]) * spacing[0]
    bx, by = (b[0] - vertex[0]) * spacing[1], (b[1] - vertex[1]) * spacing[0]
    na, nb = math.hypot(ax, ay), math.hypot(bx, by)
    if na == 0 or nb == 0:
        return 0.0
    cos = max(-1.0, min(1.0, (ax * bx + ay * by) / (na * nb)))
    return math.degrees(math.acos(cos))


def roi_mask(kind: MeasureKind, p0: Point, p1: Point, shape: tuple[int, int]
             ) -> npt.NDArray[np.bool_]:
    """Pixels of a rectangle or ellipse ROI spanned by two opposite corners.

    A pixel belongs to the ROI when its centre lies inside the shape (boundary included).

    Parameters
    ----------
    kind : MeasureKind
        ``RECTANGLE`` or ``ELLIPSE``.
    p0, p1 : tuple of float
        Opposite corners of the bounding box, ``(col, row)``.
    shape : tuple of int
        ``(rows, cols)`` of the frame.
    """
    rows, cols = shape
    c0, c1 = sorted((p0[0], p1[0]))
    r0, r1 = sorted((p0[1], p1[1]))
    cc = np.arange(cols, dtype=np.float64)[None, :]
    rr = np.arange(rows, dtype=np.float64)[:, None]
    if kind is MeasureKind.RECTANGLE:
        return (cc >= c0) & (cc <= c1) & (rr >= r0) & (rr <= r1)
    if kind is MeasureKind.ELLIPSE:
        a, b = (c1 - c0) / 2, (r1 - r0) / 2
        if a <= 0 or b <= 0:
            return np.zeros(shape, dtype=bool)
        xc, yc = (c0 + c1) / 2, (r0 + r1) / 2
        return ((cc - xc) / a) ** 2 + ((rr - yc) / b) ** 2 <= 1.0
    raise ValueError(f"{kind} is not an area measurement")


def roi_area(kind: MeasureKind, p0: Point, p1: Point,
             spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Geometric area of the shape drawn, in mm² (pixels² with unit spacing).

    The rectangle spanned by ``p0`` and ``p1`` has width x height; the ellipse inscribed in
    it has pi a b, with a and b its half-axes. This is the area the reader sees outlined,
    not the number of pixels the statistics are taken over (see :func:`roi_mask`): a
    20 x 20 pixel box holds 21 x 21 pixel centres, boundary included.

    Parameters
    ----------
    kind : MeasureKind
        ``RECTANGLE`` or ``ELLIPSE``.
    p0, p1 : tuple of float
        Opposite corners of the bounding box, ``(col, row)``.
    spacing : tuple of float
        ``(row_spacing, column_spacing)`` (PS3.3 10.7.1.3).
    """
    width = abs(p1[0] - p0[0]) * spacing[1]
    height = abs(p1[1] - p0[1]) * spacing[0]
    if kind is MeasureKind.RECTANGLE:
        return width * height
    if kind is MeasureKind.ELLIPSE:
        return math.pi * (width / 2) * (height / 2)
    raise ValueError(f"{kind} is not an area measurement")


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the modality values inside an ROI.

    ``mean``, ``sd``, ``minimum`` and ``maximum`` are taken over the ``pixels`` whose centres
    lie inside the shape (:func:`roi_mask`); ``sd`` is the population standard deviation
    (every pixel of the ROI is measured, none sampled). ``area`` is the geometric area of
    the shape as drawn (:func:`roi_area`), in mm² (pixels² without spacing): not
    ``pixels`` times the pixel area, which overstates a small ROI by its boundary row and
    column.
    """

    mean: float
    sd: float
    minimum: float
    maximum: float
    area: float
    pixels: int


def roi_stats(values: npt.NDArray[np.floating] | npt.NDArray[np.integer],
              mask: npt.NDArray[np.bool_], area: float) -> RoiStats | None:
    """Mean, SD, min and max of ``values`` under ``mask``; ``None`` for an empty ROI.

    Parameters
    ----------
    values : ndarray
        Modality values of the frame (PS3.3 C.11.1), rows x columns.
    mask : ndarray of bool
        The pixels measured, from :func:`roi_mask`.
    area : float
        The drawn shape's area, from :func:`roi_area`; reported as is.
    """
    inside = np.asarray(values)[mask].astype(np.float64)
    if inside.size == 0:
        return None
    return RoiStats(
        mean=float(inside.mean()),
        sd=float(inside.std()),
        minimum=float(inside.min()),
        maximum=float(inside.max()),
        area=float(area),
        pixels=int(inside.size),
    )


def ellipse_outline(p0: Point, p1: Point, segments: int = 72) -> list[Point]:
    """Closed outline of the ellipse inscribed in the box ``p0``-``p1`` (for drawing)."""
    xc, yc = (p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2
    a, b = abs(p1[0] - p0[0]) / 2, abs(p1[1] - p0[1]) / 2
    t = np.linspace(0, 2 * np.pi, segments + 1)
    return [(float(xc + a * math.cos(v)), float(yc + b * math.sin(v))) for v in t]


def rectangle_outline(p0: Point, p1: Point) -> list[Point]:
    """Closed outline of the box ``p0``-``p1``."""
    return [p0, (p1[0], p0[1]), p1, (p0[0], p1[1]), p0]


def nice_length(target: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``target`` (scale bar lengths)."""
    if target <= 0:
        return 0.0
    exponent = math.floor(math.log10(target))
    for step in (5.0, 2.0, 1.0):
        value = step * 10.0**exponent
        if value <= target:
            return value
    return 10.0 ** (exponent - 1) * 5
