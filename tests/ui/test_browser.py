"""Study browser, import dialog and tag browser, driven through the real widgets."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.support.testdata import charset_file
from tests.ui.conftest import delete_and_wait, wait_until
from tests.ui.phantom import write_phantom

pytestmark = pytest.mark.gui


def _medium(root: Path, files: list[Path]) -> Path:
    """A CD-like medium: PS3.10 File IDs and a DICOMDIR written by dcmtk's dcmmkdir."""
    if shutil.which("dcmmkdir") is None:
        pytest.skip("dcmtk's dcmmkdir is not installed")
    for index, source in enumerate(files):
        target = root / "IMAGES" / f"IM{index:06d}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    subprocess.run(["dcmmkdir", "+r", "-Pgp", "+id", str(root), "+D", str(root / "DICOMDIR"),
                    "IMAGES"], check=True, capture_output=True, cwd=root)
    return root


def _import(qtbot, workstation, sources: list[str]):
    dialog = workstation.controller.show_import_dialog(sources, start=True)
    wait_until(qtbot, lambda: dialog.report is not None)
    return dialog


def test_import_a_dicomdir_medium_through_the_dialog(qtbot, workstation, phantom, tmp_path):
    medium = _medium(tmp_path / "cdrom", phantom.paths)
    browser = workstation.browser
    assert browser.banner.isVisibleTo(workstation.window)
    dialog = _import(qtbot, workstation, [str(medium / "DICOMDIR")])
    report = dialog.report
    assert report.instances_added == len(phantom.paths) and report.safe_to_eject
    assert "Safe to eject" in dialog.report_view.toPlainText()
    assert browser.model.rowCount() == 1
    assert not browser.banner.isVisibleTo(workstation.window)
    study = browser.model.study(0)
    assert study.study_uid == phantom.study_uid and study.number_of_instances == 8
    # A second import of the same medium adds nothing and still says it is complete.
    again = _import(qtbot, workstation, [str(medium)]).report
    assert again.instances_added == 0 and again.instances_present == 8 and again.safe_to_eject


def test_filter_sort_open_and_delete(qtbot, workstation, tmp_path, monkeypatch):
    a = write_phantom(tmp_path / "a", slices=2, patient_name="ALPHA^ONE", patient_id="A1",
                      study_date="20240105")
    b = write_phantom(tmp_path / "b", slices=3, patient_name="BETA^TWO", patient_id="B2",
                      study_date="20230101")
    _import(qtbot, workstation, [str(a.folder), str(b.folder)])
    browser = workstation.browser
    assert browser.model.rowCount() == 2
    assert browser.model.study(0).patient.patient_id == "A1"  # newest first
    browser.name_edit.setText("bet*")
    browser.apply_filter()
    assert browser.model.rowCount() == 1
    assert browser.model.study(0).patient.patient_id == "B2"
    browser.clear_filter()
    browser.date_combo.setCurrentText("Custom range")
    browser.date_from.setDate(browser.date_from.date().fromString("2024-01-01", "yyyy-MM-dd"))
    browser.date_to.setDate(browser.date_to.date().fromString("2024-12-31", "yyyy-MM-dd"))
    browser.apply_filter()
    assert [browser.model.study(r).patient.patient_id for r in range(browser.model.rowCount())
            ] == ["A1"]
    browser.clear_filter()
    browser.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # by patient ID
    assert browser.model.study(0).patient.patient_id == "A1"
    browser.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert browser.model.study(0).patient.patient_id == "B2"

    # Enter on the selected row opens the study in the viewer.
    browser.table.selectRow(0)
    browser.table.setFocus()
    qtbot.keyClick(browser.table, Qt.Key.Key_Return)
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    assert viewer.viewports[0].series.study_uid == b.study_uid
    assert workstation.window.tabs.currentWidget() is viewer

    # Delete asks first; "No" keeps the study, "Yes" removes it.
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "exec",
                        lambda *a, **k: QMessageBox.StandardButton.No.value)
    browser.table.selectRow(0)
    delete_and_wait(qtbot, browser)
    assert browser.model.rowCount() == 2
    monkeypatch.setattr(QMessageBox, "exec",
                        lambda *a, **k: QMessageBox.StandardButton.Yes.value)
    delete_and_wait(qtbot, browser)
    assert browser.model.rowCount() == 1
    assert workstation.store.study(b.study_uid) is None


