"""Read what a DICOMDIR (PS3.3 Annex F, Basic Directory IOD) says is on a medium.

For import only the leaf records matter: which files the directory names (Referenced
File ID, 0004,1500) and which SOP Instance each holds (0004,1511). The records are taken
from the Directory Record Sequence in order, so a DICOMDIR whose offsets are wrong (PS3.3
F.3.2.1; pydicom's FileSet raises ``KeyError``) still yields every record, and so do
orphan records that no offset reaches. Inactive records (Record In-use Flag 0000H) are
skipped. pydicom's FileSet is tried first to tell the user whether the directory's
structure is sound, once the offsets are known to form a tree: FileSet follows them
without a bound, so a loop among them would never end.

A file is parsed as a DICOMDIR only when its File Meta Information says it is one and it
is no larger than :data:`MOST_DIRECTORY_BYTES`; anything else is noted and left to the
walk of the medium, which imports every file either way.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import DeflatedExplicitVRLittleEndian

from viewer.dicom.structure import (
    MAGIC,
    MEDIA_STORAGE_DIRECTORY,
    PREAMBLE_LENGTH,
    PROBE_LENGTH,
    read_meta,
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


def _file_id(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part for part in value.replace("/", "\\").split("\\") if part)
    return tuple(str(part) for part in value if str(part))


def _studies_of_instances(fileset: FileSet) -> dict[str, str]:
    """SOP Instance UID -> Study Instance UID, through the records' offsets (PS3.3 F.3.2.1)."""
    studies: dict[str, str] = {}
    for instance in fileset:
        node = instance.node
        while node.record_type != "STUDY" and node.parent is not None:
            node = node.parent
        if node.record_type == "STUDY":
            studies[instance.SOPInstanceUID] = str(node._record.get("StudyInstanceUID", ""))
    return studies


# PS3.3 F.3.2.1 (Table F.3-3) and F.3.2.2: the offsets that link the directory records.
_FIRST_OFFSET = "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity"  # (0004,1200)
_NEXT_OFFSET = "OffsetOfTheNextDirectoryRecord"  # (0004,1400)
_LOWER_OFFSET = "OffsetOfReferencedLowerLevelDirectoryEntity"  # (0004,1420)

# The largest file parsed as a DICOMDIR. A directory record takes about 150-200 bytes
# (an IMAGE record as dcmmkdir or pydicom write it), so 64 MiB holds some 350,000 records:
# more images than a 100 GB BD-R of CT slices carries. pydicom keeps about 25 times the
# file's size in memory while it parses one (some 1.6 GB at the limit), at about 2 MB a
# second, and a parse cannot be cancelled: a larger file would take minutes and
# gigabytes, and one that large is far more likely a damaged file than a directory. The
# walk of the medium imports its files without it.
MOST_DIRECTORY_BYTES = 64 << 20


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


def _read_directory(path: Path) -> tuple[bytes, str]:
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
    return data, ""


def _offset(record: Dataset, keyword: str) -> int | None:
    """The offset ``keyword`` of ``record``: 0 for none, None when it is no offset at all.

    PS3.3 Table F.3-3: 00000000H means no next record, or no lower-level entity. An
    absent or empty element counts as 0, as pydicom's FileSet takes it.
    """
    value = record.get(keyword)
    if not value:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


@dataclass(slots=True)
class _Chain:
    """One chain of directory records being walked (PS3.3 F.3.2.1)."""

    following: int  # the offset to follow next; 0 at the chain's end
    source: str  # the element that offset came from, as a note names it
    members: list[int] = field(default_factory=list)  # offsets of its records so far


def _offset_problem(ds: Dataset) -> str:
    """Whether the DICOMDIR's offsets link its records into one tree (PS3.3 F.3.2.1, F.5).

    The root's first record (0004,1200) starts a chain of records linked by Offset of the
    Next Directory Record (0004,1400); each record may start a lower-level chain by Offset
    of Referenced Lower-Level Directory Entity (0004,1420). An offset is the byte position
    of a record's Item tag counted from the first byte of the file (the File Meta
    Information begins with the preamble, PS3.10 7.1), which is where pydicom puts each
    record's ``seq_item_tell``: the records are found by that position, as pydicom's
    FileSet finds them. A record reached twice means a loop (an offset pointing back at a
    record before it in its chain, or above it) or a record shared by two entities; an
    offset at no record's position means the offsets are wrong. pydicom's FileSet
    follows the chains without a bound: on a loop it never returns, not even to Ctrl-C.

    The walk visits each record at most once, so it ends after as many steps as there are
    records, whatever the offsets say.

    Parameters
    ----------
    ds : Dataset
        The DICOMDIR as pydicom read it from its file.

    Returns
    -------
    str
        Empty when every offset reached leads to a record of its own, else the first
        problem found, naming the records by their byte offsets.
    """
    records: dict[int, Dataset] = {}
    for record in ds.get("DirectoryRecordSequence") or []:
        where = getattr(record, "seq_item_tell", None)
        if not isinstance(where, int):
            return "a directory record's place in the file is unknown"
        records[where] = record
    if not records:
        return ""
    first = _offset(ds, _FIRST_OFFSET)
    if first is None:
        return "(0004,1200) of the root is not a single number"
    if not first:
        return ("the Offset of the First Directory Record of the Root Directory Entity "
                "(0004,1200) names no record")
    # Depth-first, as the entities nest. The records of the chains still open are the
    # ones the current record is reached from: an offset back to one of them is a loop.
    chains = [_Chain(first, "(0004,1200) of the root")]
    reached: set[int] = set()
    above: set[int] = set()
    while chains:
        chain = chains[-1]
        offset = chain.following
        if not offset:  # PS3.3 Table F.3-3: 0, the end of this chain
            chains.pop()
            above.difference_update(chain.members)
            continue
        if offset not in records:
            return f"{chain.source} points at byte {offset}, where no record starts"
        if offset in above:
            return f"{chain.source} points back at the record at byte {offset}: the offsets loop"
        if offset in reached:
            return f"{chain.source} points at the record at byte {offset}, already reached"
        reached.add(offset)
        above.add(offset)
        chain.members.append(offset)
        following = _offset(records[offset], _NEXT_OFFSET)
        lower = _offset(records[offset], _LOWER_OFFSET)
        if following is None or lower is None:
            return f"an offset of the record at byte {offset} is not a single number"
        chain.following = following
        chain.source = f"(0004,1400) of the record at byte {offset}"
        if lower:
            chains.append(_Chain(lower, f"(0004,1420) of the record at byte {offset}"))
    return ""


