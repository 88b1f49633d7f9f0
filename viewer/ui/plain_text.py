"""Text from files, headers and peers shown as text, never as markup.

Qt shows a label's, a tooltip's or a message box's text as HTML when it "might be rich
text" (a tag before the first line break). Patient names, series descriptions, file names
and a PACS's messages come from whoever wrote them: a Patient Name ``SMITH<!--`` hid the
rest of the "Images of 2 patients are open" warning, and ``<h1>`` or ``<img>`` in a
description changed what a delete confirmation showed. Everything such text reaches goes
through these helpers.
"""

from __future__ import annotations

from PySide6.QtGui import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

_PLAIN = Qt.TextFormat.PlainText


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label that shows its text as it is, whatever characters it holds."""
    label = QLabel(parent)
    label.setTextFormat(_PLAIN)
    label.setText(text)
    return label


def plain_tip(text: str) -> str:
    """``text`` as a tooltip shows it literally (tooltips have no plain-text mode).

    Text Qt would not take for markup is returned as it is, so that tooltips read the
    same to whoever queries them (accessibility tools, tests).
    """
    if not Qt.mightBeRichText(text):
        return text
    return Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpacePre)


def ask(parent: QWidget | None, title: str, text: str,
        buttons: QMessageBox.StandardButton = (QMessageBox.StandardButton.Yes
                                               | QMessageBox.StandardButton.No),
        default: QMessageBox.StandardButton = QMessageBox.StandardButton.No
        ) -> QMessageBox.StandardButton:
    """``QMessageBox.question`` with its text shown literally; returns the button."""
    return _box(QMessageBox.Icon.Question, parent, title, text, buttons, default)


def warn(parent: QWidget | None, title: str, text: str) -> None:
    """``QMessageBox.warning`` with its text shown literally."""
    _box(QMessageBox.Icon.Warning, parent, title, text, QMessageBox.StandardButton.Ok,
         QMessageBox.StandardButton.Ok)


def _box(icon: QMessageBox.Icon, parent: QWidget | None, title: str, text: str,
         buttons: QMessageBox.StandardButton, default: QMessageBox.StandardButton
         ) -> QMessageBox.StandardButton:
    box = QMessageBox(icon, title, "", buttons, parent)
    box.setTextFormat(_PLAIN)
    box.setText(text)
    box.setDefaultButton(default)
    return QMessageBox.StandardButton(box.exec())
