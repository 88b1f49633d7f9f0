"""Checking and repairing a Lightbox home: each problem made for real on disk and in the
database, reported exactly, repaired, and no instance lost on the way."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from tests.support.process_identity import needs_proc, start_ticks, this_boot
from tests.support.series import write_ct_series
from viewer.core.process_identity import owner
from viewer.core.records import InstanceRecord
from viewer.store import StudyStore
from viewer.store import verify as verify_module
from viewer.store.verify import TEMPORARY_GRACE_S, check_home, header
from viewer.store.verify_repair import LOST_AND_FOUND, repair_home
from viewer.store.writer import refresh_counts


@dataclass
class Home:
    """A home with two studies: A (series X of 4, series X2 of 2) and B (series Y of 3)."""

    path: Path
    study_a: str
    study_b: str
    series_x: list[Path]  # the source files, in slice order
    series_x2: list[Path]
    series_y: list[Path]

    def uid(self, source: Path, keyword: str = "SOPInstanceUID") -> str:
        return str(getattr(pydicom.dcmread(source, stop_before_pixels=True), keyword))

    def stored(self, source: Path) -> Path:
        with StudyStore.open(self.path) as store:
            found = store.instance_path(self.uid(source))
        assert found is not None
        return found

    def sql(self, *statements: str, params: tuple[object, ...] = ()) -> None:
        """Edit the database by hand, as an older version (or a person) would have."""
        conn = sqlite3.connect(self.path / "studies.sqlite", isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement, params if "?" in statement else ())
        finally:
            conn.close()


@pytest.fixture
def two_studies(tmp_path: Path) -> Home:
    source = tmp_path / "source"
    study_a, study_b = "1.2.826.0.1.3680043.10.1.1", "1.2.826.0.1.3680043.10.1.2"
    x = write_ct_series(source / "x", slices=4, rows=8, cols=8, study_uid=study_a,
                        patient_id="PID-A", patient_name="ALPHA^ANN")
    x2 = write_ct_series(source / "x2", slices=2, rows=8, cols=8, study_uid=study_a,
                         series_number=2, patient_id="PID-A", patient_name="ALPHA^ANN")
    y = write_ct_series(source / "y", slices=3, rows=8, cols=8, study_uid=study_b,
                        patient_id="PID-B", patient_name="BETA^BOB")
    home = tmp_path / "home"
    with StudyStore.open(home) as store:
        report = store.import_files([*x, *x2, *y])
        assert report.instances_added == 9 and not report.failed
    return Home(home, study_a, study_b, x, x2, y)


def _dicom_files(home: Path) -> dict[str, set[str]]:
    """Every readable DICOM file in the home (store and lost+found): SOP Instance UID ->
    SHA-256 digests of its files."""
    found: dict[str, set[str]] = {}
    for folder in (home / "files", home / LOST_AND_FOUND):
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            record = header(path, path.stat().st_size)
            if isinstance(record, InstanceRecord):
                found.setdefault(record.sop_instance_uid, set()).add(
                    hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_sound_home_is_sound_shallow_and_deep(two_studies: Home) -> None:
    for deep in (False, True):
        found = check_home(two_studies.path, deep=deep)
        assert found.sound, found.to_json()
        assert (found.studies, found.series, found.instances, found.files) == (2, 3, 9, 9)
        assert found.headers_read == (9 if deep else 0)  # shallow: the paths agree


def test_every_problem_is_reported_exactly_and_repaired_with_nothing_lost(
        two_studies: Home, tmp_path: Path) -> None:
    h = two_studies
    files = h.path / "files"
    # 1. A stored file deleted; 2. one truncated inside its pixel data.
    gone, cut = h.stored(h.series_x[0]), h.stored(h.series_x[1])
    gone.unlink()
    cut_size = cut.stat().st_size - 60
    os.truncate(cut, cut_size)
    # 3. Files without a row: a DICOM file copied in by hand, one where an import that was
    # killed between the rename and the commit left it, and our own temporary files.
    extra = write_ct_series(tmp_path / "extra", slices=2, rows=8, cols=8)
    dropped = files / "dropped.dcm"
    shutil.copy(extra[0], dropped)
    e = pydicom.dcmread(extra[1], stop_before_pixels=True)
    left = files / e.StudyInstanceUID / e.SeriesInstanceUID / f"{e.SOPInstanceUID}.dcm"
    left.parent.mkdir(parents=True)
    shutil.copy(extra[1], left)
    stale = files / ".incoming" / f"{os.getpid()}-900001.part"
    stale.write_bytes(b"half a file")
    old = time.time() - TEMPORARY_GRACE_S - 60
    os.utime(stale, (old, old))
    os.utime(left, (old, old))  # the import was killed long ago: not still arriving
    young = files / ".incoming" / f"{os.getpid()}-900002.part"
    young.write_bytes(b"being written")
    # 4. The old misfiling: an instance of series X (study A) filed under series Y (study
    # B), with the counts kept current as that version did.
    misfiled_uid = h.uid(h.series_x[2])
    h.sql("UPDATE instances SET series_pk = (SELECT pk FROM series WHERE series_uid = ?) "
          "WHERE sop_uid = ?", params=(h.uid(h.series_y[0], "SeriesInstanceUID"), misfiled_uid))
    conn = sqlite3.connect(h.path / "studies.sqlite", isolation_level=None)
    refresh_counts(conn, {pk for (pk,) in conn.execute("SELECT pk FROM series")},
                   {pk for (pk,) in conn.execute("SELECT pk FROM studies")})
    conn.close()
    # 5. A count that disagrees with the rows.
    x2_uid = h.uid(h.series_x2[0], "SeriesInstanceUID")
    h.sql("UPDATE series SET num_instances = 42 WHERE series_uid = ?", params=(x2_uid,))
    before = _dicom_files(h.path)

    found = check_home(h.path)
    assert found.database == []
    assert [p.row.sop_uid for p in found.missing] == [h.uid(h.series_x[0])]
    assert found.missing[0].row.study_uid == h.study_a
    assert [(p.row.sop_uid, p.actual) for p in found.size_mismatch] == [
        (h.uid(h.series_x[1]), cut_size)]
    assert sorted((o.path, o.kind) for o in found.orphans) == sorted([
        ("files/dropped.dcm", "dicom"), (str(left.relative_to(h.path)), "dicom"),
        (str(stale.relative_to(h.path)), "temporary")])
    assert [o.path for o in found.temporary_in_use] == [str(young.relative_to(h.path))]
    (misfiled,) = found.misfiled
    assert (misfiled.row.sop_uid, misfiled.row.study_uid) == (misfiled_uid, h.study_b)
    assert (misfiled.file_study_uid, misfiled.file_series_uid) == (
        h.study_a, h.uid(h.series_x[0], "SeriesInstanceUID"))
    assert found.headers_read == 1  # only the misfiled row's path disagreed
    assert [(c.level, c.uid, c.name, c.recorded, c.actual) for c in found.counts] == [
        ("series", x2_uid, "num_instances", "42", "2")]
    assert found.problem_count == 7 and not found.sound

    log = repair_home(h.path, found)
    assert log.not_repaired == [], log.not_repaired
    after = check_home(h.path)
    assert after.sound, after.to_json()
    assert young.exists() and not stale.exists()  # the young one may be an import's
    assert [o.path for o in after.temporary_in_use] == [str(young.relative_to(h.path))]
    # Nothing lost: every readable DICOM file's bytes are still in the home, and every
    # instance that had a readable file is in the database, under its own file's UIDs.
    now = _dicom_files(h.path)
    assert all(digests <= now.get(uid, set()) for uid, digests in before.items())
    # Re-filed where its own UIDs say, not copied there.
    d = pydicom.dcmread(extra[0], stop_before_pixels=True)
    refiled = files / d.StudyInstanceUID / d.SeriesInstanceUID / f"{d.SOPInstanceUID}.dcm"
    assert not dropped.exists() and refiled.read_bytes() == extra[0].read_bytes()
    assert not (h.path / LOST_AND_FOUND / "files" / "dropped.dcm").exists()
    assert (h.path / LOST_AND_FOUND / cut.relative_to(h.path)).stat().st_size == cut_size
    with StudyStore.open(h.path) as store:
        assert store.has_instances(before) == set(before)
        assert store.has_instances([h.uid(h.series_x[0]), h.uid(h.series_x[1])]) == set()
        series_x = store.instances(h.uid(h.series_x[0], "SeriesInstanceUID"))
        assert misfiled_uid in {r.sop_instance_uid for r in series_x}
        for study in store.studies():
            series = store.series(study.study_uid)
            assert study.number_of_instances == sum(s.number_of_instances for s in series)
            for s in series:
                assert s.number_of_instances == len(store.instances(s.series_uid))
        assert store.check() == []
    # A second repair has nothing to do.
    again = repair_home(h.path, after)
    assert again.repaired == [] and again.not_repaired == []


def test_a_series_of_another_study_is_reported_and_left_where_it_is(two_studies: Home) -> None:
    """The misfiling of older versions: the file says study B, its row sits in series X of
    study A. The importer would refuse the file (the series belongs to study A), so the
    row stays and the instance stays findable."""
    h = two_studies
    stored = h.stored(h.series_x[3])
    uid = h.uid(h.series_x[3])
    series_x = h.uid(h.series_x[0], "SeriesInstanceUID")
    ds = pydicom.dcmread(stored)
    ds.StudyInstanceUID = h.study_b
    where = h.path / "files" / h.study_b / series_x / f"{uid}.dcm"
    where.parent.mkdir(parents=True)
    ds.save_as(where)
    stored.unlink()
    h.sql("UPDATE instances SET file_path = ?, file_size = ? WHERE sop_uid = ?",
          params=(str(where.relative_to(h.path)), where.stat().st_size, uid))

    found = check_home(h.path)
    (problem,) = found.misfiled
    assert found.problem_count == 1
    assert (problem.row.study_uid, problem.file_study_uid) == (h.study_a, h.study_b)
    log = repair_home(h.path, found)
    (left,) = log.not_repaired
    assert left.subject == uid and "already belongs to another study" in left.detail
    assert len(check_home(h.path).misfiled) == 1
    with StudyStore.open(h.path) as store:
        assert store.instance_path(uid) == where


def test_deep_finds_a_file_replaced_behind_the_stores_back(two_studies: Home) -> None:
    h = two_studies
    stored, uid = h.stored(h.series_y[0]), h.uid(h.series_y[0])
    other = uid[:-1] + ("1" if uid[-1] != "1" else "2")
    # Same size, another instance: the path cannot tell.
    stored.write_bytes(stored.read_bytes().replace(uid.encode(), other.encode()))
    assert check_home(h.path).sound
    found = check_home(h.path, deep=True)
    (problem,) = found.misfiled
    assert (problem.row.sop_uid, problem.file_sop_uid) == (uid, other)
    log = repair_home(h.path, found)
    # The file goes where its own UIDs say; the row of the instance it replaced goes, and
    # the report says so.
    assert [(a.action, a.subject) for a in log.repaired] == [
        ("refiled", str(stored.relative_to(h.path))), ("removed_row", uid)]
    assert check_home(h.path, deep=True).sound
    with StudyStore.open(h.path) as store:
        assert store.has_instances([uid, other]) == {other}


def test_rows_whose_series_is_gone_are_removed_and_their_files_imported_again(
        two_studies: Home) -> None:
    h = two_studies
    x2 = h.uid(h.series_x2[0], "SeriesInstanceUID")
    conn = sqlite3.connect(h.path / "studies.sqlite", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")  # as a hand edit, or another tool, would
    conn.execute("DELETE FROM series WHERE series_uid = ?", (x2,))
    conn.close()
    found = check_home(h.path)
    assert [p.check for p in found.database] == ["foreign_key", "foreign_key"]
    assert {c.name for c in found.counts} == {"num_series", "num_instances"}
    log = repair_home(h.path, found)
    assert log.not_repaired == []
    assert check_home(h.path).sound
    with StudyStore.open(h.path) as store:
        assert len(store.instances(x2)) == 2


def test_a_damaged_database_is_reported_and_not_touched(two_studies: Home) -> None:
    database = two_studies.path / "studies.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    data = bytearray(database.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # the second page: a table's b-tree
    database.write_bytes(bytes(data))
    found = check_home(two_studies.path)
    assert found.database and found.database_damaged and not found.sound
    log = repair_home(two_studies.path, found)
    assert log.repaired == [] and "integrity" in log.not_repaired[0].detail
    assert database.read_bytes() == bytes(data)


def test_a_repair_cut_short_is_finished_by_the_next(two_studies: Home, tmp_path: Path) -> None:
    """A repair killed while it imported a file in place left the file's second name in
    its staging folder, and the import's clean-up had removed the file itself."""
    h = two_studies
    extra = write_ct_series(tmp_path / "extra", slices=1, rows=8, cols=8)[0]
    e = pydicom.dcmread(extra, stop_before_pixels=True)
    relative = f"files/{e.StudyInstanceUID}/{e.SeriesInstanceUID}/{e.SOPInstanceUID}.dcm"
    staged = h.path / "tmp" / f"repair-{_dead_pid()}" / relative
    staged.parent.mkdir(parents=True)
    shutil.copy(extra, staged)
    found = check_home(h.path)
    assert [(o.kind, o.path) for o in found.orphans] == [
        ("staged", str(staged.relative_to(h.path)))]
    repair_home(h.path, found)
    assert check_home(h.path).sound
    assert not staged.exists() and (h.path / relative).read_bytes() == extra.read_bytes()
    with StudyStore.open(h.path) as store:
        assert store.has_instances([e.SOPInstanceUID]) == {e.SOPInstanceUID}


