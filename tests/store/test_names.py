"""Name normalisation for search: case, accents, ``^``/spaces, width, component groups."""

from __future__ import annotations

import pytest

from viewer.store.names import has_wildcard, normalise, to_glob


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Buc^Jérôme", "buc jerome"),
        ("MÜLLER^Jürgen", "muller jurgen"),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "yamada tarou=山田 太郎=やまだ たろう"),
        ("ﾔﾏﾀﾞ^ﾀﾛｳ", "ヤマダ タロウ"),  # half-width katakana folded, voicing mark kept
        ("Wang^XiaoDong=王^小東=", "wang xiaodong=王 小東"),
        ("  Smith ^^ John  ", "smith john"),
        ("Διονυσιος", "διονυσιοσ"),  # casefold: final sigma matches either form
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_wildcards_and_glob_escape() -> None:
    assert has_wildcard("smi*") and has_wildcard("sm?th") and not has_wildcard("smith")
    assert to_glob("a[b]*") == "a[[]b]*"
