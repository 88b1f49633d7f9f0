"""Checking and repairing a home whose stored files hold each other's instances (swapped
or rotated contents), and files a running import has placed but not yet committed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest

from tests.support.series import write_ct_series
from viewer.cli import main
from viewer.store import StudyStore
from viewer.store.verify import ARRIVING_GRACE_S, check_home
from viewer.store.verify_repair import LOST_AND_FOUND, repair_home

STUDY = "1.2.826.0.1.3680043.10.2.1"


def _series(folder: Path, slices: int, size: int = 8, number: int = 1) -> list[Path]:
    """A series of ``slices`` instances of one size: copies of one CT slice, each with
    its own SOP Instance UID of one length (generated slices differ in size)."""
    (first,) = write_ct_series(folder / "source", slices=1, rows=size, cols=size,
                               study_uid=STUDY, series_number=number)
    ds = pydicom.dcmread(first)
    paths = []
    for index in range(slices):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = (
            f"{STUDY}.{number}.{index + 10}")
        paths.append(folder / f"{index}.dcm")
        ds.save_as(paths[-1])
    return paths


def _import(home: Path, *series: list[Path]) -> dict[str, Path]:
    """Import the series; return each instance's stored file by SOP Instance UID."""
    with StudyStore.open(home) as store:
        report = store.import_files([p for s in series for p in s])
        assert not report.failed and report.instances_added == sum(map(len, series))
        return {path.stem: path for s in series for path in (
            store.instance_path(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in s) if path is not None}


def _rotate(paths: list[Path]) -> None:
    """Give each file the contents of the one before it (a swap for two)."""
    contents = [p.read_bytes() for p in paths]
    for path, data in zip(paths, contents[-1:] + contents[:-1], strict=True):
        path.write_bytes(data)


def _contents(home: Path) -> set[str]:
    """The digests of every file in the home's store and lost+found."""
    return {hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in (home / "files", home / LOST_AND_FOUND)
            for p in folder.rglob("*") if p.is_file()}


def _in_own_place(home: Path, stored: dict[str, Path]) -> None:
    """Every instance is indexed, at the file named after it, which holds it."""
    with StudyStore.open(home) as store:
        assert store.has_instances(stored) == set(stored)
        for uid, path in stored.items():
            assert store.instance_path(uid) == path
            assert pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID == uid


def test_two_swapped_files_of_equal_size_are_refiled(tmp_path: Path) -> None:
    home = tmp_path / "home"
    stored = _import(home, _series(tmp_path / "ct", 3))
    pair = sorted(stored.values())[:2]
    assert pair[0].stat().st_size == pair[1].stat().st_size
    _rotate(pair)
    before = _contents(home)
    assert check_home(home).sound  # the same sizes: only the headers tell
    found = check_home(home, deep=True)
    assert sorted(p.row.path for p in found.misfiled) == [
        str(p.relative_to(home)) for p in pair]

    log = repair_home(home, found)
    assert log.not_repaired == []
    assert sorted((a.action, a.subject) for a in log.repaired) == [
        ("refiled", str(p.relative_to(home))) for p in pair]
    assert check_home(home, deep=True).sound
    _in_own_place(home, stored)
    assert _contents(home) == before and not (home / LOST_AND_FOUND).exists()
    again = repair_home(home, check_home(home, deep=True))
    assert again.repaired == [] and again.not_repaired == []


def test_files_swapped_across_series_are_found_by_their_size_and_refiled(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    small = _series(tmp_path / "s", 2)
    large = _series(tmp_path / "l", 2, size=16, number=2)
    stored = _import(home, small, large)
    pair = [stored[pydicom.dcmread(small[0]).SOPInstanceUID],
            stored[pydicom.dcmread(large[1]).SOPInstanceUID]]
    _rotate(pair)
    found = check_home(home)  # no header read: the sizes disagree
    assert len(found.size_mismatch) == 2 and found.problem_count == 2

    log = repair_home(home, found)
    assert log.not_repaired == []
    assert [a.action for a in log.repaired] == ["refiled", "refiled"]
    assert check_home(home, deep=True).sound
    _in_own_place(home, stored)


def test_a_cycle_of_three_misfiled_files_is_resolved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    stored = _import(home, _series(tmp_path / "ct", 4))
    _rotate(sorted(stored.values())[:3])
    log = repair_home(home, check_home(home, deep=True))
    assert log.not_repaired == [] and [a.action for a in log.repaired] == ["refiled"] * 3
    assert check_home(home, deep=True).sound
    _in_own_place(home, stored)
    assert not list((home / "files").rglob("*.refile-*"))


def test_a_repair_cut_short_inside_a_swap_is_finished_by_the_next(tmp_path: Path) -> None:
    """Killed after the rows went and one file of the pair was renamed out of the way
    (a temporary name beside it), and after another file was given its place without
    its old name being dropped yet (two names, one file)."""
    home = tmp_path / "home"
    stored = _import(home, _series(tmp_path / "ct", 4))
    a, b, c, d = sorted(stored.values())
    _rotate([a, b])
    old = time.time() - 86400
    for path in (a, b, c, d):
        os.utime(path, (old, old))  # imported long ago: no import is placing them now
    conn = sqlite3.connect(home / "studies.sqlite", isolation_level=None)
    conn.execute("DELETE FROM instances WHERE sop_uid IN (?, ?, ?)", (a.stem, b.stem, d.stem))
    conn.close()
    aside = a.with_name(f"{a.name}.refile-999999")
    a.rename(aside)  # it holds b's instance; b's place holds a's
    second = c.with_name("copy.dcm")
    os.link(d, second)  # d's file: at its place and at a second name
    d_bytes = d.read_bytes()

    found = check_home(home)
    assert sorted(o.path for o in found.orphans) == sorted(
        str(p.relative_to(home)) for p in (aside, b, second, d))
    assert found.arriving == []
    log = repair_home(home, found)
    assert log.not_repaired == []
    assert sorted(a.action for a in log.repaired) == [
        "imported", "refiled", "refiled", "removed_name"]
    assert check_home(home, deep=True).sound
    _in_own_place(home, stored)
    assert not aside.exists() and not second.exists() and d.read_bytes() == d_bytes


def test_a_young_file_without_a_row_is_still_arriving_and_an_old_one_is_a_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A running import renames a batch's files into place a batch before it commits
    their rows: a young unindexed file at its own place is none of the check's business,
    nor the repair's."""
    home = tmp_path / "home"
    _import(home, write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8))
    new = write_ct_series(tmp_path / "new", slices=1, rows=8, cols=8)[0]
    n = pydicom.dcmread(new, stop_before_pixels=True)
    placed = home / "files" / n.StudyInstanceUID / n.SeriesInstanceUID / f"{n.SOPInstanceUID}.dcm"
    placed.parent.mkdir(parents=True)
    shutil.copy(new, placed)  # as the import's rename left it, its row not yet committed
    relative = str(placed.relative_to(home))

    found = check_home(home)
    assert found.sound and found.orphans == []
    assert [o.path for o in found.arriving] == [relative]
    assert found.notes() == ["files without a row, still arriving (import in progress?): 1"]
    log = repair_home(home, found)  # as check --repair does only when unsound; still:
    assert log.repaired == [] and log.not_repaired == []
    assert placed.read_bytes() == new.read_bytes()
    with StudyStore.open(home) as store:
        assert store.has_instances([n.SOPInstanceUID]) == set()  # the import's to commit
    capsys.readouterr()
    assert main(["--home", str(home), "check", "--json"]) == 0
    assert [o["path"] for o in json.loads(capsys.readouterr().out)["arriving"]] == [relative]
    assert main(["--home", str(home), "check"]) == 0
    assert ("Note: files without a row, still arriving (import in progress?): 1; left alone"
            in capsys.readouterr().out)

    old = time.time() - ARRIVING_GRACE_S - 60
    os.utime(placed, (old, old))  # the import was killed long ago
    found = check_home(home)
    assert [(o.path, o.kind) for o in found.orphans] == [(relative, "dicom")]
    assert found.arriving == [] and not found.sound
    assert main(["--home", str(home), "check"]) == 1
    repair_home(home, found)
    assert check_home(home).sound
    with StudyStore.open(home) as store:
        assert store.has_instances([n.SOPInstanceUID]) == {n.SOPInstanceUID}
