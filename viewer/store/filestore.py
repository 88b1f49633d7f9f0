"""The managed file store: imported files, copied byte for byte, in a layout keyed by UIDs.

``files/<Study Instance UID>/<Series Instance UID>/<SOP Instance UID>.dcm`` under the
Lightbox home. A file is never modified and never visible half-written: it is written
under a temporary name in ``files/.incoming``, flushed to disk, renamed into place, the
rename itself flushed, and only then is its database row committed. An import flushes a
whole batch of temporary files with one ``syncfs`` (Linux; one ``fsync`` per file
elsewhere) before renaming any of them; their names reach the disk with the next batch's
``syncfs`` (elsewhere, an ``fsync`` of each folder). Received files have the folders they
were renamed into flushed at once. A process killed, or a machine that loses power, at any
point leaves at most a stray temporary file (removed on the next open) or a file without a
row (taken as it is by the next import of the same bytes; ``lightbox check --repair``
indexes it otherwise), never a row without its file. Nothing in place is ever replaced:
another process may have put the same instance there a moment ago, and its row follows.
The file system steps under this (private folders, renames that never replace, folder
flushes) are in :mod:`viewer.store.folders`; what fills a temporary file, in
:mod:`viewer.store.source_copy`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading
from pathlib import Path

from viewer.core.process_identity import owner, owner_alive
from viewer.core.writeback import (
    HAS_SYNCFS,
    flush_drive_cache,
    needs_drive_flush,
    start_writeback,
    syncfs,
)
from viewer.store.folders import (
    FOLDER_OPEN_FLAGS,
    drop_copy,
    flush_folder,
    make_private_folders,
    rename_unless_there,
    sync_folder,
)
from viewer.store.source_copy import CHUNK, Signature, copy_into, write_all

# PS3.5 9.1: numeric components separated by dots (leading zeros, which some writers
# use, and lengths up to twice the 64 allowed are kept as names too).
_UID_NAME = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_LONGEST_NAME = 128
_COUNTER = iter(range(1 << 62))
_COUNTER_LOCK = threading.Lock()
# Files from this size on start their write-out as soon as they are written.
EARLY_WRITEBACK = 256 << 10
# A temporary name is never reused: O_EXCL refuses to write through anything already there.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
# A file opened only to flush it: Windows flushes only what it may write; elsewhere a
# read-only descriptor does, and a received file is read-only once complete.
_FLUSH_OPEN = os.O_RDWR if os.name == "nt" else os.O_RDONLY


def safe_component(uid: str) -> str:
    """A UID as a file name, the same name for the same UID and for no other.

    A UID is numbers separated by dots (PS3.5 9.1) and is its own name. Anything else
    comes from a damaged or hostile file and gets ``_`` and a SHA-256 digest of it:
    taken as it was, ``..`` as a study UID put a file outside the store, and escaping
    characters (``1.2/3`` and ``1.2_3`` alike as ``1.2_3``) let one instance's file
    replace another's.
    """
    if len(uid) <= _LONGEST_NAME and _UID_NAME.fullmatch(uid):
        return uid
    return "_" + hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def stored_path(study_uid: str, series_uid: str, sop_uid: str) -> str:
    """Where an instance lives, relative to the home folder (stored in the database):
    ``files/<study>/<series>/<sop>.dcm``, each UID as :func:`safe_component` names it."""
    return "/".join(("files", safe_component(study_uid), safe_component(series_uid),
                     safe_component(sop_uid) + ".dcm"))


class FileStore:
    """The folder of managed files (``<home>/files``).

    Parameters
    ----------
    root : Path
        The folder; created private to the user.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / ".incoming"
        make_private_folders(str(self.incoming))
        self._made: set[str] = set()
        self._lock = threading.Lock()
        # Paths as text: pathlib costs several microseconds per path, per file imported.
        self._home_text = str(root.parent)
        self._incoming_text = str(self.incoming)

    def relative_path(self, study_uid: str, series_uid: str, sop_uid: str) -> str:
        """Where an instance lives, relative to the home folder (:func:`stored_path`)."""
        return stored_path(study_uid, series_uid, sop_uid)

    def absolute(self, relative: str) -> Path:
        """The absolute path of a stored file."""
        return self.root.parent / relative

    def absolute_text(self, relative: str) -> str:
        """:meth:`absolute` as text: a study's records are built by the ten thousand,
        and pathlib's join was 40% of opening a large study."""
        return os.path.join(self._home_text, relative)

    def _temporary(self) -> str:
        with _COUNTER_LOCK:
            number = next(_COUNTER)
        # The owner (pid and start, read once per process) leads the name: clean_incoming
        # keeps the files of running processes, and only theirs.
        return f"{self._incoming_text}/{owner()}-{number}.part"

    def _parent(self, target: str | Path) -> None:
        """Make the target's folder, once per folder (a series' files share one)."""
        parent = os.path.dirname(target)
        if parent in self._made:
            return
        make_private_folders(parent)
        with self._lock:
            self._made.add(parent)

    def write_temporary(self, data: bytes | None, source: Path | None = None,
                        seen: Signature | None = None) -> str:
        """Write one file of a batch under a temporary name (made durable by :meth:`flush`).

        ``data`` is written, or ``source`` is copied when ``data`` is None (large files).
        Without ``syncfs`` the file is fsynced here.

        Raises
        ------
        SourceChangedError
            ``source`` is no longer the file ``seen`` describes, or changed while it was
            copied.
        """
        temporary = self._temporary()
        # os.open, not open(): a buffered file object costs an fstat, an ioctl and a
        # seek per file, which is a fifth of the system calls of a small-file import.
        fd = os.open(temporary, _CREATE, 0o600)
        try:
            if data is not None:
                write_all(fd, data)
            else:
                assert source is not None
                copy_into(source, fd, seen)
            if not HAS_SYNCFS:
                os.fsync(fd)
            elif data is None or len(data) >= EARLY_WRITEBACK:
                # The batch's syncfs then finds most of it written already. Not for small
                # files: a write-out started per file costs more than one syncfs of them
                # all (10,000 files of 3.5 KB: 2.4-2.6 s against 2.6-2.7 s, docs/import.md).
                start_writeback(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        os.close(fd)
        return temporary

    def place(self, temporaries: list[tuple[str, str]]) -> list[tuple[str, OSError]]:
        """Rename a batch of temporary files, already on disk (:meth:`flush`), into place.

        Their names reach the disk with the next :meth:`flush`, which must come before
        their rows are committed: an import commits a batch's rows after the next batch's
        ``syncfs``, which flushes that batch's data and these names at once. Where the
        platform has no ``syncfs``, each folder is flushed here instead. Nothing stored
        is replaced: a file already at its place (put there by another process) stays,
        and the temporary file goes if it holds the same bytes, or fails with
        FileExistsError if not. Returns the (relative path, error) of files that could not
        be renamed or flushed; the temporary files of those not renamed are removed.
        """
        return self._place(temporaries, remove_failed=True, flush_names=not HAS_SYNCFS)

    def flush(self) -> None:
        """Put everything written and renamed in the store so far on disk: one ``syncfs``.

        Where the platform lacks ``syncfs``, files are fsynced when written and folders
        when files are renamed into them, and this does nothing.
        """
        if HAS_SYNCFS:
            fd = os.open(self.incoming, os.O_RDONLY)
            try:
                syncfs(fd)
            finally:
                os.close(fd)

    def adopt(self, files: list[tuple[str, str]]) -> list[tuple[str, OSError]]:
        """Take complete files from elsewhere on this file system: flush, rename into place.

        ``files`` are (path, relative path) pairs; for files another part of Lightbox
        wrote (received over the network). One ``syncfs``, or one ``fsync`` per file
        where the platform lacks it, then the renames, each folder flushed after. Returns
        the (relative path, error) of files that could not be renamed (``EXDEV``: another
        file system; those stay where they are) or flushed.
        """
        if files and HAS_SYNCFS:
            self.flush()
        else:
            for source, _relative in files:
                fd = os.open(source, _FLUSH_OPEN)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        return self._place(files, remove_failed=False, flush_names=True)

    def _place(self, pairs: list[tuple[str, str]], *, remove_failed: bool, flush_names: bool
               ) -> list[tuple[str, OSError]]:
        """Rename flushed files into place; with ``flush_names``, flush their folders."""
        failures: list[tuple[str, OSError]] = []
        placed: dict[str, list[str]] = {}  # folder -> relative paths renamed into it
        for source, relative in pairs:
            target = f"{self._home_text}/{relative}"
            folder = os.path.dirname(target)
            try:
                self._note_new(folder, placed)
                self._parent(target)
                try:
                    placed_now = rename_unless_there(source, target)
                except FileNotFoundError:
                    # The folder was pruned meanwhile (a study deleted by another process).
                    make_private_folders(folder)
                    placed_now = rename_unless_there(source, target)
                if not placed_now:
                    drop_copy(source, target)
            except OSError as exc:
                failures.append((relative, exc))
                if remove_failed:
                    with contextlib.suppress(OSError):
                        os.unlink(source)
            else:
                placed.setdefault(folder, []).append(relative)
        if flush_names:
            failures.extend(self._flush_folders(placed))
        return failures

    def _note_new(self, folder: str, placed: dict[str, list[str]]) -> None:
        """A folder new to this process may be new on disk: its entry in the study
        folder, and the study folder's in files/, are flushed with it."""
        if folder not in self._made:
            study = os.path.dirname(folder)
            placed.setdefault(study, [])
            placed.setdefault(os.path.dirname(study), [])

    def _flush_folders(self, placed: dict[str, list[str]]) -> list[tuple[str, OSError]]:
        """``fsync`` each folder, so that the renames into it survive a power cut.

        A rename changes the folder, which the file's own ``fsync`` does not cover: a file
        system that does not order metadata (btrfs, ext4 without a journal) could lose
        the name of a file whose row is on disk. A folder that cannot be flushed fails the
        files placed in it and below it: they stay where they are, without rows, as after
        a crash, and the folder is flushed again with the next file placed in it.
        ``placed`` maps each folder to the relative paths renamed into it.
        """
        if FOLDER_OPEN_FLAGS is None:
            return []
        failures: dict[str, OSError] = {}

        def fail(folder: str, exc: OSError) -> None:  # the folder and all below it
            inside = folder + "/"
            for name, relatives in placed.items():
                if name == folder or name.startswith(inside):
                    failures.update(dict.fromkeys(relatives, exc))
                    with self._lock:
                        self._made.discard(name)

        for folder in sorted(placed, key=len, reverse=True):
            try:
                sync_folder(folder)
            except OSError as exc:
                fail(folder, exc)
        if placed and needs_drive_flush():
            try:  # the files' and folders' fsyncs past the drive's cache, all at once
                flush_folder(str(self.root), flush_drive_cache)
            except OSError as exc:
                fail(str(self.root), exc)
        return list(failures.items())

    def copy_file(self, relative: str, source: Path) -> Path:
        """Copy a (large) file into the store, streaming, with the same guarantees."""
        target = self.absolute(relative)
        placed: dict[str, list[str]] = {}
        self._note_new(str(target.parent), placed)
        self._parent(target)
        temporary = self._temporary()
        try:
            with open(source, "rb") as src, open(temporary, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            try:
                placed_now = rename_unless_there(temporary, target)
            except FileNotFoundError:
                # The folder was pruned meanwhile (a study deleted by another process).
                make_private_folders(str(target.parent))
                placed_now = rename_unless_there(temporary, target)
            if not placed_now:
                drop_copy(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        placed.setdefault(str(target.parent), []).append(relative)
        for _relative, error in self._flush_folders(placed):
            raise error
        return target

    def remove(self, relatives: list[str]) -> None:
        """Delete stored files (after their rows are gone) and prune empty folders."""
        for relative in relatives:
            with contextlib.suppress(FileNotFoundError):
                self.absolute(relative).unlink()
        self.prune(relatives)

    def prune(self, relatives: list[str]) -> None:
        """Remove the folders of these files, and their study folders, if empty."""
        folders = {self.absolute(relative).parent for relative in relatives}
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            for candidate in (folder, folder.parent):
                if candidate == self.root:
                    continue
                with contextlib.suppress(OSError):
                    candidate.rmdir()
                with self._lock:
                    self._made.discard(str(candidate))

    def clean_incoming(self) -> int:
        """Remove temporary files left by processes that no longer run; return how many.

        A name records its writer's pid and, unless an earlier version wrote it, its
        start (:func:`~viewer.core.process_identity.owner_alive`): after a reboot, a
        crashed import's pid may belong to an unrelated process, which then no longer
        keeps its files. A name without an owner is no import's and goes too.
        """
        removed = 0
        boot: list[str] = []  # read when a name first needs it
        for entry in self.incoming.glob("*.part"):
            if owner_alive(entry.name[: -len(".part")], boot):
                continue
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
        return removed
