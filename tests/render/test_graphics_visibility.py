"""Measurement graphics read on any image, and their labels never hide one another.

Checked in real pixels, offscreen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from viewer.render.graphics import Graphic, GraphicsLayer, label_box, place_label
from viewer.render.image_view import ImageView
from viewer.render.measure import MeasureKind

SIZE = (400, 300)


@pytest.fixture
def drawn() -> Iterator[tuple[ImageView, GraphicsLayer]]:
    view = ImageView(size=SIZE)
    layer = GraphicsLayer()
    view.add_layer(layer)
    yield view, layer
    view.close()


def _line_pixels(view: ImageView, layer: GraphicsLayer, value: int) -> np.ndarray:
    """The pixels around a horizontal length line over a uniform image (rows x cols x RGB)."""
    view.set_frame(np.full((100, 100), value, dtype=np.uint8))
    view.fit()
    layer.set_graphics([Graphic(MeasureKind.LENGTH, [(20.0, 50.0), (80.0, 50.0)])])
    grabbed = view.grab().astype(int)
    (x0, y), (x1, _) = view.transform.image_to_display([(20.0, 50.0), (80.0, 50.0)])
    row, left, right = round(float(y)), round(float(x0)) + 3, round(float(x1)) - 3
    return grabbed[row - 4:row + 5, left:right]


def test_a_length_line_shows_on_a_white_image(drawn) -> None:
    # Drawn in light green alone, over a white image (a mammogram's background, an
    # inverted radiograph) the line was (89, 255, 115) on white, beside no dark pixel.
    view, layer = drawn
    around = _line_pixels(view, layer, 255)
    darkest = around.max(axis=2).min(axis=0)  # per column, its darkest pixel's brightest channel
    assert (darkest < 64).all(), "a dark edge along the whole line"
    green = (around[..., 1] > 200) & (around[..., 0] < 150)
    assert green.any(axis=0).all(), "the green line itself along its whole length"


def test_the_edge_does_not_hide_the_line_on_a_black_image(drawn) -> None:
    view, layer = drawn
    around = _line_pixels(view, layer, 0)
    green = (around[..., 1] > 200) & (around[..., 0] < 150)
    assert green.any(axis=0).all()


def _label_pixels(view: ImageView, layer: GraphicsLayer, graphics: list[Graphic]) -> int:
    """How many pixels the graphics' labels change (the same graphics drawn unlabelled)."""
    bare = [Graphic(g.kind, g.points) for g in graphics]
    layer.set_graphics(bare)
    without = view.grab()
    layer.set_graphics(graphics)
    return int((view.grab() != without).any(axis=2).sum())


def test_labels_of_graphics_ending_at_one_point_do_not_cover_each_other(drawn) -> None:
    # Two lengths measured from one landmark's far side to the same point: both labels
    # went below-right of that point, one on the other, and neither could be read.
    view, layer = drawn
    view.set_frame(np.full((100, 100), 60, dtype=np.uint8))
    view.fit()
    first = Graphic(MeasureKind.LENGTH, [(10.0, 20.0), (50.0, 50.0)], "123.4 mm")
    second = Graphic(MeasureKind.LENGTH, [(90.0, 20.0), (50.0, 50.0)], "567.8 mm")
    one = _label_pixels(view, layer, [first])
    both = _label_pixels(view, layer, [first, second])
    assert one > 0
    assert both > 1.7 * one, "two labels, side by side or one below the other"


def test_a_label_at_the_right_edge_stays_in_the_viewport(drawn) -> None:
    view, layer = drawn
    view.set_frame(np.full((100, 100), 60, dtype=np.uint8))
    view.fit()
    # A probe at the image's right edge, which the fitted image puts at the viewport's.
    x_edge = view.transform.display_to_image([(SIZE[0] - 2.0, SIZE[1] / 2)])[0][0]
    point = (min(99.0, float(x_edge)), 50.0)
    label = "HU 1234.5\nSD 12.3"
    assert _label_pixels(view, layer, [Graphic(MeasureKind.PROBE, [point], label)]) > 0
    anchor_x = float(view.transform.image_to_display([point])[0][0])
    layer.set_graphics([Graphic(MeasureKind.PROBE, [point])])
    without = view.grab()
    layer.set_graphics([Graphic(MeasureKind.PROBE, [point], label)])
    changed = np.argwhere((view.grab() != without).any(axis=2))
    width, _height = label_box(label, layer.font_size)
    # The whole label is drawn, left of its point.
    assert changed[:, 1].min() < anchor_x - width / 2


def test_place_label_moves_a_label_off_the_earlier_ones_and_into_the_viewport() -> None:
    taken: list[tuple[int, int, int, int]] = []
    assert place_label((100.0, 100.0), (60, 16), (400, 300), taken) == (108, 108)
    x, y = place_label((100.0, 100.0), (60, 16), (400, 300), taken)
    assert (x, y) == (108, 126)  # below the first, two pixels apart
    x, y = place_label((390.0, 295.0), (60, 16), (400, 300), taken)
    assert x + 60 <= 400 and y + 16 <= 300
    # At the bottom, a third label at the same point moves up instead.
    taken = [(108, 280, 168, 296)]
    x, y = place_label((100.0, 275.0), (60, 16), (400, 300), taken)
    assert y + 16 <= 280
