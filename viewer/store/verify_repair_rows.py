"""The steps of :mod:`viewer.store.verify_repair` that remove and recount the rows of
the database: rows that break a foreign key (step 2), rows whose file is missing (step 3),
rows of files whose size differs or which are misfiled (step 4: their files are imported
again by :mod:`viewer.store.verify_repair_files`, the damaged ones moved aside), and the
kept-current counts (step 6).

Each step is one transaction through the store's write connection, under its lock with
``BEGIN IMMEDIATE``; the rows it removes are those still as the check saw them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence

from viewer.core.records import InstanceRecord
from viewer.store.hierarchy import HierarchyCheck
from viewer.store.study_store import StudyStore
from viewer.store.verify import count_mismatches, damaged, header
from viewer.store.verify_findings import Findings, Row
from viewer.store.verify_repair_files import set_aside
from viewer.store.verify_repair_log import Action, RepairLog
from viewer.store.writer import chunks, refresh_counts

# The tables PRAGMA foreign_key_check may name (never interpolate any other name).
_TABLES = frozenset({"instances", "series", "studies", "study_modalities"})


def remove_dangling(store: StudyStore, log: RepairLog) -> set[str]:
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


def remove_missing(store: StudyStore, found: Findings, log: RepairLog) -> None:
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


def recount(store: StudyStore, log: RepairLog) -> None:
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


def refile_rows(store: StudyStore, found: Findings, log: RepairLog
            ) -> tuple[dict[str, InstanceRecord], list[tuple[Row, InstanceRecord]]]:
    """Remove the rows of size-mismatched and misfiled instances whose files can be
    re-filed or are damaged; return the files to import again, with their headers, and
    the rows removed for them with their files' headers (:func:`say_removed`)."""
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
            set_aside(store, relative, f"damaged ({reason}): row of instance {row.sop_uid} "
                      f"(study {row.study_uid}) removed; import it again from its source",
                      log)
    kept = {p: (row, r) for p, (row, r) in take.items() if row.sop_uid in pks}
    return {p: r for p, (_row, r) in kept.items()}, list(kept.values())


def say_removed(store: StudyStore, removed: list[tuple[Row, InstanceRecord]],
                log: RepairLog) -> None:
    """Say which rows :func:`refile_rows` removed whose instance is not indexed again (the
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
