"""Import a list of files: read, check, copy into the managed store, index in batches.

The files are read in on-disk order (sorted by device and inode, which on ISO 9660 and
ext4 follows the layout on the medium) on the calling thread, while a committer thread
flushes and renames the previous batch and commits the rows of the one before it, whose
names that flush put on disk (the flush waits for the disk with the GIL released). The
import ends with one more flush, the last rows, and the database flushed. Each file is read
once: its bytes are parsed for the header and written to the store. One bad file never
stops the batch: it is named in the report.
Reading a file is :mod:`viewer.store.reading`; telling a copy of a stored instance from
a conflict, :mod:`viewer.store.same_instance`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from viewer.core.errors import DiskFullError, LightboxError, disk_full
from viewer.core.imports import (
    CancelCheck,
    FileProblem,
    ImportProgress,
    ImportReport,
    ProgressCallback,
)
from viewer.store.filestore import FileStore
from viewer.store.hierarchy import HierarchyCheck
from viewer.store.reading import LARGE_FILE, Outcome, Prepared, prepare
from viewer.store.same_instance import same_content
from viewer.store.source_copy import SourceChangedError
from viewer.store.writer import BatchCounts, StoredFile, stored_elsewhere

if TYPE_CHECKING:
    from viewer.store.study_store import StudyStore

# One syncfs and one commit per batch. Batches of 256 files were not measurably faster
# (docs/import.md) and make cancelling and progress four times coarser.
BATCH_FILES = 64
BATCH_BYTES = 32 << 20
# Large files are copied by the kernel (copy_file_range), which lets go of the GIL: two
# at a time keep both cores copying.
COPY_THREADS = 2
# Files are read, parsed and written on the calling thread, beside the committer thread:
# a reader thread of its own, or four, only added GIL hand-overs (10,000 small files:
# 2.2-2.8 s inline against 2.2-3.2 s with one reader; a 400-slice CT the same or faster;
# docs/import.md).


def full_message(store: StudyStore) -> str:
    """The import report's words for a full disk."""
    return (f"the disk of the Lightbox home {store.home} is full: the import stopped, and "
            "what was stored is kept. Free space, then import the same media again to add "
            "the rest")


def write(files: FileStore, item: Prepared) -> str | OSError:
    """Write one prepared file under a temporary name in the managed store; an error is
    returned, to stay with its file."""
    try:
        return files.write_temporary(item.data, item.path, item.seen)
    except OSError as exc:
        return exc


def disk_order(paths: Iterable[Path], report: ImportReport) -> list[tuple[Path, int]]:
    """Stat every path once; return regular files in on-disk order with their sizes."""
    seen: set[tuple[int, int]] = set()
    entries: list[tuple[int, int, str, Path, int]] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError as exc:
            report.failed.append(FileProblem(str(path), f"cannot read: {exc.strerror or exc}"))
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen:
            continue
        seen.add(key)
        # Path(Path) parses the path again: most callers pass Paths already.
        as_path = path if isinstance(path, Path) else Path(path)
        entries.append((info.st_dev, info.st_ino, str(as_path), as_path, info.st_size))
    entries.sort()
    return [(e[3], e[4]) for e in entries]


