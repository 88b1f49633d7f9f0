"""A running import and the window around it: Escape, the close box, quitting, a second
import, a failure. The import is the real one; a gate holds it at its start so that each
step happens while it runs."""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tests.support.series import write_ct_series
from tests.ui.conftest import delete_and_wait, wait_until
from viewer.core.imports import ImportProgress
from viewer.ui.dialogs.import_dialog import progress_text

pytestmark = pytest.mark.gui

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def _answers(monkeypatch: pytest.MonkeyPatch, *buttons: QMessageBox.StandardButton
             ) -> list[str]:
    """Answer the next questions with ``buttons`` in turn; the texts asked are returned."""
    asked: list[str] = []
    queue = list(buttons)

    def answer(box: QMessageBox) -> int:
        asked.append(box.text())
        return (queue.pop(0) if queue else No).value  # a question not foreseen: "No"

    monkeypatch.setattr(QMessageBox, "exec", answer)
    return asked


@pytest.fixture
def gate(qtbot: Any, workstation: Any) -> Iterator[threading.Event]:
    """Hold the workstation's importer at its start until the gate opens or it is
    cancelled (then the real import runs and sees the cancel). Opened again, and the
    import waited for, before the workstation closes: a quit would ask in a real box."""
    opened = threading.Event()
    real: Callable[..., Any] = workstation.controller.importer

    def importer(sources: list[str], progress: Any, cancelled: Callable[[], bool]) -> Any:
        end = time.monotonic() + 30
        while not opened.is_set() and not cancelled() and time.monotonic() < end:
            time.sleep(0.01)
        return real(sources, progress, cancelled)

    workstation.controller.importer = importer
    yield opened
    opened.set()
    dialog = workstation.controller.import_dialog
    if dialog is not None:
        wait_until(qtbot, lambda: not dialog.running)


def test_escape_asks_before_cancelling_and_the_report_stays(qtbot, workstation, gate, phantom,
                                                            monkeypatch):
    dialog = workstation.controller.show_import_dialog([str(phantom.folder)], start=True)
    asked = _answers(monkeypatch, No, Yes)
    dialog.reject()  # Escape, "No": the import goes on, in sight
    assert dialog.isVisible() and dialog.running and not dialog.task.cancelled
    dialog.close()  # the close box, "Yes": cancelled, the dialog stays for its report
    assert len(asked) == 2 and "An import is running" in asked[0]
    assert dialog.isVisible() and dialog.task.cancelled
    wait_until(qtbot, lambda: dialog.report is not None)
    assert dialog.report.cancelled and dialog.isVisible()
    assert "Safe to eject" not in dialog.report_view.toPlainText()
    gate.set()


def test_a_second_import_joins_the_running_dialog(qtbot, workstation, gate, phantom, tmp_path):
    first = workstation.controller.show_import_dialog([str(phantom.folder)], start=True)
    second = workstation.controller.show_import_dialog([str(tmp_path)])
    assert second is first and first.source_paths() == [str(phantom.folder), str(tmp_path)]
    gate.set()
    wait_until(qtbot, lambda: first.report is not None)
    assert first.report.instances_added == len(phantom.paths)


def test_quitting_during_an_import_asks_then_waits_for_it(qtbot, workstation, gate, phantom,
                                                          monkeypatch):
    dialog = workstation.controller.show_import_dialog([str(phantom.folder)], start=True)
    asked = _answers(monkeypatch, No, Yes)
    workstation.window.close()  # "No": the window and the import stay
    assert workstation.window.isVisible() and dialog.running
    workstation.close()  # "Yes": cancelled, and the store is closed only once it stopped
    assert "Cancel it and quit" in asked[1]
    assert not dialog.running and dialog.report is not None and dialog.report.cancelled
    gate.set()


def test_a_failed_import_stops_the_bar_and_says_to_keep_the_medium(qtbot, workstation,
                                                                  phantom):
    workstation.store.close()  # the database gone under the import: it fails
    dialog = workstation.controller.show_import_dialog([str(phantom.folder)], start=True)
    wait_until(qtbot, lambda: not dialog.running)
    assert dialog.report is None
    assert "Import failed" in dialog.status.text()
    assert "Do not remove the medium" in dialog.status.text()
    assert dialog.progress.maximum() == 1  # not the busy animation


def test_deleting_during_an_import_waits_for_it(qtbot, workstation, gate, phantom, tmp_path,
                                                monkeypatch):
    # The import wrote the rest of a study deleted meanwhile: it came back partial.

    first = write_ct_series(tmp_path / "first", slices=2, patient_id="LB-TEST-0050")
    assert workstation.store.import_files(first).instances_added == 2
    workstation.browser.refresh()
    dialog = workstation.controller.show_import_dialog([str(phantom.folder)], start=True)
    browser = workstation.browser
    browser.table.selectRow(0)
    asked = _answers(monkeypatch, QMessageBox.StandardButton.Ok)
    delete_and_wait(qtbot, browser)
    assert len(asked) == 1 and "An import is running" in asked[0]
    assert workstation.store.counts()["studies"] == 1  # nothing deleted
    gate.set()
    wait_until(qtbot, lambda: dialog.report is not None)


@pytest.mark.parametrize("phase", ["scan", "directory", "import", "verify", "done"])
def test_every_phase_of_an_import_is_said_in_words(phase: str) -> None:
    # The raw phase name ("done") showed for a moment before "Import finished.".
    text = progress_text(ImportProgress(phase=phase, files_done=3, files_total=9,
                                        current="/media/cdrom/DICOMDIR"))
    assert phase not in text.split() and text[0].isupper()


def test_a_report_of_many_failures_can_be_saved_whole(qtbot, workstation, tmp_path,
                                                      monkeypatch):
    # The dialog lists 50 failed files and "... and 10 more": the others were named
    # nowhere, short of running the import again from a shell with --json.
    medium = tmp_path / "medium"
    (good,) = write_ct_series(medium / "good", slices=1)
    whole = good.read_bytes()
    for n in range(60):  # each cut short in its pixel data
        (medium / f"cut{n:02d}.dcm").write_bytes(whole[: len(whole) - 100 - n])
    dialog = workstation.controller.show_import_dialog([str(medium)], start=True)
    wait_until(qtbot, lambda: dialog.report is not None)
    assert len(dialog.report.failed) == 60
    assert "and 10 more (Save report... lists them all)" in dialog.report_view.toPlainText()
    assert dialog.save_button.isVisible()
    target = tmp_path / "report.json"
    target.write_text("an older report")
    target.chmod(0o644)  # written over, it is made private all the same
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(target), "JSON (*.json)"))
    dialog.save_button.click()
    saved = json.loads(target.read_text(encoding="utf-8"))
    assert sorted(p["path"] for p in saved["failed"]) == sorted(
        str(medium / f"cut{n:02d}.dcm") for n in range(60))
    assert saved["instances_added"] == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert dialog.status.text() == f"Report saved to {target}"
    dialog.close()
