"""Import removable media, folders, DICOMDIR files and zips: never lose an image.

For every source the whole medium is walked, every DICOMDIR on it is read (known by its
name, or by its SOP Class when an exporter called it ``DICOMDIR.DCM``), and the union
of both is imported: a DICOMDIR that names only part of a disc (or names files with
another case, a ``;1`` version or an extension) loses nothing. The report says what the
DICOMDIR names that the disc lacks (``missing``) and what DICOM files the disc has that
the DICOMDIR does not name (``not_in_dicomdir``). After the import, the completeness
check asks the store for every SOP Instance UID read from the medium: only when all are
there is the medium "safe to eject". A source in which no DICOM file at all is found (an
empty mount point: the disc is not mounted) is said so, and is not safe to eject either;
a plain file given along with media that hold DICOM files is only skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

from viewer.core.imports import (
    CancelCheck,
    FileProblem,
    ImportProgress,
    ImportReport,
    InstanceImporter,
    ProgressCallback,
)
from viewer.media.dicomdir import (
    DirectoryBudget,
    DirectoryContents,
    is_directory_file,
    is_directory_stream,
    read_dicomdir,
)
from viewer.media.scan import (
    MediumListing,
    is_dicomdir_name,
    is_zip_application,
    is_zip_name,
    starts_as_zip,
    walk,
)
from viewer.media.zip_budget import ExtractionBudget
from viewer.media.zip_extract import extract_zip

# How many zips deep a zip is still opened: a zip given or found on a medium is 1, a zip
# inside it 2. Real media nest them once or twice (a download of zipped series, or a
# zipped disc with its DICOMDIR inside a zip of several discs). Each level keeps its
# extracted files until the levels inside it are imported, a zip that holds itself (a
# "quine") would never end, and each level multiplies the files of the one inside it: a
# few kilobytes of zips of ten zips, eight deep, held 10^8 files. Deeper zips are
# reported, not opened.
MAX_ZIP_DEPTH = 3

# What the import running in this thread may still extract from zips, all levels
# together (viewer.media.zip_budget); one per import_media call.
_BUDGET: ContextVar[ExtractionBudget | None] = ContextVar("zip_budget", default=None)
# What it may still parse of DICOMDIRs, every medium and zip together.
_DIRECTORIES: ContextVar[DirectoryBudget | None] = ContextVar("dicomdir_budget", default=None)


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
        A source inside another one (a file or DICOMDIR in a folder also given) is read
        with it, once.
    target : InstanceImporter
        The study store (or anything with its import interface).
    progress : callable, optional
        Receives :class:`ImportProgress` while scanning and importing.
    cancel : callable, optional
        Polled between folders and batches, and while a DICOMDIR is read.
    work_dir : Path, optional
        Where zip archives are extracted (the Lightbox home's ``tmp``; a private
        temporary folder otherwise). Extracted files are removed afterwards.

    Returns
    -------
    ImportReport
        One report for all sources.
    """
    report = ImportReport()
    media = _distinct_media([_Source.of(Path(given)) for given in sources])
    # Sources that are one plain file each, standing for themselves, are read as one
    # medium, where the first of them is named.
    lone = [source for source in media if source.lone_file]
    lone_files = {str(source.given) for source in lone}
    budget = _BUDGET.set(ExtractionBudget())
    directories = _DIRECTORIES.set(DirectoryBudget())
    try:
        for source in media:
            if source.lone_file and source is not lone[0]:
                continue
            if cancel is not None and cancel():
                report.cancelled = True
                break
            if source.lone_file:
                report.merge(_import_lone_files(lone, target, progress, cancel, work_dir))
            else:
                report.merge(_import_source(source, target, progress, cancel, work_dir))
            if report.stopped:
                break  # the home's disk is full: the next medium would not fit either
    finally:
        _BUDGET.reset(budget)
        _DIRECTORIES.reset(directories)
    if report.instance_uids or report.failed or report.conflicts:
        # Judged on the whole command: a plain file that is not DICOM, named along with
        # media (``import /media/cdrom/*`` names README.TXT and AUTORUN.INF too), is
        # skipped like any such file on a medium, not a medium without DICOM files. A
        # folder, a zip or a DICOMDIR without them still is: a disc that is not mounted.
        report.no_dicom_found[:] = [s for s in report.no_dicom_found if s not in lone_files]
    report.instances_stored = len(target.has_instances(report.instance_uids))
    return report