def test_files_dropped_on_the_window_are_imported(qtbot, workstation, phantom):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(phantom.folder))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    workstation.window.dropEvent(event)
    dialog = workstation.controller.import_dialog
    wait_until(qtbot, lambda: dialog.report is not None)
    assert dialog.report.instances_added == len(phantom.paths)
    assert workstation.browser.model.rowCount() == 1


def test_tag_browser_decodes_character_sets(qtbot, workstation, tmp_path):
    source = charset_file("chrH31.dcm")  # Japanese, ISO 2022 IR 87
    workstation.controller.open_paths([str(source)])
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None)
    dialog = workstation.controller.show_tags()
    rows = dialog.visible_rows()
    names = [value for tag, _, value in rows if tag == "(0010,0010)"]
    assert names == ["Yamada^Tarou=山田^太郎=やまだ^たろう"]
    assert dialog.filter("PatientName") >= 1
    shown = dialog.visible_rows()
    assert all("patientname" in (n + t + v).lower().replace(" ", "") for t, n, v in shown)
    dialog.filter("")
    assert len(dialog.visible_rows()) == len(rows)


@pytest.mark.slow
def test_first_run_offers_the_demo_and_imports_it_with_one_click(qtbot, workstation):
    browser = workstation.browser
    assert browser.banner.isVisibleTo(workstation.window)
    browser.demo_button.click()
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown(), timeout=300000)
    assert browser.model.rowCount() == 1
    assert not browser.banner.isVisibleTo(workstation.window)
    assert browser.model.study(0).patient.patient_name == "DEMO^LIGHTBOX"
    assert workstation.window.tabs.currentWidget() is viewer


def test_series_thumbnails_are_rendered_and_cached_on_disk(qtbot, workstation, phantom):
    _import(qtbot, workstation, [str(phantom.folder)])
    browser = workstation.browser
    browser.table.selectRow(0)
    assert browser.series_list.count() == 1
    item = browser.series_list.item(0)
    wait_until(qtbot, lambda: not item.icon().isNull())
    cached = list((workstation.home / "cache" / "thumbnails").glob("*.png"))
    assert len(cached) == 1
    from PIL import Image

    with Image.open(cached[0]) as thumb:
        assert max(thumb.size) == 96
        # The middle slice of the phantom through its own window: air black, water grey.
        grey = thumb.convert("L")
        assert grey.getpixel((2, 48)) == 0 and 100 < grey.getpixel((48, 60)) < 160


def test_the_study_table_fills_a_wide_window(qtbot, workstation):
    # The description column takes the width the fixed columns leave: no blank band.
    browser = workstation.browser
    workstation.window.resize(2200, 900)
    header = browser.table.horizontalHeader()
    viewport = browser.table.viewport()
    wait_until(qtbot, lambda: viewport.width() > 1800)
    wait_until(qtbot, lambda: abs(header.length() - viewport.width()) <= 1)
    assert header.sectionSize(6) > 260  # wider than it starts
    assert browser.model.headerData(6, Qt.Orientation.Horizontal) == "Description"


def test_images_of_two_patients_open_together_are_called_out(qtbot, workstation, tmp_path):
    # A folder holding two patients filled the layout with both, without a word.
    write_phantom(tmp_path / "disc" / "a", slices=2, patient_name="ALPHA^ONE",
                  patient_id="A1")
    write_phantom(tmp_path / "disc" / "b", slices=2, patient_name="BETA^TWO",
                  patient_id="B2")
    warning = workstation.window.patients_warning
    workstation.controller.open_paths([str(tmp_path / "disc" / "a")])
    wait_until(qtbot, lambda: workstation.viewer.viewports[0].series is not None)
    assert not warning.isVisibleTo(workstation.window)
    workstation.controller.open_paths([str(tmp_path / "disc")])
    wait_until(qtbot, lambda: warning.isVisibleTo(workstation.window))
    assert warning.text() == ("Images of 2 patients are open: ALPHA, ONE (A1); "
                              "BETA, TWO (B2)")
    # Back to one patient: the warning goes.
    workstation.controller.open_paths([str(tmp_path / "disc" / "b")])
    wait_until(qtbot, lambda: not warning.isVisibleTo(workstation.window))
