"""ViewTransform: image <-> display mapping used by the camera and by the mouse."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from viewer.render.transform import ViewTransform


def _view(**kwargs: Any) -> ViewTransform:
    base = ViewTransform(image_size=(400, 300), spacing=(1.0, 1.0), viewport=(600, 560))
    return replace(base, **kwargs)


def test_round_trip_through_every_orientation() -> None:
    t = _view(spacing=(0.7, 0.5)).fitted()
    pts = np.array([[0.0, 0.0], [399.0, 0.0], [12.5, 250.25]])
    for turns in range(4):
        for flip in (False, True):
            u = t.rotated(turns)
            u = u.flipped(True) if flip else u
            back = u.display_to_image(u.image_to_display(pts))
            np.testing.assert_allclose(back, pts, atol=1e-9)


def test_fit_keeps_the_aspect_of_non_square_pixels() -> None:
    # PS3.3 10.7.1.3: 0.5 mm between rows, 0.25 mm between columns: rows look twice as tall.
    t = ViewTransform(image_size=(100, 100), spacing=(0.5, 0.25), viewport=(400, 400)).fitted()
    x0, y0, x1, y1 = t.image_rect_on_display()
    assert (x1 - x0) * 2 == pytest.approx(y1 - y0, abs=1)
    assert y1 - y0 == 400


def test_actual_size_puts_pixel_edges_on_screen_pixels() -> None:
    t = _view(viewport=(601, 561)).actual_size()
    assert t.zoom == 1.0
    left_edge = t.image_to_display([[-0.5, -0.5]])[0]
    np.testing.assert_allclose(left_edge, np.round(left_edge), atol=1e-9)
    x0, y0, x1, y1 = t.image_rect_on_display()
    assert (x1 - x0, y1 - y0) == (400, 300)


def test_zoom_keeps_the_anchor_still() -> None:
    t = _view().fitted()
    anchor = (123.0, 77.0)
    before = t.display_to_image([anchor])[0]
    after = t.with_zoom(t.zoom * 3.3, anchor).display_to_image([anchor])[0]
    np.testing.assert_allclose(after, before, atol=1e-9)


def test_rotation_is_clockwise_on_screen() -> None:
    t = _view(image_size=(100, 100), viewport=(100, 100)).fitted().rotated(1)
    # The top-left pixel goes to the top-right corner after a clockwise quarter turn.
    x, y = t.image_to_display([[0.0, 0.0]])[0]
    assert x > 90 and y < 10
    h = _view(image_size=(100, 100), viewport=(100, 100)).fitted().flipped(True)
    x, y = h.image_to_display([[0.0, 0.0]])[0]
    assert x > 90 and y < 10


def test_pan_moves_the_image_by_display_pixels() -> None:
    t = _view().fitted().with_zoom(2.0)
    p = t.image_to_display([[10.0, 20.0]])[0]
    q = t.panned(15, -4).image_to_display([[10.0, 20.0]])[0]
    np.testing.assert_allclose(q - p, [15, -4], atol=1e-9)


def test_as_viewed_turns_mirrors_and_squares_pixels() -> None:
    from viewer.render.transform import as_viewed

    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    view = ViewTransform(image_size=(4, 3), spacing=(1.0, 1.0), viewport=(100, 100))
    np.testing.assert_array_equal(as_viewed(pixels, view), pixels)
    np.testing.assert_array_equal(as_viewed(pixels, view.rotated(1)), np.rot90(pixels, -1))
    np.testing.assert_array_equal(as_viewed(pixels, view.rotated(1).flipped(True)),
                                  np.rot90(pixels, -1)[:, ::-1])
    rgb = np.stack([pixels, pixels + 1, pixels + 2], axis=-1)
    np.testing.assert_array_equal(as_viewed(rgb, view.flipped(False)), rgb[::-1])
    # Rows 1 mm apart, columns 0.5 mm: each row shown twice, 4 x 6 on screen.
    tall = ViewTransform(image_size=(4, 3), spacing=(1.0, 0.5), viewport=(100, 100))
    np.testing.assert_array_equal(as_viewed(pixels, tall), np.repeat(pixels, 2, axis=0))
