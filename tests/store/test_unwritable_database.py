"""A study database that cannot be written: one line naming it and why, never a
traceback, and no file left in the store without its row.

Tests run as root, which ignores file modes; ``PRAGMA query_only`` makes SQLite refuse
writes with the same SQLITE_READONLY a read-only file gives.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pydicom
import pytest

from tests.support.series import write_ct_series
from viewer.cli import main
from viewer.store import StudyStore
from viewer.store.study_store import StoreError


def _stored_files(home: Path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, n), home)
                  for d, _dirs, names in os.walk(home / "files") for n in names
                  if not d.endswith(".incoming"))


def test_an_import_into_a_read_only_database_says_so_and_leaves_no_file(
        home: Path, tmp_path: Path) -> None:
    disc = write_ct_series(tmp_path / "disc", slices=3, rows=16, cols=16)
    with StudyStore.open(home) as store:
        store._writer.execute("PRAGMA query_only = ON")
        with pytest.raises(StoreError, match=r"studies\.sqlite: cannot write the study "
                                             r"database: it is read-only"):
            store.import_files(disc)
    assert _stored_files(home) == []  # renamed into place, then taken back
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == 0 and store.check() == []


def test_a_delete_waiting_too_long_for_the_lock_says_who_holds_it(
        home: Path, tmp_path: Path) -> None:
    disc = write_ct_series(tmp_path / "disc", slices=2, rows=16, cols=16)
    study = str(pydicom.dcmread(disc[0], stop_before_pixels=True).StudyInstanceUID)
    with StudyStore.open(home) as store:
        store.import_files(disc)
        holder = sqlite3.connect(store.database_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        store._writer.execute("PRAGMA busy_timeout = 50")
        try:
            with pytest.raises(StoreError, match="another program has held it"):
                store.delete_study(study)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.counts()["instances"] == 2 and store.check() == []
        assert store.delete_study(study) == 2  # once it is free


def test_a_delete_whose_files_cannot_be_moved_aside_deletes_nothing(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disc = write_ct_series(tmp_path / "disc", slices=2, rows=16, cols=16)
    study = str(pydicom.dcmread(disc[0], stop_before_pixels=True).StudyInstanceUID)
    with StudyStore.open(home) as store:
        store.import_files(disc)
    shutil.rmtree(home / "tmp", ignore_errors=True)
    (home / "tmp").write_bytes(b"")  # a file where the folder should be
    assert main(["--home", str(home), "delete", study]) == 2
    err = capsys.readouterr().err
    assert "cannot be moved aside" in err and "nothing was deleted" in err
    assert "Traceback" not in err
    (home / "tmp").unlink()
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == 2 and store.check() == []