@dataclass(frozen=True, slots=True)
class _Source:
    """A source as given, and the medium it stands for."""

    given: Path
    root: Path  # the folder or file read: a DICOMDIR's medium is the folder that holds it
    real: str  # the real path of ``root``, "" when it cannot be read
    folder: bool  # ``root`` is a folder, whose walk reads every source inside it
    lone_file: bool  # one regular file that is neither a zip nor a DICOMDIR
    archive: bool = False  # one regular file that is a zip archive, by name or signature

    @classmethod
    def of(cls, given: Path) -> _Source:
        """What ``given`` stands for; a source that cannot be read stands for itself."""
        try:
            info = os.stat(given)
        except OSError:
            return cls(given, given, os.path.realpath(given), False, False)
        if stat.S_ISDIR(info.st_mode):
            return cls(given, given, os.path.realpath(given), True, False)
        # Checked only on a regular file: opening a FIFO to read its header would block.
        kind = _file_kind(given) if stat.S_ISREG(info.st_mode) else ""
        if kind == "dicomdir":
            # A DICOMDIR stands for its whole medium, whatever its name (DICOMDIR.DCM);
            # any other file, "dicomdir_export.dcm" included, only for itself.
            return cls(given, given.parent, os.path.realpath(given.parent), True, False)
        return cls(given, given, os.path.realpath(given), False, kind == "file", kind == "zip")


def _file_kind(path: Path) -> str:
    """``"zip"``, ``"dicomdir"`` or ``"file"``: what a regular file named as a source is.

    One open of the file: ``import ~/Downloads/*`` names thousands of them, and each is
    read again by the import. The name is taken as a mount shows it (``STUDY.ZIP;1``,
    ``STUDY.ZIP.`` on an ISO 9660 disc, :func:`is_zip_name`), as on a medium: a zip that
    shows no signature at its start (damaged, or with bytes before its first member) is
    still a zip, imported as one or reported as one that cannot be read.
    """
    if is_zip_name(path.name):
        return "zip"
    try:
        with open(path, "rb") as fh:
            if starts_as_zip(fh.read(132)):
                return "zip"
            if is_dicomdir_name(path.name):
                return "dicomdir"
            fh.seek(0)
            return "dicomdir" if is_directory_stream(fh) else "file"
    except OSError:  # the import names what cannot be read
        return "dicomdir" if is_dicomdir_name(path.name) else "file"


def _distinct_media(sources: list[_Source]) -> list[_Source]:
    """``sources`` without those another one covers: read twice, a medium's files would
    count as "already present" the second time and the totals would not add up.

    A source covers itself named again (a path typed twice, a glob and a name) and every
    source inside its folder (``import d1 d1/CT0001.dcm``, ``import cd1 cd1/DICOMDIR``:
    the walk of the folder finds the file, and reads the DICOMDIR as its own). Of two
    standing for the same medium, the first given is kept, and named in the report.
    """
    folders: dict[str, int] = {}  # real path of a folder read -> first source reading it
    for index, source in enumerate(sources):
        if source.folder and source.real:
            folders.setdefault(source.real, index)
    kept: list[_Source] = []
    seen: set[str] = set()
    for index, source in enumerate(sources):
        if source.real in seen or folders.get(source.real, index) < index:
            continue
        # Up the folders, not across the sources: a glob may name thousands of files.
        if any(str(parent) in folders for parent in Path(source.real).parents):
            continue
        seen.add(source.real)
        kept.append(source)
    return kept


