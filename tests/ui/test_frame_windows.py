"""Windows that belong to one frame: the fallback to a frame's own range, and file windows
that the next frame lacks (PS3.3 C.11.2.1.2, C.7.6.16.2.10). Real pixels against
``lightbox render`` of the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from tests.support.series import write_ct_series
from tests.ui.conftest import wait_until
from tests.ui.test_viewport import _assert_matches_render, _open_file


def _show(qtbot, vp, index: int) -> None:
    vp.set_index(index)
    wait_until(qtbot, lambda: vp._shown_index == index)


def test_slices_with_an_unusable_window_each_get_their_own_range(qtbot, workstation,
                                                                  tmp_path):
    # Window Width 0 is found in real files; each slice then falls back to its own min-max,
    # and two slices with the same parameters must not share the first one's table.
    folder = tmp_path / "ww0"
    paths = write_ct_series(folder, slices=2)
    for k, path in enumerate(sorted(paths)):
        ds = pydicom.dcmread(path)
        ds.WindowCenter, ds.WindowWidth = 40, 0
        ramp = np.tile(np.linspace(0, 1000 * (2 * k + 1), ds.Columns), (ds.Rows, 1))
        ds.PixelData = ramp.astype(ds.pixel_array.dtype).tobytes()
        ds.save_as(path)
    vp = _open_file(qtbot, workstation, folder)
    vp.actual_size()
    for index in (0, 1):
        _show(qtbot, vp, index)
        _assert_matches_render(vp, tmp_path)


def _enhanced_mr_two_frames(path: Path) -> None:
    """Enhanced MR whose frame 1 names two windows (SOFT, WIDE) and frame 2 one (BRAIN)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from tests.support.images import grey_image

    def item(**kw: object) -> Dataset:
        d = Dataset()
        for k, v in kw.items():
            setattr(d, k, v)
        return d

    ds = grey_image("1.2.840.10008.5.1.4.1.1.4.1", "MR", "LB-TEST-0009", rows=32, columns=32,
                    frames=2)
    ds.SharedFunctionalGroupsSequence = Sequence([item(
        PixelMeasuresSequence=Sequence([item(PixelSpacing=[1, 1], SliceThickness=3)]))])
    ds.PerFrameFunctionalGroupsSequence = Sequence([
        item(FrameVOILUTSequence=Sequence([item(
            WindowCenter=[500, 1500], WindowWidth=[1000, 3000],
            WindowCenterWidthExplanation=["SOFT", "WIDE"])])),
        item(FrameVOILUTSequence=Sequence([item(
            WindowCenter=2900, WindowWidth=400, WindowCenterWidthExplanation="BRAIN")])),
    ])
    frames = np.stack([np.tile(np.linspace(0, 4000, 32), (32, 1))] * 2)
    frames[1] = frames[1][:, ::-1]
    ds.PixelData = frames.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_a_file_window_the_next_frame_lacks_falls_back_to_its_first(qtbot, workstation,
                                                                     tmp_path):
    from viewer.render.annotations import LOWER_RIGHT

    path = tmp_path / "emr.dcm"
    _enhanced_mr_two_frames(path)
    vp = _open_file(qtbot, workstation, path)
    vp.actual_size()
    vp.use_file_window(None)  # key "0": the next file window, frame 1's WIDE
    assert vp.annotations.corner_text(LOWER_RIGHT).splitlines()[0] == "W 3000 C 1500 WIDE"
    _show(qtbot, vp, 1)  # frame 2 has one window: it is shown through it, named by it
    assert vp.render_error is None
    assert vp.annotations.corner_text(LOWER_RIGHT).splitlines()[0] == "W 400 C 2900 BRAIN"
    _assert_matches_render(vp, tmp_path, "--frame", "2")
    # the probe reads the frame on screen: frame 2 runs from 4000 down to 0
    x, y = vp.view.transform.image_to_display([(0, 5)])[0]
    assert "4000" in (vp.measure.probe_text((float(x), float(y))) or "")
    _show(qtbot, vp, 0)  # back on frame 1 the choice made there holds
    assert vp.annotations.corner_text(LOWER_RIGHT).splitlines()[0] == "W 3000 C 1500 WIDE"


def test_a_frame_that_cannot_be_drawn_is_not_left_as_its_neighbour(qtbot, workstation,
                                                                    tmp_path):
    # A retired colour model decodes but is refused by the display (PS3.3 C.7.6.3.1.2):
    # the slice before it must not stay on screen under its number.
    from tests.support.testdata import test_file
    from viewer.render.annotations import LOWER_LEFT

    folder = tmp_path / "two"
    folder.mkdir()
    for number, photometric in ((1, "RGB"), (2, "HSV")):
        ds = pydicom.dcmread(test_file("SC_rgb.dcm"))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{number}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber, ds.PhotometricInterpretation = number, photometric
        ds.save_as(folder / f"im{number}.dcm")
    vp = _open_file(qtbot, workstation, folder)
    assert vp.render_error is None and vp._shown_index == 0
    vp.set_index(1)
    wait_until(qtbot, lambda: vp.render_error is not None)
    assert "HSV" in vp.annotations.corner_text(LOWER_LEFT)
    assert not vp.view.actor.GetVisibility()  # nothing drawn in its place
    x, y = vp.view.transform.image_to_display([(5, 5)])[0]
    assert vp.measure.probe_text((float(x), float(y))) is None


def test_the_file_window_key_passes_over_a_window_no_function_can_take(qtbot, workstation,
                                                                       tmp_path):
    # PS3.3 C.11.2.1.2: Window Width 0 is not a window; "0" cycles through the others only
    from viewer.render.annotations import LOWER_RIGHT

    folder = tmp_path / "cycle"
    paths = write_ct_series(folder, slices=2)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.WindowCenter, ds.WindowWidth = [40, 40, 300], [0, 400, 1500]
        ds.WindowCenterWidthExplanation = ["BROKEN", "SOFT", "BONE"]
        ds.save_as(path)
    vp = _open_file(qtbot, workstation, folder)
    vp.actual_size()
    seen = [vp.annotations.corner_text(LOWER_RIGHT).splitlines()[0]]
    for _ in range(3):
        vp.use_file_window(None)
        assert vp.render_error is None
        seen.append(vp.annotations.corner_text(LOWER_RIGHT).splitlines()[0])
    assert seen == ["W 400 C 40", "W 1500 C 300 BONE", "W 400 C 40 SOFT",
                    "W 1500 C 300 BONE"]
    _show(qtbot, vp, 1)
    _assert_matches_render(vp, tmp_path, "--voi", "3")
