"""Where an image pixel lands on the screen: zoom, pan, quarter-turn rotation and flips.

Pure arithmetic, no VTK: the :class:`ViewTransform` is the single source of truth that both
the VTK camera (:mod:`viewer.render.image_view`) and the mouse handling of the user interface
use, so that a measurement drawn with the mouse lands on the pixel under the cursor.

Coordinate systems
------------------
image
    ``(col, row)`` in pixels, pixel centres on integers, ``(0, 0)`` the top-left pixel
    (PS3.3 C.7.6.2.1.1: the first pixel transmitted is the top left hand corner).
plane
    ``(col * column_spacing, row * row_spacing)`` in mm, so that non-square pixels keep their
    true aspect (PS3.3 10.7.1.3: Pixel Spacing is *row spacing \\ column spacing*).
world
    the plane after the orientation matrix (rotations and flips about the image centre).
display
    pixels of the viewport, x to the right and y **down** from its top-left corner, as Qt
    reports mouse positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_ROTATE_CW = np.array([[0, -1], [1, 0]], dtype=np.int64)  # y is down: (1, 0) -> (0, 1)
_FLIP_H = np.array([[-1, 0], [0, 1]], dtype=np.int64)
_FLIP_V = np.array([[1, 0], [0, -1]], dtype=np.int64)

#: Zoom limits, in display pixels per image pixel.
MIN_ZOOM = 0.05
MAX_ZOOM = 64.0


@dataclass(frozen=True)
class ViewTransform:
    """Mapping between image pixels and viewport pixels.

    Parameters
    ----------
    image_size : tuple of int
        ``(columns, rows)`` of the frame.
    spacing : tuple of float
        ``(row_spacing, column_spacing)`` in mm, in the order of Pixel Spacing (0028,0030);
        ``(1, 1)`` when the image carries none.
    viewport : tuple of int
        ``(width, height)`` of the viewport in pixels.
    scale : float
        Display pixels per mm of plane.
    center : tuple of float
        World point (mm) shown at the centre of the viewport.
    orientation : tuple of int
        Row-major 2 x 2 integer matrix of rotations and flips applied about the image centre.
    """

    image_size: tuple[int, int] = (1, 1)
    spacing: tuple[float, float] = (1.0, 1.0)
    viewport: tuple[int, int] = (1, 1)
    scale: float = 1.0
    center: tuple[float, float] = (0.0, 0.0)
    orientation: tuple[int, int, int, int] = field(default=(1, 0, 0, 1))

    # ------------------------------------------------------------------ derived values
    @property
    def matrix(self) -> npt.NDArray[np.int64]:
        """The 2 x 2 orientation matrix."""
        return np.array(self.orientation, dtype=np.int64).reshape(2, 2)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """``(dx, dy)``: mm per image pixel along columns (x) and rows (y)."""
        return (self.spacing[1], self.spacing[0])

    @property
    def image_center(self) -> FloatArray:
        """Centre of the image in plane coordinates (mm)."""
        cols, rows = self.image_size
        dx, dy = self.pixel_size
        return np.array([(cols - 1) / 2 * dx, (rows - 1) / 2 * dy])

    @property
    def zoom(self) -> float:
        """Display pixels per image column (1.0 is "1:1")."""
        return self.scale * self.pixel_size[0]

    def world_bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of the image's outer pixel edges in world mm."""
        cols, rows = self.image_size
        corners = np.array(
            [[-0.5, -0.5], [cols - 0.5, -0.5], [-0.5, rows - 0.5], [cols - 0.5, rows - 0.5]]
        )
        world = self.image_to_world(corners)
        return (
            float(world[:, 0].min()),
            float(world[:, 0].max()),
            float(world[:, 1].min()),
            float(world[:, 1].max()),
        )

    # ------------------------------------------------------------------ conversions
    def image_to_world(self, points: npt.ArrayLike) -> FloatArray:
        """Map ``(col, row)`` points (shape ``(n, 2)`` or ``(2,)``) to world mm."""
        pts = np.asarray(points, dtype=np.float64)
        plane = pts * np.array(self.pixel_size)
        c = self.image_center
        out: FloatArray = (plane - c) @ self.matrix.T.astype(np.float64) + c
        return out

    def world_to_image(self, points: npt.ArrayLike) -> FloatArray:
        """Inverse of :meth:`image_to_world`."""
        pts = np.asarray(points, dtype=np.float64)
        c = self.image_center
        # Orientation matrices are orthogonal with entries 0/±1: the inverse is the transpose.
        plane = (pts - c) @ self.matrix.astype(np.float64) + c
        out: FloatArray = plane / np.array(self.pixel_size)
        return out

    def world_to_display(self, points: npt.ArrayLike) -> FloatArray:
        """Map world mm to viewport pixels (y down)."""
        pts = np.asarray(points, dtype=np.float64)
        half = np.array(self.viewport, dtype=np.float64) / 2
        out: FloatArray = half + (pts - np.array(self.center)) * self.scale
        return out

    def display_to_world(self, points: npt.ArrayLike) -> FloatArray:
        """Map viewport pixels (y down) to world mm."""
        pts = np.asarray(points, dtype=np.float64)
        half = np.array(self.viewport, dtype=np.float64) / 2
        out: FloatArray = (pts - half) / self.scale + np.array(self.center)
        return out

    def image_to_display(self, points: npt.ArrayLike) -> FloatArray:
        """Map ``(col, row)`` to viewport pixels; pixel centres map to pixel-centre positions."""
        return self.world_to_display(self.image_to_world(points))

    def display_to_image(self, points: npt.ArrayLike) -> FloatArray:
        """Map a viewport position (e.g. the mouse) to fractional ``(col, row)``."""
        return self.world_to_image(self.display_to_world(points))

    def image_rect_on_display(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` display pixels covered by the image (x1, y1 exclusive), clipped."""
        xmin, xmax, ymin, ymax = self.world_bounds()
        (x0, y0), (x1, y1) = self.world_to_display([[xmin, ymin], [xmax, ymax]])
        w, h = self.viewport
        return (
            max(0, round(x0)),
            max(0, round(y0)),
            min(w, round(x1)),
            min(h, round(y1)),
        )

    # ------------------------------------------------------------------ new transforms
    def with_viewport(self, width: int, height: int) -> ViewTransform:
        """Same view on a resized viewport."""
        return replace(self, viewport=(max(1, width), max(1, height))).snapped()

    def with_image(
        self, image_size: tuple[int, int], spacing: tuple[float, float]
    ) -> ViewTransform:
        """Same zoom and centre for another frame (scrolling keeps the view)."""
        if image_size == self.image_size and spacing == self.spacing:
            return self
        return replace(self, image_size=image_size, spacing=spacing)

    def fitted(self) -> ViewTransform:
        """The whole image, centred, as large as the viewport allows."""
        xmin, xmax, ymin, ymax = self.world_bounds()
        w, h = self.viewport
        scale = min(w / max(xmax - xmin, 1e-9), h / max(ymax - ymin, 1e-9))
        center = ((xmin + xmax) / 2, (ymin + ymax) / 2)
        return replace(self, scale=scale, center=center)

    def with_zoom(self, zoom: float, anchor: tuple[float, float] | None = None) -> ViewTransform:
        """Set the zoom (display pixels per image column), keeping ``anchor`` (display) fixed."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        scale = zoom / self.pixel_size[0]
        if anchor is None:
            anchor = (self.viewport[0] / 2, self.viewport[1] / 2)
        fixed = self.display_to_world(anchor)
        half = np.array(self.viewport, dtype=np.float64) / 2
        center = fixed - (np.array(anchor) - half) / scale
        return replace(self, scale=scale, center=(float(center[0]), float(center[1]))).snapped()

    def actual_size(self) -> ViewTransform:
        """1:1: one image pixel on one screen pixel, centred on the image."""
        c = self.image_to_world(np.array(self.image_size, dtype=np.float64) / 2 - 0.5)
        return replace(
            self, scale=1.0 / self.pixel_size[0], center=(float(c[0]), float(c[1]))
        ).snapped()

    def panned(self, dx: float, dy: float) -> ViewTransform:
        """Move the image by ``(dx, dy)`` display pixels."""
        cx, cy = self.center
        return replace(self, center=(cx - dx / self.scale, cy - dy / self.scale)).snapped()

    def rotated(self, quarter_turns: int) -> ViewTransform:
        """Rotate the image clockwise on screen by ``quarter_turns`` x 90 degrees."""
        m = self.matrix
        for _ in range(quarter_turns % 4):
            m = _ROTATE_CW @ m
        return self._with_matrix(m)

    def flipped(self, horizontal: bool) -> ViewTransform:
        """Mirror the image left-right (``horizontal``) or top-bottom on screen."""
        return self._with_matrix((_FLIP_H if horizontal else _FLIP_V) @ self.matrix)

    def _with_matrix(self, m: npt.NDArray[np.int64]) -> ViewTransform:
        flat = tuple(int(v) for v in m.ravel())
        return replace(self, orientation=(flat[0], flat[1], flat[2], flat[3])).snapped()

    def snapped(self) -> ViewTransform:
        """Align pixel edges with screen pixels when the zoom is a whole number.

        At 1:1, 2:1 ... every image pixel then covers whole screen pixels exactly, so the
        screen shows the pipeline's output values unchanged (nearest-neighbour sampling
        at a texel boundary would otherwise pick either neighbour).
        """
        dx, dy = self.pixel_size
        m = self.matrix
        # Screen x follows image columns unless the image is turned a quarter.
        sx, sy = (dx, dy) if m[0, 0] != 0 else (dy, dx)
        zx, zy = self.scale * sx, self.scale * sy
        if not (_is_whole(zx) and _is_whole(zy)):
            return self
        xmin, _, ymin, _ = self.world_bounds()
        w, h = self.viewport
        center = list(self.center)
        for axis, edge, half in ((0, xmin, w / 2), (1, ymin, h / 2)):
            pos = half + (edge - center[axis]) * self.scale
            center[axis] = edge - (round(pos) - half) / self.scale
        return replace(self, center=(center[0], center[1]))


def as_viewed(pixels: npt.NDArray[Any], transform: ViewTransform) -> npt.NDArray[Any]:
    """``pixels`` (rows x columns [x 3]) turned and mirrored as ``transform`` shows them,
    with square pixels: the coarser axis repeated by the ratio of the spacings (PS3.3
    10.7.1.3, row and column spacing may differ), nearest neighbour as on screen."""
    dx, dy = transform.pixel_size
    rows, cols = pixels.shape[:2]
    if not math.isclose(dx, dy, rel_tol=1e-6):
        if dy > dx:
            count = max(1, round(rows * dy / dx))
            pixels = pixels[np.minimum((np.arange(count) + 0.5) * dx / dy, rows - 1)
                            .astype(np.intp)]
        else:
            count = max(1, round(cols * dx / dy))
            pixels = pixels[:, np.minimum((np.arange(count) + 0.5) * dy / dx, cols - 1)
                            .astype(np.intp)]
    ys, xs = np.indices(pixels.shape[:2])
    m = transform.matrix
    sx = m[0, 0] * xs + m[0, 1] * ys
    sy = m[1, 0] * xs + m[1, 1] * ys
    sx -= sx.min()
    sy -= sy.min()
    out = np.empty((int(sy.max()) + 1, int(sx.max()) + 1, *pixels.shape[2:]), pixels.dtype)
    out[sy, sx] = pixels
    return out


def _is_whole(value: float) -> bool:
    # 1 / 0.661468 * 0.661468 is 0.9999999999999999: compared with 1 itself, 1:1 was not
    # snapped for such spacings and every pixel edge fell half-way across a screen pixel.
    whole = round(value)
    return whole >= 1 and math.isclose(value, whole, rel_tol=0, abs_tol=1e-9)