def _import_source(
    source: _Source,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
) -> ImportReport:
    given = source.given
    report = ImportReport(sources=[str(given)])
    try:
        info = os.stat(source.root)
    except OSError as exc:
        report.failed.append(FileProblem(str(given), f"cannot read: {exc.strerror or exc}"))
        return report
    if stat.S_ISREG(info.st_mode) and source.archive:
        _import_zip(source.root, target, progress, cancel, work_dir, report, depth=1)
    elif stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
        _import_tree(source.root, target, progress, cancel, work_dir, report)
    else:
        # Checked before anything opens it: reading a FIFO would block the import.
        report.failed.append(FileProblem(str(given), "not a file or folder"))
        return report
    if cancel is not None and cancel():
        # A walk cut short finds nothing, and the store saw no batch to notice the cancel.
        report.cancelled = True
    if not (report.cancelled or report.stopped or report.instance_uids or report.failed
            or report.conflicts):
        report.no_dicom_found.append(str(given))
    return report


def _import_tree(
    root: Path,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
    report: ImportReport,
) -> None:
    """Import a folder (a DICOMDIR's whole medium among them), or one file."""
    state = ImportProgress(phase="scan")

    def scanned(count: int) -> None:
        state.files_done = count
        if progress is not None:
            progress(state)

    listing = walk(root, on_file=scanned, cancel=cancel)
    report.failed.extend(listing.problems)
    report.skipped.extend(listing.skipped)
    _import_listing(listing, target, progress, cancel, work_dir, report, depth=0)


def _import_lone_files(
    sources: list[_Source],
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
) -> ImportReport:
    """Plain files named one by one (``import ~/Downloads/*.dcm``), imported together.

    Each one imported on its own had an import of its own: a flush of the disk and a
    commit per file, and 2,000 small files took five times as long as their folder.
    One that yields nothing (not DICOM) is said so, as for any source; the report drops
    it when the command found DICOM files elsewhere (:func:`import_media`).
    """
    report = ImportReport(sources=[str(source.given) for source in sources])
    listing = MediumListing(root=sources[0].given, files=[s.given for s in sources])
    _import_listing(listing, target, progress, cancel, work_dir, report, depth=0)
    if cancel is not None and cancel():
        report.cancelled = True
    if not (report.cancelled or report.stopped):
        nothing = {p.path for p in report.skipped}
        report.no_dicom_found.extend(str(s.given) for s in sources if str(s.given) in nothing)
    return report


def _skipped_kind(path: Path) -> str:
    """``"zip"``, ``"dicomdir"`` or "": what a file the import skipped as not DICOM is, by
    its content, in one short read.

    A DICOMDIR under another name (``DICOMDIR.DCM``) shows only by its SOP Class, and a
    zip under another name (a PACS portal's download saved as ``download``) only by its
    signature: skipped, their images would be left on a medium called safe to eject. A
    zip-based file whose extension says it is software or a document (``.jar``, ``.docx``,
    :func:`~viewer.media.scan.is_zip_application`) stays skipped.
    """
    kind = _file_kind(path)
    if kind == "file" or (kind == "zip" and is_zip_application(path.name)):
        return ""
    return kind


def _named_files(directories: list[DirectoryContents]) -> list[Path]:
    """The files on the medium that ``directories`` name, in record order."""
    return list(dict.fromkeys(e.path for c in directories for e in c.entries
                              if e.path is not None))


