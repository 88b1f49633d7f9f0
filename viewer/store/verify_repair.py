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
   ``tmp/repair-<owner>-0/``, so that an import that fails after replacing the file, and
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

The steps live by what they change: those that remove and recount rows (2, 3, 4 and 6)
in :mod:`viewer.store.verify_repair_rows`, those that move, give back and import files
(1, 5, and the import of what step 4 re-files) in :mod:`viewer.store.verify_repair_files`;
this module runs them in order. What the repair did is a :class:`RepairLog`
(:mod:`viewer.store.verify_repair_log`), re-exported here with :class:`Action` and
:data:`LOST_AND_FOUND`, as callers know them from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from viewer.core.imports import CancelCheck, ProgressCallback
from viewer.store.study_store import DATABASE_NAME, StudyStore
from viewer.store.verify_findings import Findings
from viewer.store.verify_repair_files import (
    LOST_AND_FOUND,
    recover_staging,
    settle_orphans,
    take_in,
)
from viewer.store.verify_repair_log import Action, RepairLog
from viewer.store.verify_repair_rows import (
    recount,
    refile_rows,
    remove_dangling,
    remove_missing,
    say_removed,
)

__all__ = ["LOST_AND_FOUND", "Action", "RepairLog", "repair_home"]


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
    ours = {orphan.path for orphan in found.orphans} | recover_staging(home, log)
    with StudyStore.open(home) as store:
        for orphan in found.orphans:  # opening the store removes those of ended processes
            if orphan.kind == "temporary" and not os.path.lexists(home / orphan.path):
                log.repaired.append(Action("removed_temporary", orphan.path,
                                           "its process has ended"))
        if any(p.check == "foreign_key" for p in found.database):
            ours |= remove_dangling(store, log)
        remove_missing(store, found, log)
        refiling, removed = refile_rows(store, found, log)
        take_in(store, refiling, log, progress, cancel)
        say_removed(store, removed, log)
        settle_orphans(store, log, progress, cancel, ours)
        recount(store, log)
    return log
