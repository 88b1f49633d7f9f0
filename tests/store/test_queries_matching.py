"""The browser's text filters: identifiers without regard to case, names as they are shown.

Patient ID and Accession Number used to match only exactly and case-sensitively ("us-004"
did not find "US-004", "US" found nothing), and the name as the browser shows it ("Smith,
John") found nothing when typed back into the name filter.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.series import write_ct_series
from viewer.core.records import StudyFilter
from viewer.store import StudyStore, queries


def _add(store: StudyStore, folder: Path, *, patient_id: str, accession: str = "A0",
         name: str = "TEST^CT") -> None:
    paths = write_ct_series(folder, slices=1, rows=8, cols=8, patient_id=patient_id,
                            accession_number=accession, patient_name=name)
    report = store.import_files(paths)
    assert report.instances_added == 1


def _ids(store: StudyStore, **kwargs: Any) -> set[str]:
    return {s.patient.patient_id for s in store.studies(StudyFilter(**kwargs))}


def _accessions(store: StudyStore, **kwargs: Any) -> set[str]:
    return {s.accession_number for s in store.studies(StudyFilter(**kwargs))}


@pytest.fixture
def filled(store: StudyStore, tmp_path: Path) -> StudyStore:
    for n, (patient_id, accession) in enumerate([
        ("US-004", "AbC-123"), ("US-0041", "ABC-124"), ("XUS-1", "ZZ9"), ("A_1", "50%"),
        ("AB1", "500"), ("us-005", "abc-200"),
    ]):
        _add(store, tmp_path / f"s{n}", patient_id=patient_id, accession=accession)
    return store


def test_patient_id_ignores_case_and_a_bare_value_is_a_prefix(filled: StudyStore) -> None:
    assert _ids(filled, patient_id="us-004") == {"US-004", "US-0041"}
    assert _ids(filled, patient_id="US") == {"US-004", "US-0041", "us-005"}
    assert _ids(filled, patient_id="uS-005") == {"us-005"}
    assert _ids(filled, patient_id="nobody") == set()
    # A prefix, not any substring: "XUS-1" does not begin with "us".
    assert "XUS-1" not in _ids(filled, patient_id="us")


def test_patient_id_wildcards_match_the_whole_value(filled: StudyStore) -> None:
    assert _ids(filled, patient_id="us-00?") == {"US-004", "us-005"}
    assert _ids(filled, patient_id="*1") == {"US-0041", "XUS-1", "A_1", "AB1"}
    assert _ids(filled, patient_id="*us*") == {"US-004", "US-0041", "XUS-1", "us-005"}
    # LIKE's own wildcards are literal characters in an identifier.
    assert _ids(filled, patient_id="a_") == {"A_1"}


def test_accession_number_ignores_case_with_the_same_rules(filled: StudyStore) -> None:
    assert _accessions(filled, accession_number="abc-123") == {"AbC-123"}
    assert _accessions(filled, accession_number="abc") == {"AbC-123", "ABC-124", "abc-200"}
    assert _accessions(filled, accession_number="ABC-1?4") == {"ABC-124"}
    assert _accessions(filled, accession_number="50%") == {"50%"}
    assert _accessions(filled, accession_number="*9") == {"ZZ9"}


def test_the_name_as_the_browser_shows_it_finds_the_patient(store: StudyStore,
                                                            tmp_path: Path) -> None:
    _add(store, tmp_path / "a", patient_id="P1", name="SMITH^JOHN^Q")
    _add(store, tmp_path / "b", patient_id="P2", name="SMITHSON^ANNA")
    # Written by a system that puts "family, given" in one component.
    _add(store, tmp_path / "c", patient_id="P3", name="DOE, JANE")
    for typed in ("Smith, John", "Smith John", "Smith^John", "smith,john", "SMITH, JOHN Q",
                  "Smith, J*"):
        assert _ids(store, patient_name=typed) == {"P1"}, typed
    assert _ids(store, patient_name="Smith") == {"P1", "P2"}
    assert _ids(store, patient_name="Doe, Jane") == {"P3"}
    assert _ids(store, patient_name="Doe Jane") == set()  # the comma is part of that name


class _Recording:
    """A connection that keeps the statements run through it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, list[object]]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.statements.append((sql, list(params)))
        return self.conn.execute(sql, params)


def _plan(conn: sqlite3.Connection, study_filter: StudyFilter) -> str:
    """EXPLAIN QUERY PLAN of the page query the browser runs for ``study_filter``."""
    recording = _Recording(conn)
    queries.select_studies(recording, study_filter)  # type: ignore[arg-type]
    ((sql, params),) = recording.statements
    return "\n".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.mark.parametrize(("field", "value", "index"), [
    ("patient_id", "us-004", "sqlite_autoindex_patients_1"),
    ("patient_id", "US", "sqlite_autoindex_patients_1"),
    ("patient_id", "pid00?123", "sqlite_autoindex_patients_1"),
    ("accession_number", "acc0004242", "studies_accession"),
])
def test_an_identifier_filter_searches_its_index(filled: StudyStore, home: Path, field: str,
                                                 value: str, index: str) -> None:
    # The page query of the browser (a parameter LIMIT), as it runs on 10,000 studies:
    # the identifier's index is searched, never every study read in date order.
    conn = sqlite3.connect(home / "studies.sqlite")
    try:
        plan = _plan(conn, StudyFilter(**{field: value}, limit=100))  # type: ignore[arg-type]
    finally:
        conn.close()
    assert f"USING COVERING INDEX {index}" in plan or f"USING INDEX {index}" in plan, plan
    assert "SCAN s" not in plan and "SCAN p" not in plan, plan


def test_case_ranges_cover_every_case_of_a_short_prefix() -> None:
    sql, params = queries.identifier_condition("patient_id", "u1")
    assert params == ["U1", "U2", "u1", "u2", "u1%"]
    assert sql.count(">=") == 2 and "LIKE ? ESCAPE" in sql
    # Past four letters, the ranges stop growing: LIKE checks the rest.
    _, params = queries.identifier_condition("patient_id", "abcdefg")
    assert len(params) == 2 * 16 + 1 and params[0] == "ABCD" and params[-1] == "abcdefg%"
    # A leading wildcard leaves nothing to search an index with.
    assert queries.identifier_condition("patient_id", "*x") == (
        "patient_id LIKE ? ESCAPE '\\'", ["%x"])
