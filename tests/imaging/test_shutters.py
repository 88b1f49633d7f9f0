"""Display shutters pixel by pixel against independent rasterisations (loops and Pillow).

dcmtk is no oracle here: dcmj2pnm ignores the Display Shutter module, and dcmp2pgm reads the
shutters of a presentation state (it logs them) but leaves them out of the bitmap it writes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw

from viewer.imaging.shutters import ShutterSpec, shutter_mask

ROWS, COLS = 40, 50

RECT = (5, 45, 3, 35)  # left, right, upper, lower
CIRCLE = (20, 25, 17)  # centre row, centre column, radius
POLYGONS = {
    "quad": ((2, 2), (38, 10), (30, 48), (4, 40)),
    "concave": ((5, 5), (35, 5), (35, 45), (20, 25), (5, 45)),
    "triangle beyond image": ((-10, 25), (60, -5), (60, 70)),
    "self-touching star": ((1, 25), (39, 10), (15, 48), (15, 2), (39, 40)),
}


def _loop_inside_rect(r: int, c: int) -> bool:
    left, right, upper, lower = RECT
    return left <= c <= right and upper <= r <= lower


def _loop_inside_circle(r: int, c: int) -> bool:
    cr, cc, radius = CIRCLE
    return (r - cr) ** 2 + (c - cc) ** 2 <= radius**2


def _on_segment(r: int, c: int, a: tuple[int, int], b: tuple[int, int]) -> bool:
    (y0, x0), (y1, x1) = a, b
    cross = (c - x0) * (y1 - y0) - (r - y0) * (x1 - x0)
    return cross == 0 and min(x0, x1) <= c <= max(x0, x1) and min(y0, y1) <= r <= max(y0, y1)


def _loop_inside_polygon(r: int, c: int, poly: tuple[tuple[int, int], ...]) -> bool:
    """Ray casting towards +column with float intersection, plus the closed boundary."""
    inside = False
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        if _on_segment(r, c, a, b):
            return True
        (y0, x0), (y1, x1) = a, b
        if (y0 > r) != (y1 > r):
            x_at = x0 + (r - y0) * (x1 - x0) / (y1 - y0)
            if c < x_at:
                inside = not inside
    return inside


def _loop_mask(spec: ShutterSpec) -> npt.NDArray[np.bool_]:
    covered = np.zeros((ROWS, COLS), dtype=bool)
    for r in range(1, ROWS + 1):
        for c in range(1, COLS + 1):
            visible = True
            if spec.rectangle is not None:
                visible &= _loop_inside_rect(r, c)
            if spec.circle is not None:
                visible &= _loop_inside_circle(r, c)
            if spec.polygon is not None:
                visible &= _loop_inside_polygon(r, c, spec.polygon)
            covered[r - 1, c - 1] = not visible
    return covered


def _pillow_open(shape: str, poly: tuple[tuple[int, int], ...] = ()) -> npt.NDArray[np.bool_]:
    """Pillow's rasterisation of the open area (pixel x = column - 1, y = row - 1)."""
    img = Image.new("1", (COLS, ROWS), 0)
    draw = ImageDraw.Draw(img)
    if shape == "rect":
        left, right, upper, lower = RECT
        draw.rectangle((left - 1, upper - 1, right - 1, lower - 1), fill=1)
    elif shape == "circle":
        cr, cc, radius = CIRCLE
        draw.ellipse((cc - 1 - radius, cr - 1 - radius, cc - 1 + radius, cr - 1 + radius), fill=1)
    else:
        draw.polygon([(c - 1, r - 1) for r, c in poly], fill=1, outline=1)
    return np.array(img, dtype=bool)


def _near_boundary(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pixels with a neighbour (8-connected) of the other value."""
    padded = np.pad(mask, 1, mode="edge")
    near = np.zeros_like(mask)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= padded[1 + dy : 1 + dy + ROWS, 1 + dx : 1 + dx + COLS] != mask
    return near


SPECS = {
    "rectangle": ShutterSpec(rectangle=RECT),
    "circle": ShutterSpec(circle=CIRCLE),
    **{f"polygon {k}": ShutterSpec(polygon=v) for k, v in POLYGONS.items()},
    "rectangle + circle": ShutterSpec(rectangle=RECT, circle=CIRCLE),
    "all three": ShutterSpec(rectangle=RECT, circle=CIRCLE, polygon=POLYGONS["quad"]),
    "circle + concave": ShutterSpec(circle=CIRCLE, polygon=POLYGONS["concave"]),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_mask_matches_independent_loops(name: str) -> None:
    spec = SPECS[name]
    assert np.array_equal(shutter_mask(spec, ROWS, COLS), _loop_mask(spec))


def test_rectangle_matches_pillow_exactly() -> None:
    assert np.array_equal(~shutter_mask(SPECS["rectangle"], ROWS, COLS), _pillow_open("rect"))


@pytest.mark.parametrize("name", ["circle", *[f"polygon {k}" for k in POLYGONS]])
def test_curved_and_polygon_shapes_match_pillow_inside_and_out(name: str) -> None:
    spec = SPECS[name]
    ours = ~shutter_mask(spec, ROWS, COLS)
    pillow = _pillow_open("circle") if spec.circle else _pillow_open("poly", spec.polygon or ())
    differ = ours != pillow
    # Rasterisers may disagree on edge pixels only, never in the interior or far outside.
    assert not np.any(differ & ~_near_boundary(ours))
    assert differ.sum() <= 0.25 * _near_boundary(ours).sum()


def test_combination_leaves_the_least_image_visible() -> None:
    both = shutter_mask(SPECS["rectangle + circle"], ROWS, COLS)
    rect = shutter_mask(SPECS["rectangle"], ROWS, COLS)
    circle = shutter_mask(SPECS["circle"], ROWS, COLS)
    assert np.array_equal(both, rect | circle)
    assert both.sum() > max(rect.sum(), circle.sum())


def test_coordinates_are_one_based_and_edges_visible() -> None:
    mask = shutter_mask(ShutterSpec(rectangle=(1, 1, 1, 1)), 3, 3)
    assert mask.tolist() == [[False, True, True], [True, True, True], [True, True, True]]
    mask = shutter_mask(ShutterSpec(circle=(2, 2, 1)), 3, 3)
    assert mask.tolist() == [[True, False, True], [False, False, False], [True, False, True]]


def test_no_shape_covers_nothing() -> None:
    spec = ShutterSpec(presentation_value=100)
    assert spec.empty
    assert not shutter_mask(spec, 4, 4).any()
