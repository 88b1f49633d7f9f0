"""What reaches the disk before a row is committed: data, then names, then the row.

A power cut cannot be staged here, so these tests watch the system calls in order (the
calls still run) and check the order a power cut would need: every folder a file was
renamed into, and every folder new to the store, flushed (its own ``fsync``, or a
``syncfs`` of the file system) after the rename and before the commit of the file's row;
the database's WAL flushed before an import reports what it stored.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.series import write_ct_series
from viewer.core import writeback
from viewer.core.errors import InputFileError
from viewer.store import StudyStore, filestore

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd")

Event = tuple[str, str]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch, store: StudyStore) -> list[Event]:
    """Renames, fsyncs, commits and the import's final check, in the order they happen."""
    seen: list[Event] = []
    real_replace, real_fsync = os.replace, os.fsync
    real_commit, real_has = store.commit_files, store.has_instances
    real_syncfs = filestore.syncfs
    real_rename = filestore.rename_unless_there

    def replace(source: Any, target: Any) -> None:
        real_replace(source, target)
        seen.append(("rename", os.fspath(target)))

    def rename_unless_there(source: Any, target: Any) -> bool:
        renamed = real_rename(source, target)
        if renamed:
            seen.append(("rename", os.fspath(target)))
        return renamed

    def fsync(fd: int) -> None:
        real_fsync(fd)
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    def commit(files: list[Any]) -> Any:
        for f in files:
            seen.append(("commit", str(store.files.absolute(f.relative_path))))
        return real_commit(files)

    def has(uids: Any) -> set[str]:
        seen.append(("check", ""))
        return real_has(uids)

    def syncfs(fd: int) -> None:
        real_syncfs(fd)
        seen.append(("syncfs", ""))

    monkeypatch.setattr(filestore, "syncfs", syncfs)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(filestore, "rename_unless_there", rename_unless_there)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(store, "commit_files", commit)
    monkeypatch.setattr(store, "has_instances", has)
    return seen


def _two_series(folder: Path) -> list[Path]:
    first = write_ct_series(folder / "a", slices=90, rows=8, cols=8)
    second = write_ct_series(folder / "b", slices=50, rows=8, cols=8, series_number=2,
                             series_uid="1.2.826.0.1.3680043.10.511.78.2", file_prefix="B")
    return first + second


def _flushed(between: list[Event]) -> set[str]:
    """The folders flushed in ``between``; "*" for a syncfs (the whole file system)."""
    return {"*" if kind == "syncfs" else path for kind, path in between
            if kind in ("fsync", "syncfs")}


def _check_names_flushed_before_rows(seen: list[Event], files_root: Path) -> None:
    """Each committed row's file was renamed, then its folder flushed, then the row
    committed; before the first row, its study folder and files/ were flushed too."""
    commits = [i for i, (kind, _) in enumerate(seen) if kind == "commit"]
    assert commits, seen
    for i in commits:
        target = seen[i][1]
        renamed = max(j for j in range(i) if seen[j] == ("rename", target))
        flushed = _flushed(seen[renamed:i])
        assert str(Path(target).parent) in flushed or "*" in flushed, (target, seen[renamed:i])
    first = Path(seen[commits[0]][1])
    renamed = seen.index(("rename", str(first)))
    flushed = _flushed(seen[renamed:commits[0]])
    assert "*" in flushed or {str(first.parent.parent), str(files_root)} <= flushed


def test_an_import_flushes_names_before_rows_and_the_database_before_its_report(
        store: StudyStore, tmp_path: Path, events: list[Event]) -> None:
    report = store.import_files(_two_series(tmp_path / "src"))
    assert (report.instances_added, report.instances_stored) == (140, 140)
    assert sum(kind == "commit" for kind, _ in events) == 140
    _check_names_flushed_before_rows(events, store.files.root)
    check = events.index(("check", ""))
    last_commit = max(i for i, (kind, _) in enumerate(events) if kind == "commit")
    wal = f"{store.database_path}-wal"
    assert ("fsync", wal) in events[last_commit:check]


def test_received_files_have_their_names_flushed_before_their_rows(
        store: StudyStore, tmp_path: Path, events: list[Event]) -> None:
    incoming = store.home / "incoming"
    incoming.mkdir()
    paths = [Path(shutil.copy(p, incoming / p.name)) for p in _two_series(tmp_path / "src")]
    results = store.add_received_files(paths)
    assert all(not isinstance(r, Exception) for r in results)
    _check_names_flushed_before_rows(events, store.files.root)


