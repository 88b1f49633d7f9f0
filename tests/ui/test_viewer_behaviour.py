"""What the viewer does that a reader relies on without looking for it: files left out are
named, cine plays at the file's rate and only while seen, CT presets stay on CT, invert
works on colour, ROI areas are the areas drawn, small images get thumbnails one can see,
and a new layout neither moves the focus nor leaves viewports empty that a series fits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from PySide6.QtCore import QSize, Qt

from tests.support.testdata import test_file
from tests.ui.conftest import wait_until
from tests.ui.phantom import SPACING, Phantom, write_phantom
from tests.ui.test_viewport import _canvas_point, _on_screen, _open, _open_file

pytestmark = pytest.mark.gui


# ---------------------------------------------------------------------- files left out
def _folder_with_bad_files(tmp_path: Path) -> tuple[Path, Phantom]:
    """Six phantom slices, one cut short; a damaged DICOM file; a README (not DICOM)."""
    phantom = write_phantom(tmp_path / "cd", slices=6)
    cut = phantom.paths[3]
    cut.write_bytes(cut.read_bytes()[:-60000])
    (phantom.folder / "DAMAGED").write_bytes(b"\0" * 128 + b"DICM" + b"garbage" * 10)
    (phantom.folder / "README.TXT").write_text("Images of the patient, burnt by a PACS\n")
    return phantom.folder, phantom


def _status_labels_naming(window, text: str) -> list:
    """The status bar's visible labels that contain ``text``."""
    from PySide6.QtWidgets import QLabel

    return [label for label in window.statusBar().findChildren(QLabel)
            if label.isVisible() and text in label.text()]


def test_read_series_names_the_files_it_cannot_read(tmp_path: Path) -> None:
    from viewer.ui.viewer.opening import read_series

    folder, phantom = _folder_with_bad_files(tmp_path)
    (series,) = read_series([folder])
    assert len(series) == 5
    names = [reason.split(":")[0] for reason in series.unreadable]
    # The disc's README is not an image that went missing: it is not named.
    assert names == ["DAMAGED", phantom.paths[3].name]  # in the order of the folder
    assert "truncated" in series.unreadable[1]


def test_files_that_cannot_be_read_are_named_in_the_status_bar_and_it_stays(
        qtbot, workstation, tmp_path) -> None:
    # Five of six slices opened with "Series loaded: 5 images" and no word of the sixth.
    folder, phantom = _folder_with_bad_files(tmp_path)
    workstation.controller.open_paths([str(folder)])
    viewer, window = workstation.viewer, workstation.window
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    (label,) = _status_labels_naming(window, phantom.paths[3].name)
    text = label.text()
    assert text.startswith("2 files could not be read and are not shown: ")
    assert "DAMAGED" in text and "README" not in text
    assert phantom.paths[3].name in label.toolTip()
    # Status messages come and go (loading, the probe); the warning stays.
    viewer.status_message.emit("Series loaded: 5 images")
    wait_until(qtbot, lambda: viewer.viewports[0].loader.done)
    assert label.isVisible() and label.text() == text
    # A new opening replaces what is shown, and the warning with it.
    good = write_phantom(tmp_path / "good", slices=2, patient_id="LB-PH-0002")
    workstation.controller.open_paths([str(good.folder)])
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and len(viewer.viewports[0].series) == 2)
    assert not label.isVisible()


# ---------------------------------------------------------------------- cine
def test_cine_rate_follows_the_cine_module() -> None:
    from viewer.ui.viewer.series import cine_rate

    ds = Dataset()
    assert cine_rate(ds) is None
    ds.FrameTimeVector = ["0", "40", "40", "40"]  # 25 frames/s
    assert cine_rate(ds) == pytest.approx(25.0)
    ds.FrameTime = "33.333"
    assert cine_rate(ds) == pytest.approx(30.0, abs=0.01)
    ds.CineRate = 24
    assert cine_rate(ds) == 24
    ds.RecommendedDisplayFrameRate = 15  # meant for display: before the rate recorded
    assert cine_rate(ds) == 15
    bad = Dataset()
    bad.FrameTime = "0"
    assert cine_rate(bad) is None


def test_cine_plays_at_the_files_frame_rate(qtbot, workstation) -> None:
    # Frame Time 33.333 ms: 30 frames/s. It played at 10.
    vp = _open_file(qtbot, workstation, test_file("color3d_jpeg_baseline.dcm"))
    assert vp.frame_count == 120
    qtbot.keyClick(vp.canvas, Qt.Key.Key_C)
    assert vp.cine_timer.isActive()
    assert vp.cine_timer.interval() == 33
    assert "Cine 30 fps" in vp.annotations.corner_text(1)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_BracketLeft)  # the reader's choice wins
    assert vp.cine_timer.interval() == 42  # 24 frames/s
    qtbot.keyClick(vp.canvas, Qt.Key.Key_C)
    assert not vp.cine_timer.isActive()