@needs_proc
def test_a_repair_cut_short_whose_pid_another_process_took_is_finished(
        two_studies: Home, tmp_path: Path, unrelated: subprocess.Popen[bytes]) -> None:
    h = two_studies
    extra = write_ct_series(tmp_path / "extra", slices=1, rows=8, cols=8)[0]
    e = pydicom.dcmread(extra, stop_before_pixels=True)
    relative = f"files/{e.StudyInstanceUID}/{e.SeriesInstanceUID}/{e.SOPInstanceUID}.dcm"
    writer = f"{unrelated.pid}-{this_boot()}.{start_ticks(unrelated.pid) - 1}"
    staged = h.path / "tmp" / f"repair-{writer}-0" / relative
    staged.parent.mkdir(parents=True)
    shutil.copy(extra, staged)
    # A repair running now (this process) keeps its own staging folder.
    running = h.path / "tmp" / f"repair-{owner()}-0" / "files" / "being-imported.dcm"
    running.parent.mkdir(parents=True)
    running.write_bytes(b"x")
    found = check_home(h.path)
    assert [(o.kind, o.path) for o in found.orphans] == [
        ("staged", str(staged.relative_to(h.path)))]
    repair_home(h.path, found)
    assert not staged.exists() and (h.path / relative).read_bytes() == extra.read_bytes()
    assert running.exists()


