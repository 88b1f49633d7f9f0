"""Read what a DICOMDIR (PS3.3 Annex F, Basic Directory IOD) says is on a medium.

For import only the leaf records matter: which files the directory names (Referenced
File ID, 0004,1500) and which SOP Instance each holds (0004,1511). The records are taken
from the Directory Record Sequence in order, so a DICOMDIR whose offsets are wrong (PS3.3
F.3.2.1; pydicom's FileSet raises ``KeyError``) still yields every record, and so do
orphan records that no offset reaches. Inactive records (Record In-use Flag 0000H) are
skipped. The offsets are followed first (:func:`link_records`), each record at most
once, to tell the user whether the directory's structure is sound and which study each
record is under; then pydicom's FileSet reads the tree they form as a check (it follows
them without a bound, so a loop among them would never end), unless it holds more than
:data:`MOST_FILESET_RECORDS` records. The import's cancel is looked at while the file is
parsed and its records are resolved.

A file is parsed as a DICOMDIR only when its File Meta Information says it is one and it
is no larger than :data:`MOST_DIRECTORY_BYTES`; anything else is noted and left to the
walk of the medium, which imports every file either way.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_sequence
from pydicom.fileset import FileSet
from pydicom.uid import DeflatedExplicitVRLittleEndian

from viewer.core.imports import CancelCheck
from viewer.dicom.structure import (
    MAGIC,
    MEDIA_STORAGE_DIRECTORY,
    PREAMBLE_LENGTH,
    PROBE_LENGTH,
    read_meta,
)
from viewer.media.dicomdir_records import (
    RECORD_TYPE,
    SOP_INSTANCE,
    STUDY_INSTANCE,
    RecordTree,
    link_records,
    record_file_id,
    record_in_use,
    record_text,
)
from viewer.media.dicomdir_truncated import complete_records
from viewer.media.fileids import FileIdResolver

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One leaf record of a DICOMDIR."""

    file_id: tuple[str, ...]
    record_type: str
    sop_instance_uid: str
    path: Path | None  # resolved on the medium, None when missing
    study_uid: str = ""  # of the STUDY record above it; "" when the records do not say
    patient_id: str = ""  # of the PATIENT record above it in sequence order

    @property
    def display(self) -> str:
        """The File ID as PS3.10 writes it (``IMAGES\\IM000001``)."""
        return "\\".join(self.file_id)


