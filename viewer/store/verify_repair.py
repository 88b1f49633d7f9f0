"""Repair a Lightbox home from what :func:`viewer.store.verify.check_home` found.

The steps, in this order, each one database transaction or one file system operation
that is harmless to repeat (a re-run of ``check --repair`` finishes what a crash cut
short, since every step derives its work from the home as it then is; nothing is
remembered between runs):

1. Nothing is repaired when the database fails its integrity check: rows read from a
   damaged file would mislead every step below. Files an interrupted repair left in its
   staging folder (see step 5) are given back to the tree first.
2. Rows that break a foreign key (their series, study or patient row is gone) are
   removed; their files are left for step 5 to import again.
3. Rows whose file is missing are removed, with the series, studies and patients that
   are left empty, and the counts of those touched, in one transaction. Each file is
   looked for again under the write lock, so a file put back since the check keeps its
   row.
4. Rows of files whose size differs, or which are filed under other UIDs than their
   file's (misfiled), are re-filed: the header is read again; a file whose header cannot
   be read (truncated, overwritten) has its row removed and is moved to ``lost+found/``
   in the home, so that importing the instance again from its source restores it (a
   damaged stored copy would make that import a conflict); any other has its row removed
   and is imported again as in step 5, unless that import would refuse it (a series that
   belongs to another study: the importer's hierarchy check, asked first), in which case
   the row stays where it is and the problem is reported. The rows go before the import:
   a crash in between leaves a file without a row, which the next run imports (step 5),
   never a row without its file. A removed row whose instance is not indexed again (its
   file held another instance) is said in the report.
5. The file tree is walked again, and every file no row names is dealt with: the store's
   own temporary files older than :data:`~viewer.store.verify.TEMPORARY_GRACE_S` are
   deleted (younger ones may belong to a running import); DICOM files are imported
   through the store's import path (its checks apply, and its failures are reported).
   A file not at the place its own UIDs give is first moved there
   (:mod:`viewer.store.verify_refile`): files holding each other's instances (a swap, a
   cycle) are resolved by renaming one aside first, a file goes to its place by a hard
   link that never replaces anything, and its old name goes only once the new one is on
   disk. Files at their place are imported in place, from a second name (a hard link in
   ``tmp/repair-<pid>/``, so that an import that fails after replacing the file, and
   cleans up what it placed, cannot take the only copy). A file that turns out to be a
   copy of a stored instance, or that is damaged or not DICOM, is moved to
   ``lost+found/``. No DICOM file is ever deleted: a file whose place is held by
   different bytes that stay is left and reported. A file still arriving
   (:func:`~viewer.store.verify.arriving`: a running import placed it and commits its
   row with its next batch) is left alone, unless the check reported it or this repair
   made it rowless; one of a running import that is older than that may be imported
   here too: the same bytes go to the same place, and the second row is not inserted.
6. The kept-current counts that disagree with the rows are recomputed (one transaction,
   with the store's own :func:`~viewer.store.writer.refresh_counts`).

Writes go through the store's write connection under its lock with ``BEGIN IMMEDIATE``
(WAL, a 30 s busy timeout), as every import does, so the viewer or an import may run on
the same home meanwhile.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from viewer.core.imports import CancelCheck, ImportReport, ProgressCallback, printable
from viewer.core.records import InstanceRecord
from viewer.store.hierarchy import HierarchyCheck
from viewer.store.study_store import DATABASE_NAME, StudyStore
from viewer.store.verify import (
    STAGING_PREFIX,
    count_mismatches,
    damaged,
    find_orphans,
    header,
    read_only,
    staged,
    walk,
)
from viewer.store.verify_findings import Findings, Row
from viewer.store.verify_refile import drop_extra_name, refile
from viewer.store.writer import chunks, refresh_counts

LOST_AND_FOUND = "lost+found"
"""The folder of the home that receives files moved out of the store, never deleted."""

# The tables PRAGMA foreign_key_check may name (never interpolate any other name).
_TABLES = frozenset({"instances", "series", "studies", "study_modalities"})


@dataclass(frozen=True, slots=True)
class Action:
    """One thing repair did, or could not do (``action`` ``left``)."""

    action: str
    subject: str  # a UID or a path relative to the home
    detail: str

    def line(self) -> str:
        """One line for the report."""
        action = self.action.replace("_", " ")
        return f"{action} {printable(self.subject)}: {printable(self.detail)}"


@dataclass(slots=True)
class RepairLog:
    """What :func:`repair_home` did (``repaired``) and what it left (``not_repaired``)."""

    repaired: list[Action] = field(default_factory=list)
    not_repaired: list[Action] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """``repaired`` and ``not_repaired`` as lists of ``{action, subject, detail}``."""
        return {key: [{k: printable(v) for k, v in asdict(a).items()} for a in actions]
                for key, actions in (("repaired", self.repaired),
                                     ("not_repaired", self.not_repaired))}


def repair_home(home: Path, found: Findings, *,
                progress: ProgressCallback | None = None,
                cancel: CancelCheck | None = None) -> RepairLog:
    """Repair the Lightbox home ``home`` (see the module docstring for the steps).

    Parameters
    ----------
    home : Path
        The home that was checked. Its store is opened here (migrating an older
        database), unless the database is damaged: then nothing is touched.
    found : Findings
        What :func:`~viewer.store.verify.check_home` found there.
    progress, cancel : callable, optional
        Passed to the imports (:meth:`StudyStore.import_files`).

    Returns
    -------
    RepairLog
        What was repaired and what was not; check again to see what remains.
    """
    log = RepairLog()
    if found.database_damaged:
        log.not_repaired.append(Action(
            "left", DATABASE_NAME, "the database failed its integrity check, so nothing was "
            "repaired; restore it from a backup, or move it out of the home and run "
            "check --repair to rebuild it from the files"))
        return log
    # Files without a row that this repair takes in even when young (not "arriving"):
    # those the check found (it saw them old, or there was no database, so no import),
    # and those the repair itself gives back or makes rowless below.
    ours = {orphan.path for orphan in found.orphans} | _recover_staging(home, log)
    with StudyStore.open(home) as store:
        for orphan in found.orphans:  # opening the store removes those of ended processes
            if orphan.kind == "temporary" and not os.path.lexists(home / orphan.path):
                log.repaired.append(Action("removed_temporary", orphan.path,
                                           "its process has ended"))
        if any(p.check == "foreign_key" for p in found.database):
            ours |= _remove_dangling(store, log)
        _remove_missing(store, found, log)
        refiling, removed = _refile(store, found, log)
        _take_in(store, refiling, log, progress, cancel)
        _say_removed(store, removed, log)
        _settle_orphans(store, log, progress, cancel, ours)
        _recount(store, log)
    return log


# ------------------------------------------------------------------------ database


def _remove_dangling(store: StudyStore, log: RepairLog) -> set[str]:
    """Remove the rows ``PRAGMA foreign_key_check`` names (cascading to their children,
    whose files the orphan step imports again); return the paths of those files."""
    query = "SELECT file_path FROM instances"
    with store._transaction() as conn:  # the store's write lock and BEGIN IMMEDIATE
        named = {path for (path,) in conn.execute(query)}
        by_table: dict[str, list[int]] = {}
        for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check").fetchall():
            if table in _TABLES and rowid is not None:
                by_table.setdefault(table, []).append(int(rowid))
                log.repaired.append(Action("removed_row", f"{table} row {rowid}",
                                           f"its {parent} row is gone"))
        for table, rowids in by_table.items():
            for chunk in chunks(rowids):
                conn.execute(f"DELETE FROM {table} WHERE rowid IN ({','.join('?' * len(chunk))})",
                             list(chunk))
        return named - {path for (path,) in conn.execute(query)}


def _row_pks(conn: sqlite3.Connection, rows: Iterable[Row]) -> dict[str, int]:
    """The primary keys of ``rows`` that are still as the check saw them (same SOP
    Instance UID, same file), by SOP Instance UID."""
    wanted = {row.sop_uid: row.path for row in rows}
    found: dict[str, int] = {}
    for chunk in chunks(sorted(wanted)):
        for pk, uid, path in conn.execute(
                f"SELECT pk, sop_uid, file_path FROM instances "
                f"WHERE sop_uid IN ({','.join('?' * len(chunk))})", list(chunk)):
            if wanted[uid] == path:
                found[uid] = int(pk)
    return found


def _remove_rows(conn: sqlite3.Connection, pks: Sequence[int]) -> None:
    """Delete instance rows, then the series, studies and patients they leave empty, and
    refresh the counts of those touched (inside the caller's transaction)."""
    series: set[int] = set()
    for chunk in chunks(pks):
        marks = ",".join("?" * len(chunk))
        series.update(pk for (pk,) in conn.execute(
            f"SELECT DISTINCT series_pk FROM instances WHERE pk IN ({marks})", list(chunk)))
        conn.execute(f"DELETE FROM instances WHERE pk IN ({marks})", list(chunk))
    studies = _owners(conn, "SELECT DISTINCT study_pk FROM series WHERE pk IN ({})", series)
    patients = _owners(conn, "SELECT DISTINCT patient_pk FROM studies WHERE pk IN ({})", studies)
    for statement, pks_of in (
            ("DELETE FROM series WHERE pk IN ({}) AND NOT EXISTS "
             "(SELECT 1 FROM instances AS i WHERE i.series_pk = series.pk)", series),
            ("DELETE FROM studies WHERE pk IN ({}) AND NOT EXISTS "
             "(SELECT 1 FROM series AS e WHERE e.study_pk = studies.pk)", studies),
            ("DELETE FROM patients WHERE pk IN ({}) AND NOT EXISTS "
             "(SELECT 1 FROM studies AS s WHERE s.patient_pk = patients.pk)", patients)):
        for chunk in chunks(sorted(pks_of)):
            conn.execute(statement.format(",".join("?" * len(chunk))), list(chunk))
    refresh_counts(conn, series, studies)  # rows deleted above are simply not found


def _owners(conn: sqlite3.Connection, query: str, pks: set[int]) -> set[int]:
    owners: set[int] = set()
    for chunk in chunks(sorted(pks)):
        owners.update(int(pk) for (pk,) in conn.execute(
            query.format(",".join("?" * len(chunk))), list(chunk)))
    return owners


def _remove_missing(store: StudyStore, found: Findings, log: RepairLog) -> None:
    """Remove the rows whose file is gone (looked for again under the write lock)."""
    for problem in found.missing:
        if problem.reason:
            log.not_repaired.append(Action("left", problem.row.path,
                                           f"cannot be read ({problem.reason}); row kept"))
    rows = [p.row for p in found.missing if not p.reason]
    if not rows:
        return
    with store._transaction() as conn:
        # No import can commit while this transaction holds the write lock, and a file is
        # always in place before its row is committed: a file still missing now is gone.
        gone = [row for row in rows if not os.path.lexists(store.home / row.path)]
        pks = _row_pks(conn, gone)
        _remove_rows(conn, list(pks.values()))
    for row in gone:
        if row.sop_uid in pks:
            log.repaired.append(Action("removed_row", row.sop_uid,
                                       f"of study {row.study_uid}; its file {row.path} is gone"))


def _recount(store: StudyStore, log: RepairLog) -> None:
    """Recompute the counts that disagree with the rows."""
    with store._transaction() as conn:
        mismatches, series, studies = count_mismatches(conn)
        if not mismatches:
            return
        studies |= _owners(conn, "SELECT DISTINCT study_pk FROM series WHERE pk IN ({})", series)
        refresh_counts(conn, series, studies)
    for m in mismatches:
        recorded, actual = m.recorded or "''", m.actual or "''"
        log.repaired.append(Action("recounted", f"{m.level} {m.uid}",
                                   f"{m.name} {recorded} -> {actual}"))


# --------------------------------------------------------------------------- files


def _move_aside(home: Path, relative: str, source: Path | None = None) -> str:
    """Move a file of the store (or ``source``, a second name of it) into ``lost+found/``
    (the same path below it, a numbered name when taken); return where it went,
    relative to the home."""
    target = home / LOST_AND_FOUND / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    candidate, number = target, 0
    while os.path.lexists(candidate):
        number += 1
        candidate = target.with_name(f"{target.name}.{number}")
    os.rename(source or home / relative, candidate)  # one file system: atomic, never a copy
    return str(candidate.relative_to(home))


def _set_aside(store: StudyStore, relative: str, why: str, log: RepairLog) -> Path | None:
    """:func:`_move_aside`, said in the log; return where the file went."""
    try:
        moved = _move_aside(store.home, relative)
    except OSError as exc:
        log.not_repaired.append(Action("left", relative,
                                       f"{why}; cannot be moved ({exc.strerror or exc})"))
        return None
    log.repaired.append(Action("moved_aside", relative, f"{why}; now {moved}"))
    return store.home / moved


def _same(first: Path, second: Path) -> bool:
    """Whether two files hold the same bytes (False when either cannot be read)."""
    try:
        return filecmp.cmp(first, second, shallow=False)
    except OSError:
        return False


def _refile(store: StudyStore, found: Findings, log: RepairLog
            ) -> tuple[dict[str, InstanceRecord], list[tuple[Row, InstanceRecord]]]:
    """Remove the rows of size-mismatched and misfiled instances whose files can be
    re-filed or are damaged; return the files to import again, with their headers, and
    the rows removed for them with their files' headers (:func:`_say_removed`)."""
    rows = [p.row for p in found.size_mismatch] + [p.row for p in found.misfiled]
    take: dict[str, tuple[Row, InstanceRecord]] = {}
    broken: dict[str, tuple[Row, str]] = {}
    for row in rows:
        path = store.home / row.path
        try:
            record = header(path, path.stat().st_size)
        except OSError as exc:
            log.not_repaired.append(Action("left", row.path, f"cannot be read ({exc.strerror})"))
            continue
        if isinstance(record, str):
            if damaged(record):
                broken[row.path] = (row, record)
            else:
                log.not_repaired.append(Action("left", row.path, record))
            continue
        take[row.path] = (row, record)
    moved = {p: (row, r) for p, (row, r) in take.items() if (
        r.study_uid, r.series_uid, r.sop_instance_uid) != (row.study_uid, row.series_uid,
                                                           row.sop_uid)}
    refused = store.misfiled(HierarchyCheck(), [(p, r) for p, (_row, r) in moved.items()])
    for relative, reason in refused.items():
        row = take.pop(relative)[0]
        log.not_repaired.append(Action("left", row.sop_uid, f"filed under study "
                                       f"{row.study_uid}; the file cannot go where its UIDs "
                                       f"say: {reason}"))
    if not take and not broken:
        return {}, []
    with store._transaction() as conn:
        pks = _row_pks(conn, [row for row, _ in (*take.values(), *broken.values())])
        _remove_rows(conn, list(pks.values()))
    for relative, (row, reason) in broken.items():
        if row.sop_uid in pks:
            _set_aside(store, relative, f"damaged ({reason}): row of instance {row.sop_uid} "
                       f"(study {row.study_uid}) removed; import it again from its source",
                       log)
    kept = {p: (row, r) for p, (row, r) in take.items() if row.sop_uid in pks}
    return {p: r for p, (_row, r) in kept.items()}, list(kept.values())


def _say_removed(store: StudyStore, removed: list[tuple[Row, InstanceRecord]],
                 log: RepairLog) -> None:
    """Say which rows :func:`_refile` removed whose instance is not indexed again (the
    others are: their files were imported, or re-filed, and said so)."""
    if not removed:
        return
    stored = store.stored_digests(row.sop_uid for row, _record in removed)
    for row, record in removed:
        if row.sop_uid in stored:
            continue
        why = (f"its file {row.path} could not be indexed again (see below)"
               if record.sop_instance_uid == row.sop_uid else
               f"its file {row.path} holds instance {record.sop_instance_uid}, and no "
               "file of this instance was found to index again")
        log.repaired.append(Action("removed_row", row.sop_uid,
                                   f"of study {row.study_uid}: {why}"))


def _settle_orphans(store: StudyStore, log: RepairLog, progress: ProgressCallback | None,
                    cancel: CancelCheck | None, ours: set[str]) -> None:
    """Walk the tree again and deal with every file no row names, but those an earlier
    step reported left (said once) and those still arriving (a running import's, placed
    and not committed yet: taking them in would race its commit), unless they are
    ``ours`` (see :func:`repair_home`)."""
    files, others = walk(store.home)
    with read_only(store.database_path) as conn:
        named = {path for (path,) in conn.execute("SELECT file_path FROM instances")}
        orphans, _in_use, arriving = find_orphans(store.home, conn, files, others, named)
    orphans += [orphan for orphan in arriving if orphan.path in ours]
    said = {action.subject for action in log.not_repaired}
    take: dict[str, InstanceRecord] = {}
    for orphan in orphans:
        if orphan.path in said:
            continue
        if orphan.kind == "temporary":  # older than the grace period: no import owns it
            try:
                os.unlink(store.home / orphan.path)
            except FileNotFoundError:
                pass  # renamed into place or removed by its owner meanwhile
            except OSError as exc:
                log.not_repaired.append(Action("left", orphan.path, exc.strerror or str(exc)))
                continue
            log.repaired.append(Action("removed_temporary", orphan.path, "a stale temporary file"))
        elif orphan.kind == "staged":
            continue  # given back first (_recover_staging); what is left, it said why
        elif orphan.kind == "other":
            _set_aside(store, orphan.path, "not a DICOM file", log)
        else:
            record = header(store.home / orphan.path, files[orphan.path].st_size)
            if isinstance(record, InstanceRecord):
                take[orphan.path] = record
            elif damaged(record):
                _set_aside(store, orphan.path, f"cannot be imported ({record})", log)
            else:
                log.not_repaired.append(Action("left", orphan.path, record))
    _take_in(store, take, log, progress, cancel)


def _take_in(store: StudyStore, files: dict[str, InstanceRecord], log: RepairLog,
             progress: ProgressCallback | None, cancel: CancelCheck | None) -> None:
    """Import files of the store's tree through the store's import path.

    Files not where their own UIDs put them are first moved there, where the importer
    would not refuse them (:func:`~viewer.store.verify_refile.refile`: a swap or a cycle
    of misplaced files is resolved, and nothing is replaced). Files where their UIDs put
    them are imported in place from a second name (a hard link in ``tmp/repair-<pid>``):
    the import replaces the file with its copy, and an import that fails after that (a
    full disk, whose clean-up removes what it placed) must not take the only copy with
    it. A file whose place holds another file that stays is a copy when the bytes are the
    same (moved aside), or left and reported. Where the file system has no hard links,
    a file whose place is free is imported from where it is (a copy; the file is then
    moved aside as one).
    """
    def place(record: InstanceRecord) -> str:
        return store.files.relative_path(record.study_uid, record.series_uid,
                                         record.sop_instance_uid)

    staging = store.home / "tmp" / f"{STAGING_PREFIX}{os.getpid()}"
    misplaced = {p: place(r) for p, r in files.items() if place(r) != p}
    refused = store.misfiled(HierarchyCheck(), [(p, files[p]) for p in misplaced])
    for relative, reason in refused.items():
        log.not_repaired.append(Action("left", relative, f"instance "
                                       f"{files[relative].sop_instance_uid}: it cannot go "
                                       f"where its UIDs say: {reason}"))
        del misplaced[relative]
    outcome = refile(store.home, misplaced, staging)
    for relative, reason in outcome.errors.items():
        log.not_repaired.append(Action("left", outcome.now.get(relative, relative), reason))
    origin = outcome.moved  # place -> where the file was
    files = {**{outcome.now.get(p, p): r for p, r in files.items() if p not in refused
                and p not in outcome.errors and p not in origin.values()},
             **{target: files[former] for target, former in origin.items()}}
    sources: dict[str, Path] = {}
    for relative, record in files.items():
        if place(record) == relative:
            try:
                sources[relative] = _second_name(store.home / relative, staging / relative)
            except OSError as exc:
                log.not_repaired.append(Action("left", relative, "cannot be imported in place "
                                               f"safely: no hard link ({exc.strerror or exc})"))
            continue
        target = store.home / place(record)
        if not target.exists():
            sources[relative] = store.home / relative  # the import leaves its source alone
        elif drop_extra_name(store.home / relative, target):
            log.repaired.append(Action("removed_name", relative, f"a second name of "
                                       f"{place(record)}, left by a repair cut short"))
        elif _same(store.home / relative, target):
            _set_aside(store, relative, f"a copy of {place(record)}", log)
        else:
            log.not_repaired.append(Action(
                "left", relative, f"instance {record.sop_instance_uid}: its place "
                f"{place(record)} holds another file"))
    in_place = [p for p in sources if place(files[p]) == p]
    elsewhere = [p for p in sources if place(files[p]) != p]
    try:
        for batch in (in_place, elsewhere):
            if batch:
                report = store.import_files([sources[p] for p in batch], progress=progress,
                                            cancel=cancel)
                _account(store, {p: files[p] for p in batch}, sources, origin, report, log)
    finally:
        for relative in in_place:
            _unstage(store.home, sources[relative], relative, log)
        for relative in set(origin) - set(in_place):  # moved, then no second name taken
            _unstage(store.home, staging / relative, relative, log)
        _prune(staging)


def _second_name(path: Path, link: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.link(path, link)
    except FileExistsError:
        if not os.path.samefile(path, link):  # made by refile() as it moved the file here
            raise
    return link


def _unstage(home: Path, link: Path, relative: str, log: RepairLog) -> None:
    """Give back what a second name holds: the file itself when its place is empty (the
    import failed after removing it); nothing when its place, or ``lost+found``, holds
    the same bytes; else it goes to ``lost+found`` too."""
    if not os.path.lexists(link):
        return
    target = home / relative
    try:
        if not os.path.lexists(target):
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.rename(link, target)
        elif _same(link, target):
            link.unlink()
        else:
            moved = _move_aside(home, relative, link)
            log.not_repaired.append(Action("moved_aside", relative, "its place holds other "
                                           f"bytes since; the file is now {moved}"))
    except OSError as exc:
        log.not_repaired.append(Action("left", str(link.relative_to(home)),
                                       f"a second name of {relative} ({exc.strerror or exc})"))


def _prune(folder: Path) -> None:
    """Remove the empty folders of a staging tree, deepest first."""
    for parent, _dirs, _names in sorted(os.walk(folder), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(parent)


def _recover_staging(home: Path, log: RepairLog) -> set[str]:
    """Give back the files a repair that did not finish left in its staging folder;
    return their paths in the tree."""
    given: set[str] = set()
    for folder, inside in staged(home).items():
        for relative in inside:
            log.repaired.append(Action("recovered", relative,
                                       f"from {folder.relative_to(home)}, an unfinished repair"))
            _unstage(home, folder / relative, relative, log)
            given.add(relative)
        _prune(folder)
    return given


def _account(store: StudyStore, files: dict[str, InstanceRecord], sources: dict[str, Path],
             origin: dict[str, str], report: ImportReport, log: RepairLog) -> None:
    """Say what became of each imported file (those moved to their place first, from
    where, as ``origin`` maps); move aside those that were copies."""
    reasons = {p.path: p.reason for p in (*report.failed, *report.conflicts)}
    stored = store.stored_digests(r.sop_instance_uid for r in files.values())
    for relative, record in files.items():
        uid, source = record.sop_instance_uid, sources[relative]
        kept = stored.get(uid)
        what = f"instance {uid} of study {record.study_uid}, series {record.series_uid}"
        if kept is not None and kept[2] == relative and relative in origin:
            log.repaired.append(Action("refiled", origin[relative], f"it holds {what}: moved "
                                       f"under its own UIDs to {relative}, and indexed"))
            continue
        if kept is not None and kept[2] == relative:
            log.repaired.append(Action("imported", relative, what))
            continue
        if kept is not None and source == store.home / relative and kept[2] == (
                store.files.relative_path(record.study_uid, record.series_uid, uid)):
            # Imported from elsewhere into its place, which was empty: this is its copy.
            log.repaired.append(Action("imported", relative, f"{what}, as {kept[2]}"))
        if kept is not None and _same(source, store.files.absolute(kept[2])):
            moved = _set_aside(store, relative, f"a copy of {kept[2]}", log)
            if moved is not None and source != store.home / relative:
                with contextlib.suppress(OSError):
                    if os.path.samefile(source, moved):
                        source.unlink()  # the second name of the file just moved aside
        else:
            reason = reasons.get(str(source)) or report.stopped or (
                "cancelled" if report.cancelled else "not imported")
            if relative in origin:
                reason = f"{reason} (moved here from {origin[relative]}, its own UIDs' place)"
            log.not_repaired.append(Action("left", relative, reason))
