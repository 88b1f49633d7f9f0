"""Name normalisation for search: case, accents, ``^``/spaces, width, component groups."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.series import write_ct_series
from viewer.core.records import StudyFilter
from viewer.store import StudyStore
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
        ("ΔΙΟΝΎΣΙΟΣ^Ἀθηνᾶ", "διονυσιοσ αθηνα"),  # tonos, breathing, perispomeni folded
        ("Йосиф^Ёлкин", "йосиф ёлкин"),  # Cyrillic letters keep their marks
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_wildcards_and_glob_escape() -> None:
    assert has_wildcard("smi*") and has_wildcard("sm?th") and not has_wildcard("smith")
    assert to_glob("a[b]*") == "a[[]b]*"


def test_rows_folded_by_an_older_normaliser_are_folded_again(tmp_path: Path) -> None:
    # Version 1 kept Greek accents: "Διονύσιος" was stored as "διονύσιοσ", which a search
    # folded by today's normaliser ("διονυσιοσ") would not find.
    home = tmp_path / "home"
    with StudyStore.open(home) as store:
        store.import_files(write_ct_series(tmp_path / "ct", slices=1, rows=8, cols=8,
                                           patient_name="Διονύσιος^Άννα"))
    conn = sqlite3.connect(home / "studies.sqlite")
    with conn:
        conn.execute("UPDATE patients SET name_norm = 'διονύσιοσ άννα'")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'name_normaliser'")
    conn.close()
    with StudyStore.open(home) as store:
        (study,) = store.studies(StudyFilter(patient_name="Διονυσιος"))
        assert study.patient.patient_name == "Διονύσιος^Άννα"
        assert store.studies(StudyFilter(patient_name="αννα"))
