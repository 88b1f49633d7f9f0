"""ImageView renders offscreen; the pixels on screen are the frame's values, unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from viewer.render.image_view import ImageView


@pytest.fixture
def view() -> Iterator[ImageView]:
    v = ImageView(size=(600, 560))
    yield v
    v.close()


@pytest.fixture
def frame() -> npt.NDArray[np.uint8]:
    return np.random.default_rng(7).integers(0, 256, size=(300, 400), dtype=np.uint8)


def _image_area(view: ImageView) -> npt.NDArray[np.uint8]:
    x0, y0, x1, y1 = view.transform.image_rect_on_display()
    return view.grab()[y0:y1, x0:x1]


def test_one_to_one_shows_every_value_exactly(view: ImageView, frame: npt.NDArray[np.uint8]
                                              ) -> None:
    view.set_frame(frame)
    view.actual_size()
    shown = _image_area(view)
    assert shown.shape == (300, 400, 3)
    np.testing.assert_array_equal(shown[..., 0], frame)
    np.testing.assert_array_equal(shown[..., 1], frame)
    np.testing.assert_array_equal(shown[..., 2], frame)


def test_outside_the_image_is_black(view: ImageView, frame: npt.NDArray[np.uint8]) -> None:
    view.set_frame(frame + 1 - (frame == 255))  # no zero inside the image
    view.actual_size()
    grabbed = view.grab()
    x0, y0, x1, y1 = view.transform.image_rect_on_display()
    mask = np.ones(grabbed.shape[:2], dtype=bool)
    mask[y0:y1, x0:x1] = False
    assert grabbed[mask].max() == 0
    assert grabbed[~mask].min() > 0


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_rotation_matches_numpy(view: ImageView, frame: npt.NDArray[np.uint8], turns: int
                                ) -> None:
    view.set_frame(frame)
    view.rotate(turns)
    view.actual_size()
    np.testing.assert_array_equal(_image_area(view)[..., 0], np.rot90(frame, -turns))


def test_flips_match_numpy(view: ImageView, frame: npt.NDArray[np.uint8]) -> None:
    view.set_frame(frame)
    view.flip(horizontal=True)
    view.actual_size()
    np.testing.assert_array_equal(_image_area(view)[..., 0], frame[:, ::-1])
    view.flip(horizontal=True)
    view.flip(horizontal=False)
    np.testing.assert_array_equal(_image_area(view)[..., 0], frame[::-1, :])


def test_zoomed_pixels_are_nearest_neighbour(view: ImageView, frame: npt.NDArray[np.uint8]
                                             ) -> None:
    view.set_frame(frame)
    view.actual_size()
    view.zoom_by(3.0, anchor=(300.0, 280.0))
    grabbed = view.grab()[..., 0]
    t = view.transform
    ys, xs = np.mgrid[0:560, 0:600]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    col_row = np.floor(t.display_to_image(centres) + 0.5).astype(int)
    np.testing.assert_array_equal(grabbed.ravel(), frame[col_row[:, 1], col_row[:, 0]])


def test_rgb_frames_keep_their_colours(view: ImageView) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
    view.set_frame(rgb)
    view.actual_size()
    np.testing.assert_array_equal(_image_area(view), rgb)


def test_scrolling_keeps_zoom_and_pan(view: ImageView, frame: npt.NDArray[np.uint8]) -> None:
    view.set_frame(frame)
    view.zoom_by(1.7)
    view.pan_by(20, 10)
    before = view.transform
    view.set_frame(255 - frame)
    assert view.transform == before


def test_non_uint8_frames_are_refused(view: ImageView) -> None:
    with pytest.raises(ValueError, match="uint8"):
        view.set_frame(np.zeros((4, 4), dtype=np.uint16))  # type: ignore[arg-type]


@pytest.mark.parametrize("spacing", [0.661468, 0.7, 0.3125])
@pytest.mark.parametrize("height", [560, 803])
def test_one_to_one_is_exact_whatever_the_spacing(
        frame: npt.NDArray[np.uint8], spacing: float, height: int) -> None:
    # With CT_small.dcm's spacing, 1 / spacing * spacing is not quite 1: the view was not
    # aligned to screen pixels and showed neighbours' values (an odd height shows it).
    view = ImageView(size=(600, height))
    try:
        view.set_frame(frame, spacing=(spacing, spacing))
        view.actual_size()
        np.testing.assert_array_equal(_image_area(view)[..., 0], frame)
    finally:
        view.close()
