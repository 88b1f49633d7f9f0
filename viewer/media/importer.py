"""Import removable media, folders, DICOMDIR files and zips: never lose an image.

For every source the whole medium is walked, every DICOMDIR on it is read, and the union
of both is imported: a DICOMDIR that names only part of a disc (or names files with
another case, a ``;1`` version or an extension) loses nothing. The report says what the
DICOMDIR names that the disc lacks (``missing``) and what DICOM files the disc has that
the DICOMDIR does not name (``not_in_dicomdir``). After the import, the completeness
check asks the store for every SOP Instance UID read from the medium: only when all are
there is the medium "safe to eject". A source in which no DICOM file at all is found (an
empty mount point: the disc is not mounted) is said so, and is not safe to eject either.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from viewer.core.imports import (
    CancelCheck,
    FileProblem,
    ImportProgress,
    ImportReport,
    InstanceImporter,
    ProgressCallback,
)
from viewer.media.dicomdir import DirectoryContents, read_dicomdir
from viewer.media.scan import MediumListing, extract_zip, is_dicomdir_name, is_zip, walk


def import_media(
    sources: Iterable[Path | str],
    target: InstanceImporter,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    work_dir: Path | None = None,
) -> ImportReport:
    """Import every DICOM instance found under ``sources`` into ``target``.

    Parameters
    ----------
    sources : iterable of path
        Mount points, folders, DICOMDIR files, zip archives or single files. A source that
        is neither a file nor a folder (a FIFO, a device) is reported as failed, unopened.
    target : InstanceImporter
        The study store (or anything with its import interface).
    progress : callable, optional
        Receives :class:`ImportProgress` while scanning and importing.
    cancel : callable, optional
        Polled between folders and batches.
    work_dir : Path, optional
        Where zip archives are extracted (the Lightbox home's ``tmp``; a private
        temporary folder otherwise). Extracted files are removed afterwards.

    Returns
    -------
    ImportReport
        One report for all sources.
    """
    report = ImportReport()
    # The same medium named twice (a path typed twice, a glob and a name) is read once:
    # read again, its files would count as "already present" and the totals not add up.
    unique: dict[str, Path] = {}
    for given in sources:
        unique.setdefault(os.path.realpath(given), Path(given))  # reported as first given
    for source in unique.values():
        if cancel is not None and cancel():
            report.cancelled = True
            break
        report.merge(_import_source(source, target, progress, cancel, work_dir))
        if report.stopped:
            break  # the home's disk is full: the next medium would not fit either
    report.instances_stored = len(target.has_instances(report.instance_uids))
    return report


def _import_source(
    source: Path,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
) -> ImportReport:
    report = ImportReport(sources=[str(source)])
    try:
        info = os.stat(source)
    except OSError as exc:
        report.failed.append(FileProblem(str(source), f"cannot read: {exc.strerror or exc}"))
        return report
    if stat.S_ISREG(info.st_mode) and is_zip(source):
        _import_zip(source, target, progress, cancel, work_dir, report)
    elif stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
        _import_tree(source, info, target, progress, cancel, work_dir, report)
    else:
        # Checked before anything opens it: reading a FIFO would block the import.
        report.failed.append(FileProblem(str(source), "not a file or folder"))
        return report
    if cancel is not None and cancel():
        # A walk cut short finds nothing, and the store saw no batch to notice the cancel.
        report.cancelled = True
    if not (report.cancelled or report.stopped or report.instance_uids or report.failed
            or report.conflicts):
        report.no_dicom_found.append(str(source))
    return report


def _import_tree(
    source: Path,
    info: os.stat_result,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
    report: ImportReport,
) -> None:
    """Import a folder, a DICOMDIR's whole medium, or one file."""
    root = source
    # A DICOMDIR named directly stands for its whole medium (the folder that holds it);
    # any other file, "dicomdir_export.dcm" included, only for itself.
    if stat.S_ISREG(info.st_mode) and is_dicomdir_name(source.name):
        root = source.parent
    state = ImportProgress(phase="scan")

    def scanned(count: int) -> None:
        state.files_done = count
        if progress is not None:
            progress(state)

    listing = walk(root, on_file=scanned, cancel=cancel)
    report.failed.extend(listing.problems)
    report.skipped.extend(listing.skipped)
    _import_listing(listing, target, progress, cancel, work_dir, report)


