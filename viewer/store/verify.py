"""Verify a Lightbox home: the study database against the managed file store.

:func:`check_home` reads, and changes nothing (the database is opened read-only, without
migrating it, and the store's own clean-up of temporary files is not run). It reports:

- ``database``: ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``;
- ``missing``: instance rows whose file is gone; ``size_mismatch``: whose file has
  another size than the one recorded (truncated, or replaced behind the store's back);
- ``orphans``: files under ``files/`` that no row names, each a ``dicom`` file (a crash
  between the rename and the commit, a copy by hand), one of the store's own
  ``temporary`` files (``files/.incoming/<pid>-<boot>.<start>-<n>.part``, of earlier
  versions ``<pid>-<n>.part``) older than :data:`TEMPORARY_GRACE_S`, or ``other``;
  younger temporary files are listed apart (``temporary_in_use``), since a running
  import may own them. A DICOM file modified within :data:`ARRIVING_GRACE_S` that lies
  where its own header's UIDs put it is listed apart as well (``arriving``): an import
  renames a batch's files into place one batch before it commits their rows, so during
  an import such files are normal. Files a repair that did not finish left in
  ``tmp/repair-<owner>-0/`` (see :mod:`viewer.store.verify_repair`) are orphans too,
  ``staged``;
- ``misfiled``: rows whose file's own Study, Series or SOP Instance UID differs from the
  row's (older versions filed an instance under a series UID that belonged to another
  study), and rows whose file's header can no longer be read;
- ``counts``: the kept-current counts (instances per series, series and instances per
  study, Modalities in Study) that disagree with the rows.

Headers and ``--deep``: the importer names every file after the UIDs of its own header
(``files/<study>/<series>/<sop>.dcm``), so a row whose path is not the one its own UIDs
give was filed under other UIDs than its file's. That comparison costs no file read,
and it is how a default check finds misfiled rows (both the old misfiling and a row
moved to another series by hand); only those rows' headers are read, to confirm and to
name the file's UIDs. ``deep=True`` reads every stored file's header as well (~50 us
per file from the page cache, about 0.5 s for 10,000 small files; on a cold cache, a
spinning disk or a network home it is one random read per file, minutes for a large
archive). It finds what the path cannot show: a file replaced by hand with another
instance of the same size, or one whose header has rotted. The default stays a
metadata-only check (one ``stat`` per file) that is cheap on any home.

Reads are batched: one walk of the tree, one read transaction for all rows and counts,
one ``stat`` per file (taken from the walk). The tree is walked *before* the rows are
read: a file is renamed into place before its row is committed, so a row read after the
walk has its file in the walk or placed since (stat'ed then), and no row of a running
import is taken for missing. A file of a running import whose row commits after the
read may look orphaned; such files are looked up once more before they are reported, and
those still without a row are ``arriving`` while they are young (see above), not problems.

:mod:`viewer.store.verify_repair` repairs what this finds; the problem classes and
:class:`Findings` are in :mod:`viewer.store.verify_findings`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from viewer.core.errors import out_of_space
from viewer.core.process_identity import owner_alive
from viewer.core.records import InstanceRecord
from viewer.dicom.structure import PROBE_LENGTH, probe
from viewer.store.filestore import stored_path
from viewer.store.reading import prepare
from viewer.store.schema import SCHEMA_VERSION
from viewer.store.study_store import DATABASE_NAME, StoreError

# KINDS, Findings and Problem are re-exported ("as"): they were defined here before
# verify_findings was split off, and are imported from here.
from viewer.store.verify_findings import KINDS as KINDS
from viewer.store.verify_findings import (
    CountMismatch,
    DatabaseProblem,
    Misfiled,
    MissingFile,
    Orphan,
    Row,
    SizeMismatch,
)
from viewer.store.verify_findings import Findings as Findings
from viewer.store.verify_findings import Problem as Problem
from viewer.store.writer import existing

TEMPORARY_GRACE_S = 600.0
"""A temporary file younger than this may belong to a running import; it is left alone."""

ARRIVING_GRACE_S = 120.0
"""A DICOM file without a row, in its place and modified less than this long ago, may be
one a running import placed and has not committed yet; it is no problem and left alone.

