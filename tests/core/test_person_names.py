"""Person Names for reading, every component group kept (PS3.5 6.2.1.1)."""

from __future__ import annotations

import pytest

from viewer.core.person_names import reading_name


@pytest.mark.parametrize(("stored", "shown"), [
    ("DOE^JOHN", "DOE, JOHN"),
    ("Yamada^Tarou=山田^太郎=やまだ^たろう", "Yamada, Tarou = 山田, 太郎 = やまだ, たろう"),
    # Ideographic only: the alphabetic group is empty, and the name was shown empty.
    ("=山田^太郎", "山田, 太郎"),
    ("Wang^XiaoDong=王^小東", "Wang, XiaoDong = 王, 小東"),
    ("Smith^John^J^Dr^Jr", "Smith, Dr John J Jr"),
    ("ANONYMOUS", "ANONYMOUS"),
    ("", ""),
])
def test_every_group_is_shown(stored: str, shown: str) -> None:
    assert reading_name(stored) == shown


def test_the_viewer_and_the_browser_show_names_alike() -> None:
    from viewer.ui.qr.results_model import person_name_text
    from viewer.ui.viewer.annotate import display_name

    for stored in ("=山田^太郎", "Yamada^Tarou=山田^太郎", "DOE^JOHN"):
        assert display_name(stored) == person_name_text(stored) == reading_name(stored)