def _import_listing(
    listing: MediumListing,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
    report: ImportReport,
) -> None:
    directories: list[DirectoryContents] = [read_dicomdir(d) for d in listing.dicomdirs]
    named: set[Path] = set()
    absent: list[tuple[str, str]] = []  # (path the DICOMDIR names, its SOP Instance UID)
    for contents in directories:
        report.notes.extend(contents.notes)
        for entry in contents.entries:
            if entry.path is None:
                absent.append((str(contents.dicomdir.parent.joinpath(*entry.file_id)),
                               entry.sop_instance_uid))
            else:
                named.add(entry.path)
    candidates = list(dict.fromkeys([*named, *listing.files]))
    skipped_before = len(report.skipped)
    target.import_files(candidates, progress=progress, cancel=cancel, report=report)
    # What the DICOMDIR says each study holds: a study the import left short of that (a
    # cancel, a full disk, files missing from the disc) shows as incomplete.
    listed: dict[str, set[object]] = {}
    for contents in directories:
        for entry in contents.entries:
            if entry.study_uid:
                listed.setdefault(entry.study_uid, set()).add(
                    entry.sop_instance_uid or entry.file_id)
    target.note_expected({study: len(instances) for study, instances in listed.items()})
    for path, uid in absent:
        if uid and uid in report.instance_uids:
            # Renamed on the medium (PS3.3 Table F.3-3: Referenced SOP Instance UID in File says
            # which instance the record meant): the image is not missing, only its name.
            report.notes.append(f"{path}: named in the DICOMDIR but not on the medium; "
                                "its instance was found under another name and imported")
        else:
            report.missing.append(path)
    # A file the DICOMDIR names is meant to be DICOM: if it is not, it is broken.
    named_text = {str(p) for p in named}
    broken = [p for p in report.skipped[skipped_before:] if p.path in named_text]
    for problem in broken:
        report.skipped.remove(problem)
        report.failed.append(
            FileProblem(problem.path, f"named in the DICOMDIR but {problem.reason}")
        )
    if directories:
        not_dicom = {p.path for p in report.skipped} | {p.path for p in report.failed}
        report.not_in_dicomdir.extend(
            str(p) for p in listing.files if p not in named and str(p) not in not_dicom
        )
    for archive in listing.zips:
        if report.stopped:
            break  # the home's disk is full
        if cancel is not None and cancel():
            report.cancelled = True
            break
        report.merge(_import_zip(archive, target, progress, cancel, work_dir, ImportReport()))


def _import_zip(
    archive: Path,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
    report: ImportReport,
) -> ImportReport:
    """Extract a zip (a zipped medium, DICOMDIR included) and import it like a folder."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="zip-", dir=work_dir))
    try:
        report.failed.extend(extract_zip(archive, folder, cancel))
        if cancel is not None and cancel():
            report.cancelled = True
            return report
        listing = walk(folder, cancel=cancel)
        inner = ImportReport(failed=listing.problems, skipped=listing.skipped)
        _import_listing(listing, target, progress, cancel, work_dir, inner)
        _rename_paths(inner, folder, f"{archive}!")
        inner.sources = []
        report.merge(inner)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _rename_paths(report: ImportReport, folder: Path, prefix: str) -> None:
    """Name extracted files as ``archive.zip!/member`` in the report."""
    base = str(folder)

    def name(path: str) -> str:
        return prefix + path[len(base) :] if path.startswith(base) else path

    for problems in (report.failed, report.conflicts, report.skipped):
        problems[:] = [
            replace(p, path=name(p.path), reason=p.reason.replace(base, prefix)) for p in problems
        ]
    report.missing[:] = [name(p) for p in report.missing]
    report.notes[:] = [n.replace(base, prefix) for n in report.notes]
    report.not_in_dicomdir[:] = [name(p) for p in report.not_in_dicomdir]
