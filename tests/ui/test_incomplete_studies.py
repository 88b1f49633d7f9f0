"""A study short of what its PACS or disc has is marked in the browser and the viewer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import wait_until
from tests.ui.test_browser_safety import _add, _select
from viewer.ui.browser.study_model import IMAGES_COLUMN, INCOMPLETE_COLOUR

pytestmark = pytest.mark.gui


def _row(browser: Any, uid: str) -> int:
    return next(r for r in range(browser.model.rowCount())
                if browser.model.study(r).study_uid == uid)


def test_an_incomplete_study_is_marked_in_the_browser_and_when_open(
        qtbot: Any, workstation: Any, tmp_path: Path) -> None:
    short = _add(workstation, tmp_path / "short", slices=3, description="CT CHEST")
    whole = _add(workstation, tmp_path / "whole", slices=2, patient_id="US-005",
                 description="CT HEAD")
    # As a retrieve cut short records it: the PACS said 5, 3 arrived.
    workstation.store.note_expected({short: 5, whole: 2})
    browser = workstation.browser
    wait_until(qtbot, lambda: browser.model.study(_row(browser, short)).missing_instances == 2)
    model = browser.model
    cell = model.index(_row(browser, short), IMAGES_COLUMN)
    assert model.data(cell) == "3 of 5"
    assert model.data(cell, Qt.ItemDataRole.ForegroundRole) == INCOMPLETE_COLOUR
    assert "2 of the 5 images" in model.data(cell, Qt.ItemDataRole.ToolTipRole)
    other = model.index(_row(browser, whole), IMAGES_COLUMN)
    assert model.data(other) == 2
    assert model.data(other, Qt.ItemDataRole.ForegroundRole) is None

    window = workstation.window
    _select(browser, [short])
    browser.open_selected()
    wait_until(qtbot, lambda: window.incomplete_warning.isVisible())
    assert window.incomplete_warning.text() == (
        "Incomplete: CT CHEST 2024-01-05: 3 of 5 images here")
    _select(browser, [whole])
    browser.open_selected()
    wait_until(qtbot, lambda: not window.incomplete_warning.isVisible())


def test_images_that_arrive_for_an_open_study_are_announced_and_reopened(
        qtbot: Any, workstation: Any, tmp_path: Path) -> None:
    # A retrieve cut short, the study opened, then the rest retrieved (or imported in a
    # shell): the viewer kept the partial set and went on saying the images were missing.
    from tests.ui.test_browser_safety import _write

    uid, paths = _write(tmp_path / "ct", slices=5)
    store, browser, window = workstation.store, workstation.browser, workstation.window
    assert store.import_files(paths[:3]).instances_added == 3
    store.note_expected({uid: 5})
    browser.refresh()
    _select(browser, [uid])
    browser.open_selected()
    wait_until(qtbot, lambda: window.incomplete_warning.isVisible())
    assert not window.arrived_notice.isVisible() and not window.reopen_button.isVisible()

    assert store.import_files(paths[3:]).instances_added == 2
    browser.refresh()  # what the browser does when the database changes under it
    wait_until(qtbot, lambda: window.arrived_notice.isVisible())
    assert window.arrived_notice.text() == (
        "New images: CT CHEST 2024-01-05: 2 more images arrived (5 here now)")
    assert not window.incomplete_warning.isVisible()
    assert sum(len(s) for s in workstation.viewer.series.values()) == 3

    qtbot.mouseClick(window.reopen_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: sum(len(s) for s in workstation.viewer.series.values()) == 5)
    assert not window.arrived_notice.isVisible() and not window.reopen_button.isVisible()
    assert not window.incomplete_warning.isVisible()
