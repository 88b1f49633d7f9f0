"""Open loose files and folders (not in the study database) as series."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pydicom
from pydicom.uid import UID

from viewer.core.errors import InputFileError, LightboxError
from viewer.core.identity import derived_uid
from viewer.core.records import InstanceRecord
from viewer.dicom.header import read_header, record_from_dataset
from viewer.dicom.structure import MEDIA_STORAGE_DIRECTORY
from viewer.ui.viewer.series import SeriesData

log = logging.getLogger(__name__)

_SKIP = {"DICOMDIR", ".lightbox-demo"}
_DICOM_SUFFIXES = frozenset({"", ".dcm", ".dicom", ".dic", ".ima"})
#: The problem :func:`viewer.dicom.header.read_header` names for a file that is not DICOM.
NOT_DICOM = "not a DICOM file"


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and every file under the folders named, in a stable order."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(f for f in path.rglob("*") if f.is_file() and f.name not in _SKIP))
        elif path.is_file():
            out.append(path)
        else:
            raise LightboxError(f"{path}: no such file or folder")
    return out


def group_series(records: Sequence[InstanceRecord]) -> list[SeriesData]:
    """One :class:`SeriesData` per Series Instance UID, by study, then series number."""
    by_series: dict[str, list[InstanceRecord]] = {}
    for r in records:
        by_series.setdefault(r.series_uid, []).append(r)

    def order(items: list[InstanceRecord]) -> tuple[str, str, int, str]:
        first = items[0]
        number = first.series_number if first.series_number is not None else 1 << 30
        return (first.study_date, first.study_uid, number, first.series_uid)

    return [SeriesData.from_records(items) for items in sorted(by_series.values(), key=order)]


def read_series(paths: Iterable[str | Path],
                progress: Callable[[int, int], None] | None = None) -> list[SeriesData]:
    """Read the headers of ``paths`` (files or folders) and group them into series.

    Files that are not DICOM images are skipped with a log line, never fatal. DICOM files
    that cannot be read (damaged, truncated) are named, with why, in every series'
    :attr:`SeriesData.unreadable`, for the viewer to tell the reader: a truncated slice
    among good ones is otherwise a gap in the stack that nobody notices. Only logged are
    DICOM files that are not images (a report, a presentation state: read well, not shown
    here by design) and files that are not DICOM at all when their names say they are
    something else (a disc's README.TXT or its viewer's programs, see
    :func:`_dicom_file_name`), which would otherwise drown the warning.

    Raises
    ------
    LightboxError
        When nothing displayable was found.
    """
    paths = list(paths)
    files = expand_paths(paths)
    records: list[InstanceRecord] = []
    skipped: list[str] = []  # why each file is not shown, in words naming it
    unreadable: list[str] = []  # the same for files that cannot be read, by file name
    for i, f in enumerate(files):
        try:
            record = _loose_record(f)
        except LightboxError as exc:
            skipped.append(str(exc))
            problem = exc.problem if isinstance(exc, InputFileError) else str(exc)
            if problem != NOT_DICOM or _dicom_file_name(f):
                log.warning("not shown: %s", exc)
                unreadable.append(f"{f.name}: {problem}")
            else:
                log.info("not shown: %s", exc)
        else:
            if record.rows and record.columns:
                records.append(record)
            else:
                reason = f"{f}: {_not_an_image(record.sop_class_uid)}"
                log.info("not shown: %s", reason)
                skipped.append(reason)
        if progress is not None:  # every file counts, read or not
            progress(i + 1, len(files))
    if not records:
        raise LightboxError(_nothing_to_show(paths, skipped))
    series = group_series(records)
    for s in series:
        s.unreadable = tuple(unreadable)
    return series


def _dicom_file_name(path: Path) -> bool:
    """Whether ``path`` is named like a DICOM file: a damaged one, if it is not DICOM.

    Media File IDs have no extension (PS3.10 8.2 to 8.5); exports add ``.dcm``;
    Siemens writes ``.ima``. A file with another extension, or a hidden one, is taken for
    the disc's own (a document, a program), not for a lost image.
    """
    return not path.name.startswith(".") and path.suffix.lower() in _DICOM_SUFFIXES


def _loose_record(path: Path) -> InstanceRecord:
    """The header of a file opened directly, which need not name its study and series.

    The study database needs both UIDs to file an instance; a viewer opening a file
    (from an old writer, a test set) does not: such a file gets a series of its own,
    and its folder a study, by UIDs made from the path (PS3.5 B.2, under 2.25).
    """
    try:
        return read_header(path)
    except InputFileError as exc:
        if "no Study or Series Instance UID" not in exc.problem:
            raise
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:
        raise InputFileError(str(path), f"cannot be read ({exc})") from None
    if not ds.get("StudyInstanceUID"):
        ds.StudyInstanceUID = derived_uid("lightbox-loose-study", str(path.parent))
    if not ds.get("SeriesInstanceUID"):
        ds.SeriesInstanceUID = derived_uid("lightbox-loose-series", str(path))
    return record_from_dataset(ds, str(path))


def _not_an_image(sop_class_uid: str) -> str:
    """Why a DICOM file that is not an image is not shown, naming what it is."""
    if sop_class_uid == MEDIA_STORAGE_DIRECTORY:
        return "a DICOMDIR (a disc's index): open its folder, or import it"
    name = UID(sop_class_uid).name if sop_class_uid else ""
    return f"not an image ({name})" if name and name != sop_class_uid else "not an image"


def _nothing_to_show(paths: Sequence[str | Path], skipped: list[str]) -> str:
    """The message when nothing opened can be shown: the files' own reasons."""
    named = ", ".join(str(p) for p in paths)
    if len(skipped) == 1:
        return skipped[0]
    if not skipped:
        return f"no files in {named}"
    shown = "; ".join(skipped[:3])
    more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return f"no DICOM images in {named}: {shown}{more}"
