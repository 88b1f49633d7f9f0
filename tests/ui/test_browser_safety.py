"""The study browser must not let a reader act on the wrong study, nor show a stale list.

Found by driving the browser: a delete confirmation that named nobody, a deleted study
left on screen, Open that opened one of several, sort arrows on columns that do not sort,
a reversed date range that showed nothing, and a list blind to other programs' changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from PySide6.QtCore import QDate, QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.support import testdata
from tests.support.series import write_ct_series
from tests.ui.conftest import delete_and_wait, wait_until
from viewer.store import StudyStore
from viewer.ui.viewer.annotate import dicom_date

pytestmark = pytest.mark.gui


def _write(folder: Path, *, name: str = "SMITH^JOHN", patient_id: str = "US-004",
           date: str = "20240105", description: str = "CT CHEST", slices: int = 1,
           accession: str = "ACC1") -> tuple[str, list[Path]]:
    """A small CT study on disk: its Study Instance UID and files."""
    paths = write_ct_series(folder, slices=slices, rows=16, cols=16, patient_name=name,
                            patient_id=patient_id, study_date=date,
                            study_description=description, accession_number=accession)
    return str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID), paths


def _add(workstation: Any, folder: Path, **kwargs: Any) -> str:
    """Import a study through the workstation's store and show it in the browser."""
    uid, paths = _write(folder, **kwargs)
    assert workstation.store.import_files(paths).instances_added == len(paths)
    workstation.browser.refresh()
    return uid


def _select(browser: Any, uids: list[str]) -> None:
    browser.table.clearSelection()
    for row in range(browser.model.rowCount()):
        if browser.model.study(row).study_uid in uids:
            browser.table.selectionModel().select(
                browser.model.index(row, 0),
                browser.table.selectionModel().SelectionFlag.Select
                | browser.table.selectionModel().SelectionFlag.Rows)
    assert sorted(browser.selected_study_uids()) == sorted(uids)


def _answer(monkeypatch: pytest.MonkeyPatch, button: QMessageBox.StandardButton) -> list[str]:
    """Answer the delete confirmation with ``button``; the texts asked are returned,
    as the box shows them (plain text: a name is never taken for markup)."""
    asked: list[str] = []

    def answer(box: QMessageBox) -> int:
        assert box.textFormat() == Qt.TextFormat.PlainText
        asked.append(box.text())
        return button.value

    monkeypatch.setattr(QMessageBox, "exec", answer)
    return asked


# ---------------------------------------------------------------------- 1. delete names whom
def test_the_delete_confirmation_names_the_patient_and_the_study(qtbot, workstation, tmp_path,
                                                                 monkeypatch):
    browser = workstation.browser
    uid = _add(workstation, tmp_path / "a", slices=3)
    _select(browser, [uid])
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    QTest.mouseClick(browser.delete_button, Qt.MouseButton.LeftButton)  # as the reader does
    QTest.keyClick(browser.table, Qt.Key.Key_Delete)  # the same question
    text, again = asked
    assert again == text
    assert "Patient: SMITH, JOHN" in text  # as the browser shows the name
    assert "Patient ID: US-004" in text
    assert "Study date: 2024-01-05" in text
    assert "Description: CT CHEST" in text
    assert "Images: 3" in text
    assert "cannot be undone" in text
    assert workstation.store.study(uid) is not None  # "No" kept it


def test_the_delete_confirmation_lists_several_studies_capped(qtbot, workstation, tmp_path,
                                                              monkeypatch):
    browser = workstation.browser
    uids = [_add(workstation, tmp_path / f"s{n}", name=f"PATIENT{n:02d}^A",
                 patient_id=f"P{n:02d}", date=f"202401{n + 1:02d}") for n in range(12)]
    _select(browser, uids)
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    QTest.mouseClick(browser.delete_button, Qt.MouseButton.LeftButton)
    (text,) = asked
    assert "Delete these 12 studies of 12 patients" in text
    listed = [line for line in text.splitlines() if line.startswith("\u2022 ")]
    assert len(listed) == 10
    # Newest first, as the list shows them: each with name, ID, date and images.
    assert listed[0] == "\u2022 PATIENT11, A (ID P11), 2024-01-12, CT, CT CHEST, 1 image"
    assert "and 2 more" in text
    assert all(workstation.store.study(uid) is not None for uid in uids)


