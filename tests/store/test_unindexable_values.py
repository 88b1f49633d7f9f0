"""Values no study database column can hold: the file imports, or fails alone.

An Integer String holds -2^31 .. 2^31 - 1 (PS3.5 Table 6.2-1); a damaged file may carry
twenty digits, past what an SQLite integer holds. Such a value is read as absent. And
should any row still be refused by SQLite, that file fails with the reason, its batch's
other files are stored, and no file is left in the store without its row.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom import config

from tests.support.series import write_ct_series
from viewer.core.errors import InputFileError
from viewer.core.records import InstanceRecord
from viewer.dicom import header
from viewer.dicom.header import read_header, record_from_dataset
from viewer.media import import_media
from viewer.store import StudyStore
from viewer.store.queries import StudyFilter

TWENTY_DIGITS = "9" * 20


def _with_instance_number(path: Path, value: str) -> Path:
    ds = pydicom.dcmread(path)
    before = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE  # the damage is the point
    try:
        ds.add_new(0x00200013, "IS", value)
        ds.save_as(path)
    finally:
        config.settings.writing_validation_mode = before
    return path


@pytest.mark.parametrize(("value", "read"), [
    (TWENTY_DIGITS, None), ("2147483648", None), ("-2147483649", None),
    ("2147483647", 2147483647), ("-2147483648", -2147483648)])
def test_an_instance_number_past_the_integer_string_range_reads_as_absent(
        value: str, read: int | None, tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path / "in", slices=1)
    _with_instance_number(path, value)
    assert read_header(path).instance_number == read  # the fast reader
    with config.disable_value_validation():
        ds = pydicom.dcmread(path)
        assert record_from_dataset(ds, str(path)).instance_number == read  # pydicom's


def test_a_file_with_twenty_digits_in_an_integer_string_is_imported(
        tmp_path: Path, store: StudyStore) -> None:
    files = write_ct_series(tmp_path / "in", slices=5)
    _with_instance_number(files[2], TWENTY_DIGITS)
    report = import_media([tmp_path / "in"], store)
    assert report.failed == [] and report.instances_added == 5


def test_a_row_the_database_refuses_fails_its_file_alone(
        tmp_path: Path, store: StudyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    files = write_ct_series(tmp_path / "in", slices=5)
    _with_instance_number(files[2], TWENTY_DIGITS)
    # The range check taken away, the value reaches SQLite, which cannot hold it: the
    # stand-in for any row a future reader lets through and SQLite refuses.
    monkeypatch.setattr(header, "_in_range", lambda value: value)
    report = import_media([tmp_path / "in"], store)
    assert [(p.path, p.reason.split(" (")[0]) for p in report.failed] == [
        (str(files[2]), "cannot be entered in the study database")]
    assert "OverflowError" in report.failed[0].reason
    assert report.instances_added == 4
    (study,) = store.studies(StudyFilter())
    assert study.number_of_instances == 4
    stored = [p for p in (store.home / "files").rglob("*") if p.is_file()]
    assert len(stored) == 4  # the refused file's copy went with its row


def test_a_received_file_whose_row_is_refused_is_given_back_and_the_rest_kept(
        tmp_path: Path, store: StudyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    files = write_ct_series(tmp_path / "received", slices=3)
    _with_instance_number(files[1], TWENTY_DIGITS)
    monkeypatch.setattr(header, "_in_range", lambda value: value)  # as above
    results = store.add_received_files(files)
    refused = results[1]
    assert isinstance(refused, InputFileError)
    assert "cannot be entered in the study database" in str(refused)
    assert files[1].exists()  # back where it came from: its sender may not have it
    assert [type(r) for r in (results[0], results[2])] == [InstanceRecord, InstanceRecord]
    assert not files[0].exists() and not files[2].exists()  # moved into the store
    assert len([p for p in (store.home / "files").rglob("*") if p.is_file()]) == 2