An import renames a batch (64 files or 32 MB) into place and commits its rows with the
next batch, after reading and writing that batch and one ``syncfs``
(:mod:`viewer.store.importer`); the file's modification time is when it was written, one
batch earlier still. Two batches of 32 MB from a slow source (a CD read at 24x, ~3.6
MB/s) take ~20 s, the flush to a slow USB disk a few seconds more, and the commit may
wait up to the 30 s busy timeout for another writer: under a minute, so two minutes is
twice that. Longer would only hide for longer what a killed import left. An import whose
next batch holds one file far larger than 32 MB, read slowly, can take longer; its files
are then reported (without harm: a repair imports them in place, the same bytes to the
same place, and no second row is made)."""

STAGING_PREFIX = "repair-"
"""``tmp/repair-<owner>-0`` in the home (``repair-<pid>`` from earlier versions; the owner
as :func:`viewer.core.process_identity.owner` names this process): where a repair keeps
second names of the files it imports in place, until the import is done
(:mod:`viewer.store.verify_repair`)."""

# FileStore._temporary: "<pid>-<boot>.<start>-<counter>.part" in files/.incoming, or
# "<pid>-<counter>.part" where the start cannot be read and from earlier versions
# (viewer.core.process_identity).
_TEMPORARY = re.compile(r"[0-9]+(?:-[0-9a-f]+\.[0-9]+)?-[0-9]+\.part")
_INCOMING = "files/.incoming/"
# prepare() words an operating system error so; any other failure is the file's content.
_OS_ERROR = "cannot read:"


# --------------------------------------------------------------------------- reading


@contextlib.contextmanager
def read_only(database: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the study database (no migration, no write).

    Raises
    ------
    StoreError
        The database was written by a newer Lightbox (its schema is unknown here).
    """
    conn = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True,
                           isolation_level=None, timeout=30.0)
    try:
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.DatabaseError:
            version = 0  # not a database at all: the integrity check says so
        if version > SCHEMA_VERSION:
            raise StoreError(f"{database}: the study database has schema {version}, newer "
                             f"than this Lightbox ({SCHEMA_VERSION}); check it with that one")
        yield conn
    finally:
        conn.close()


def staged(home: Path) -> dict[Path, list[str]]:
    """The staging folders of repairs whose process has ended, each with the paths of
    its files relative to it (``files/...``, where each came from)."""
    found: dict[Path, list[str]] = {}
    try:
        folders = [e for e in os.scandir(home / "tmp") if e.name.startswith(STAGING_PREFIX)]
    except OSError:
        return found
    boot: list[str] = []
    for entry in folders:
        alive = owner_alive(entry.name.removeprefix(STAGING_PREFIX), boot)
        if not entry.is_dir(follow_symlinks=False) or alive:
            continue
        files: list[str] = []
        for folder, _dirs, names in os.walk(entry.path):
            files.extend(os.path.relpath(os.path.join(folder, n), entry.path) for n in names)
        found[Path(entry.path)] = sorted(files)
    return found


def walk(home: Path) -> tuple[dict[str, os.stat_result], list[str]]:
    """Every entry under ``home/files``: regular files with their ``lstat``, by path
    relative to the home, and the paths of anything else (links, FIFOs, sockets).

    Symbolic links are not followed: nothing the store writes is one.
    """
    files: dict[str, os.stat_result] = {}
    others: list[str] = []
    root = home / "files"
    stack = [(str(root), "files")]
    while stack:
        folder, relative = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"{folder}: cannot be listed ({exc.strerror or exc})") from exc
        for entry in entries:
            name = f"{relative}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, name))
            elif entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):  # removed since listed
                    files[name] = entry.stat(follow_symlinks=False)
            else:
                others.append(name)
    return files, others


def read_rows(conn: sqlite3.Connection) -> list[Row]:
    """Every instance row with the series and study it is filed under (one query; a row
    whose series or study is gone, a foreign key problem, has empty UIDs there)."""
    return [
        Row(study or "", series or "", sop, path, int(size))
        for sop, series, study, path, size in conn.execute(
            "SELECT i.sop_uid, e.series_uid, s.study_uid, i.file_path, i.file_size "
            "FROM instances AS i LEFT JOIN series AS e ON e.pk = i.series_pk "
            "LEFT JOIN studies AS s ON s.pk = e.study_pk")
    ]


_SERIES_COUNTS = (
    "SELECT e.pk, e.series_uid, e.num_instances, "
    "(SELECT count(*) FROM instances AS i WHERE i.series_pk = e.pk) AS actual "
    "FROM series AS e WHERE e.num_instances != actual")
