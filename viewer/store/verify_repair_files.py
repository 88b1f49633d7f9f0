"""The steps of :mod:`viewer.store.verify_repair` that move, give back and import the
files of the store's tree: giving back what an unfinished repair left in its staging
folder (step 1), dealing with the files no row names (step 5), and importing the files
whose rows step 4 removed; files are moved to their own UIDs' place first
(:mod:`viewer.store.verify_refile`).

No DICOM file is ever deleted: a file that cannot stay goes to ``lost+found/`` in the
home (:data:`LOST_AND_FOUND`), and one that cannot go there either is left and reported.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
from pathlib import Path

from viewer.core.imports import CancelCheck, ImportReport, ProgressCallback
from viewer.core.process_identity import owner
from viewer.core.records import InstanceRecord
from viewer.store.hierarchy import HierarchyCheck
from viewer.store.study_store import StudyStore
from viewer.store.verify import (
    STAGING_PREFIX,
    damaged,
    find_orphans,
    header,
    read_only,
    staged,
    walk,
)
from viewer.store.verify_refile import drop_extra_name, refile
from viewer.store.verify_repair_log import Action, RepairLog

LOST_AND_FOUND = "lost+found"
"""The folder of the home that receives files moved out of the store, never deleted."""


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


def set_aside(store: StudyStore, relative: str, why: str, log: RepairLog) -> Path | None:
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


def settle_orphans(store: StudyStore, log: RepairLog, progress: ProgressCallback | None,
                   cancel: CancelCheck | None, ours: set[str]) -> None:
    """Walk the tree again and deal with every file no row names, but those an earlier
    step reported left (said once) and those still arriving (a running import's, placed
    and not committed yet: taking them in would race its commit), unless they are
    ``ours`` (see :func:`~viewer.store.verify_repair.repair_home`)."""
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
            continue  # given back first (recover_staging); what is left, it said why
        elif orphan.kind == "other":
            set_aside(store, orphan.path, "not a DICOM file", log)
        else:
            record = header(store.home / orphan.path, files[orphan.path].st_size)
            if isinstance(record, InstanceRecord):
                take[orphan.path] = record
            elif damaged(record):
                set_aside(store, orphan.path, f"cannot be imported ({record})", log)
            else:
                log.not_repaired.append(Action("left", orphan.path, record))
    take_in(store, take, log, progress, cancel)


def take_in(store: StudyStore, files: dict[str, InstanceRecord], log: RepairLog,
            progress: ProgressCallback | None, cancel: CancelCheck | None) -> None:
    """Import files of the store's tree through the store's import path.

    Files not where their own UIDs put them are first moved there, where the importer
    would not refuse them (:func:`~viewer.store.verify_refile.refile`: a swap or a cycle
    of misplaced files is resolved, and nothing is replaced). Files where their UIDs put
    them are imported in place from a second name (a hard link in ``tmp/repair-<owner>-0``):
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

    staging = store.home / "tmp" / f"{STAGING_PREFIX}{owner()}-0"
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
            set_aside(store, relative, f"a copy of {place(record)}", log)
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


def recover_staging(home: Path, log: RepairLog) -> set[str]:
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
            moved = set_aside(store, relative, f"a copy of {kept[2]}", log)
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
