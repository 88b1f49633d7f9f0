"""Display shutters (PS3.3 C.7.6.11): which pixels are covered, and with what level.

Coordinates are 1-based (the top-left pixel is row 1, column 1) and address pixel centres.
Edge pixels belong to the open (visible) area. When several shapes are given, PS3.3 C.7.6.11
asks that the least image stays visible: a pixel is visible only if it is inside every shape,
so the covered area is the union of the shapes' outsides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ShutterSpec:
    """The display shutter of an image or presentation state.

    Attributes
    ----------
    rectangle : tuple of int or None
        ``(left, right, upper, lower)``: Shutter Left/Right Vertical Edge (0018,1602)/(0018,1604)
        as columns and Upper/Lower Horizontal Edge (0018,1606)/(0018,1608) as rows.
    circle : tuple of int or None
        ``(centre_row, centre_column, radius)``: Center of Circular Shutter (0018,1610) and
        Radius of Circular Shutter (0018,1612), in pixels.
    polygon : tuple of (row, column) pairs or None
        Vertices of the Polygonal Shutter (0018,1620), at least 3.
    presentation_value : int or None
        Shutter Presentation Value (0018,1622), a P-value 0..65535; None when absent.
    """

    rectangle: tuple[int, int, int, int] | None = None
    circle: tuple[int, int, int] | None = None
    polygon: tuple[tuple[int, int], ...] | None = None
    presentation_value: int | None = None

    @property
    def empty(self) -> bool:
        """True when no shape is given (nothing is covered)."""
        return self.rectangle is None and self.circle is None and self.polygon is None


def _grid(rows: int, cols: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    r = np.arange(1, rows + 1, dtype=np.int64)[:, np.newaxis]  # 1-based, PS3.3 C.7.6.11.1
    c = np.arange(1, cols + 1, dtype=np.int64)[np.newaxis, :]
    return r, c


def _inside_polygon(vertices: tuple[tuple[int, int], ...], rows: int, cols: int) -> BoolArray:
    """Pixel centres inside the closed polygon or on its boundary (even-odd rule)."""
    r, c = _grid(rows, cols)
    r = np.broadcast_to(r, (rows, cols))
    c = np.broadcast_to(c, (rows, cols))
    inside = np.zeros((rows, cols), dtype=bool)
    boundary = np.zeros((rows, cols), dtype=bool)
    n = len(vertices)
    for i in range(n):
        (y0, x0), (y1, x1) = vertices[i], vertices[(i + 1) % n]
        # Crossing test on a half-open row interval so that vertices are counted once.
        crosses = (y0 > r) != (y1 > r)
        if y1 != y0:
            # x of the edge at row r, compared without division: sign-corrected cross product
            lhs = (c - x0) * (y1 - y0)
            rhs = (r - y0) * (x1 - x0)
            left_of_edge = lhs < rhs if y1 > y0 else lhs > rhs
            inside ^= crosses & left_of_edge
        # Integer coordinates: a centre is on the edge when the cross product is exactly 0.
        on_line = (c - x0) * (y1 - y0) == (r - y0) * (x1 - x0)
        within = (
            (np.minimum(x0, x1) <= c)
            & (c <= np.maximum(x0, x1))
            & (np.minimum(y0, y1) <= r)
            & (r <= np.maximum(y0, y1))
        )
        boundary |= on_line & within
    return inside | boundary


def shutter_mask(spec: ShutterSpec, rows: int, cols: int) -> BoolArray:
    """Pixels hidden by the shutter (True = covered).

    Parameters
    ----------
    spec : ShutterSpec
        The shutter shapes.
    rows, cols : int
        Image size.

    Returns
    -------
    numpy.ndarray
        ``rows x cols`` bool; the union of the outsides of all given shapes (PS3.3 C.7.6.11.1:
        the combination leaves the least image visible).
    """
    covered = np.zeros((rows, cols), dtype=bool)
    r, c = _grid(rows, cols)
    if spec.rectangle is not None:
        left, right, upper, lower = spec.rectangle
        covered |= (c < left) | (c > right) | (r < upper) | (r > lower)
    if spec.circle is not None:
        cr, cc, radius = spec.circle
        covered |= (r - cr) ** 2 + (c - cc) ** 2 > radius * radius
    if spec.polygon is not None:
        covered |= ~_inside_polygon(spec.polygon, rows, cols)
    return covered