def _import_listing(
    listing: MediumListing,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
    report: ImportReport,
    *,
    depth: int,
) -> None:
    """Import what a walk listed: the files its DICOMDIRs name, every other file, and
    then its zips, each as a medium of its own.

    ``depth`` is how many zips the listing is inside (0 for a medium, a folder or files
    given): the zips it lists are one deeper (see :data:`MAX_ZIP_DEPTH`).
    """
    budget = _DIRECTORIES.get()
    directories: list[DirectoryContents] = []
    for dicomdir in listing.dicomdirs:
        if progress is not None:  # a large one takes seconds: say what is going on
            progress(ImportProgress(phase="directory", current=str(dicomdir)))
        directories.append(read_dicomdir(dicomdir, cancel=cancel, budget=budget))
        if cancel is not None and cancel():
            # Its records, or the files they name, were not all read: nothing is imported
            # and nothing reported missing.
            report.cancelled = True
            return
    # A file named DICOMDIR that is not one (an image saved under that name) is imported
    # like any other file; a damaged DICOMDIR stays a DICOMDIR, noted.
    misnamed = [c.dicomdir for c in directories
                if not c.readable and not c.entries and not is_directory_file(c.dicomdir)]
    candidates = list(dict.fromkeys([*_named_files(directories), *listing.files, *misnamed]))
    skipped_before = len(report.skipped)
    target.import_files(candidates, progress=progress, cancel=cancel, report=report)
    # A DICOMDIR or a zip under another name shows only by its content: the import skipped
    # it as no image. Only what the import skipped is looked at again, one short read
    # each, so a disc full of viewer software is not read twice.
    kinds = [(p, _skipped_kind(Path(p.path))) for p in report.skipped[skipped_before:]]
    found = [p for p, kind in kinds if kind == "dicomdir"]
    archives = [p for p, kind in kinds if kind == "zip"]
    # Imported as zips below, like those named .zip; the DICOMDIRs are the medium's, not
    # skipped files. Taken out in one pass: list.remove per file was quadratic (16,000
    # small files starting like zips took a minute).
    _drop(report.skipped, [*archives, *found])
    if found:
        # A record may name a DICOMDIR read already (its own, by a writer's bug): read
        # again, its missing files and notes would be counted twice.
        read = {os.path.realpath(d) for d in listing.dicomdirs}
        more = [read_dicomdir(Path(p.path), cancel=cancel, budget=budget) for p in found
                if os.path.realpath(p.path) not in read]
        directories.extend(more)
        if cancel is not None and cancel():
            report.cancelled = True
            return
        listed = set(candidates)
        # Files it names that the walk did not list (behind a link it reached otherwise).
        unread = [p for p in _named_files(more) if p not in listed]
        if unread:
            target.import_files(unread, progress=progress, cancel=cancel, report=report)
    named: set[Path] = set(_named_files(directories))
    absent: list[tuple[str, str]] = []  # (path the DICOMDIR names, its SOP Instance UID)
    for contents in directories:
        report.notes.extend(contents.notes)
        for entry in contents.entries:
            if entry.path is None:
                absent.append((str(contents.dicomdir.parent.joinpath(*entry.file_id)),
                               entry.sop_instance_uid))
    # A study the import left short of its DICOMDIR (a cancel, a full disk, files missing
    # from the disc) shows as incomplete.
    target.note_missing(_missing_by_study(directories, target),
                        {e.study_uid: e.patient_id for c in directories for e in c.entries
                         if e.study_uid and e.patient_id})
    # A file named by two DICOMDIRs (the root's and a patient folder's) is missing once.
    for path, uid in dict.fromkeys(absent):
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
    _drop(report.skipped, broken)
    report.failed.extend(
        FileProblem(problem.path, f"named in the DICOMDIR but {problem.reason}")
        for problem in broken)
    # Only against a DICOMDIR that listed something: one that could not be read at all
    # (a file of zeros named DICOMDIR) forgot nothing, and every file is already "medium
    # scanned" in its note.
    if any(c.readable or c.entries for c in directories):
        not_dicom = {p.path for p in report.skipped} | {p.path for p in report.failed}
        not_dicom |= {str(c.dicomdir) for c in directories} | {p.path for p in archives}
        report.not_in_dicomdir.extend(
            str(p) for p in listing.files if p not in named and str(p) not in not_dicom
        )
    for archive in [*listing.zips, *(Path(p.path) for p in archives)]:
        if report.stopped:
            break  # the home's disk is full
        if cancel is not None and cancel():
            report.cancelled = True
            break
        # What the medium around it held: a file of the zip that holds one of these is a
        # copy on the medium, as within one folder, not an instance "already present".
        around = ImportReport(read_before=report.read_before | report.instance_uids)
        report.merge(_import_zip(archive, target, progress, cancel, work_dir, around,
                                 depth=depth + 1))