def test_a_folder_that_cannot_be_flushed_fails_its_files_and_keeps_the_rest(
        store: StudyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _two_series(tmp_path / "src")
    incoming = store.home / "incoming"

    def receive() -> list[Path]:
        incoming.mkdir(exist_ok=True)
        return [Path(shutil.copy(p, incoming / p.name)) for p in source]

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("1.2.826.0.1.3680043.10.511.78.2"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    results = store.add_received_files(receive())
    failed = [r for r in results if isinstance(r, InputFileError)]
    assert len(failed) == 50 and all(Path(f.path).name.startswith("B") for f in failed)
    assert {f.problem for f in failed} == {
        f"cannot take into the store ({os.strerror(errno.EIO)})"}
    assert len(store.has_instances(r.sop_instance_uid for r in results
                                   if not isinstance(r, InputFileError))) == 90
    # Once the disk recovers, the same files received again are taken, over the files
    # left in place without rows.
    monkeypatch.setattr(os, "fsync", real_fsync)
    again = store.add_received_files(receive())
    assert not any(isinstance(r, InputFileError) for r in again)
    uids = {r.sop_instance_uid for r in again if not isinstance(r, InputFileError)}
    assert len(store.has_instances(uids)) == len(uids) == 140


@pytest.mark.parametrize("durable", [False, True])
def test_received_rows_are_flushed_when_the_caller_asks(
        store: StudyStore, tmp_path: Path, events: list[Event], durable: bool) -> None:
    incoming = store.home / "incoming"
    incoming.mkdir()
    paths = [Path(shutil.copy(p, incoming / p.name)) for p in _two_series(tmp_path / "src")]
    store.add_received_files(paths, durable=durable)
    last_commit = max(i for i, (kind, _) in enumerate(events) if kind == "commit")
    wal = ("fsync", f"{store.database_path}-wal")
    assert (wal in events[last_commit:]) is durable


def _listen_sink(store: StudyStore) -> Any:
    from viewer.cli.net_receive import _ListenSink
    return _ListenSink(store)


def _always_on_sink(store: StudyStore) -> Any:
    pytest.importorskip("PySide6")
    from viewer.ui.qr import store_sink
    return store_sink(store, durable=True)  # as the application's always-on SCP takes it


@pytest.mark.parametrize("make_sink", [_listen_sink, _always_on_sink],
                         ids=["lightbox listen", "always-listen"])
def test_listeners_flush_the_rows_of_each_batch(
        store: StudyStore, tmp_path: Path, events: list[Event],
        make_sink: Callable[[StudyStore], Any]) -> None:
    from viewer.net.sinks import ReceivedInstance

    sink = make_sink(store)
    incoming = store.home / "incoming"
    incoming.mkdir()
    items = [ReceivedInstance(Path(shutil.copy(p, incoming / p.name)), "", "", "", "MODALITY")
             for p in _two_series(tmp_path / "src")]
    assert sink.many(items) == [""] * len(items)
    last_commit = max(i for i, (kind, _) in enumerate(events) if kind == "commit")
    assert ("fsync", f"{store.database_path}-wal") in events[last_commit:]


def test_sqlite_flushes_past_the_drive_cache_where_that_takes_more(store: StudyStore) -> None:
    # PRAGMA fullfsync / checkpoint_fullfsync: F_FULLFSYNC on macOS, ignored elsewhere.
    store.counts()  # a reading connection, besides the writing one
    for conn in store._connections:
        assert conn.execute("PRAGMA fullfsync").fetchone() == (1,)
        assert conn.execute("PRAGMA checkpoint_fullfsync").fetchone() == (1,)


def test_without_syncfs_each_batch_is_flushed_past_the_drive_before_its_rows(
        store: StudyStore, tmp_path: Path, events: list[Event],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # macOS: no syncfs (a fsync per file and per folder), and fsync stops at the drive's
    # cache: one F_FULLFSYNC must come after a row's rename and before its commit, and
    # after the WAL's fsync before the report. macOS cannot run here: its fcntl call
    # is stood in for; the fsyncs, renames and commits are real.
    monkeypatch.setattr(filestore, "HAS_SYNCFS", False)
    monkeypatch.setattr(writeback, "_FULLFSYNC", 51)
    monkeypatch.setattr(writeback, "fcntl", SimpleNamespace(
        fcntl=lambda fd, command: events.append(("fullfsync", ""))))
    report = store.import_files(_two_series(tmp_path / "src"))
    assert report.instances_added == 140
    received = write_ct_series(tmp_path / "home" / "incoming", slices=3, rows=8, cols=8,
                               series_uid="1.2.826.0.1.3680043.10.511.78.9")
    store.add_received_files(received)
    commits = [i for i, (kind, _) in enumerate(events) if kind == "commit"]
    assert len(commits) == 143
    for i in commits:
        renamed = max(j for j in range(i) if events[j] == ("rename", events[i][1]))
        assert ("fullfsync", "") in events[renamed:i], events[renamed:i]
    check = events.index(("check", ""))
    wal_flushed = max(i for i, e in enumerate(events[:check]) if e[0] == "fsync"
                      and e[1].endswith("-wal"))
    assert ("fullfsync", "") in events[wal_flushed:check]
