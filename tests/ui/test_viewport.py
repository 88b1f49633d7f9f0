"""The viewport on a real CT phantom: what is on screen is what ``lightbox render`` writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from tests.support.series import write_dx_with_presentation_lut
from tests.support.testdata import charset_file, test_file
from tests.ui.conftest import render_cli, wait_until
from tests.ui.phantom import INSERT, INSERT_HU, SPACING, Phantom
from viewer.render.annotations import LOWER_LEFT, TEXT_COLOUR, UPPER_LEFT
from viewer.ui.viewer.text_images import text_image

pytestmark = pytest.mark.gui


def _open(qtbot, workstation, phantom: Phantom):
    workstation.controller.open_paths([str(phantom.folder)])
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    vp = viewer.viewports[0]
    vp.actual_size()
    return vp


def _open_file(qtbot, workstation, path: Path):
    """Open one file in the viewer; its viewport once its first frame (or why it cannot
    be shown) is on screen."""
    workstation.controller.open_paths([str(path)])
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    return viewer.viewports[0]


def _on_screen(vp) -> np.ndarray:
    """The viewport's grabbed pixels, cropped to the image area."""
    grabbed = vp.grab_frame_buffer()
    x0, y0, x1, y1 = vp.view.transform.image_rect_on_display()
    return grabbed[y0:y1, x0:x1]


def _assert_matches_render(vp, tmp_path: Path, *extra: str) -> None:
    path = Path(vp.series.refs[vp.index].path)
    expected = render_cli(path, tmp_path / f"render{vp.index}.png", *extra)
    shown = _on_screen(vp)
    assert shown.shape[:2] == expected.shape[:2]
    for channel in range(3):
        diff = np.abs(shown[..., channel].astype(int) - expected.astype(int))
        assert diff.max() <= 1, f"channel {channel}: {int(diff.max())} levels off"


def _drag(qtbot, vp, start: QPoint, end: QPoint) -> None:
    """A left-button drag on the viewport's canvas, as a reader draws a measurement."""
    qtbot.mousePress(vp.canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(vp.canvas, end)
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.LeftButton, pos=end)


def _canvas_point(vp, col: float, row: float) -> QPoint:
    x, y = vp.view.transform.image_to_display([(col, row)])[0]
    ratio = vp.canvas.devicePixelRatioF()
    return QPoint(int(x / ratio), int(y / ratio))


def test_first_image_matches_lightbox_render(qtbot, workstation, phantom, tmp_path) -> None:
    vp = _open(qtbot, workstation, phantom)
    assert vp.index == 0 and vp.frame_count == len(phantom.paths)
    assert vp.current_window().center == 40 and vp.current_window().width == 400
    _assert_matches_render(vp, tmp_path)
    texts = [vp.annotations.corner_text(i) for i in range(4)]
    assert "PHANTOM, HU" in texts[2] and "LB-PH-0001" in texts[2]
    assert "Im: 1 / 8" in texts[0] and "W 400 C 40" in texts[1]
    assert vp.annotations.edge_label(6) == "R" and vp.annotations.edge_label(5) == "L"


