"""Dates and times in the forms of the standard before 3.0 (PS3.5 Table 6.2-1).

Old discs carry ``YYYY.MM.DD`` and ``HH:MM:SS``: indexed as they were, such a study sorted
before its whole year and fell outside every date range a user filtered by.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from tests.support.series import write_ct_series
from viewer.core.dates import canonical_date, canonical_time
from viewer.core.records import StudyFilter
from viewer.store import StudyStore
from viewer.ui.viewer.annotate import dicom_date, dicom_time


@pytest.mark.parametrize(("value", "expected"), [
    ("1997.04.24", "19970424"), ("19970424", "19970424"), ("", ""), ("1997", "1997"),
    ("1997.4.24", "1997.4.24"), ("1997.04.24-1998.01.01", "1997.04.24-1998.01.01"),
])
def test_canonical_date(value: str, expected: str) -> None:
    assert canonical_date(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("14:04:38", "140438"), ("14:04:38.123456", "140438.123456"), ("14:04", "1404"),
    ("140438.5", "140438.5"), ("", ""), ("14:4:38", "14:4:38"), ("1:04", "1:04"),
])
def test_canonical_time(value: str, expected: str) -> None:
    assert canonical_time(value) == expected


def _old_forms(paths: list[Path]) -> None:
    with pydicom.config.disable_value_validation():  # writing what old writers wrote
        for path in paths:
            ds = pydicom.dcmread(path)
            ds.StudyDate, ds.StudyTime = "1997.04.24", "14:04:38.25"
            ds.PatientBirthDate = "1950.01.02"
            ds.save_as(path)


def _april_1997(store: StudyStore) -> list[str]:
    found = store.studies(StudyFilter(date_from="19970401", date_to="19970430"))
    return [s.study_uid for s in found]


def test_old_forms_are_indexed_in_todays(store: StudyStore, tmp_path: Path) -> None:
    # The header reader's own walk (explicit VR little endian) and pydicom's (big endian).
    paths = write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8)
    _old_forms(paths)
    big_endian = testdata.test_file("ExplVR_BigEnd.dcm")  # StudyDate 1997.04.24 as written
    assert pydicom.dcmread(big_endian, stop_before_pixels=True).StudyDate == "1997.04.24"
    with pydicom.config.disable_value_validation():
        report = store.import_files([*paths, big_endian])
    assert report.instances_added == 3 and not report.failed
    studies = {s.patient.patient_id: s for s in store.studies()}
    ours = studies.pop("LB-TEST-0001")
    (theirs,) = studies.values()
    assert (ours.study_date, ours.study_time, ours.patient.birth_date) == (
        "19970424", "140438.25", "19500102")
    assert (theirs.study_date, theirs.study_time) == ("19970424", "140438")
    assert sorted(_april_1997(store)) == sorted([ours.study_uid, theirs.study_uid])


def test_a_database_with_old_forms_is_migrated(home: Path, tmp_path: Path) -> None:
    # Rows written before the dates were brought to today's form, one of whose patients
    # was also recorded again later with the date in today's form.
    with StudyStore.open(home) as store:
        store.import_files(write_ct_series(tmp_path / "a", slices=1, rows=8, cols=8,
                                           patient_id="P1", study_description="old"))
        store.import_files(write_ct_series(tmp_path / "b", slices=1, rows=8, cols=8,
                                           patient_id="P1", study_description="new"))
    conn = sqlite3.connect(home / "studies.sqlite")
    with conn:
        (birth,) = conn.execute("SELECT DISTINCT birth_date FROM patients").fetchone()
        assert len(birth) == 8
        dotted = f"{birth[:4]}.{birth[4:6]}.{birth[6:]}"
        conn.execute("INSERT INTO patients (patient_id, patient_name, name_norm, birth_date, "
                      "sex) SELECT patient_id, patient_name, name_norm, ?, sex FROM patients",
                      (dotted,))
        conn.execute("UPDATE studies SET patient_pk = (SELECT pk FROM patients "
                     "WHERE birth_date = ?), study_date = '1997.04.24', "
                     "study_time = '14:04:38.5' WHERE study_description = 'old'", (dotted,))
        # As a version 1 database was: without what later migrations add.
        conn.execute("ALTER TABLE studies DROP COLUMN expected_instances")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with StudyStore.open(home) as store:
        studies = {s.study_description: s for s in store.studies()}
        assert (studies["old"].study_date, studies["old"].study_time) == ("19970424",
                                                                          "140438.5")
        assert studies["old"].patient == studies["new"].patient
        assert studies["old"].patient.birth_date == birth
        assert _april_1997(store) == [studies["old"].study_uid]
    conn = sqlite3.connect(home / "studies.sqlite")
    assert conn.execute("SELECT count(*) FROM patients").fetchone() == (1,)
    # Migration 3 added the source counts, unknown for every study imported before it.
    assert conn.execute("SELECT count(*) FROM studies WHERE expected_instances IS NULL"
                        ).fetchone() == (2,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_the_viewer_shows_an_old_date_in_todays_form() -> None:
    # Files opened directly, not through the database, show their own values.
    assert dicom_date("1997.04.24") == dicom_date("19970424") == "1997-04-24"
    assert dicom_time("14:04:38") == dicom_time("140438") == "14:04"