def test_a_home_without_a_database_is_rebuilt_from_its_files(two_studies: Home) -> None:
    for path in two_studies.path.glob("studies.sqlite*"):
        path.unlink()
    found = check_home(two_studies.path)
    assert [o.kind for o in found.orphans] == ["dicom"] * 9
    repair_home(two_studies.path, found)
    after = check_home(two_studies.path)
    assert after.sound and after.instances == 9 and after.studies == 2


def test_received_files_check_sound(store: StudyStore, home: Path) -> None:
    paths = write_ct_series(home / "incoming", slices=3, rows=16, cols=16)
    store.add_received_files(paths)
    assert check_home(home, deep=True).sound


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL statements the check runs."""
    seen: list[str] = []
    connect = sqlite3.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)  # type: ignore[call-overload]
        conn.set_trace_callback(seen.append)
        return conn  # type: ignore[no-any-return]

    monkeypatch.setattr(verify_module.sqlite3, "connect", traced)
    yield seen


def test_reads_are_batched(statements: list[str], tmp_path: Path) -> None:
    """The number of queries does not grow with the number of rows."""
    counts = []
    for slices in (2, 12):
        home = tmp_path / f"home{slices}"
        with StudyStore.open(home) as store:
            store.import_files(write_ct_series(tmp_path / f"s{slices}", slices=slices,
                                               rows=8, cols=8))
        statements.clear()
        assert check_home(home).sound
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_uids_that_are_not_uids_check_sound(store: StudyStore, home: Path,
                                            tmp_path: Path) -> None:
    """Their files are named by digests (filestore.safe_component); the check names them
    the same way, so their paths agree with their rows and no header is read."""
    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "..", "1.2/3"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "evil"
    ds.save_as(tmp_path / "odd.dcm")
    assert store.import_files([tmp_path / "odd.dcm"]).instances_added == 1
    found = check_home(home)
    assert found.sound and found.instances == 1 and found.headers_read == 0
    assert check_home(home, deep=True).sound
