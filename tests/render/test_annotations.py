"""Annotations and measurement graphics drawn over the image, offscreen."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from viewer.dicom.geometry import OrientationLabels, PixelSpacing, SpacingKind
from viewer.render.annotations import (
    LEFT_EDGE,
    LOWER_EDGE,
    RIGHT_EDGE,
    UPPER_EDGE,
    UPPER_LEFT,
    AnnotationLayer,
)
from viewer.render.graphics import Graphic, GraphicsLayer
from viewer.render.image_view import ImageView
from viewer.render.measure import MeasureKind

AXIAL = OrientationLabels(left="R", right="L", top="A", bottom="P")


@pytest.fixture
def view() -> Iterator[ImageView]:
    v = ImageView(size=(400, 300))
    v.set_frame(np.full((100, 100), 60, dtype=np.uint8))
    yield v
    v.close()


def test_corner_text_is_drawn_in_its_corner(view: ImageView) -> None:
    layer = AnnotationLayer()
    view.add_layer(layer)
    before = view.grab()
    layer.set_corner_texts("PATIENT^NAME\nID 1", "", "", "")
    after = view.grab()
    changed = np.argwhere((after != before).any(axis=2))
    assert changed.size
    assert changed[:, 0].max() < 60 and changed[:, 1].max() < 200  # upper-left quarter
    assert layer.corner_text(UPPER_LEFT) == "PATIENT^NAME\nID 1"
    layer.set_visible(False)
    np.testing.assert_array_equal(view.grab(), before)


def test_orientation_labels_turn_with_the_image(view: ImageView) -> None:
    layer = AnnotationLayer()
    view.add_layer(layer)
    layer.set_orientation(AXIAL)
    shown = [layer.edge_label(p) for p in (LEFT_EDGE, RIGHT_EDGE, UPPER_EDGE, LOWER_EDGE)]
    assert shown == ["R", "L", "A", "P"]
    view.rotate(1)
    shown = [layer.edge_label(p) for p in (LEFT_EDGE, RIGHT_EDGE, UPPER_EDGE, LOWER_EDGE)]
    assert shown == ["P", "A", "R", "L"]
    view.flip(horizontal=True)
    assert layer.edge_label(LEFT_EDGE) == "A"


def test_scale_bar_keeps_a_round_length_and_says_detector(view: ImageView) -> None:
    layer = AnnotationLayer()
    view.add_layer(layer)
    layer.set_spacing(PixelSpacing(0.5, 0.5, SpacingKind.PATIENT))
    first = layer.scale_bar_length
    assert first in (1, 2, 5, 10, 20, 50, 100)
    view.zoom_by(4.0)
    assert layer.scale_bar_length < first
    layer.set_spacing(PixelSpacing(0.2, 0.2, SpacingKind.DETECTOR))
    assert "detector" in layer._bar_text.GetInput()
    layer.set_spacing(PixelSpacing())
    assert layer.scale_bar_length == 0.0


def test_graphics_follow_the_image_through_zoom(view: ImageView) -> None:
    layer = GraphicsLayer()
    view.add_layer(layer)
    view.actual_size()
    layer.set_graphics([Graphic(MeasureKind.LENGTH, [(10.0, 50.0), (90.0, 50.0)])])
    grabbed = view.grab()
    y = round(float(view.transform.image_to_display([(50.0, 50.0)])[0][1]))
    row = grabbed[y - 1:y + 2].max(axis=0)
    green = (row[:, 1] > 200) & (row[:, 0] < 150)
    x0, x1 = view.transform.image_to_display([(10.0, 50.0), (90.0, 50.0)])[:, 0]
    xs = np.flatnonzero(green)
    assert abs(xs.min() - x0) <= 2 and abs(xs.max() - x1) <= 2
    view.zoom_by(2.0, anchor=(200.0, 150.0))
    x0, x1 = view.transform.image_to_display([(10.0, 50.0), (90.0, 50.0)])[:, 0]
    y = round(float(view.transform.image_to_display([(50.0, 50.0)])[0][1]))
    row = view.grab()[y - 1:y + 2].max(axis=0)
    xs = np.flatnonzero((row[:, 1] > 200) & (row[:, 0] < 150))
    assert abs(xs.min() - max(0, x0)) <= 2 and abs(xs.max() - min(399, x1)) <= 2


def test_a_drawn_corner_is_drawn_again_only_when_its_text_changes(view: ImageView) -> None:
    # A corner with letters VTK's font lacks is drawn by the caller's rasterizer, on the
    # GUI thread: scrolling changes the image number, not the patient's name.
    drawn: list[str] = []

    def rasterize(text: str, size: int, colour: tuple[float, float, float],
                  right: bool) -> np.ndarray:
        drawn.append(text)
        image = np.zeros((size + 2, 8 * len(text), 4), dtype=np.uint8)
        image[..., :3], image[..., 3] = 230, 255
        return image

    layer = AnnotationLayer(rasterize=rasterize)
    view.add_layer(layer)
    for number in (1, 2, 3):
        layer.set_corner_texts("Διονυσιος", "", f"Im: {number} / 3", "")
    assert drawn == ["Διονυσιος"] and layer.corner_is_image(UPPER_LEFT)
    before = view.grab()
    layer.set_corner_texts("Люксембург", "", "Im: 3 / 3", "")
    assert drawn == ["Διονυσιος", "Люксембург"]
    assert (view.grab() != before).any()  # the new name is on screen