def test_cine_without_a_rate_in_the_file_plays_at_ten_frames_a_second(
        qtbot, workstation, phantom) -> None:
    vp = _open(qtbot, workstation, phantom)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_C)
    assert vp.cine_timer.interval() == 100
    vp.stop_cine()


def test_cine_pauses_while_the_viewer_is_not_shown(qtbot, workstation, phantom) -> None:
    vp = _open(qtbot, workstation, phantom)
    window = workstation.window
    qtbot.keyClick(vp.canvas, Qt.Key.Key_C)
    assert vp.cine_timer.isActive()
    window.show_browser()  # another tab: the viewport is hidden
    wait_until(qtbot, lambda: not vp.isVisible())
    assert not vp.cine_timer.isActive() and vp.cine_playing
    window.tabs.setCurrentWidget(workstation.viewer)
    wait_until(qtbot, lambda: vp.isVisible())
    assert vp.cine_timer.isActive() and vp.cine_timer.interval() == 100
    qtbot.keyClick(vp.canvas, Qt.Key.Key_C)
    assert not vp.cine_playing
    window.show_browser()
    window.tabs.setCurrentWidget(workstation.viewer)
    wait_until(qtbot, lambda: vp.isVisible())
    assert not vp.cine_timer.isActive()  # stopped stays stopped


# ---------------------------------------------------------------------- CT presets
def test_ct_presets_do_nothing_on_an_mr_and_say_why(qtbot, workstation) -> None:
    vp = _open_file(qtbot, workstation, test_file("MR_small.dcm"))
    before = vp.current_window()
    qtbot.keyClick(vp.canvas, Qt.Key.Key_4)
    assert vp.current_window() == before and vp.preset_name == ""
    assert "Lung" not in vp.annotations.corner_text(1)
    message = workstation.window.statusBar().currentMessage()
    assert "for CT" in message and "MR" in message
    window = workstation.window
    window.window_menu.aboutToShow.emit()
    labels = [a.text() for a in window.window_menu.actions()]
    assert not any(label.startswith(("Lung", "Brain", "Bone")) for label in labels)
    assert any(label.startswith("Image's own window") for label in labels)


def test_ct_presets_still_apply_to_ct(qtbot, workstation, phantom) -> None:
    vp = _open(qtbot, workstation, phantom)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_4)
    window = vp.current_window()
    assert (window.center, window.width, vp.preset_name) == (-600, 1500, "Lung")
    menu = workstation.window.window_menu
    menu.aboutToShow.emit()
    (bone,) = [a for a in menu.actions() if a.text().startswith("Bone")]
    bone.trigger()
    assert (vp.current_window().center, vp.current_window().width) == (400, 1800)


# ---------------------------------------------------------------------- invert
def test_invert_inverts_a_colour_image(qtbot, workstation) -> None:
    vp = _open_file(qtbot, workstation, test_file("SC_rgb.dcm"))
    vp.actual_size()
    before = vp.displayed_pixels().copy()
    shown_before = _on_screen(vp).astype(int)
    assert before.ndim == 3
    qtbot.keyClick(vp.canvas, Qt.Key.Key_I)
    assert vp.inverted and "Inverted" in vp.annotations.corner_text(1)
    assert np.array_equal(vp.displayed_pixels(), 255 - before)
    shown = _on_screen(vp).astype(int)
    assert np.abs(shown - (255 - shown_before)).max() <= 1
    qtbot.keyClick(vp.canvas, Qt.Key.Key_I)
    assert np.array_equal(vp.displayed_pixels(), before)
    assert "Inverted" not in vp.annotations.corner_text(1)


# ---------------------------------------------------------------------- ROI area
@pytest.mark.parametrize(("tool", "expected_mm2"), [
    ("RECTANGLE", 16.0 * 16.0),
    ("ELLIPSE", np.pi * 8.0 * 8.0),
])
def test_roi_area_is_the_area_drawn(qtbot, workstation, phantom, tool, expected_mm2) -> None:
    from viewer.ui.viewer.tools import Tool

    vp = _open(qtbot, workstation, phantom)
    workstation.viewer.set_tool(Tool[tool])
    # 20 x 20 pixels of 0.8 mm: 16 mm square, inside the water (0 HU).
    a, b = _canvas_point(vp, 100, 150), _canvas_point(vp, 120, 170)
    qtbot.mousePress(vp.canvas, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(vp.canvas, b)
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.LeftButton, pos=b)
    roi = vp.measure.current()[-1]
    p0, p1 = roi.points
    drawn = abs(p1[0] - p0[0]) * SPACING * abs(p1[1] - p0[1]) * SPACING
    assert drawn == pytest.approx(256.0, rel=0.01)  # the mouse put the corners there
    assert roi.stats.area == pytest.approx(expected_mm2, rel=0.01)
    assert f"Area {expected_mm2 / 100:.2f} cm²" in roi.label
    assert roi.stats.mean == 0 and roi.stats.sd == 0


