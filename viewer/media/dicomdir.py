"""Read what a DICOMDIR (PS3.3 Annex F, Basic Directory IOD) says is on a medium.

For import only the leaf records matter: which files the directory names (Referenced
File ID, 0004,1500) and which SOP Instance each holds (0004,1511). The records are taken
from the Directory Record Sequence in order, so a DICOMDIR whose offsets are wrong (PS3.3
F.3.2.1; pydicom's FileSet raises ``KeyError``) still yields every record, and so do
orphan records that no offset reaches. Inactive records (Record In-use Flag 0000H) are
skipped. pydicom's FileSet is tried first to tell the user whether the directory's
structure is sound.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.fileset import FileSet

from viewer.dicom.structure import (
    EXPLICIT_VR_LE,
    MAGIC,
    MEDIA_STORAGE_DIRECTORY,
    PREAMBLE_LENGTH,
    PROBE_LENGTH,
    read_meta,
    truncation_problem,
)
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
    _, meta = read_meta(head)
    sop_class = meta.get(0x00020002, b"").rstrip(b"\0 ")
    return sop_class == MEDIA_STORAGE_DIRECTORY.encode("ascii")


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


def read_dicomdir(path: Path) -> DirectoryContents:
    """Read the leaf records of the DICOMDIR at ``path`` and resolve their files.

    Never raises for a damaged DICOMDIR: the problem is noted in the result (the caller
    scans the whole medium anyway).
    """
    contents = DirectoryContents(dicomdir=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = dcmread(path, force=True)
            records = list(ds.get("DirectoryRecordSequence", []))
        except Exception as exc:  # a truncated or damaged DICOMDIR: scan instead
            contents.readable = False
            contents.notes.append(f"{path}: DICOMDIR cannot be read ({exc}); medium scanned")
            return contents
        try:
            # The DICOMDIR's own transfer syntax (PS3.10 7.1): a big endian one (pydicom's
            # DICOMDIR-bigEnd) walked as little endian looked truncated.
            meta = getattr(ds, "file_meta", None)
            syntax = str(meta.get("TransferSyntaxUID", EXPLICIT_VR_LE)) if meta else (
                EXPLICIT_VR_LE)
            problem = truncation_problem(path.read_bytes(), syntax)
        except OSError:
            problem = ""
        if problem:
            # pydicom reads a truncated DICOMDIR without complaint: say why files are unnamed.
            contents.notes.append(f"{path}: DICOMDIR is damaged ({problem}); medium scanned")
        studies: dict[str, str] = {}
        try:
            fileset = FileSet(ds)
        except Exception as exc:
            # PS3.3 F.3.2.1: offsets point at records; when they do not, record order is used.
            contents.notes.append(
                f"{path}: DICOMDIR structure is inconsistent ({type(exc).__name__}: {exc}); "
                "records read in sequence order"
            )
        else:
            with contextlib.suppress(Exception):  # the sequence order tells them instead
                studies = _studies_of_instances(fileset)
    if not records:
        contents.notes.append(f"{path}: DICOMDIR lists no records")
    resolver = FileIdResolver(path.parent)
    study = ""  # the last STUDY record in sequence order, where the offsets cannot say
    for record in records:
        try:
            record_type = str(record.get("DirectoryRecordType", "")).strip()
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
                )
            )
        except Exception as exc:  # one damaged record never hides the others
            contents.notes.append(f"{path}: a directory record is damaged ({exc})")
    return contents