# ------------------------------------------------------------- 2. a deleted study closes
def test_deleting_a_study_open_in_the_viewer_closes_it(qtbot, workstation, tmp_path,
                                                      monkeypatch):
    browser, viewer = workstation.browser, workstation.viewer
    kept = _add(workstation, tmp_path / "kept", name="OTHER^PATIENT", patient_id="K1",
                date="20230101", slices=2)
    gone = _add(workstation, tmp_path / "gone", slices=2)
    workstation.controller.open_study(gone)
    workstation.controller.compare_studies([kept])
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    assert {s.study_uid for s in viewer.series.values()} == {gone, kept}

    _select(browser, [gone])
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    delete_and_wait(qtbot, browser)
    assert "It is open in the viewer and will be closed." in asked[0]
    assert workstation.store.study(gone) is None
    # The other study stays open; nothing of the deleted one is left to scroll to.
    assert {s.study_uid for s in viewer.series.values()} == {kept}
    assert all(vp.series is None or vp.series.study_uid == kept for vp in viewer.viewports)
    assert viewer.strip.count() == 1

    _select(browser, [kept])
    delete_and_wait(qtbot, browser)
    assert viewer.series == {} and all(vp.series is None for vp in viewer.viewports)
    assert workstation.window.windowTitle() == "Lightbox"


def test_closing_a_deleted_study_leaves_the_other_studies_view_as_it_was(
        qtbot, workstation, tmp_path, monkeypatch):
    # The viewer closed all its series and opened the others again: the prior the reader
    # was comparing lost its window, zoom and slice.
    browser, viewer = workstation.browser, workstation.viewer
    kept = _add(workstation, tmp_path / "kept", name="OTHER^PATIENT", patient_id="K1",
                date="20230101", slices=4)
    gone = _add(workstation, tmp_path / "gone", slices=2)
    workstation.window.set_layout("1x2")
    workstation.controller.open_study(gone)
    workstation.controller.compare_studies([kept])
    wait_until(qtbot, lambda: all(vp.series is not None for vp in viewer.viewports)
               and viewer.all_first_frames_shown())
    reading = next(vp for vp in viewer.viewports if vp.series.study_uid == kept)
    reading.set_window(123.0, 45.0)
    reading.zoom_by(2.5)
    reading.set_index(3)
    wait_until(qtbot, viewer.all_first_frames_shown)
    scale, loader = reading.view.transform.scale, reading.loader

    _select(browser, [gone])
    _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    delete_and_wait(qtbot, browser)
    assert {s.study_uid for s in viewer.series.values()} == {kept}
    assert reading.series is not None and reading.series.study_uid == kept
    assert (reading.window.center, reading.window.width) == (123.0, 45.0)
    assert reading.view.transform.scale == pytest.approx(scale)
    assert reading.index == 3
    assert reading.loader is loader  # its decoded frames too
    # The viewport the deleted study left shows nothing of it.
    assert all(vp.series is None or vp.series.study_uid == kept for vp in viewer.viewports)


def test_a_study_deleted_by_another_program_closes_in_the_viewer(qtbot, workstation,
                                                                tmp_path):
    viewer = workstation.viewer
    uid = _add(workstation, tmp_path / "a", slices=2)
    workstation.controller.open_study(uid)
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None)
    # As ``lightbox delete`` in a shell: another connection to the same database.
    with StudyStore.open(workstation.home) as other:
        other.delete_study(uid)
    wait_until(qtbot, lambda: not viewer.series)
    assert workstation.browser.model.rowCount() == 0


# ------------------------------------------------------------------ 3. open them all
def test_open_with_several_studies_selected_opens_them_all(qtbot, workstation, tmp_path):
    browser, viewer = workstation.browser, workstation.viewer
    first = _add(workstation, tmp_path / "a", date="20240105")
    second = _add(workstation, tmp_path / "b", name="BETA^TWO", patient_id="B2",
                  date="20230101")
    _select(browser, [first, second])
    browser.open_button.click()
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None)
    assert {s.study_uid for s in viewer.series.values()} == {first, second}
    assert workstation.window.tabs.currentWidget() is viewer
    # Two patients side by side: said, as for any opening.
    assert workstation.window.patients_warning.isVisibleTo(workstation.window)


