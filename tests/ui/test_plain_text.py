"""Tooltips of header values show them as written, markup-like or not."""

from __future__ import annotations

import pytest
from PySide6.QtGui import Qt, QTextDocument

from viewer.ui.plain_text import plain_tip

pytestmark = pytest.mark.gui


def _shown(tip: str) -> str:
    """What a tooltip displays: Qt renders rich text, shows plain text as it is."""
    if not Qt.mightBeRichText(tip):
        return tip
    document = QTextDocument()
    document.setHtml(tip)
    return document.toPlainText()


@pytest.mark.parametrize("value", ["CT CHEST\n300 images", "<h1>HEAD</h1><img src=x>",
                                   "SMITH<p><!--^JOHN", "a < b & c > d"])
def test_a_tooltip_shows_the_value_itself(qtbot, value: str) -> None:
    assert _shown(plain_tip(value)) == value


def test_a_value_qt_would_not_take_for_markup_is_left_as_it_is(qtbot) -> None:
    assert plain_tip("CT CHEST\n300 images") == "CT CHEST\n300 images"