def test_scrolling_by_wheel_and_keys(qtbot, workstation, phantom, tmp_path) -> None:
    vp = _open(qtbot, workstation, phantom)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_Down)
    assert vp.index == 1
    qtbot.keyClick(vp.canvas, Qt.Key.Key_End)
    assert vp.index == len(phantom.paths) - 1
    wait_until(qtbot, lambda: vp._shown_index == vp.index)
    _assert_matches_render(vp, tmp_path)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_Home)
    assert vp.index == 0
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(vp.canvas.width() / 2, vp.canvas.height() / 2)
    event = QWheelEvent(centre, vp.canvas.mapToGlobal(centre), QPoint(0, 0), QPoint(0, -240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    vp.canvas.wheelEvent(event)
    assert vp.index == 2
    wait_until(qtbot, lambda: vp._shown_index == 2)
    _assert_matches_render(vp, tmp_path)

    # A fine wheel or a touchpad sends an eighth of a notch per event: a slice per notch
    # all the same, not one per event.
    def eighth(delta: int) -> QWheelEvent:
        return QWheelEvent(centre, vp.canvas.mapToGlobal(centre), QPoint(0, 0),
                           QPoint(0, delta), Qt.MouseButton.NoButton,
                           Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)

    for count in range(1, 9):
        vp.canvas.wheelEvent(eighth(-15))
        assert vp.index == (2 if count < 8 else 3)
    for _ in range(3):  # turned back short of a notch: nothing moves
        vp.canvas.wheelEvent(eighth(15))
    vp.canvas.wheelEvent(eighth(-15))
    assert vp.index == 3


def test_window_by_right_drag_and_by_preset(qtbot, workstation, phantom, tmp_path) -> None:
    vp = _open(qtbot, workstation, phantom)
    start = _canvas_point(vp, 128, 128)
    qtbot.mousePress(vp.canvas, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(vp.canvas, start + QPoint(60, -30))
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.RightButton, pos=start + QPoint(60, -30))
    window = vp.current_window()
    assert window.width > 400 and window.center < 40
    _assert_matches_render(vp, tmp_path, "--window", f"{window.center:g}", f"{window.width:g}")
    qtbot.keyClick(vp.canvas, Qt.Key.Key_4)  # the lung preset
    assert (vp.current_window().center, vp.current_window().width) == (-600, 1500)
    _assert_matches_render(vp, tmp_path, "--window", "-600", "1500")
    qtbot.keyClick(vp.canvas, Qt.Key.Key_I)
    _assert_matches_render(vp, tmp_path, "--window", "-600", "1500", "--presentation",
                           "inverse")


def test_invert_on_a_presentation_lut_is_the_negative_on_screen(qtbot, workstation,
                                                                 tmp_path) -> None:
    vp = _open_file(qtbot, workstation, write_dx_with_presentation_lut(tmp_path / "dx.dcm"))
    vp.actual_size()
    before = _on_screen(vp)[..., 0].astype(int)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_I)
    wait_until(qtbot, lambda: not np.array_equal(_on_screen(vp)[..., 0], before))
    _assert_matches_render(vp, tmp_path, "--invert")
    assert np.abs(_on_screen(vp)[..., 0].astype(int) - (255 - before)).max() <= 1


def test_length_and_roi_on_known_phantom(qtbot, workstation, phantom) -> None:
    from viewer.ui.viewer.tools import Tool

    vp = _open(qtbot, workstation, phantom)
    workstation.viewer.set_tool(Tool.LENGTH)
    _drag(qtbot, vp, _canvas_point(vp, 40, 60), _canvas_point(vp, 140, 60))
    (line,) = vp.measure.current()
    assert line.label == f"{100 * SPACING:.1f} mm"

    workstation.viewer.set_tool(Tool.ELLIPSE)
    col, row, radius = INSERT
    r = radius - 4  # well inside the insert
    _drag(qtbot, vp, _canvas_point(vp, col - r, row - r), _canvas_point(vp, col + r, row + r))
    roi = vp.measure.current()[-1]
    assert roi.stats.mean == pytest.approx(INSERT_HU)
    assert roi.stats.sd == pytest.approx(0.0)
    assert f"Mean {INSERT_HU:.1f} HU" in roi.label
    # Measurements belong to their image: gone on the next slice, back on return.
    qtbot.keyClick(vp.canvas, Qt.Key.Key_Down)
    assert vp.measure.current() == []
    qtbot.keyClick(vp.canvas, Qt.Key.Key_Up)
    assert len(vp.measure.current()) == 2


def test_probe_reports_stored_and_modality_values(qtbot, workstation, phantom) -> None:
    vp = _open(qtbot, workstation, phantom)
    col, row, _ = INSERT
    text = vp.measure.probe_text(tuple(vp.view.transform.image_to_display([(col, row)])[0]))
    assert f"SV {INSERT_HU + 1024}" in text and f"{INSERT_HU:.1f} HU" in text


def test_layouts(qtbot, workstation, phantom, tmp_path) -> None:
    _open(qtbot, workstation, phantom)
    viewer = workstation.viewer
    for name, count in (("2x2", 4), ("1x2", 2), ("3x3", 9), ("1x1", 1)):
        workstation.window.set_layout(name)
        assert len(viewer.viewports) == count
        assert viewer.viewports[0].series is not None
    # Reopened in 2x2, one series shows four levels; each viewport shows its own frame.
    workstation.window.set_layout("2x2")
    workstation.window.open_series(list(viewer.series.values()))
    qtbot.waitUntil(lambda: viewer.all_first_frames_shown(), timeout=30000)
    assert [vp.index for vp in viewer.viewports] == [0, 2, 5, 7]
    for vp in viewer.viewports:
        vp.actual_size()
        _assert_matches_render(vp, tmp_path)


def test_angle_and_rectangle_roi(qtbot, workstation, phantom) -> None:
    from viewer.ui.viewer.tools import Tool

    vp = _open(qtbot, workstation, phantom)
    workstation.viewer.set_tool(Tool.ANGLE)
    end_a, vertex, end_b = (_canvas_point(vp, 60, 100), _canvas_point(vp, 100, 100),
                            _canvas_point(vp, 100, 60))
    qtbot.mousePress(vp.canvas, Qt.MouseButton.LeftButton, pos=end_a)
    qtbot.mouseMove(vp.canvas, vertex)
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.LeftButton, pos=vertex)
    qtbot.mouseMove(vp.canvas, end_b)
    qtbot.mousePress(vp.canvas, Qt.MouseButton.LeftButton, pos=end_b)
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.LeftButton, pos=end_b)
    (angle,) = vp.measure.current()
    assert angle.label == "90.0°"

    workstation.viewer.set_tool(Tool.RECTANGLE)
    # A box over the bone rod (+1000 HU) and water around it: min 0, max 1000.
    _drag(qtbot, vp, _canvas_point(vp, 150, 120), _canvas_point(vp, 190, 136))
    box = vp.measure.current()[-1]
    assert (box.stats.minimum, box.stats.maximum) == (0, 1000)
    # The area drawn (40 x 16 pixels); the statistics over the 41 x 17 centres inside.
    assert box.stats.area == pytest.approx(40 * 16 * SPACING**2)
    assert box.stats.pixels == 41 * 17
    qtbot.keyClick(vp.canvas, Qt.Key.Key_Delete)  # the selected (last) measurement
    assert [g.kind.value for g in vp.measure.current()] == ["angle"]