def read_dicomdir(path: Path) -> DirectoryContents:
    """Read the leaf records of the DICOMDIR at ``path`` and resolve their files.

    Never raises for a damaged DICOMDIR: the problem is noted in the result (the caller
    scans the whole medium anyway). A file that is not a DICOMDIR by its File Meta
    Information, or is larger than :data:`MOST_DIRECTORY_BYTES`, is not parsed (PS3.10
    7.1, 8.6). Offsets that do not link the records into a tree (PS3.3 F.3.2.1) are
    noted and the records read in sequence order. A truncated DICOMDIR yields the records
    wholly before the cut, in sequence order (:func:`complete_records`). The work is
    bounded by the file's size in every case.
    """
    contents = DirectoryContents(dicomdir=path)
    try:
        data, problem = _read_directory(path)
    except OSError as exc:
        data, problem = b"", f"DICOMDIR cannot be read ({exc})"
    if problem:
        contents.readable = False
        contents.notes.append(f"{path}: {problem}; medium scanned")
        return contents
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cut = complete_records(data)
            if cut is None:
                ds = dcmread(io.BytesIO(data), force=True)
                # FileSet finds the medium's root through the DICOMDIR's file name.
                ds.filename = str(path)
                records = list(ds.get("DirectoryRecordSequence", []))
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
            return _resolve(contents, cut.records, {})
        studies: dict[str, str] = {}
        try:
            problem = _offset_problem(ds)
        except Exception as exc:  # a record too damaged to say; FileSet could not either
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            # PS3.3 F.3.2.1: offsets point at records; when they do not, record order is used.
            contents.notes.append(
                f"{path}: DICOMDIR structure is inconsistent ({problem}); "
                "records read in sequence order"
            )
        else:
            try:
                fileset = FileSet()
                # Orphan records (no offset reaches them) are read in sequence order below;
                # FileSet would open the files they name, any file at all, a FIFO included.
                fileset.load(ds, include_orphans=False)
            except Exception as exc:
                contents.notes.append(
                    f"{path}: DICOMDIR structure is inconsistent ({type(exc).__name__}: "
                    f"{exc}); records read in sequence order"
                )
            else:
                with contextlib.suppress(Exception):  # the sequence order tells them instead
                    studies = _studies_of_instances(fileset)
    if not records:
        contents.notes.append(f"{path}: DICOMDIR lists no records")
    return _resolve(contents, records, studies)


def _resolve(contents: DirectoryContents, records: list[Dataset], studies: dict[str, str]
             ) -> DirectoryContents:
    """Add the leaf records among ``records`` to ``contents``, their files looked up on
    the medium.

    ``studies`` gives the study of each SOP Instance UID as the offsets say (PS3.3
    F.3.2.1); an instance it lacks belongs to the last STUDY record before it in
    sequence order.
    """
    path = contents.dicomdir
    resolver = FileIdResolver(path.parent)
    study = patient = ""
    for record in records:
        try:
            record_type = str(record.get("DirectoryRecordType", "")).strip()
            if record_type == "PATIENT":
                patient = str(record.get("PatientID", "") or "").strip()
            if record_type == "STUDY":
                study = str(record.get("StudyInstanceUID", ""))
            if int(record.get("RecordInUseFlag", 0xFFFF)) == 0:
                continue
            file_id = _file_id(record.get("ReferencedFileID"))
            if not file_id:
                continue
            sop = str(record.get("ReferencedSOPInstanceUIDInFile", ""))
            contents.entries.append(
                DirectoryEntry(
                    file_id=file_id,
                    record_type=record_type,
                    sop_instance_uid=sop,
                    path=resolver.resolve(file_id),
                    study_uid=studies.get(sop, study),
                    patient_id=patient,
                )
            )
        except Exception as exc:  # one damaged record never hides the others
            contents.notes.append(f"{path}: a directory record is damaged ({exc})")
    return contents