# ---------------------------------------------------------------------- thumbnails
def _small_secondary_capture(path: Path, rows: int, columns: int) -> Path:
    ds = pydicom.dcmread(test_file("MR_small.dcm"))
    pixels = ds.pixel_array[:rows, :columns].copy()
    ds.Rows, ds.Columns = rows, columns
    ds.PixelData = pixels.tobytes()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(path)
    return path


def _strip_icon_size(qtbot, workstation, path: Path) -> QSize:
    _open_file(qtbot, workstation, path)
    strip = workstation.viewer.strip
    wait_until(qtbot, lambda: strip.count() == 1 and not strip.item(0).icon().isNull())
    return strip.item(0).icon().pixmap(QSize(96, 96)).size()


def test_a_tiny_image_fills_its_thumbnail_box(qtbot, workstation) -> None:
    # A 10 x 10 RT Dose grid was a 10 x 10 speck in a 96 pixel box.
    size = _strip_icon_size(qtbot, workstation, test_file("rtdose.dcm"))
    assert (size.width(), size.height()) == (96, 96)
    image = workstation.viewer.strip.item(0).icon().pixmap(QSize(96, 96)).toImage()
    # Enlarged by whole-pixel blocks: no value in between two of the grid's.
    grey = {image.pixelColor(x, y).red() for x in range(96) for y in range(96)}
    assert len(grey) <= 100


def test_a_thin_image_keeps_its_aspect_ratio(qtbot, workstation, tmp_path) -> None:
    path = _small_secondary_capture(tmp_path / "thin.dcm", rows=10, columns=45)
    size = _strip_icon_size(qtbot, workstation, path)
    assert size.width() == 96 and size.height() == pytest.approx(96 * 10 / 45, abs=1)


def test_strip_thumbnail_leaves_a_full_size_one_alone(qapp) -> None:
    from PySide6.QtGui import QPixmap

    from viewer.ui.viewer.viewer_widget import strip_thumbnail

    big = QPixmap(96, 60)
    assert strip_thumbnail(big).size() == QSize(96, 60)
    medium = QPixmap(64, 32)  # more than half the box: smoothly, to the box
    assert strip_thumbnail(medium).size() == QSize(96, 48)


# ---------------------------------------------------------------------- layouts
def _three_series(phantom: Phantom):
    """The phantom's slices split into three series of one study (two slices each)."""
    from viewer.dicom.header import read_header
    from viewer.ui.viewer.series import SeriesData

    records = [read_header(p) for p in phantom.paths[:6]]
    return [SeriesData.from_records([
        replace(r, series_uid=f"{phantom.series_uid}.{k}", series_number=k + 1,
                series_description=f"part {k + 1}")
        for r in records[2 * k:2 * k + 2]]) for k in range(3)]


def test_a_new_layout_keeps_the_active_viewport_with_one_series(
        qtbot, workstation, phantom) -> None:
    vp = _open(qtbot, workstation, phantom)
    viewer = workstation.viewer
    for name, count in (("2x2", 4), ("3x3", 9)):
        workstation.window.set_layout(name)
        assert len(viewer.viewports) == count
        assert viewer.active is viewer.viewports[0] is vp
        assert vp.property("active") and not viewer.viewports[-1].property("active")
        assert [v.series is None for v in viewer.viewports[1:]] == [True] * (count - 1)


def test_a_new_layout_shows_the_next_series_without_moving_the_focus(
        qtbot, workstation, phantom) -> None:
    viewer = workstation.viewer
    first, second, third = _three_series(phantom)
    workstation.window.open_series([first, second, third])
    assert viewer.viewports[0].series is first
    # The reader moves to the second series in the one viewport, then asks for four.
    viewer.show_series(second.series_uid)
    active = viewer.active
    workstation.window.set_layout("2x2")
    assert viewer.active is active is viewer.viewports[0]
    assert [v.property("active") for v in viewer.viewports] == [True, False, False, False]
    assert [v.series for v in viewer.viewports] == [second, third, first, None]
    wait_until(qtbot, viewer.all_first_frames_shown)


def test_a_video_is_not_said_to_be_loaded(qtbot, workstation, tmp_path) -> None:
    # Its 30 frames failed alike, and the status bar said "Series loaded: 30 images".
    from pydicom.uid import MPEG4HP41

    from tests.support.video import write_video

    path = write_video(tmp_path / "video.dcm", MPEG4HP41, generate_uid())
    said: list[str] = []
    workstation.viewer.status_message.connect(said.append)
    vp = _open_file(qtbot, workstation, path)
    wait_until(qtbot, lambda: vp.loader.done and any(s.startswith("Series loaded") for s in said))
    assert "Series loaded: 0 of 30 images can be shown" in said
    assert "Series loaded: 30 images" not in said
