"""Deleting a study while another process imports it, and a delete cut short."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from tests.support.process_identity import needs_proc, start_ticks, this_boot
from tests.support.series import write_ct_series
from viewer.core.imports import ImportReport
from viewer.store import StudyStore
from viewer.store.deleting import DELETING_PREFIX, new_aside


@pytest.fixture
def disc(tmp_path: Path) -> list[Path]:
    return write_ct_series(tmp_path / "disc", slices=6, rows=16, cols=16)


def _study(files: list[Path]) -> str:
    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def test_an_import_just_after_a_delete_commits_keeps_its_files(
        home: Path, disc: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    with StudyStore.open(home) as store, StudyStore.open(home) as other:
        store.import_files(disc)
        done: list[ImportReport] = []
        transaction = store._transaction

        @contextlib.contextmanager
        def then_the_other_import() -> Iterator[object]:
            with transaction() as conn:
                yield conn
            if not done:  # the delete has committed; it has not returned yet
                done.append(other.import_files(disc))

        monkeypatch.setattr(store, "_transaction", then_the_other_import)
        assert store.delete_study(_study(disc)) == len(disc)
        assert done[0].instances_added == len(disc)
        assert store.counts()["instances"] == len(disc)
        assert store.check() == []  # every row has its file


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _cut_short(home: Path, relatives: list[str]) -> Path:
    """What a delete killed after moving these files aside leaves."""
    aside = home / "tmp" / f"{DELETING_PREFIX}{_dead_pid()}-0"
    for relative in relatives:
        (aside / relative).parent.mkdir(parents=True, exist_ok=True)
        os.rename(home / relative, aside / relative)
    return aside


def _stored(store: StudyStore) -> list[str]:
    return [p for (p,) in store._reader().execute("SELECT file_path FROM instances")]


def test_a_delete_killed_before_its_commit_puts_the_files_back(
        home: Path, disc: list[Path]) -> None:
    with StudyStore.open(home) as store:
        store.import_files(disc)
        relatives = _stored(store)
    aside = _cut_short(home, relatives)
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == len(disc)
        assert store.check() == []
    assert not aside.exists()


def test_a_delete_killed_after_its_commit_is_finished(home: Path, disc: list[Path]) -> None:
    with StudyStore.open(home) as store:
        store.import_files(disc)
        relatives = _stored(store)
        aside = _cut_short(home, relatives)
        store._writer.execute("DELETE FROM studies")  # the delete's committed rows
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == 0
        assert store.check() == []
        # Nothing for a repair to take back in: the study stays deleted.
        assert not any((home / relative).exists() for relative in relatives)
    assert not aside.exists()
    # Nor the study's empty folders, which the killed delete had not yet removed.
    assert not any((home / relative).parent.exists() for relative in relatives)


@needs_proc
def test_a_delete_cut_short_whose_pid_another_process_took_is_put_back(
        home: Path, disc: list[Path], unrelated: subprocess.Popen[bytes]) -> None:
    # After a reboot the killed delete's pid may run an unrelated program for days: its
    # files stayed hidden, a repair dropped their rows, and they went once it ended.
    with StudyStore.open(home) as store:
        store.import_files(disc)
        relatives = _stored(store)
    writer = f"{unrelated.pid}-{this_boot()}.{start_ticks(unrelated.pid) - 1}"
    aside = home / "tmp" / f"{DELETING_PREFIX}{writer}-0"
    for relative in relatives:
        (aside / relative).parent.mkdir(parents=True, exist_ok=True)
        os.rename(home / relative, aside / relative)
    with StudyStore.open(home) as store:
        assert store.check() == []
    assert not aside.exists() and unrelated.poll() is None


@needs_proc
def test_a_running_deletes_folder_is_left_alone(home: Path, disc: list[Path]) -> None:
    aside = new_aside(home)
    ours = f"{os.getpid()}-{this_boot()}.{start_ticks(os.getpid())}"
    assert aside.name.startswith(f"{DELETING_PREFIX}{ours}-")
    (aside / "files").mkdir(parents=True)
    (aside / "files" / "being-moved.dcm").write_bytes(b"x")
    with StudyStore.open(home):
        pass
    assert (aside / "files" / "being-moved.dcm").exists()
