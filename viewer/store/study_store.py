"""The study database and managed file store in the Lightbox home folder.

One :class:`StudyStore` per process is opened by ``app`` (or the CLI) and passed to who
needs it. sqlite3 connections belong to a thread: every thread that reads gets its own
connection (WAL lets readers run while a writer commits), and all writes go through one
connection guarded by a lock. ``busy_timeout`` covers another process (the CLI while the
GUI runs) holding the write lock for a moment. The reads (the browser's queries, the
checks) are :class:`~viewer.store.study_reads.StudyReads`, a base of the store.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from viewer.core.errors import DiskFullError, InputFileError, LightboxError, out_of_space
from viewer.core.imports import CancelCheck, ImportReport, ProgressCallback
from viewer.core.paths import HOME_MARKER, keep_private
from viewer.core.records import InstanceRecord
from viewer.core.writeback import flush_drive_cache
from viewer.store import deleting, importer, queries, received
from viewer.store.filestore import FileStore
from viewer.store.hierarchy import HierarchyCheck, Key
from viewer.store.schema import migrate
from viewer.store.study_reads import StudyReads
from viewer.store.writer import BatchCounts, StoredFile, chunks, existing, insert_batch

DATABASE_NAME = HOME_MARKER  # what tells a Lightbox home from any folder
BUSY_TIMEOUT_S = 30.0


class StoreError(LightboxError):
    """The study database cannot be opened or used (names the file and the problem)."""


def _row_refused(exc: Exception) -> bool:
    """Whether a failed commit is one row's fault (a value SQLite cannot bind, a
    constraint), not the database's; the database's come as :class:`LightboxError`s
    caused by SQLite errors of other kinds."""
    if isinstance(exc, LightboxError):
        return isinstance(exc.__cause__, (sqlite3.IntegrityError, sqlite3.DataError,
                                          sqlite3.InterfaceError))
    return True


def _refusal(exc: Exception) -> str:
    cause = exc.__cause__ if isinstance(exc, LightboxError) and exc.__cause__ else exc
    return f"cannot be entered in the study database ({type(cause).__name__}: {cause})"


def _private_database(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it, or make an existing one so.

    SQLite creates a new database with the umask's mode (0644 under the usual 022), and
    its WAL and shared-memory files with the database's mode: made 0600 first, all three
    are private, whatever the umask of the process that created them.
    """
    if os.name != "posix":
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        keep_private(name)


