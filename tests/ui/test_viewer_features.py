"""Viewer features beyond reading one stack: orientation, cine, export, drag and drop,
comparison, calibration, remembered window state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QByteArray, QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent

from tests.ui.conftest import render_cli, wait_until
from tests.ui.phantom import write_phantom
from tests.ui.test_viewport import _assert_matches_render, _on_screen, _open

pytestmark = pytest.mark.gui


def test_rotate_flip_and_reset_move_real_pixels(qtbot, workstation, phantom, tmp_path):
    vp = _open(qtbot, workstation, phantom)
    expected = render_cli(Path(vp.series.refs[0].path), tmp_path / "r.png")
    qtbot.keyClick(vp.canvas, Qt.Key.Key_R)
    vp.actual_size()
    shown = _on_screen(vp)[..., 0].astype(int)
    assert np.abs(shown - np.rot90(expected, -1)).max() <= 1
    assert vp.annotations.edge_label(7) == "R"  # the patient's right now at the top
    qtbot.keyClick(vp.canvas, Qt.Key.Key_H)
    shown = _on_screen(vp)[..., 0].astype(int)
    assert np.abs(shown - np.rot90(expected, -1)[:, ::-1]).max() <= 1
    qtbot.keyClick(vp.canvas, Qt.Key.Key_Backspace)
    vp.actual_size()
    _assert_matches_render(vp, tmp_path)


def test_cine_plays_through_the_series(qtbot, workstation, phantom):
    vp = _open(qtbot, workstation, phantom)
    wait_until(qtbot, lambda: vp.loader.done)
    vp.set_cine_fps(30)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_C)
    assert vp.cine_timer.isActive()
    seen: set[int] = set()
    vp.index_changed.connect(seen.add)
    wait_until(qtbot, lambda: len(seen) >= 5, timeout=10000)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_C)
    assert not vp.cine_timer.isActive()


def test_export_image_at_full_resolution_equals_render(qtbot, workstation, phantom, tmp_path):
    vp = _open(qtbot, workstation, phantom)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_8)  # the bone preset
    out = tmp_path / "export.png"
    workstation.window.export(str(out), full_resolution=True)
    exported = np.asarray(Image.open(out).convert("L")).astype(int)
    expected = render_cli(Path(vp.series.refs[0].path), tmp_path / "r.png", "--window", "400",
                          "1800").astype(int)
    assert exported.shape == (256, 256) and np.abs(exported - expected).max() <= 1
    viewport_png = tmp_path / "viewport.jpg"
    workstation.window.export(str(viewport_png), full_resolution=False)
    assert Image.open(viewport_png).size == tuple(vp.view.transform.viewport)
    workstation.window.copy_viewport()
    from PySide6.QtWidgets import QApplication

    assert QApplication.clipboard().image().width() == vp.view.transform.viewport[0]


def test_export_at_full_resolution_is_turned_and_mirrored_as_shown(
        qtbot, workstation, phantom, tmp_path):
    vp = _open(qtbot, workstation, phantom)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_R)  # a quarter turn clockwise
    qtbot.keyClick(vp.canvas, Qt.Key.Key_H)  # and mirrored left-right
    vp.actual_size()
    out = tmp_path / "export.png"
    workstation.window.export(str(out), full_resolution=True)
    exported = np.asarray(Image.open(out).convert("L")).astype(int)
    shown = _on_screen(vp)[..., 0].astype(int)  # the other side of the patient was exported
    assert exported.shape == shown.shape and np.abs(exported - shown).max() <= 1


def test_series_dragged_from_the_strip_and_prior_study_compared(qtbot, workstation, phantom,
                                                               tmp_path):
    prior = write_phantom(tmp_path / "prior", slices=3, study_date="20200101")
    _import = workstation.controller.show_import_dialog([str(phantom.folder),
                                                        str(prior.folder)], start=True)
    wait_until(qtbot, lambda: _import.report is not None)
    workstation.controller.open_study(phantom.study_uid)
    workstation.controller.compare_studies([prior.study_uid])
    viewer = workstation.viewer
    assert viewer.strip.count() == 2
    assert "2020-01-01" in viewer.strip.item(1).text()
    workstation.window.set_layout("1x2")
    left, right = viewer.viewports
    wait_until(qtbot, lambda: viewer.all_first_frames_shown())
    assert {left.series.study_uid, right.series.study_uid} == {phantom.study_uid,
                                                               prior.study_uid}
    # Drop the current study's series onto the right viewport.
    mime = QMimeData()
    mime.setData("application/x-lightbox-series", QByteArray(phantom.series_uid.encode()))
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    right.canvas.dropEvent(event)
    assert right.series.series_uid == phantom.series_uid


def test_display_calibration_from_preferences_matches_render(qtbot, workstation, phantom,
                                                             tmp_path):
    from viewer.ui.dialogs.preferences import PreferencesDialog, calibration_from_settings

    dialog = PreferencesDialog(workstation.home, workstation.settings, workstation.window)
    dialog.calibration_combo.setCurrentIndex(1)  # GSDF for a display model
    dialog.lmin.setValue(1.0)
    dialog.lmax.setValue(250.0)
    dialog.gamma.setValue(2.2)
    dialog.ae_edit.setText("READING1")
    dialog.save()
    workstation.viewer.set_calibration(calibration_from_settings(workstation.settings))
    vp = _open(qtbot, workstation, phantom)
    _assert_matches_render(vp, tmp_path, "--display-model", "1", "250", "2.2", "0")
    from viewer.core.settings import load_network_settings

    assert load_network_settings(workstation.home).ae_title == "READING1"


def test_window_state_is_remembered_outside_the_database(qapp, home):
    from viewer.app import build_workstation

    ws = build_workstation(home, interactive=False)
    ws.window.resize(1111, 777)
    ws.window.show()
    ws.close()
    again = build_workstation(home, interactive=False)
    again.window.restore_state()
    assert again.window.size().width() == 1111
    assert (home / "ui-state.ini").is_file()
    again.close()


def test_help_lists_every_shortcut(qtbot, workstation):
    from viewer.ui.dialogs.shortcuts import ShortcutsDialog
    from viewer.ui.viewer.tools import SHORTCUTS

    dialog = ShortcutsDialog(workstation.window)
    assert dialog.table.rowCount() == len(SHORTCUTS)
    keys = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    assert {"I", "R / Shift+R", "Ctrl+T", "4"} <= keys


def test_scroll_tool_drag_and_tab_between_viewports(qtbot, workstation, phantom):
    from PySide6.QtCore import QPoint

    from viewer.ui.viewer.tools import Tool

    vp = _open(qtbot, workstation, phantom)
    workstation.window.activateWindow()  # window shortcuts need the active window
    qtbot.waitUntil(lambda: workstation.window.isActiveWindow())
    vp.canvas.setFocus()
    qtbot.keyClick(vp.canvas, Qt.Key.Key_S)  # the scroll tool, by its shortcut
    assert workstation.viewer.tool is Tool.SCROLL
    start = QPoint(200, 200)
    qtbot.mousePress(vp.canvas, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 5):
        qtbot.mouseMove(vp.canvas, start + QPoint(0, 4 * step))
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.LeftButton, pos=start + QPoint(0, 16))
    assert vp.index == 4
    workstation.window.set_layout("1x2")
    viewer = workstation.viewer
    assert viewer.active is viewer.viewports[0]
    qtbot.keyClick(viewer.viewports[0].canvas, Qt.Key.Key_Tab)
    assert viewer.active is viewer.viewports[1]


def test_window_menu_offers_the_files_own_windows(qtbot, workstation, phantom):
    vp = _open(qtbot, workstation, phantom)
    window = workstation.window
    window.window_menu.aboutToShow.emit()
    labels = [a.text() for a in window.window_menu.actions()]
    assert any(t.startswith("File: ABDOMEN") for t in labels)
    (lung,) = [a for a in window.window_menu.actions() if a.text().startswith("File: LUNG")]
    lung.trigger()
    assert (vp.current_window().center, vp.current_window().width) == (-600, 1500)
    assert "LUNG" in vp.annotations.corner_text(1)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_0)  # 0 steps through the file's windows
    assert vp.current_window().center == 40
    qtbot.keyClick(vp.canvas, Qt.Key.Key_0)
    assert vp.current_window().center == -600


def test_a_broken_slice_is_never_shown_as_its_neighbour(qtbot, workstation, phantom, tmp_path):
    import shutil

    folder = tmp_path / "broken"
    folder.mkdir()
    for path in phantom.paths:
        shutil.copy(path, folder / path.name)
    from viewer.dicom.header import read_header
    from viewer.ui.viewer.series import SeriesData

    records = [read_header(p) for p in sorted(folder.glob("*.dcm"))]  # the index
    damaged = folder / phantom.paths[3].name
    damaged.write_bytes(damaged.read_bytes()[:-60000])  # cut short after it was indexed
    workstation.window.open_series([SeriesData.from_records(records)])
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    vp = viewer.viewports[0]
    wait_until(qtbot, lambda: vp.loader.done)
    for _ in range(3):
        qtbot.keyClick(vp.canvas, Qt.Key.Key_Down)
    assert vp.index == 3
    wait_until(qtbot, lambda: "Cannot show this image" in vp.annotations.corner_text(0))
    assert not vp.view.actor.GetVisibility()
    qtbot.keyClick(vp.canvas, Qt.Key.Key_Down)
    assert vp.view.actor.GetVisibility() and vp._shown_index == 4


def test_overlays_on_by_default_and_toggled_like_render(qtbot, workstation, tmp_path):
    from tests.support.testdata import test_file as pydicom_file

    source = pydicom_file("examples_overlay.dcm")  # group 6000, 222 set pixels
    workstation.controller.open_paths([str(source)])
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    vp = viewer.viewports[0]
    vp.actual_size()
    _assert_matches_render(vp, tmp_path)
    with_overlay = _on_screen(vp).copy()
    qtbot.keyClick(vp.canvas, Qt.Key.Key_O)
    _assert_matches_render(vp, tmp_path, "--no-overlays", "--no-shutters")
    assert (with_overlay != _on_screen(vp)).any(axis=2).sum() > 0


def test_lossy_images_are_flagged(qtbot, workstation, phantom, tmp_path):
    import shutil

    from pydicom import dcmread

    folder = tmp_path / "lossy"
    folder.mkdir()
    for path in phantom.paths[:2]:
        ds = dcmread(path)
        ds.LossyImageCompression = "01"  # PS3.3 C.7.6.1.1.5
        ds.LossyImageCompressionRatio = ["8.5"]
        ds.LossyImageCompressionMethod = ["ISO_10918_1"]
        ds.save_as(folder / path.name)
    shutil.copy(phantom.paths[2], folder / phantom.paths[2].name)
    workstation.controller.open_paths([str(folder)])
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    vp = viewer.viewports[0]
    assert "LOSSY 8.5:1 ISO_10918_1" in vp.annotations.corner_text(1)
    vp.set_index(2)
    wait_until(qtbot, lambda: vp._shown_index == 2)
    assert "LOSSY" not in vp.annotations.corner_text(1)