_STUDY_COUNTS = (
    "SELECT s.pk, s.study_uid, s.num_series, s.num_instances, s.modalities, "
    "(SELECT count(*) FROM series AS e WHERE e.study_pk = s.pk), "
    "(SELECT count(*) FROM instances AS i JOIN series AS e ON e.pk = i.series_pk "
    " WHERE e.study_pk = s.pk), "
    "coalesce((SELECT group_concat(modality, '\\') FROM (SELECT DISTINCT e.modality "
    " FROM series AS e WHERE e.study_pk = s.pk AND e.modality != '' ORDER BY e.modality)), '') "
    "FROM studies AS s")


def count_mismatches(conn: sqlite3.Connection) -> tuple[list[CountMismatch], set[int], set[int]]:
    """The kept-current values that disagree with the rows (two queries), and the
    primary keys of the series and studies that hold them."""
    found: list[CountMismatch] = []
    series_pks: set[int] = set()
    study_pks: set[int] = set()
    for pk, uid, recorded, actual in conn.execute(_SERIES_COUNTS):
        found.append(CountMismatch("series", uid, "num_instances", str(recorded), str(actual)))
        series_pks.add(int(pk))
    for pk, uid, *values in conn.execute(_STUDY_COUNTS):
        for name, recorded, actual in zip(("num_series", "num_instances", "modalities"),
                                          values[:3], values[3:], strict=True):
            if recorded != actual:
                found.append(CountMismatch("study", uid, name, str(recorded), str(actual)))
                study_pks.add(int(pk))
    return found, series_pks, study_pks


def database_problems(conn: sqlite3.Connection) -> list[DatabaseProblem]:
    """``PRAGMA integrity_check``, then (when the file is sound) ``foreign_key_check``."""
    problems = [DatabaseProblem("integrity", str(message))
                for (message,) in conn.execute("PRAGMA integrity_check") if message != "ok"]
    if problems:
        return problems
    return [
        DatabaseProblem("foreign_key", f"{table} row {rowid} refers to a missing {parent} row",
                        table=str(table), rowid=int(rowid) if rowid is not None else None)
        for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check")
    ]


def header(path: Path, size: int) -> InstanceRecord | str:
    """The record of a stored file, read as the importer reads it (only its header when
    it is large), or why it cannot be read."""
    outcome = prepare(path, size)
    return outcome.prepared.record if outcome.prepared is not None else outcome.problem


def damaged(reason: str) -> bool:
    """Whether a header that cannot be read is the file's fault (its content), not the
    system's (no permission, an I/O error): only then is the file moved aside."""
    return not reason.startswith(_OS_ERROR)


def canonical(row: Row) -> str:
    """Where the importer puts an instance with this row's UIDs (:func:`stored_path`)."""
    return stored_path(row.study_uid, row.series_uid, row.sop_uid)


def classify(home: Path, relative: str, info: os.stat_result | None, now: float) -> Orphan:
    """What a file no row names is: the store's ``temporary`` file, ``dicom`` (its first
    bytes, as an import probes them) or ``other``."""
    age = max(0.0, now - info.st_mtime) if info is not None else 0.0
    if info is None or not stat.S_ISREG(info.st_mode):
        return Orphan(relative, "other", age)
    name = relative.rsplit("/", 1)[-1]
    if relative.startswith(_INCOMING) and _TEMPORARY.fullmatch(name):
        return Orphan(relative, "temporary", age)
    try:
        with open(home / relative, "rb") as f:
            head = f.read(PROBE_LENGTH)
    except OSError:
        return Orphan(relative, "dicom", age)  # unreadable: it may be one, never guess not
    return Orphan(relative, "dicom" if probe(head) else "other", age)


def arriving(home: Path, relative: str, info: os.stat_result, now: float) -> bool:
    """Whether a DICOM file without a row may be one a running import has placed and not
    committed yet: modified less than :data:`ARRIVING_GRACE_S` ago (and not later than
    that ahead of the clock), and where its own header's UIDs put it, as an import does.
    Only such young files have their header read."""
    if abs(now - info.st_mtime) >= ARRIVING_GRACE_S:
        return False
    record = header(home / relative, info.st_size)
    return isinstance(record, InstanceRecord) and relative == stored_path(
        record.study_uid, record.series_uid, record.sop_instance_uid)