class StudyStore(StudyReads):
    """Patients, studies, series and instances, and the files behind them.

    Use :meth:`open`; close with :meth:`close` or a ``with`` block.

    Parameters
    ----------
    home : Path
        The Lightbox home folder (already private to the user).
    """

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.database_path = self.home / DATABASE_NAME
        self.files = FileStore(self.home / "files")  # makes the home if it is new
        _private_database(self.database_path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._writer = self._connect()
        try:
            migrate(self._writer)
        except (sqlite3.DatabaseError, RuntimeError) as exc:
            self.close()
            if isinstance(exc, sqlite3.DatabaseError) and out_of_space(self.home):
                raise self._open_error(exc) from exc
            raise StoreError(f"{self.database_path}: {exc}") from exc
        self.files.clean_incoming()
        deleting.recover(self.home, self.files, self._named)

    @classmethod
    def open(cls, home: Path | str) -> StudyStore:
        """Open (creating and migrating if needed) the store in ``home``."""
        return cls(Path(home))

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.database_path,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a crash of the process, and reaches the disk
            # at the next checkpoint or make_durable(). Files and their names are flushed
            # before their rows are committed, so a power cut never leaves a row without
            # its file either.
            conn.execute("PRAGMA synchronous = NORMAL")
            # macOS: SQLite's syncs and checkpoints use F_FULLFSYNC, past the drive's
            # cache, as the store's own flushes do (no effect elsewhere).
            conn.execute("PRAGMA fullfsync = ON")
            conn.execute("PRAGMA checkpoint_fullfsync = ON")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; SQLite's failures raised as errors a user can act on
        (:class:`DiskFullError`, :class:`StoreError`), the transaction rolled back."""
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._write_error(exc) from exc
            try:
                yield conn
            except BaseException as exc:
                # SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR):
                # a second ROLLBACK would replace the real error with "no transaction".
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._write_error(exc) from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise self._write_error(exc) from exc

    def _open_error(self, exc: sqlite3.Error) -> StoreError:
        """Why the database cannot be opened; a full disk named as such (SQLite calls it
        a "disk I/O error" there, as it would a failing disk)."""
        if out_of_space(self.home):
            return StoreError(f"{self.database_path}: cannot open the database: the disk "
                              f"of the Lightbox home is full; free some space and try again")
        return StoreError(f"{self.database_path}: cannot open the database ({exc})")

    def _write_error(self, exc: sqlite3.Error) -> LightboxError:
        """What a failed write of the database tells its user: which file, why, and what
        to do (a read-only file, a lock held by another program, a damaged page)."""
        if _full(exc):
            return DiskFullError(f"the Lightbox home {self.home}")
        code = getattr(exc, "sqlite_errorcode", None)
        base = code & 0xFF if isinstance(code, int) else None
        if base == sqlite3.SQLITE_READONLY:
            why = ("it is read-only (its file, its folder or its disk); nothing can be "
                   "stored or deleted until it is writable")
        elif base in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            why = ("another program has held it for 30 seconds (another Lightbox, or a "
                   "tool with the database open); try again once it has finished")
        elif base in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            why = "it is damaged; 'lightbox check' says what can be done"
        else:
            why = str(exc)
        return StoreError(f"{self.database_path}: cannot write the study database: {why}")

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # ------------------------------------------------------------------ import

    def import_files(
        self,
        paths: Iterable[Path],
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        report: ImportReport | None = None,
    ) -> ImportReport:
        """Copy files into the managed store and index them.

        Parameters
        ----------
        paths : iterable of Path
            Candidate files (non-DICOM files are reported as skipped).
        progress : callable, optional
            Called with an :class:`~viewer.core.imports.ImportProgress` after each batch.
        cancel : callable, optional
            Polled between batches; when it returns true the import stops after the
            current batch (everything committed so far stays consistent).
        report : ImportReport, optional
            A report to add to (the media importer passes its own).

        Returns
        -------
        ImportReport
            Added, already present, conflicting and failed files, and the completeness
            check (``instances_stored``).
        """
        return importer.import_files(self, paths, progress=progress, cancel=cancel, report=report)

    def add_received_file(self, path: Path, *, move: bool = True) -> InstanceRecord:
        """Index one complete local file (e.g. a C-GET/C-MOVE receive) and keep it.

        Parameters
        ----------
        path : Path
            The received file, complete on local disk.
        move : bool
            Rename it into the store (same file system) instead of copying it.

        Returns
        -------
        InstanceRecord
            The record, with ``file_path`` the stored file's absolute path.

        Raises
        ------
        InputFileError
            The file is not a readable DICOM instance, or a different instance with the
            same SOP Instance UID is already stored (the stored one is kept).
        """
        (result,) = self.add_received_files([Path(path)], move=move)
        if isinstance(result, InputFileError):
            raise result
        return result

    def add_received_files(self, paths: list[Path], *, move: bool = True,
                           headers: Sequence[InstanceRecord | None] | None = None,
                           durable: bool = False,
                           ) -> list[InstanceRecord | InputFileError]:
        """:meth:`add_received_file` for a batch: one flush, one transaction.

        ``headers`` gives, per path, the file's header when the caller has read it
        already (the network receiver reads it from memory), or None. ``durable`` flushes
        the batch's rows to disk before returning (:meth:`make_durable`): for a storage
        SCP that takes pushes, whose senders may delete their copies once answered. A
        retrieve leaves that to the next checkpoint: the PACS keeps its copy, and a
        retry fetches what a power cut took the row of (each flush costs a C-MOVE of a
        400-slice CT about 5%).

        Returns one result per path, in order: the stored record, or the InputFileError
        that says why that file was not taken (the others are taken all the same).
        """
        return received.add_received(self, paths, move=move, headers=headers,
                                     durable=durable)

    def misfiled(self, check: HierarchyCheck, records: Sequence[tuple[Key, InstanceRecord]]
                 ) -> dict[Key, str]:
        """Records that would put a series in a second study or a study with a second
        patient, with the reason each is refused (:class:`HierarchyCheck`)."""
        return check.problems(self._reader(), records)

    def stored_digests(self, uids: Iterable[str]) -> dict[str, tuple[int, str, str]]:
        """Map stored SOP Instance UIDs among ``uids`` to (size, digest, relative path)."""
        return existing(self._reader(), uids)

    def note_expected(self, counts: Mapping[str, int]) -> None:
        """Record how many instances each study's source says it has (study UID -> count).

        Studies not in the store are ignored. The latest word wins: a PACS that now holds
        fewer (some deleted there) is not waited for.
        """
        if not counts:
            return
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE studies SET expected_instances = ? WHERE study_uid = ?",
                [(int(n), uid) for uid, n in counts.items()],
            )

    def note_missing(self, missing: Mapping[str, int],
                     patients: Mapping[str, str] | None = None) -> None:
        """Record how many instances each study's medium names and lacks (study UID ->
        count), once its files are imported.

        The study is expected to hold what it holds now and those: counted by SOP
        Instance UID, other images of the study on the medium make up for none of them.
        An expectation is only raised: a second disc that names a few of a study's images
        says nothing about the others, and one still missing from the first stays
        missing. Studies not in the store are ignored, and so is a stored study whose
        Patient ID is not the one ``patients`` gives for it: a DICOMDIR naming another
        patient's images under its Study Instance UID would mark it incomplete for good.
        """
        if not missing:
            return
        patients = patients or {}
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE studies SET expected_instances ="
                " max(coalesce(expected_instances, 0), num_instances + ?) WHERE study_uid = ?"
                " AND (? = '' OR patient_pk IN (SELECT pk FROM patients WHERE patient_id = ?))",
                [(int(n), uid, patients.get(uid, ""), patients.get(uid, ""))
                 for uid, n in missing.items()],
            )

    def commit_files(self, files: list[StoredFile]) -> BatchCounts:
        """Commit the rows of files already in place in the managed store, in one
        transaction.

        When SQLite refuses one row (a value no column holds, a constraint), the batch
        is committed again one file at a time and each refused file is counted as
        ``misfiled`` with the reason: no row names its file, which the caller removes or
        gives back. One file's fault never stops an import or a receive.

        Raises
        ------
        LightboxError
            The database cannot be written at all (:class:`DiskFullError`, read-only,
            locked, damaged).
        """
        if not files:
            return BatchCounts()
        try:
            with self._transaction() as conn:
                return insert_batch(conn, files)
        except Exception as exc:
            if not _row_refused(exc):
                raise
            if len(files) == 1:
                return BatchCounts(misfiled=[(files[0], _refusal(exc))])
        counts = BatchCounts()
        for item in files:
            counts.add(self.commit_files([item]))
        return counts

    def make_durable(self) -> None:
        """Put every committed transaction on disk: one ``fsync`` of the WAL file.

        Commits are not flushed one by one (``synchronous = NORMAL``); an import ends with
        this, so that what its report calls stored ("safe to eject") survives a power cut.

        Raises
        ------
        StoreError
            The WAL file cannot be flushed (a failing disk).
        """
        wal = f"{self.database_path}-wal"
        try:
            # Read-write: Windows flushes only a file opened for writing.
            fd = os.open(wal, os.O_RDWR | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return  # no WAL: the last connection checkpointed it into the synced database
        except OSError as exc:
            raise StoreError(f"{wal}: cannot flush the database ({exc.strerror})") from exc
        try:
            os.fsync(fd)
            flush_drive_cache(fd)
        except OSError as exc:
            raise StoreError(f"{wal}: cannot flush the database ({exc.strerror})") from exc
        finally:
            os.close(fd)

    def has_instances(self, sop_instance_uids: Iterable[str]) -> set[str]:
        """Return the subset of ``sop_instance_uids`` that the store holds."""
        return set(existing(self._reader(), sop_instance_uids))

    def held_instances(self, study_uid: str, series_uids: tuple[str, ...] = ()) -> int:
        """How many instances of a study (of some of its series) the store holds."""
        return queries.count_held(self._reader(), study_uid, series_uids)

    # ---------------------------------------------------------------- deleting

    def delete_study(self, study_uid: str) -> int:
        """Delete a study, its series and instances, and their files; return instances removed.

        The files are moved aside and the rows deleted in one write transaction
        (:mod:`viewer.store.deleting`), and the files removed once it has committed: no
        other process finds the study's rows gone while its files are still in place,
        and a crash leaves no row without its file.
        """
        aside = deleting.new_aside(self.home)
        moved: list[str] = []
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "SELECT pk, patient_pk FROM studies WHERE study_uid = ?", (study_uid,)
                ).fetchone()
                if row is None:
                    return 0
                study_pk, patient_pk = row
                paths = [
                    p
                    for (p,) in conn.execute(
                        "SELECT i.file_path FROM instances AS i JOIN series AS e "
                        "ON e.pk = i.series_pk WHERE e.study_pk = ?",
                        (study_pk,),
                    )
                ]
                moved = deleting.move_aside(self.files, aside, paths)
                conn.execute("DELETE FROM studies WHERE pk = ?", (study_pk,))
                conn.execute(
                    "DELETE FROM patients WHERE pk = ? AND NOT EXISTS "
                    "(SELECT 1 FROM studies WHERE patient_pk = ?)",
                    (patient_pk, patient_pk),
                )
        except BaseException as exc:
            deleting.put_back(self.files, aside, moved)
            if isinstance(exc, OSError):  # a read-only disk, a file where tmp/ should be
                where = f" ({exc.filename})" if exc.filename else ""
                raise StoreError(f"{self.home}: cannot delete study {study_uid}: its files "
                                 f"cannot be moved aside: {exc.strerror or exc}{where}; "
                                 f"nothing was deleted") from exc
            raise
        deleting.remove(aside)
        # Not remove(): a file at one of these places now is another import's.
        self.files.prune(paths)
        return len(paths)

    def _named(self, relatives: list[str]) -> set[str]:
        """Those of ``relatives`` that an instance row names as its file."""
        conn = self._reader()
        found: set[str] = set()
        for chunk in chunks(relatives):
            marks = ",".join("?" * len(chunk))
            found.update(p for (p,) in conn.execute(
                f"SELECT file_path FROM instances WHERE file_path IN ({marks})", list(chunk)))
        return found


def _full(exc: BaseException) -> bool:
    """SQLite could not grow the database or its WAL: SQLITE_FULL."""
    return (isinstance(exc, sqlite3.OperationalError)
            and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL)