@dataclass(slots=True)
class DirectoryContents:
    """The leaf records of one DICOMDIR and what reading it revealed."""

    dicomdir: Path
    entries: list[DirectoryEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    readable: bool = True

    @property
    def present(self) -> list[DirectoryEntry]:
        """Entries whose file is on the medium."""
        return [e for e in self.entries if e.path is not None]

    @property
    def missing(self) -> list[DirectoryEntry]:
        """Entries whose file the medium lacks."""
        return [e for e in self.entries if e.path is None]


_META_BYTES = 64 * 1024  # far more than any File Meta Information group holds


def is_directory_file(path: Path) -> bool:
    """Whether the file at ``path`` is a DICOMDIR by its content, whatever its name.

    A DICOMDIR is the Media Storage Directory Storage SOP Class (PS3.4 B.5,
    1.2.840.10008.1.3.10), which PS3.10 7.1 puts in the File Meta Information's Media
    Storage SOP Class UID. Exporters write it as ``DICOMDIR.DCM``, ``dicomdir.dcm`` or
    worse; read only by its name, such a file was skipped as "not an image" and the
    files it names were never checked. One short read for a file that is not DICOM.
    Never call it on a FIFO: reading one blocks.
    """
    try:
        with open(path, "rb") as fh:
            return is_directory_stream(fh)
    except OSError:
        return False


def is_directory_stream(fh: BinaryIO) -> bool:
    """:func:`is_directory_file` of a file already open, read from its current position
    (its beginning).

    Raises
    ------
    OSError
        The file cannot be read.
    """
    head = fh.read(PROBE_LENGTH + 12)
    if head[PREAMBLE_LENGTH:PROBE_LENGTH] != MAGIC:
        return False
    # (0002,0000) UL, the group's length, comes first (PS3.10 7.1): read just the
    # group, not 64 KiB of every image named on the command line.
    length = _META_BYTES
    if head[PROBE_LENGTH:PROBE_LENGTH + 8] == b"\2\0\0\0UL\4\0":
        length = min(int.from_bytes(head[PROBE_LENGTH + 8:], "little"), _META_BYTES)
    head += fh.read(length)
    return not _header_problem(head)


# The largest file parsed as a DICOMDIR. A directory record takes about 150-200 bytes
# (an IMAGE record as dcmmkdir or pydicom write it), so 64 MiB holds some 350,000 records:
# more images than a 100 GB BD-R of CT slices carries. pydicom keeps about 25 times the
# file's size in memory while it parses one (some 1.6 GB at the limit), at about 1 MB a
# second (40,000 records, 8 MB, in 8 s): a larger file would take minutes and gigabytes,
# and one that large is far more likely a damaged file than a directory. The walk of the
# medium imports its files without it.
MOST_DIRECTORY_BYTES = 64 << 20
#: The DICOMDIR bytes one import parses, every DICOMDIR on its media and in their zips
#: together. A medium has one DICOMDIR, a few at most (one per patient folder); hundreds
#: of large ones (copies of one in a small zip) would take hours.
MOST_DIRECTORY_BYTES_PER_IMPORT = 4 * MOST_DIRECTORY_BYTES
#: The most records handed to pydicom's FileSet. Its loading costs time quadratic in the
#: records of one entity (each new child is looked for among its siblings): 40,000 images
#: of one series took 40 s, 2,000 about 1 s, and nothing could interrupt it. Above this
#: the offsets are followed here only (:func:`link_records`), which gives the same studies.
MOST_FILESET_RECORDS = 2_000
_RECORD_SEQUENCE = 0x00041220  # (0004,1220) Directory Record Sequence
# How many records are read between two looks at the import's cancel.
_RECORDS_PER_POLL = 512


class DirectoryCancelledError(Exception):
    """The import was cancelled while a DICOMDIR was being read."""


class DirectoryBudget:
    """The DICOMDIR bytes an import may still parse (:data:`MOST_DIRECTORY_BYTES_PER_IMPORT`)."""

    def __init__(self, total: int | None = None) -> None:
        self._total = self._left = MOST_DIRECTORY_BYTES_PER_IMPORT if total is None else total
        self._lock = threading.Lock()

    def take(self, size: int) -> str:
        """Spend ``size`` bytes, or say why the DICOMDIR is not parsed ("" when taken)."""
        with self._lock:
            if size > self._left:
                return (f"DICOMDIR not read: this import has parsed "
                        f"{(self._total - self._left) >> 20} MiB of DICOMDIRs, and at most "
                        f"{self._total >> 20} MiB "
                        "are parsed in one import (copies of a DICOMDIR?)")
            self._left -= size
            return ""


class _PolledStream(io.BytesIO):
    """The DICOMDIR's bytes for pydicom to parse, the import's cancel looked at every few
    thousand reads: parsing a large one takes tens of seconds."""

    def __init__(self, data: bytes, cancel: CancelCheck | None) -> None:
        super().__init__(data)
        self._cancel = cancel
        self._reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self._reads += 1
        if not self._reads & 0xFFF and self._cancel is not None and self._cancel():
            raise DirectoryCancelledError
        return super().read(size)


def _header_problem(head: bytes) -> str:
    """Why the first bytes of a file show that it is not a DICOMDIR; empty when they do not.

    PS3.10 7.1 and 8.6: a DICOMDIR is a Part 10 file, preamble, ``DICM`` and File Meta
    Information, whose Media Storage SOP Class UID (0002,0002) is Media Storage Directory
    Storage (PS3.4 B.5, 1.2.840.10008.1.3.10). Checked before the parse, so that a file
    of zeros or another file's bytes (a damaged FAT stick) is refused at once: pydicom
    takes it apart element by element, a second for every few megabytes.

    Parameters
    ----------
    head : bytes
        The file's first bytes: the preamble, ``DICM`` and the File Meta Information.

    Returns
    -------
    str
        Empty when the file may be a DICOMDIR, else what it is instead.
    """
    if head[PREAMBLE_LENGTH:PROBE_LENGTH] != MAGIC:
        return "no File Meta Information (PS3.10 7.1)"
    _, meta = read_meta(head)
    sop_class = meta.get(0x00020002, b"").rstrip(b"\0 ").decode("ascii", "replace")
    syntax = meta.get(0x00020010, b"").rstrip(b"\0 ").decode("ascii", "replace")
    if sop_class == MEDIA_STORAGE_DIRECTORY and syntax == DeflatedExplicitVRLittleEndian:
        # pydicom inflates a data set whole, a thousand times the file's size: 2 MB took
        # 4.3 GB. No writer deflates a DICOMDIR; PS3.10 8.6 asks for Explicit VR LE.
        return ("its data set is deflated, which a DICOMDIR's never is (PS3.10 8.6: "
                "Explicit VR Little Endian)")
    if sop_class == MEDIA_STORAGE_DIRECTORY:
        return ""
    if not sop_class:
        return "no Media Storage SOP Class UID (0002,0002)"
    return (f"its Media Storage SOP Class UID is {sop_class}, not Media Storage Directory "
            f"Storage {MEDIA_STORAGE_DIRECTORY}")


def _read_directory(path: Path, budget: DirectoryBudget | None) -> tuple[bytes, str]:
    """The bytes of the DICOMDIR at ``path``, or why they are not parsed.

    Never more than :data:`MOST_DIRECTORY_BYTES` are read, and only after the File Meta
    Information has shown the file to be a DICOMDIR (:func:`_header_problem`).

    Returns
    -------
    tuple of (bytes, str)
        The whole file and ``""``; or ``b""`` and the problem, worded for the report.

    Raises
    ------
    OSError
        The file cannot be opened or read.
    """
    with open(path, "rb") as fh:
        head = fh.read(PROBE_LENGTH + _META_BYTES)
        problem = _header_problem(head)
        if problem:
            return b"", f"not a DICOMDIR: {problem}"
        # Read to one byte past the limit rather than trust a size taken beforehand: a
        # file that grows meanwhile is still never read past it.
        data = head + fh.read(MOST_DIRECTORY_BYTES + 1 - len(head))
    if len(data) > MOST_DIRECTORY_BYTES:
        return b"", (f"DICOMDIR not read: larger than {MOST_DIRECTORY_BYTES >> 20} MiB, "
                     "more than the DICOMDIR of any medium")
    return data, budget.take(len(data)) if budget is not None else ""


def read_dicomdir(path: Path, *, cancel: CancelCheck | None = None,
                  budget: DirectoryBudget | None = None) -> DirectoryContents:
    """Read the leaf records of the DICOMDIR at ``path`` and resolve their files.

    Never raises for a damaged DICOMDIR: the problem is noted in the result (the caller
    scans the whole medium anyway). A file that is not a DICOMDIR by its File Meta
    Information, or is larger than :data:`MOST_DIRECTORY_BYTES`, is not parsed (PS3.10
    7.1, 8.6). Offsets that do not link the records into a tree (PS3.3 F.3.2.1) are
    noted and the records read in sequence order. A truncated DICOMDIR yields the records
    wholly before the cut, in sequence order (:func:`complete_records`). The work is
    bounded by the file's size in every case.

    Parameters
    ----------
    path : Path
        The DICOMDIR file.
    cancel : callable, optional
        The import's cancel, looked at while the file is parsed and its records resolved.
        When it says so, the result holds no entries and says it was cancelled.
    budget : DirectoryBudget, optional
        What the import may still parse; a DICOMDIR beyond it is noted and not parsed.
    """
    contents = DirectoryContents(dicomdir=path)
    try:
        data, problem = _read_directory(path, budget)
    except OSError as exc:
        data, problem = b"", f"DICOMDIR cannot be read ({exc})"
    if problem:
        contents.readable = False
        contents.notes.append(f"{path}: {problem}; medium scanned")
        return contents
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _parse(contents, data, cancel)
    except DirectoryCancelledError:
        contents.readable = False
        contents.entries.clear()
        contents.notes[:] = [f"{path}: reading the DICOMDIR was cancelled"]
        return contents


def _parse(contents: DirectoryContents, data: bytes, cancel: CancelCheck | None
           ) -> DirectoryContents:
    """:func:`read_dicomdir` of the file's bytes, read and taken from the budget."""
    path = contents.dicomdir
    try:
        cut = complete_records(data)
        if cut is None:
            ds = dcmread(_PolledStream(data, cancel), force=True)
            # FileSet finds the medium's root through the DICOMDIR's file name.
            ds.filename = str(path)
            records = _records(ds, cancel)
    except DirectoryCancelledError:
        raise
    except Exception as exc:  # a DICOMDIR damaged otherwise: scan instead
        contents.readable = False
        contents.notes.append(f"{path}: DICOMDIR cannot be read ({exc}); medium scanned")
        return contents
    if cut is not None:
        # The offsets of the records before the cut point at records after it too
        # (PS3.3 F.3.2.1): the sequence order tells their studies instead.
        contents.readable = False
        read = "those read in sequence order, " if cut.records else ""
        contents.notes.append(
            f"{path}: DICOMDIR is damaged ({cut.problem}); {read}medium scanned")
        return _resolve(contents, cut.records, None, cancel)
    try:
        tree = link_records(ds)
    except Exception as exc:  # a record too damaged to say; FileSet could not either
        tree = RecordTree(problem=f"{type(exc).__name__}: {exc}")
    if tree.problem:
        # PS3.3 F.3.2.1: offsets point at records; when they do not, record order is used.
        contents.notes.append(
            f"{path}: DICOMDIR structure is inconsistent ({tree.problem}); "
            "records read in sequence order"
        )
    elif len(records) <= MOST_FILESET_RECORDS:
        try:
            # Orphan records (no offset reaches them) are read in sequence order below;
            # FileSet would open the files they name, any file at all, a FIFO included.
            FileSet().load(ds, include_orphans=False)
        except Exception as exc:
            contents.notes.append(
                f"{path}: DICOMDIR structure is inconsistent ({type(exc).__name__}: "
                f"{exc}); records read in sequence order"
            )
            tree.problem = str(exc)
    # FileSet leaves out the images whose files the medium lacks, and their studies
    # are the ones the report counts as incomplete: the studies come from the offsets.
    if not records:
        contents.notes.append(f"{path}: DICOMDIR lists no records")
    return _resolve(contents, records, tree, cancel)


def _records(ds: Dataset, cancel: CancelCheck | None) -> list[Dataset]:
    """The Directory Record Sequence's items (PS3.3 F.3.2.2), parsed under ``cancel``.

    pydicom reads a sequence of defined length as raw bytes and parses its items when
    the element is first used, from a stream of its own: that parse, the long one, is
    done here from a polled stream, as pydicom itself would do it.
    """
    element: object = ds.get_item(_RECORD_SEQUENCE)  # raw until converted, whatever typed
    if isinstance(element, RawDataElement) and element.VR in (None, "SQ") and element.value:
        encodings = convert_encodings(ds.get("SpecificCharacterSet") or "ISO_IR 6")
        sequence = read_sequence(_PolledStream(element.value, cancel), element.is_implicit_VR,
                                 element.is_little_endian, len(element.value), encodings,
                                 element.value_tell)
        ds[_RECORD_SEQUENCE] = DataElement(_RECORD_SEQUENCE, "SQ", sequence)
    return list(ds.get("DirectoryRecordSequence") or [])


def _resolve(contents: DirectoryContents, records: list[Dataset], tree: RecordTree | None,
             cancel: CancelCheck | None) -> DirectoryContents:
    """Add the leaf records among ``records`` to ``contents``, their files looked up on
    the medium.

    ``tree`` gives each record's study as the offsets say (PS3.3 F.3.2.1); a record it
    does not place belongs to the last STUDY record before it in sequence order.

    Raises
    ------
    DirectoryCancelledError
        ``cancel`` said so.
    """
    path = contents.dicomdir
    resolver = FileIdResolver(path.parent)
    study = patient = ""
    for number, record in enumerate(records):
        if not number % _RECORDS_PER_POLL and cancel is not None and cancel():
            raise DirectoryCancelledError
        try:
            record_type = record_text(record, RECORD_TYPE)
            if record_type == "PATIENT":
                patient = str(record.get("PatientID", "") or "").strip()
            if record_type == "STUDY":
                study = record_text(record, STUDY_INSTANCE)
            if not record_in_use(record):
                continue
            file_id = record_file_id(record)
            if not file_id:
                continue
            sop = record_text(record, SOP_INSTANCE)
            contents.entries.append(
                DirectoryEntry(
                    file_id=file_id,
                    record_type=record_type,
                    sop_instance_uid=sop,
                    path=resolver.resolve(file_id),
                    study_uid=(tree.study_of(record) if tree is not None else "") or study,
                    patient_id=patient,
                )
            )
        except Exception as exc:  # one damaged record never hides the others
            contents.notes.append(f"{path}: a directory record is damaged ({exc})")
    return contents