# --------------------------------------------------------------- 4. every column sorts
def test_birth_date_sex_and_series_columns_sort_the_list(qtbot, workstation, tmp_path):
    browser = workstation.browser
    header = browser.table.horizontalHeader()
    model = browser.model
    assert header.sortIndicatorSection() == 4  # Study date, newest first
    for n, (birth, sex) in enumerate((("19800101", "F"), ("19600101", "M"),
                                      ("19700101", "O"))):
        _uid, paths = _write(tmp_path / str(n), patient_id=f"P{n}", date=f"2024010{n + 1}")
        for path in paths:
            ds = pydicom.dcmread(path)
            ds.PatientBirthDate, ds.PatientSex = birth, sex
            ds.save_as(path)
        workstation.store.import_files(paths)
    browser.refresh()

    def click(section: int) -> None:
        x = header.sectionViewportPosition(section) + header.sectionSize(section) // 2
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(x, header.height() // 2))

    for section, title, key in ((2, "Birth date", "birth_date"), (3, "Sex", "sex"),
                                (8, "Series", "number_of_series")):
        assert model.headerData(section, Qt.Orientation.Horizontal) == title
        assert model.sortable(section)
        click(section)
        assert header.sortIndicatorSection() == section, title
        assert model.filter.sort == key
        shown = [model.data(model.index(row, section)) for row in range(model.rowCount())]
        ascending = header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
        assert shown == sorted(shown, reverse=not ascending), title
    click(1)  # Patient ID sorts
    assert header.sortIndicatorSection() == 1 and model.filter.sort == "patient_id"


# --------------------------------------------------------------- 5. reversed date range
def test_a_reversed_custom_date_range_is_read_from_its_earlier_date(qtbot, workstation,
                                                                   tmp_path):
    browser = workstation.browser
    _add(workstation, tmp_path / "a", date="20240105")
    browser.date_combo.setCurrentText("Custom range")
    browser.date_from.setDate(QDate(2025, 12, 31))
    browser.date_to.setDate(QDate(2023, 1, 1))
    browser.apply_filter()
    assert browser.model.rowCount() == 1
    assert browser.date_note.isVisibleTo(browser)
    assert "showing 2023-01-01 to 2025-12-31" in browser.date_note.text()
    browser.date_from.setDate(QDate(2023, 1, 1))
    browser.date_to.setDate(QDate(2025, 12, 31))
    browser.apply_filter()
    assert browser.model.rowCount() == 1
    assert not browser.date_note.isVisibleTo(browser)  # in order: nothing to say


# ------------------------------------------------------------------ 6. search as shown
def test_what_the_list_shows_typed_back_into_the_filters_finds_the_study(qtbot, workstation,
                                                                        tmp_path):
    browser = workstation.browser
    _add(workstation, tmp_path / "a")
    _add(workstation, tmp_path / "b", name="BETA^TWO", patient_id="B2", accession="X9",
         date="20250101")
    shown = browser.model.data(browser.model.index(1, 0))  # the older study: SMITH, JOHN
    assert shown == "SMITH, JOHN"
    for edit, typed in ((browser.name_edit, shown), (browser.name_edit, "Smith John"),
                        (browser.id_edit, "us-004"), (browser.id_edit, "US"),
                        (browser.accession_edit, "acc")):
        browser.clear_filter()
        edit.setText(typed)
        browser.apply_filter()
        assert browser.model.rowCount() == 1, typed
        assert browser.model.study(0).patient.patient_id == "US-004"
    # Identifiers match from their beginning, and their fields say so: the digits of an
    # ID typed without its prefix find nothing.
    for edit, typed in ((browser.id_edit, "004"), (browser.accession_edit, "CC")):
        browser.clear_filter()
        edit.setText(typed)
        browser.apply_filter()
        assert browser.model.rowCount() == 0, typed
        assert "beginning" in edit.placeholderText() and "begin with" in edit.toolTip()


# ------------------------------------------------------------- 7. following the database
def test_studies_imported_by_another_program_appear_without_a_click(qtbot, workstation,
                                                                   tmp_path):
    browser = workstation.browser
    assert browser.banner.isVisibleTo(workstation.window)
    _, paths = _write(tmp_path / "a")
    # As ``lightbox import`` in a shell: another connection to the same database.
    with StudyStore.open(workstation.home) as other:
        other.import_files(paths)
    wait_until(qtbot, lambda: browser.model.rowCount() == 1)
    assert not browser.banner.isVisibleTo(workstation.window)
    assert browser.count_label.text() == "1 of 1 studies"


def test_a_refresh_keeps_the_selection_and_the_study_at_the_top(qtbot, workstation, tmp_path):
    browser = workstation.browser
    with StudyStore.open(workstation.home) as other:
        for n in range(60):
            _, paths = _write(tmp_path / f"s{n}", name=f"P{n:02d}^X", patient_id=f"P{n:02d}",
                              date=f"2020{1 + n // 28:02d}{1 + n % 28:02d}")
            other.import_files(paths)
    browser.refresh()
    assert browser.model.rowCount() == 60
    bar = browser.table.verticalScrollBar()
    wait_until(qtbot, lambda: bar.maximum() > 20)
    bar.setValue(20)
    top = browser.model.study(browser.table.rowAt(0)).study_uid
    chosen = [browser.model.study(row).study_uid for row in (25, 27)]
    _select(browser, chosen)
    series_item = browser.series_list.item(0)  # none: two studies selected
    assert series_item is None

    # A newer study arrives from elsewhere (at the top of the list, newest first), and
    # one that was neither selected nor shown goes.
    newest, paths = _write(tmp_path / "new", name="NEW^ONE", patient_id="N1", date="20250101")
    with StudyStore.open(workstation.home) as other:
        other.import_files(paths)
        other.delete_study(browser.model.study(59).study_uid)
    wait_until(qtbot, lambda: browser.model.study(0).study_uid == newest)
    assert browser.model.rowCount() == 60
    assert sorted(browser.selected_study_uids()) == sorted(chosen)
    assert browser.model.study(browser.table.rowAt(0)).study_uid == top
    assert browser.model.study(browser.table.currentIndex().row()).study_uid in chosen


def test_a_refresh_leaves_the_thumbnails_of_the_selected_study_alone(qtbot, workstation,
                                                                    tmp_path):
    browser = workstation.browser
    uid = _add(workstation, tmp_path / "a")
    _select(browser, [uid])
    item = browser.series_list.item(0)
    assert item is not None
    browser.refresh()
    assert browser.series_list.item(0) is item  # not rebuilt: its thumbnail stays
    assert browser.selected_study_uids() == [uid]


def test_f5_and_view_refresh_reread_the_database(qtbot, workstation, tmp_path):
    browser = workstation.browser
    browser.poll_timer.stop()  # only F5 may re-read here
    view_menu = next(a.menu() for a in workstation.window.menuBar().actions()
                     if a.text() == "&View")
    assert browser.refresh_action in view_menu.actions()
    assert browser.refresh_action.shortcut().toString() == "F5"
    _, paths = _write(tmp_path / "a")
    with StudyStore.open(workstation.home) as other:
        other.import_files(paths)
    assert browser.model.rowCount() == 0
    # A window shortcut works in the active window only.
    workstation.window.activateWindow()
    wait_until(qtbot, lambda: QApplication.activeWindow() is workstation.window)
    browser.table.setFocus()
    qtbot.keyClick(browser.table, Qt.Key.Key_F5)
    assert browser.model.rowCount() == 1


# ------------------------------------------------- names are text, never markup
def test_a_name_that_looks_like_markup_is_shown_whole_in_the_two_patients_warning(
        qtbot, workstation, tmp_path):
    # Qt takes a label's text for HTML when it "might be rich text": a Patient Name
    # with "<p><!--" in it opened a comment that hid the rest of the warning, the other
    # patient included.
    viewer = workstation.viewer
    first = _add(workstation, tmp_path / "a", name="SMITH<p><!--^JOHN", patient_id="P1")
    second = _add(workstation, tmp_path / "b", name="DOE^JANE", patient_id="P2",
                  date="20230101")
    workstation.controller.open_studies([first, second])
    wait_until(qtbot, lambda: len(viewer.series) == 2)
    label = workstation.window.patients_warning
    wait_until(qtbot, label.isVisible)
    assert "DOE, JANE" in label.text() and "SMITH<p><!--" in label.text()
    # What is drawn is the whole text: as wide as the text itself, not only its start.
    drawn = label.sizeHint().width()
    assert drawn >= 0.9 * label.fontMetrics().horizontalAdvance(label.text())


def test_a_description_that_looks_like_markup_is_shown_literally_when_deleting(
        qtbot, workstation, tmp_path, monkeypatch):
    browser = workstation.browser
    uid = _add(workstation, tmp_path / "a", description="<h1>HEAD</h1><img src=x>")
    _select(browser, [uid])
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    delete_and_wait(qtbot, browser)
    assert "Description: <h1>HEAD</h1><img src=x>" in asked[0]


def test_a_delete_the_database_refuses_is_said_and_keeps_the_study(
        qtbot, workstation, tmp_path, monkeypatch):
    # A read-only database (PRAGMA query_only stands in: tests run as root) ended the
    # slot in a traceback.
    browser = workstation.browser
    uid = _add(workstation, tmp_path / "a", slices=2)
    _select(browser, [uid])
    told = _answer(monkeypatch, QMessageBox.StandardButton.Ok)
    workstation.store._writer.execute("PRAGMA query_only = ON")
    try:
        delete_and_wait(qtbot, browser, confirm=False)
    finally:
        workstation.store._writer.execute("PRAGMA query_only = OFF")
    (text,) = told
    assert "cannot write the study database: it is read-only" in text
    assert "1 of 1 study was not deleted" in text
    assert workstation.store.study(uid) is not None
    assert workstation.store.check() == []


def test_a_delete_runs_in_the_background_and_holds_off_an_import(
        qtbot, workstation, tmp_path, monkeypatch):
    # The delete ran on the GUI thread: six studies of 500 images froze the window for up
    # to ten seconds, thirty behind another program's write lock. Another program holds
    # the lock here, so that the delete is still under way while the window is used.
    import sqlite3

    browser = workstation.browser
    uids = [_add(workstation, tmp_path / f"s{n}", patient_id=f"P{n}", slices=2)
            for n in range(2)]
    _select(browser, uids)
    _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    holder = sqlite3.connect(workstation.store.database_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        task = browser.delete_selected()
        assert task is not None and browser.deleting
        wait_until(qtbot, lambda: browser.count_label.text().startswith("Deleting study"))
        assert not browser.delete_button.isEnabled()
        assert browser.delete_selected() is None  # one delete at a time
        dialog = workstation.controller.show_import_dialog([str(tmp_path / "s0")])
        assert dialog.start() is None
        assert "being deleted" in dialog.status.text()
        dialog.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(qtbot, lambda: not browser.deleting)
    assert all(workstation.store.study(uid) is None for uid in uids)
    assert browser.delete_button.isEnabled() and browser.model.rowCount() == 0


def test_a_selection_of_thousands_stays_whole_when_the_list_changes(qtbot, workstation):
    # A re-read found the selected studies again only on the 20 pages of 200 kept in
    # memory: 10,000 selected became 4,000, and a Delete then acted on fewer.
    from viewer.core.records import InstanceRecord, PatientRecord
    from viewer.store.writer import StoredFile

    def row_only(n: int, date: str) -> StoredFile:
        record = InstanceRecord(
            sop_instance_uid=f"2.25.{n}.3", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            patient=PatientRecord(f"PID{n:05d}", f"PATIENT{n:05d}^TEST"),
            study_uid=f"2.25.{n}.1", series_uid=f"2.25.{n}.2", study_date=date,
            modality="CT")
        return StoredFile(record, f"none/{n}.dcm", 0, "")

    studies = 5000
    workstation.store.commit_files([row_only(n, f"2010{1 + n % 12:02d}15")
                                    for n in range(studies)])
    browser = workstation.browser
    browser.refresh()
    browser.table.setFocus()
    QTest.keyClick(browser.table, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert len(browser.selected_study_uids()) == studies
    with StudyStore.open(workstation.home) as other:  # a study arrives, newest first
        other.commit_files([row_only(studies, "20250101")])
    wait_until(qtbot, lambda: browser.model.rowCount() == studies + 1)
    selected = browser.selected_study_uids()
    assert len(selected) == studies and f"2.25.{studies}.1" not in selected


def test_the_keyboard_reaches_past_the_study_table_and_opens_a_series(
        qtbot, workstation, tmp_path):
    # Tab went from cell to cell inside the table, Enter on a thumbnail did nothing, and
    # a source added to the import by mistake could not be taken off.
    browser = workstation.browser
    uid = _add(workstation, tmp_path / "a", slices=2)
    _select(browser, [uid])
    window = workstation.window
    window.show()
    window.show_browser()
    window.activateWindow()
    qtbot.waitActive(window)
    browser.table.setFocus()
    wait_until(qtbot, browser.table.hasFocus)
    QTest.keyClick(browser.table, Qt.Key.Key_Tab)
    wait_until(qtbot, lambda: not browser.table.hasFocus())

    opened: list[list[str]] = []
    browser.open_series.connect(opened.append)
    browser.series_list.setCurrentRow(0)
    QTest.keyClick(browser.series_list, Qt.Key.Key_Return)
    assert opened == [[browser.series_list.item(0).data(Qt.ItemDataRole.UserRole)]]

    dialog = workstation.controller.show_import_dialog([str(tmp_path / "a"), "/wrong/disc"])
    dialog.sources.setCurrentRow(1)
    QTest.keyClick(dialog.sources, Qt.Key.Key_Delete)
    assert dialog.source_paths() == [str(tmp_path / "a")]
    dialog.close()


def test_a_study_without_images_is_named_with_what_it_holds(qtbot, workstation, tmp_path):
    # An RT Plan alone: the message named the study by its UID, which the reader could
    # not relate to the row they opened.
    plan = pydicom.dcmread(testdata.test_file("rtplan.dcm"))
    plan.PatientName, plan.PatientID = "PLAN^ONLY", "P-RT"
    plan.StudyDescription = "Prostate plan"
    path = tmp_path / "plan.dcm"
    plan.save_as(path)
    assert workstation.store.import_files([path]).instances_added == 1
    errors: list[str] = []
    workstation.controller.error.connect(errors.append)
    workstation.controller.open_studies([str(plan.StudyInstanceUID)])
    assert errors == [f"No images to show: PLAN, ONLY (ID P-RT), "
                      f"{dicom_date(str(plan.StudyDate))}, Prostate plan holds 1 RTPLAN "
                      "object, none of them an image"]


def test_buttons_have_mnemonics_and_ctrl_enter_adds_to_the_viewer(qtbot, workstation,
                                                                   tmp_path):
    # No button could be pressed from the keyboard, and "Add to viewer" (comparison with
    # priors) had no key at all.
    browser = workstation.browser
    first = _add(workstation, tmp_path / "a", slices=2)
    prior = _add(workstation, tmp_path / "b", slices=2, name="SMITH^JOHN", date="20200101")
    window = workstation.window
    window.show_browser()
    window.activateWindow()
    qtbot.waitActive(window)
    compared: list[list[str]] = []
    browser.compare_studies.connect(compared.append)
    _select(browser, [prior])
    browser.table.setFocus()
    wait_until(qtbot, browser.table.hasFocus)
    # Through the window, as the keyboard's keys come: the shortcut map, then the focus.
    QTest.keySequence(window.windowHandle(), QKeySequence("Alt+A"))  # &Add to viewer
    wait_until(qtbot, lambda: len(compared) == 1)
    window.show_browser()  # the viewer came to the front with the study
    _select(browser, [first])
    browser.table.setFocus()
    wait_until(qtbot, browser.table.hasFocus)
    QTest.keyClick(browser.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert compared == [[prior], [first]]
    # Every button of the study list carries a letter, none of them a menu's.
    menus = {a.text().replace("&", "")[0].lower() for a in window.menuBar().actions()}
    letters = []
    for button in (browser.open_button, browser.compare_button, browser.delete_button,
                   browser.import_button, browser.clear_button):
        text = button.text()
        assert "&" in text, text
        letters.append(text[text.index("&") + 1].lower())
    assert len(set(letters)) == len(letters) and not set(letters) & menus
