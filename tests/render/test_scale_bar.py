"""The scale bar stays visible on any image: light on a dark outline, checked in real pixels."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from viewer.dicom.geometry import PixelSpacing, SpacingKind
from viewer.render.annotations import AnnotationLayer
from viewer.render.image_view import ImageView

SIZE = (400, 300)


@pytest.fixture
def layer_on() -> Iterator[tuple[ImageView, AnnotationLayer]]:
    view = ImageView(size=SIZE)
    layer = AnnotationLayer()
    view.add_layer(layer)
    yield view, layer
    view.close()


def _bar_pixels(view: ImageView, layer: AnnotationLayer, value: int) -> np.ndarray:
    """The pixels around the bar's line, along its whole length (rows x columns x RGB).

    The image fills the bar's whole width, uniformly ``value``; what the bar (not its
    label) changes is found by drawing once with and once without it.
    """
    view.set_frame(np.full((100, 100), value, dtype=np.uint8))
    view.fit()
    layer.set_spacing(None)
    without = view.grab().astype(int)
    layer.set_spacing(PixelSpacing(0.5, 0.5, SpacingKind.PATIENT))
    with_bar = view.grab().astype(int)
    assert layer.scale_bar_length > 0
    changed = (with_bar != without).any(axis=2)
    # The bar's line is the row it changes most; its label lies above its ticks.
    row = int(np.argmax(changed.sum(axis=1)))
    half = layer.scale_bar_length * view.transform.scale / 2
    x0, x1 = round(SIZE[0] / 2 - half), round(SIZE[0] / 2 + half)
    image_x0, _, image_x1, _ = view.transform.image_rect_on_display()
    assert image_x0 <= x0 and x1 <= image_x1  # the bar lies wholly over the image
    assert (without[row - 3:row + 4, x0:x1] == value).all()
    return with_bar[row - 3:row + 4, x0:x1]


def test_the_scale_bar_shows_on_a_white_image(layer_on) -> None:
    # Drawn in the light annotation colour alone, over a white image (a mammogram's
    # background, an inverted radiograph) the bar was (237, 235, 204) on white: gone.
    view, layer = layer_on
    bar = _bar_pixels(view, layer, 255)
    darkest = bar.max(axis=2).min(axis=0)  # per column, its darkest pixel's brightest channel
    assert (darkest < 64).all(), "an outline darker than the white image along the whole bar"


def test_the_scale_bar_shows_on_a_black_image(layer_on) -> None:
    # The outline must not hide the bar where it always showed: on black.
    view, layer = layer_on
    bar = _bar_pixels(view, layer, 0)
    brightest = bar.min(axis=2).max(axis=0)  # per column, its brightest pixel's dimmest channel
    assert (brightest > 180).all(), "the light bar along its whole length"