def _batches(items: list[tuple[Path, int]]) -> Iterator[list[tuple[Path, int]]]:
    batch: list[tuple[Path, int]] = []
    size = 0
    for item in items:
        batch.append(item)
        size += min(item[1], LARGE_FILE)
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def import_files(
    store: StudyStore,
    paths: Iterable[Path],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import ``paths`` into ``store``; see :meth:`StudyStore.import_files`.

    Two stages overlap: the calling thread reads, checks and writes batch N to temporary
    files while one committer thread flushes and renames batch N-1 and commits the rows
    of batch N-2 (the flush waits for the disk; nothing else has to).
    """
    report = report if report is not None else ImportReport()
    ordered = disk_order(paths, report)
    state = ImportProgress(
        phase="import",
        files_total=len(ordered),
        bytes_total=sum(size for _, size in ordered),
        studies_found=len(report.studies),
    )
    notify: Callable[[], None] = (lambda: progress(state)) if progress else (lambda: None)
    notify()
    if not ordered:
        # Nothing to store: no threads and no flush of the database. A stick of thousands
        # of small files that look like zips asked for one of each per file.
        report.instances_stored = len(store.has_instances(report.instance_uids))
        state.phase = "done"
        notify()
        return report
    cancelled = cancel or (lambda: False)
    seen: dict[str, Prepared] = {}
    hierarchy = HierarchyCheck()  # series and studies claimed before their rows commit
    with (ThreadPoolExecutor(1, thread_name_prefix="lightbox-commit") as committer,
          ThreadPoolExecutor(COPY_THREADS, thread_name_prefix="lightbox-copy") as copier):
        committing: Future[_Committed] | None = None
        for batch in _batches(ordered):
            if cancelled():
                report.cancelled = True
                break
            outcomes = [prepare(path, size) for path, size in batch]
            staged = _stage_batch(store, outcomes, report, state, seen, hierarchy, copier)
            earlier: list[StoredFile] = []
            if committing is not None:
                done = committing.result()
                _account(done, report, state)
                notify()
                if done.full:
                    _discard(staged)
                    committing = None
                    break
                earlier = done.placed
            committing = committer.submit(_commit_batch, store, staged, earlier)
        if committing is not None:
            done = committing.result()
            _account(done, report, state)
            if done.placed:  # the last batch's rows, after a flush of their names
                _account(_commit_batch(store, [], done.placed), report, state)
    store.make_durable()
    state.phase = "verify"
    notify()
    report.instances_stored = len(store.has_instances(report.instance_uids))
    state.phase = "done"
    notify()
    return report


@dataclass(slots=True)
class _Staged:
    """A batch's new files on their way into the store."""

    item: Prepared
    relative: str
    # Its temporary file, or why it could not be written; a copy still under way.
    temporary: str | OSError | Future[str | OSError]


@dataclass(slots=True)
class _Committed:
    counts: BatchCounts  # of the rows committed: the previous batch's
    failed: list[FileProblem]
    placed: list[StoredFile]  # renamed into place; their rows wait for the next flush
    full: str = ""  # the disk filled up: the import stops (the report's words)
    conflicts: list[FileProblem] = field(default_factory=list)


def _discard(staged: list[_Staged]) -> None:
    """Remove the temporary files of a batch that will not be committed."""
    for entry in staged:
        result = entry.temporary
        if isinstance(result, Future):
            result = result.result()
        if isinstance(result, str):
            with contextlib.suppress(OSError):
                os.unlink(result)


def _stage_batch(
    store: StudyStore,
    outcomes: list[Outcome],
    report: ImportReport,
    state: ImportProgress,
    seen: dict[str, Prepared],
    hierarchy: HierarchyCheck,
    copier: ThreadPoolExecutor,
) -> list[_Staged]:
    """Classify a read batch, drop what is already stored, write the new files.

    Files read whole are written here; the others are copied file to file by the kernel
    on ``copier``'s threads, two at a time, while the next batch is read (the committer
    waits for them).
    """
    fresh: dict[str, Prepared] = {}
    for outcome in outcomes:
        report.files_seen += 1
        report.bytes_read += outcome.size
        state.files_done += 1
        state.bytes_done += outcome.size
        state.current = str(outcome.path)
        if outcome.prepared is None:
            target = report.skipped if outcome.skipped else report.failed
            target.append(FileProblem(str(outcome.path), outcome.problem))
            continue
        item = outcome.prepared
        uid = item.record.sop_instance_uid
        report.studies.add(item.record.study_uid)
        report.instance_uids.add(uid)
        earlier = seen.get(uid)
        if earlier is not None:
            # The same instance twice in one import: identical copies count once.
            if same_content(item, earlier.path):
                report.copies += 1
            else:
                report.conflicts.append(
                    FileProblem(
                        str(item.path),
                        f"same SOP Instance UID {uid} as {earlier.path} but different content",
                    )
                )
            continue
        seen[uid] = item
        fresh[uid] = item
    state.studies_found = len(report.studies)
    stored = store.stored_digests(fresh)
    known = [(uid, item) for uid, item in fresh.items() if uid in stored]
    repair: set[str] = set()
    for uid, item in known:
        same = same_content(item, store.files.absolute(stored[uid][2]))
        if same is None:
            # The row is there but its file was removed: restore it (counted as present
            # when its row is found again at the commit).
            repair.add(uid)
        elif same and uid in report.read_before:
            report.copies += 1  # stored by this same import, from elsewhere on the medium
        elif same:
            report.instances_present += 1
        else:
            report.conflicts.append(FileProblem(str(item.path), stored_elsewhere(uid)))
    misfiled = store.misfiled(hierarchy, [(uid, item.record) for uid, item in fresh.items()
                                          if uid not in stored])
    for uid, reason in misfiled.items():
        report.failed.append(FileProblem(str(fresh[uid].path), reason))
    staged: list[_Staged] = []
    for uid, item in fresh.items():
        if (uid in stored and uid not in repair) or uid in misfiled:
            continue
        r = item.record
        relative = (stored[uid][2] if uid in repair else
                    store.files.relative_path(r.study_uid, r.series_uid, r.sop_instance_uid))
        if item.data is None:
            staged.append(_Staged(item, relative, copier.submit(write, store.files, item)))
        else:
            staged.append(_Staged(item, relative, write(store.files, item)))
    return staged


def _commit_batch(store: StudyStore, staged: list[_Staged], earlier: list[StoredFile]
                  ) -> _Committed:
    """Flush the batch's temporary files, rename them into place, commit ``earlier``.

    The rows committed are the previous batch's: this batch's ``syncfs`` put their names
    (the renames) on disk along with this batch's data, one flush for both. A folder
    flush per batch instead made a 400-slice CT import 1.18x slower (docs/import.md).
    This batch's rows follow with the next batch, or after a last flush.
    """
    failed: list[FileProblem] = []
    conflicts: list[FileProblem] = []
    ready: dict[str, _Staged] = {}
    temporaries: list[tuple[str, str]] = []
    full = False
    for entry in staged:
        result = entry.temporary
        if isinstance(result, Future):
            result = result.result()
        if isinstance(result, OSError):
            if disk_full(result):
                full = True  # not this file's fault: said once, in the report's verdict
                continue
            if isinstance(result, SourceChangedError):
                failed.append(FileProblem(str(entry.item.path), str(result)))
                continue
            failed.append(
                FileProblem(str(entry.item.path), f"cannot write to the store: {result.strerror}")
            )
            continue
        temporaries.append((result, entry.relative))
        ready[entry.relative] = entry
    if full:
        # None of this batch goes into place: the import stops at the batch before it.
        for temporary, _relative in temporaries:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        temporaries, ready = [], {}
    if temporaries or earlier:
        store.files.flush()  # this batch's data, and the names of ``earlier``
    for relative, error in store.files.place(temporaries):
        entry = ready.pop(relative)
        if disk_full(error):
            full = True
            continue
        if isinstance(error, FileExistsError):  # another process stored other bytes
            uid = entry.item.record.sop_instance_uid
            conflicts.append(FileProblem(str(entry.item.path), stored_elsewhere(uid)))
            continue
        failed.append(
            FileProblem(str(entry.item.path), f"cannot write to the store: {error.strerror}")
        )
    placed = [
        StoredFile(e.item.record, e.relative, e.item.size, e.item.digest) for e in ready.values()
    ]
    try:
        counts = store.commit_files(earlier)
    except DiskFullError:
        # Rolled back: no row names these files, so they go, leaving the store as it was
        # after the last commit (and the space to the user).
        store.files.remove([f.relative_path for f in (*earlier, *placed)])
        return _Committed(BatchCounts(), failed, [], full_message(store), conflicts)
    except LightboxError:
        # The database cannot be written (read-only, held by another program, damaged):
        # no row will name these files, so they go, and the import stops with the reason.
        store.files.remove([f.relative_path for f in (*earlier, *placed)])
        raise
    # Files another process's rows overtook: no row names them, and none will.
    store.files.remove([f.relative_path for f, _ in counts.refused])
    conflicts += [FileProblem(f.record.file_path or f.relative_path,
                              stored_elsewhere(f.record.sop_instance_uid))
                  for f in counts.elsewhere]
    failed += [FileProblem(f.record.file_path or f.relative_path, reason)
               for f, reason in counts.misfiled]
    if full:
        store.files.remove([f.relative_path for f in placed])  # their rows will not come
        return _Committed(counts, failed, [], full_message(store), conflicts)
    return _Committed(counts, failed, placed, conflicts=conflicts)


def _account(committed: _Committed, report: ImportReport, state: ImportProgress) -> None:
    report.failed.extend(committed.failed)
    report.conflicts.extend(committed.conflicts)
    report.instances_present += len(committed.counts.present)
    report.stopped = report.stopped or committed.full
    report.studies_added += committed.counts.studies
    report.series_added += committed.counts.series
    report.instances_added += committed.counts.instances
    state.instances_added = report.instances_added