def _drop(problems: list[FileProblem], gone: list[FileProblem]) -> None:
    """Take ``gone`` (items of ``problems`` itself) out of ``problems``, in place."""
    if gone:
        ids = {id(problem) for problem in gone}
        problems[:] = [problem for problem in problems if id(problem) not in ids]


def _missing_by_study(directories: list[DirectoryContents], target: InstanceImporter
                      ) -> dict[str, int]:
    """How many instances each study's DICOMDIR records name that the store lacks.

    By Referenced SOP Instance UID in File (PS3.3 Table F.3-3), so that a study is
    incomplete while an image its DICOMDIR names is not stored, whatever else of it the
    medium held; a record without that UID counts as missing when its file is.
    """
    uids = {e.sop_instance_uid for c in directories for e in c.entries if e.sop_instance_uid}
    stored = target.has_instances(uids)
    missing: dict[str, set[object]] = {}
    for contents in directories:
        for entry in contents.entries:
            if not entry.study_uid:
                continue
            lacking = missing.setdefault(entry.study_uid, set())
            if entry.sop_instance_uid:
                if entry.sop_instance_uid not in stored:
                    lacking.add(entry.sop_instance_uid)
            elif entry.path is None:
                lacking.add(contents.dicomdir.parent.joinpath(*entry.file_id))
    return {study: len(lacking) for study, lacking in missing.items()}


def _import_zip(
    archive: Path,
    target: InstanceImporter,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    work_dir: Path | None,
    report: ImportReport,
    *,
    depth: int,
) -> ImportReport:
    """Extract a zip (a zipped medium, DICOMDIR included) and import it like a folder.

    ``depth`` is 1 for a zip given or found on a medium, 2 for a zip inside it, and so
    on; a zip deeper than :data:`MAX_ZIP_DEPTH` is listed as failed, unopened.
    """
    if depth > MAX_ZIP_DEPTH:
        reason = f"zips nested more than {MAX_ZIP_DEPTH} deep"
        report.failed.append(FileProblem(str(archive), reason))
        return report
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="zip-", dir=work_dir))
    # Extracting is most of a zip's import: shown as scanning, the archive's members
    # counted as they are written, then its files as the walk lists them.
    state = ImportProgress(phase="scan", current=str(archive))

    def extracted(members: int, size: int) -> None:
        state.files_done, state.bytes_done = members, size
        if progress is not None:
            progress(state)

    def scanned(count: int) -> None:
        state.files_done = count
        if progress is not None:
            progress(state)

    budget = _BUDGET.get() or ExtractionBudget()
    if depth == 1:
        with contextlib.suppress(OSError):  # unreadable: extract_zip says so
            budget.grant(archive.stat().st_size)
    try:
        extracted(0, 0)
        report.failed.extend(extract_zip(archive, folder, cancel, notes=report.notes,
                                         on_extracted=extracted, budget=budget))
        if cancel is not None and cancel():
            report.cancelled = True
            return report
        listing = walk(folder, on_file=scanned, cancel=cancel)
        inner = ImportReport(failed=listing.problems, skipped=listing.skipped,
                             read_before=report.read_before)
        _import_listing(listing, target, progress, cancel, work_dir, inner, depth=depth)
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
