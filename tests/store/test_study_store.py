"""The study database: import, duplicates and conflicts, counts, queries, deletion,
threads, and the received-file fast path used by network retrieves."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from tests.support.series import write_ct_series, write_study_set
from viewer.cli.store_cmd import print_report
from viewer.core.errors import InputFileError
from viewer.core.records import StudyFilter
from viewer.store import StoreError, StudyStore
from viewer.store.schema import SCHEMA_VERSION, migrate


def test_schema_is_migrated_and_wal(store: StudyStore, home: Path) -> None:
    conn = sqlite3.connect(home / "studies.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexed = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"patients_name_norm", "studies_date", "studies_accession"} <= indexed
    conn.close()


def test_newer_database_is_refused(home: Path) -> None:
    StudyStore.open(home).close()
    conn = sqlite3.connect(home / "studies.sqlite")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        StudyStore.open(home)


def _restore_from_dump(home: Path, drop_meta_version: bool = False) -> None:
    """Replace the database with one rebuilt from ``sqlite3 .dump`` (user_version 0)."""
    database = home / "studies.sqlite"
    conn = sqlite3.connect(database)
    script = "\n".join(conn.iterdump())
    conn.close()
    for path in home.glob("studies.sqlite*"):
        path.unlink()
    conn = sqlite3.connect(database)
    conn.executescript(script)
    if drop_meta_version:
        conn.execute("DELETE FROM meta WHERE key = 'schema_version'")
        conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


def test_a_database_restored_from_a_dump_keeps_its_schema(home: Path, tmp_path: Path) -> None:
    # A dump loses PRAGMA user_version: every command failed "table meta already exists".
    with StudyStore.open(home) as store:
        store.import_files(write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8))
    _restore_from_dump(home)
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == 2 and store.check() == []
    conn = sqlite3.connect(home / "studies.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_dump_without_its_version_is_refused_in_words(home: Path) -> None:
    StudyStore.open(home).close()
    _restore_from_dump(home, drop_meta_version=True)
    with pytest.raises(StoreError, match="holds Lightbox's tables but not their schema"):
        StudyStore.open(home)


class _Racing(sqlite3.Connection):
    """A connection to a new home that another process migrates right after this one
    read the schema version (the application's SCP and an import at first start)."""

    home: Path
    raced = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
        cursor = super().execute(sql, *args)
        if sql == "PRAGMA user_version" and not self.raced:
            self.raced = True
            version = cursor.fetchone()
            StudyStore.open(self.home).close()
            cursor = super().execute("SELECT ?", version)
        return cursor


def test_a_home_migrated_meanwhile_by_another_process(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    _Racing.home = home
    conn = sqlite3.connect(home / "studies.sqlite", isolation_level=None, factory=_Racing)
    try:
        assert migrate(conn) == 0
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        conn.close()


def test_import_copies_files_and_keeps_counts(store: StudyStore, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=6, rows=16, cols=16)
    report = store.import_files(paths)
    assert (report.studies_added, report.series_added, report.instances_added) == (1, 1, 6)
    (study,) = store.studies()
    assert study.number_of_series == 1 and study.number_of_instances == 6
    assert study.modalities == ("CT",)
    (series,) = store.series(study.study_uid)
    assert series.number_of_instances == 6
    instances = store.instances(series.series_uid)
    assert [i.sop_instance_uid for i in instances] == [
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths
    ]
    for record, source in zip(instances, paths, strict=True):
        stored = Path(record.file_path)
        assert stored.is_relative_to(store.home) and stored.read_bytes() == source.read_bytes()
        assert record.rows == 16 and record.image_position is not None
    assert list((store.home / "files" / ".incoming").iterdir()) == []


def test_instances_sorted_along_the_normal_not_by_name(store: StudyStore, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=5, rows=8, cols=8)
    shuffled = [tmp_path / f"x{n}.dcm" for n in range(5)]
    for n, path in enumerate(reversed(paths)):
        shutil.copy(path, shuffled[n])
    store.import_files(shuffled)
    (study,) = store.studies()
    (series,) = store.series(study.study_uid)
    z = [r.image_position[2] for r in store.instances(series.series_uid) if r.image_position]
    assert z == sorted(z)


def test_reimport_is_present_and_conflict_is_reported(store: StudyStore, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=3, rows=8, cols=8)
    store.import_files(paths)
    again = store.import_files(paths)
    assert again.instances_added == 0 and again.instances_present == 3
    changed = tmp_path / "changed.dcm"
    ds = pydicom.dcmread(paths[0])
    ds.SeriesDescription = "edited elsewhere"
    ds.save_as(changed)
    report = store.import_files([changed])
    assert [c.path for c in report.conflicts] == [str(changed)]
    uid = str(ds.SOPInstanceUID)
    stored = store.instance_path(uid)
    assert stored is not None and stored.read_bytes() == paths[0].read_bytes()
    assert store.counts()["instances"] == 3


def test_same_instance_twice_in_one_import_counts_once(store: StudyStore, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8)
    copy = tmp_path / "copy.dcm"
    shutil.copy(paths[0], copy)
    report = store.import_files([*paths, copy])
    assert report.instances_added == 2 and report.conflicts == []
    # Every file examined is accounted for: the copy is named as one, not left unsaid.
    assert (report.files_seen, report.copies) == (3, 1)
    assert report.to_dict()["identical_copies"] == 1
    out = io.StringIO()
    print_report(report, out)
    assert "Identical copies on the medium (stored once): 1\n" in out.getvalue()


def test_received_file_is_moved_in(store: StudyStore, tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path / "rx", slices=1, rows=8, cols=8)
    data = path.read_bytes()
    record = store.add_received_file(path, move=True)
    assert not path.exists()
    assert Path(record.file_path).read_bytes() == data
    assert store.has_instances([record.sop_instance_uid, "1.2.3"]) == {record.sop_instance_uid}
    path.write_bytes(data)  # received again: nothing new
    again = store.add_received_file(path, move=True)
    assert again.file_path == record.file_path and store.counts()["instances"] == 1
    not_dicom = tmp_path / "junk.dcm"
    not_dicom.write_bytes(b"junk" * 100)
    with pytest.raises(InputFileError, match=r"junk\.dcm"):
        store.add_received_file(not_dicom)


def test_delete_study_cascades_and_removes_files(store: StudyStore, tmp_path: Path) -> None:
    written = write_study_set(tmp_path / "set", slices=2, rows=8, cols=8, compressed=False)
    store.import_files([p for s in written for p in s.paths])
    victim = written[0].study_uid
    files = [Path(i.file_path) for s in store.series(victim) for i in store.instances(s.series_uid)]
    assert store.delete_study(victim) == len(files) == 4
    assert store.study(victim) is None and store.series(victim) == []
    assert not any(f.exists() for f in files)
    counts = store.counts()
    assert counts["studies"] == 4 and counts["instances"] == 16 and counts["patients"] == 4
    assert store.check() == []


def _filter_ids(store: StudyStore, **kwargs: object) -> set[str]:
    return {s.patient.patient_id for s in store.studies(StudyFilter(**kwargs))}  # type: ignore[arg-type]


def test_study_filters(store: StudyStore, tmp_path: Path) -> None:
    written = write_study_set(
        tmp_path / "set", studies_per_patient=2, slices=1, rows=8, cols=8, compressed=False
    )
    store.import_files([p for s in written for p in s.paths])
    assert store.study_count() == 10
    assert _filter_ids(store, patient_name="müller") == {"LB-TEST-0102"}
    assert _filter_ids(store, patient_name="MULLER^j*") == {"LB-TEST-0102"}  # accent, case
    assert _filter_ids(store, patient_name="山田*") == {"LB-TEST-0103"}  # ideographic group
    assert _filter_ids(store, patient_name="やまだ") == {"LB-TEST-0103"}
    assert _filter_ids(store, patient_name="иванов") == {"LB-TEST-0104"}
    assert _filter_ids(store, patient_name="d?mo*") == {"LB-TEST-0101"}
    assert _filter_ids(store, patient_name="nobody*") == set()
    assert _filter_ids(store, patient_id="LB-TEST-0105") == {"LB-TEST-0105"}
    assert _filter_ids(store, patient_id="LB-TEST-010?") == {f"LB-TEST-010{n}" for n in range(1, 6)}
    assert _filter_ids(store, accession_number="LBACC0302") == {"LB-TEST-0103"}
    assert len(store.studies(StudyFilter(date_from="20240201", date_to="20240231"))) == 5
    assert len(store.studies(StudyFilter(date_from="20240202"))) == 4  # 202402pp, p = 2..5
    assert len(store.studies(StudyFilter(date_to="20240103"))) == 3
    assert len(store.studies(StudyFilter(modality="CT"))) == 10
    assert store.studies(StudyFilter(modality="MR")) == []
    assert store.study_count(StudyFilter(study_description="synthetic")) == 10


def test_modality_filter_takes_dicom_wildcards(store: StudyStore) -> None:
    store.import_files([testdata.test_file("CT_small.dcm"), testdata.test_file("MR_small.dcm")])

    def modalities(value: str) -> list[tuple[str, ...]]:
        return sorted(s.modalities for s in store.studies(StudyFilter(modality=value)))

    assert modalities("") == modalities("*") == modalities("**") == [("CT",), ("MR",)]
    assert modalities("M?") == modalities("mr") == modalities("*R") == [("MR",)]
    assert modalities("?T") == [("CT",)]
    assert modalities("X*") == modalities("M") == []


def test_paging_and_sorting(store: StudyStore, tmp_path: Path) -> None:
    written = write_study_set(
        tmp_path / "set", studies_per_patient=2, slices=1, rows=8, cols=8, compressed=False
    )
    store.import_files([p for s in written for p in s.paths])
    newest_first = [s.study_date for s in store.studies()]
    assert newest_first == sorted(newest_first, reverse=True)
    pages = [
        s.study_uid
        for offset in range(0, 10, 3)
        for s in store.studies(StudyFilter(offset=offset, limit=3, sort="patient_id"))
    ]
    assert len(pages) == len(set(pages)) == 10
    by_id = [s.patient.patient_id for s in store.studies(StudyFilter(sort="patient_id",
                                                                      descending=False))]
    assert by_id == sorted(by_id)


def test_import_in_a_worker_thread_while_reading(home: Path, tmp_path: Path) -> None:
    written = write_study_set(tmp_path / "set", slices=2, rows=8, cols=8, compressed=False)
    paths = [p for s in written for p in s.paths]
    with StudyStore.open(home) as store:
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                store.import_files(paths)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        thread = threading.Thread(target=worker)
        thread.start()
        while thread.is_alive():
            store.studies(StudyFilter(limit=5))
        thread.join()
        assert errors == []
        assert store.counts()["instances"] == len(paths)


def test_home_and_files_are_private(store: StudyStore) -> None:
    if os.name != "posix":
        pytest.skip("POSIX modes")
    assert (store.home / "files" / ".incoming").stat().st_mode & 0o077 == 0


def test_reimport_restores_a_removed_stored_file(store: StudyStore, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8)
    store.import_files(paths)
    uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).SOPInstanceUID)
    stored = store.instance_path(uid)
    assert stored is not None
    stored.unlink()
    assert store.check() != []
    report = store.import_files(paths)
    assert report.conflicts == [] and report.instances_present == 2
    assert stored.read_bytes() == paths[0].read_bytes() and store.check() == []


def test_held_instances_counts_a_study_or_some_of_its_series(
        store: StudyStore, tmp_path: Path) -> None:
    sets = write_study_set(tmp_path / "set", patients=(("ONE^PATIENT", "P1", None),),
                           series_per_study=2, slices=3, rows=16, cols=16, compressed=False)
    store.import_files([p for s in sets for p in s.paths])
    (study,) = store.studies()
    first, second = (s.series_uid for s in store.series(study.study_uid))
    assert store.held_instances(study.study_uid) == 6
    assert store.held_instances(study.study_uid, (first,)) == 3
    assert store.held_instances(study.study_uid, (first, second)) == 6
    assert store.held_instances(study.study_uid, ("1.2.3.4",)) == 0
    assert store.held_instances("1.2.3.4") == 0
