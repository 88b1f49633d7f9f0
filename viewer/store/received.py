"""Index files that arrived over the network (C-GET, C-MOVE) and take them into the store.

A received file is complete on local disk, in the Lightbox home's ``incoming`` folder on
the store's file system, and belongs to the store from then on: it is renamed into place,
not copied. A batch is made durable with one flush (``syncfs``; one ``fsync`` per file
where the platform lacks it), renamed, its folders flushed, and committed in one
transaction, with the same order of steps as a media import: data on disk, then the name,
then the row.

Only the beginning of each file is read: its header (the pixel data that follows is
checked against the file size, not read).
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from viewer.core.errors import DiskFullError, InputFileError
from viewer.core.records import InstanceRecord
from viewer.store.hierarchy import HierarchyCheck
from viewer.store.reading import prepare
from viewer.store.same_instance import same_data_set
from viewer.store.writer import StoredFile, stored_elsewhere

if TYPE_CHECKING:
    from viewer.store.study_store import StudyStore

Received = InstanceRecord | InputFileError


def _record(path: Path) -> InstanceRecord:
    """The header of one received file (raises InputFileError naming it)."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read ({exc.strerror or exc})") from None
    outcome = prepare(path, size)
    if outcome.prepared is None:
        raise InputFileError(str(path), outcome.problem)
    return outcome.prepared.record


def _same_instance(received: Path, first: Path) -> bool:
    """Whether a received file holds the instance of ``first`` (stored, or earlier in the
    batch): the same bytes, or, only when they differ, the same data set after a File
    Meta group of its own (PS3.10 7.1). The receiver writes the sender's AE title there
    (Source Application Entity Title), so one instance sent by two nodes differs in it.
    """
    try:
        # filecmp compares sizes, then bytes: the meta groups are read only when they
        # differ, not for every identical copy (a retrieve of what is already here).
        return filecmp.cmp(received, first, shallow=False) or same_data_set(received, first)
    except OSError:
        return False


def _give_back(target: Path, source: Path) -> None:
    """Take a file that gets no row out of the store, back to where it came from."""
    with contextlib.suppress(OSError):
        if source.exists():  # copied, not moved: the original is still there
            target.unlink()
        else:
            os.replace(target, source)


def add_received(store: StudyStore, paths: list[Path], *, move: bool = True,
                 headers: Sequence[InstanceRecord | None] | None = None,
                 durable: bool = False) -> list[Received]:
    """Index ``paths`` and keep them in the store; one result per path, in order.

    ``headers`` holds, per path, the header already read by the caller, or None: then
    the file's header is read here. With ``durable``, the batch's rows are flushed to disk
    before this returns (:meth:`StudyStore.make_durable`), for instances whose sender may
    delete its copy once answered; otherwise they reach the disk at the next checkpoint,
    and a retrieve cut short by a power cut fetches again what lost its row.

    Each result is the stored record (``file_path`` the stored file) or the InputFileError
    that says why the file was not taken: not DICOM, truncated, a DICOMDIR, the same SOP
    Instance UID already stored with different content, or a series or study that belongs
    to another study or patient (:class:`HierarchyCheck`); the stored files are kept, the
    received one left where it is. A file identical to one already stored is removed, as
    is one whose data set is (its File Meta Information, PS3.10 7.1, may differ: another
    sender's AE title); one whose stored file has gone missing takes its place.
    """
    results: list[Received | None] = [None] * len(paths)
    records: dict[int, InstanceRecord] = {}
    for index, path in enumerate(paths):
        known = headers[index] if headers is not None else None
        if known is not None:
            records[index] = known  # read by the receiver as the data set arrived
            continue
        try:
            records[index] = _record(path)
        except InputFileError as exc:
            results[index] = exc
    stored = store.stored_digests(r.sop_instance_uid for r in records.values())
    # SOP Instance UID -> the index of the file kept for it, and where it goes
    fresh: dict[str, tuple[int, str]] = {}
    placed: list[tuple[str, str]] = []
    for index, record in records.items():
        path, uid = paths[index], record.sop_instance_uid
        relative = store.files.relative_path(record.study_uid, record.series_uid, uid)
        if uid in stored and not store.files.absolute(stored[uid][2]).is_file():
            # The row is there but its file was removed behind the store's back: the
            # received copy takes its place, as a media import restores it.
            relative = stored[uid][2]
            del stored[uid]
        if uid in stored or uid in fresh:
            # Already stored, or twice in this batch: the first copy stays.
            first = (store.files.absolute(stored[uid][2]) if uid in stored
                     else paths[fresh[uid][0]])
            if first.is_file() and _same_instance(path, first):
                target = store.files.absolute(stored[uid][2] if uid in stored else relative)
                results[index] = replace(record, file_path=str(target))
                if move:
                    with contextlib.suppress(OSError):
                        path.unlink()
            else:
                results[index] = InputFileError(str(path), stored_elsewhere(uid))
            continue
        fresh[uid] = (index, relative)
    misfiled = store.misfiled(HierarchyCheck(),
                              [(index, records[index]) for index, _ in fresh.values()])
    for uid, (index, relative) in list(fresh.items()):
        if index in misfiled:
            results[index] = InputFileError(str(paths[index]), misfiled[index])
            del fresh[uid]  # left where it is, as a conflicting copy is
        elif move:
            placed.append((str(paths[index]), relative))
    failures = dict(store.files.adopt(placed))
    rows: list[StoredFile] = []
    sources: list[Path] = []
    taken: list[int] = []  # the index of each row's file
    for index, relative in fresh.values():
        record, path = records[index], paths[index]
        target = store.files.absolute(relative)
        try:
            error = failures.get(relative)
            if not move or (error is not None and error.errno == errno.EXDEV):
                # A copy keeps the same guarantees (flush, rename) when a rename cannot do.
                store.files.copy_file(relative, path)
                if move:
                    path.unlink()
            elif isinstance(error, FileExistsError):
                # Another process stored this instance meanwhile, from another sender
                # (another File Meta group) or with other content: its file stays.
                if not _same_instance(path, target):
                    results[index] = InputFileError(str(path), stored_elsewhere(
                        record.sop_instance_uid))
                    continue
                path.unlink()
            elif error is not None:
                raise error
        except OSError as exc:
            results[index] = InputFileError(
                str(path), f"cannot take into the store ({exc.strerror or exc})")
            continue
        rows.append(StoredFile(record, relative, record.file_size, ""))
        sources.append(path)
        taken.append(index)
        results[index] = replace(record, file_path=str(target))
    try:
        counts = store.commit_files(rows)
    except DiskFullError:
        # No row names them: back where they came from, so that the store keeps no file
        # without its row and the caller still has them (a push was answered already).
        for row, source in zip(rows, sources, strict=True):
            _give_back(store.files.absolute(row.relative_path), source)
        raise
    # Rows another process committed first for these instances, or for their series or
    # study under another owner: the file goes back where it came from, without a row.
    where = {id(row): (index, source) for row, index, source in zip(rows, taken, sources,
                                                                   strict=True)}
    for row, reason in counts.refused:
        index, source = where[id(row)]
        _give_back(store.files.absolute(row.relative_path), source)
        results[index] = InputFileError(str(source), reason)
    if durable and rows:
        store.make_durable()
    return [r for r in results if r is not None]
