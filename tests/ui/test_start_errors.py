"""A workstation that cannot start says why in a window, not only on standard error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from viewer.cli import main

pytestmark = pytest.mark.gui


def test_a_home_that_cannot_be_used_is_explained_in_a_window(
        qapp: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Started from a desktop launcher, standard error goes nowhere: nothing appeared.
    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("a file, not a folder")
    shown: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            shown.append(box.text())
            box.accept()
        else:
            QTimer.singleShot(50, answer)

    QTimer.singleShot(50, answer)
    assert main(["--home", str(not_a_folder), "open"]) == 2
    assert len(shown) == 1 and shown[0].startswith("Lightbox cannot start: ")
    assert str(not_a_folder) in shown[0]
    assert str(not_a_folder) in capsys.readouterr().err