def find_orphans(home: Path, conn: sqlite3.Connection | None, files: dict[str, os.stat_result],
                 others: list[str], named: set[str]
                 ) -> tuple[list[Orphan], list[Orphan], list[Orphan]]:
    """Orphans among the walked entries (not in ``named``), temporary files in use, and
    DICOM files still arriving (:func:`arriving`).

    A file renamed into place by a running import, whose row was committed after the
    rows were read, is looked up once more by its SOP Instance UID (its file name).
    Without a database (``conn`` None) no import is running (opening the store makes the
    database before any file is placed), so no file is taken for arriving."""
    now = time.time()
    unnamed = sorted(set(files) - named)
    stems = [p.rsplit("/", 1)[-1].removesuffix(".dcm") for p in unnamed]
    since = ({path for _size, _digest, path in existing(conn, stems).values()}
             if conn is not None else set())
    orphans: list[Orphan] = []
    in_use: list[Orphan] = []
    coming: list[Orphan] = []
    for relative in unnamed:
        if relative in since:
            continue
        orphan = classify(home, relative, files[relative], now)
        if orphan.kind == "temporary" and orphan.age_s < TEMPORARY_GRACE_S:
            in_use.append(orphan)
        elif (orphan.kind == "dicom" and conn is not None
              and arriving(home, relative, files[relative], now)):
            coming.append(orphan)
        else:
            orphans.append(orphan)
    for relative in others:
        if relative not in named:
            orphans.append(Orphan(relative, "other", 0.0))
    for folder, inside in staged(home).items():
        orphans.extend(Orphan(str((folder / p).relative_to(home)), "staged", 0.0)
                       for p in inside)
    return orphans, in_use, coming


def check_home(home: Path, *, deep: bool = False) -> Findings:
    """Check the Lightbox home ``home``; change nothing.

    Parameters
    ----------
    home : Path
        The Lightbox home (``studies.sqlite`` and ``files/``).
    deep : bool
        Read every stored file's header, not only those whose path disagrees with their
        row (see the module docstring for why this is not the default).

    Returns
    -------
    Findings
        Totals and the problems by kind.

    Raises
    ------
    StoreError
        The file tree cannot be listed, or the database is newer than this Lightbox.
    """
    started = time.monotonic()
    found = Findings(home=str(home), deep=deep)
    database = home / DATABASE_NAME
    files, others = walk(home)  # before the rows: see the module docstring
    found.files = len(files)
    if not database.exists():
        found.orphans, found.temporary_in_use, found.arriving = find_orphans(
            home, None, files, others, set())
        found.seconds = time.monotonic() - started
        return found
    with read_only(database) as conn:
        try:
            conn.execute("BEGIN")  # one snapshot for the rows and the counts
            found.database = database_problems(conn)
            if found.database_damaged:
                conn.execute("ROLLBACK")
                found.seconds = time.monotonic() - started
                return found  # rows read from a damaged file would mislead
            rows = read_rows(conn)
            found.counts, _series, _studies = count_mismatches(conn)
            found.studies, found.series = conn.execute(
                "SELECT (SELECT count(*) FROM studies), (SELECT count(*) FROM series)").fetchone()
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if out_of_space(home):
                # Not the database's fault: a repair must not be advised to rebuild it.
                raise StoreError(f"{database}: cannot be read: the disk of the Lightbox "
                                 f"home is full; free some space and check again") from exc
            found.database.append(DatabaseProblem("open", f"cannot be read ({exc})"))
            found.seconds = time.monotonic() - started
            return found
        found.instances = len(rows)
        _check_rows(home, rows, files, found)
        found.orphans, found.temporary_in_use, found.arriving = find_orphans(
            home, conn, files, others, {r.path for r in rows})
    found.seconds = time.monotonic() - started
    return found


def _check_rows(home: Path, rows: list[Row], files: dict[str, os.stat_result],
                found: Findings) -> None:
    """Missing files and sizes (one stat per file, from the walk where it has it), then
    the headers of the rows whose path disagrees with their UIDs (all with ``deep``)."""
    for row in rows:
        info = files.get(row.path)
        if info is None:  # placed after the walk, or gone
            try:
                info = os.stat(home / row.path)
            except (FileNotFoundError, NotADirectoryError):
                found.missing.append(MissingFile(row))
                continue
            except OSError as exc:
                found.missing.append(MissingFile(row, exc.strerror or str(exc)))
                continue
        if info.st_size != row.size:
            found.size_mismatch.append(SizeMismatch(row, info.st_size))
        elif not row.series_uid or not row.study_uid:
            continue  # its series or study row is gone: a foreign key problem, said so
        elif found.deep or row.path != canonical(row):
            found.headers_read += 1
            record = header(home / row.path, info.st_size)
            if isinstance(record, str):
                found.misfiled.append(Misfiled(row, reason=record))
            elif (record.study_uid, record.series_uid, record.sop_instance_uid) != (
                    row.study_uid, row.series_uid, row.sop_uid):
                found.misfiled.append(Misfiled(row, record.study_uid, record.series_uid,
                                               record.sop_instance_uid))