def test_middle_drag_pans_ctrl_wheel_zooms_and_keys_fit(qtbot, workstation, phantom) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    vp = _open(qtbot, workstation, phantom)
    before = vp.view.transform.image_to_display([(128.0, 128.0)])[0]
    start = _canvas_point(vp, 128, 128)
    qtbot.mousePress(vp.canvas, Qt.MouseButton.MiddleButton, pos=start)
    qtbot.mouseMove(vp.canvas, start + QPoint(30, 20))
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.MiddleButton, pos=start + QPoint(30, 20))
    after = vp.view.transform.image_to_display([(128.0, 128.0)])[0]
    assert tuple(np.round(after - before)) == (30, 20)

    anchor = _canvas_point(vp, 90, 128)
    under = vp.view.transform.display_to_image([(anchor.x() + 0.5, anchor.y() + 0.5)])[0]
    event = QWheelEvent(QPointF(anchor), vp.canvas.mapToGlobal(QPointF(anchor)), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    vp.canvas.wheelEvent(event)
    assert vp.view.transform.zoom == pytest.approx(1.15**2, rel=0.01)
    still = vp.view.transform.display_to_image([(anchor.x() + 0.5, anchor.y() + 0.5)])[0]
    assert np.allclose(still, under, atol=0.5)  # the point under the cursor stays put
    assert vp.index == 0  # ctrl+wheel zooms, it does not scroll
    qtbot.keyClick(vp.canvas, Qt.Key.Key_F)
    x0, y0, x1, y1 = vp.view.transform.image_rect_on_display()
    w, h = vp.view.transform.viewport
    assert (x1 - x0 == w) or (y1 - y0 == h)  # fitted: the image touches two edges
    qtbot.keyClick(vp.canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert vp.view.transform.zoom == 1.0


def test_a_cyrillic_name_is_drawn_whole(qtbot, workstation) -> None:
    # VTK's own font has Latin letters only: "Люкceмбypг" (the file mixes in Latin look-
    # alikes) was drawn as "ceyp", another name. Such corner texts are drawn by Qt, whole.
    vp = _open_file(qtbot, workstation, charset_file("chrRuss.dcm"))
    name = vp.annotations.corner_text(UPPER_LEFT).split("\n")[0]
    assert name == "Люкceмбypг"
    assert vp.annotations.corner_is_image(UPPER_LEFT)
    shown = vp.grab_frame_buffer()
    expected = text_image(name, vp.annotations.font_size, TEXT_COLOUR, False)
    height, width = expected.shape[:2]
    # The first line of the upper-left corner, left of the image.
    image_left = vp.view.transform.image_rect_on_display()[0]
    assert image_left > 5 + 2 * width  # a portrait image: the corner is on black
    band = shown[5:5 + height, 5:5 + 2 * width].astype(int)
    # Pixel by pixel, the text's own ink (the shadow aside) is the name drawn on its own.
    expected_red = expected[..., 3].astype(int) * round(TEXT_COLOUR[0] * 255) // 255
    expected_red[expected[..., 0] < 128] = 0  # the black shadow
    difference = np.abs(band[:, :width, 0] - expected_red).mean() / expected_red.mean()
    assert difference < 0.5  # 0.15 here; 1.4 when VTK drew it, letters missing
    # Latin texts keep VTK's text.
    assert not vp.annotations.corner_is_image(1)


def test_a_frame_that_cannot_be_read_says_why_and_counts_as_shown(qtbot, workstation) -> None:
    # badVR.dcm's Number of Frames is "1A": its viewport shows why, in full. Screenshots
    # waited for it to show a frame, 120 s, and the reason ran off the viewport's edge.
    workstation.controller.open_paths([str(test_file("CT_small.dcm")),
                                       str(test_file("badVR.dcm"))])
    viewer = workstation.viewer
    viewer.set_layout(1, 2)
    wait_until(qtbot, lambda: all(vp.series is not None for vp in viewer.viewports[:2])
               and viewer.all_first_frames_shown())
    failed = [vp for vp in viewer.viewports[:2] if vp._shown_index is None]
    assert len(failed) == 1
    lines = failed[0].annotations.corner_text(LOWER_LEFT).split("\n")
    text = " ".join(lines)
    assert "Cannot show this image" in text and "is not a number" in text
    width = failed[0].view.transform.viewport[0]
    assert max(len(line) for line in lines) * failed[0].annotations.font_size * 0.6 < width


def test_corner_texts_of_a_multi_frame_file_without_patient_id(qtbot, workstation) -> None:
    # pydicom's emri_small.dcm: 10 frames, an empty Patient ID. Its first frame did not
    # say "Frame: 1" (the others did), and an empty "ID:" was shown.
    vp = _open_file(qtbot, workstation, test_file("emri_small.dcm"))
    assert "Frame: 1" in vp.annotations.corner_text(LOWER_LEFT).split("\n")
    assert not any(line.startswith("ID:") for line in
                   vp.annotations.corner_text(UPPER_LEFT).split("\n"))


def _padded_ct(folder: Path) -> Path:
    """A 100x100 CT slice: 40 HU inside a round field of view, Pixel Padding Value
    outside it (PS3.3 C.7.5.1.1.2)."""
    import pydicom

    from tests.support.series import write_ct_series

    (path,) = write_ct_series(folder, slices=1, rows=100, cols=100)
    ds = pydicom.dcmread(path)
    rr, cc = np.mgrid[0:100, 0:100]
    inside = (rr - 49.5) ** 2 + (cc - 49.5) ** 2 <= 45 ** 2
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelRepresentation = 1
    ds.add_new(0x00280120, "SS", -2000)  # Pixel Padding Value
    ds.PixelData = np.where(inside, 1024 + 40, -2000).astype(np.int16).tobytes()
    ds.save_as(path)
    return path


def test_roi_and_probe_leave_padding_out(qtbot, workstation, tmp_path) -> None:
    from viewer.ui.viewer.tools import Tool

    vp = _open_file(qtbot, workstation, _padded_ct(tmp_path / "ct"))
    vp.actual_size()
    workstation.viewer.set_tool(Tool.RECTANGLE)
    _drag(qtbot, vp, _canvas_point(vp, 0, 30), _canvas_point(vp, 30, 70))
    (box,) = vp.measure.current()
    assert box.stats.mean == pytest.approx(40.0) and box.stats.minimum == 40.0, box.label
    assert box.stats.sd == pytest.approx(0.0)
    assert "padding px left out" in box.label
    text = vp.measure.probe_text(tuple(vp.view.transform.image_to_display([(2, 2)])[0]))
    assert text.endswith("SV -2000  padding"), text


def test_values_below_one_keep_their_digits() -> None:
    from viewer.ui.viewer.measuring import _fmt

    assert _fmt(0.0008, "") == "0.0008"  # an ADC map in mm²/s read "0.0"
    assert _fmt(-0.00245, "") == "-0.00245"
    assert _fmt(0.0, "HU") == "0.0"
    assert _fmt(40.04, "HU") == "40.0"
    assert _fmt(1234.5, "") == "1234"


def test_pet_values_carry_their_units(qtbot, workstation, tmp_path) -> None:
    # PS3.3 C.8.9.1.1.3: a PET image's rescaled values are in Units (0054,1001); the
    # probe and ROIs showed bare numbers.
    import pydicom

    from tests.support.series import write_ct_series

    (path,) = write_ct_series(tmp_path / "pt", slices=1, rows=32, cols=32)
    ds = pydicom.dcmread(path)
    ds.Modality, ds.Units = "PT", "BQML"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
    ds.RescaleSlope, ds.RescaleIntercept = 2.5, 0
    if "RescaleType" in ds:
        del ds.RescaleType  # a CT's HU
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    vp.actual_size()
    text = vp.measure.probe_text(tuple(vp.view.transform.image_to_display([(3, 3)])[0]))
    assert text.endswith(" Bq/ml"), text


def test_pet_probe_and_roi_give_suv_or_say_why_not(qtbot, workstation, tmp_path) -> None:
    # SUVbw (PS3.3 C.8.9.1, C.8.9.2): the number a PET reading reports, SUVmax above all.
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from tests.support.series import write_ct_series
    from viewer.render.annotations import LOWER_RIGHT
    from viewer.ui.viewer.tools import Tool

    paths = write_ct_series(tmp_path / "pt", slices=2, rows=32, cols=32)
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.Modality, ds.Units, ds.DecayCorrection = "PT", "BQML", "ADMIN"
        ds.CorrectedImage = ["ATTN", "DECY"]
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
        ds.RescaleSlope, ds.RescaleIntercept = 10, 0
        if "RescaleType" in ds:
            del ds.RescaleType
        if k == 0:
            ds.PatientWeight = 80
        drug = Dataset()
        drug.RadionuclideTotalDose = 4e8
        ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
        ds.PixelData = np.full((32, 32), 500, dtype=ds.pixel_array.dtype).tobytes()
        ds.save_as(path)
    vp = _open_file(qtbot, workstation, tmp_path / "pt")
    vp.actual_size()
    wait_until(qtbot, lambda: vp.series.loaded_count() == 2)
    weighed = 0 if vp.series.facts(0).suv.usable else 1
    if vp.index != weighed:
        vp.set_index(weighed)
        wait_until(qtbot, lambda: vp._shown_index == weighed)
    suv = 5000 * 80000 / 4e8  # 5000 Bq/ml, 80 kg, 400 MBq: 1.00
    text = vp.measure.probe_text(tuple(vp.view.transform.image_to_display([(3, 3)])[0]))
    assert text.endswith(f" Bq/ml  SUVbw {suv:.2f}"), text
    workstation.viewer.set_tool(Tool.RECTANGLE)
    _drag(qtbot, vp, _canvas_point(vp, 4, 4), _canvas_point(vp, 20, 20))
    (box,) = vp.measure.current()
    assert f"SUVbw Mean {suv:.2f}  SD 0.00  Max {suv:.2f}" in box.label, box.label

    other = 1 - weighed
    vp.set_index(other)
    wait_until(qtbot, lambda: vp._shown_index == other)
    assert "No SUV: no Patient's Weight" in vp.annotations.corner_text(LOWER_RIGHT)
    text = vp.measure.probe_text(tuple(vp.view.transform.image_to_display([(3, 3)])[0]))
    assert "SUV" not in text, text


def test_a_length_at_the_detector_says_so_on_its_label(qtbot, workstation, tmp_path) -> None:
    # PS3.3 10.7.1.1: with Imager Pixel Spacing alone a length is true at the detector,
    # not in the patient; the label read "16.0 mm" like a CT's.
    import pydicom

    from tests.support.series import write_ct_series
    from viewer.ui.viewer.tools import Tool

    (path,) = write_ct_series(tmp_path / "dx", slices=1, rows=100, cols=100)
    ds = pydicom.dcmread(path)
    ds.Modality = "DX"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    vp.actual_size()
    workstation.viewer.set_tool(Tool.LENGTH)
    _drag(qtbot, vp, _canvas_point(vp, 10, 50), _canvas_point(vp, 90, 50))
    (line,) = vp.measure.current()
    assert line.label == "16.0 mm (detector)"


def test_ultrasound_lengths_take_the_units_of_the_region_holding_them(qtbot, workstation
                                                                      ) -> None:
    # PS3.3 C.8.5.5: OBXXXX1A holds a 2D scan (cm both ways, 0.0262 cm/px) and a waveform
    # strip below it whose X axis is time (0.00964 s/px). A line along the strip read
    # "26.2 mm"; one from the scan into the strip too.
    import re

    from tests.support.testdata import test_file
    from viewer.ui.viewer.tools import Tool

    vp = _open_file(qtbot, workstation, test_file("OBXXXX1A.dcm"))
    workstation.viewer.set_tool(Tool.LENGTH)

    def label(p0: tuple[int, int], p1: tuple[int, int]) -> str:
        vp.measure.delete_all()
        _drag(qtbot, vp, _canvas_point(vp, *p0), _canvas_point(vp, *p1))
        (line,) = vp.measure.current()
        drawn = line.points
        return str(line.label), abs(drawn[1][0] - drawn[0][0]), abs(drawn[1][1] - drawn[0][1])

    text, dx, _ = label((300, 550), (500, 550))  # along the strip: a time
    seconds = float(re.fullmatch(r"horizontal (\S+) s", text).group(1))
    assert seconds == pytest.approx(dx * 0.009642736608649534, rel=0.01)
    text, dx, dy = label((300, 200), (500, 200))  # in the scan: a length
    millimetres = float(re.fullmatch(r"(\S+) mm", text).group(1))
    assert millimetres == pytest.approx(((dx ** 2 + dy ** 2) ** 0.5) * 0.2622878766, abs=0.06)
    text, _, _ = label((300, 300), (300, 550))  # from the scan into the strip: no distance
    assert text.endswith(" px (not inside one calibrated region)"), text


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_dragging_up_brightens_the_picture_whatever_its_polarity(qtbot, workstation, tmp_path,
                                                                 photometric) -> None:
    # The same hand movement on a chest radiograph (MONOCHROME1, PS3.3 C.7.6.3.1.2), a CT,
    # or either after Invert: up is brighter on screen, as Help says.
    import pydicom

    from tests.support.series import write_ct_series

    (path,) = write_ct_series(tmp_path / photometric, slices=1, rows=100, cols=100)
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = photometric
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    for _ in range(2):  # as opened, then inverted
        before = vp.displayed_pixels().mean()
        start = _canvas_point(vp, 50, 50)
        qtbot.mousePress(vp.canvas, Qt.MouseButton.RightButton, pos=start)
        qtbot.mouseMove(vp.canvas, start + QPoint(0, -40))
        qtbot.mouseRelease(vp.canvas, Qt.MouseButton.RightButton, pos=start + QPoint(0, -40))
        assert vp.displayed_pixels().mean() > before + 5
        vp.toggle_invert()


@pytest.mark.parametrize(("change", "unit"), [
    ("identity", " HU"),  # C.8.2.1: no Rescale Type on a CT means HU, stored as they are
    ("unspecified", ""),  # Rescale Type US says the values are not HU
    ("frame group", " HU"),  # an enhanced frame's own Rescale Type (C.7.6.16.2.9)
])
def test_ct_values_are_hu_by_the_frame_s_rescale_type(qtbot, workstation, tmp_path, change,
                                                      unit) -> None:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from tests.support.series import write_ct_series

    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=32, cols=32)
    ds = pydicom.dcmread(path)
    if "RescaleType" in ds:
        del ds.RescaleType
    if change == "identity":
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    elif change == "unspecified":
        ds.RescaleType = "US"
    else:
        ds.RescaleType = "US"
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = 1, -1024
        transform.RescaleType = "HU"
        shared = Dataset()
        shared.PixelValueTransformationSequence = Sequence([transform])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    vp.actual_size()
    text = vp.measure.probe_text(tuple(vp.view.transform.image_to_display([(3, 3)])[0]))
    assert text is not None
    assert text.endswith(unit) and (unit or not text.endswith("HU")), text


def test_rois_on_colour_images_measure_the_shape_only(qtbot, workstation) -> None:
    # PS3.3 C.7.6.3.1.5: OBXXXX1A's values are palette indices, not quantities; its ROIs
    # read "Mean 4.0 SD 31.7" of indices. Ellipses give their circumference (HC, AC).
    import math
    import re

    from tests.support.testdata import test_file
    from viewer.ui.viewer.tools import Tool

    vp = _open_file(qtbot, workstation, test_file("OBXXXX1A.dcm"))
    workstation.viewer.set_tool(Tool.ELLIPSE)
    _drag(qtbot, vp, _canvas_point(vp, 300, 150), _canvas_point(vp, 500, 350))
    (ellipse,) = vp.measure.current()
    assert "Mean" not in ellipse.label and ellipse.stats is None
    found = re.fullmatch(r"Area (\S+) cm²  Circumference (\S+) mm", ellipse.label)
    assert found, ellipse.label
    (c0, r0), (c1, r1) = ellipse.points
    a, b = abs(c1 - c0) / 2 * 0.2622878766, abs(r1 - r0) / 2 * 0.2622878766
    assert float(found.group(1)) == pytest.approx(math.pi * a * b / 100, abs=0.01)
    assert float(found.group(2)) == pytest.approx(math.pi * (a + b), rel=0.01)  # ~ a circle
