"""Header-only reading of DICOM files into :class:`viewer.core.records.InstanceRecord`.

An import reads every file once: the bytes are read into memory (small files) and the
header is parsed from them with ``stop_before_pixels`` and ``specific_tags`` (PS3.10 7.1);
the same bytes are then copied into the managed store. Before any of that, the first 132
bytes tell whether a file is DICOM at all, so a 2 GB video on a disc costs one short read.

pydicom stops silently at the end of a truncated file, so :func:`truncation_problem`
walks the element structure of the data set (PS3.5 7.1, 7.5) and reports an element whose
value runs past the end of the file.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import PersonName

from viewer.core.errors import InputFileError
from viewer.core.records import InstanceRecord, PatientRecord

# PS3.10 7.1: 128-byte preamble then the magic "DICM".
PREAMBLE_LENGTH = 128
MAGIC = b"DICM"
PROBE_LENGTH = PREAMBLE_LENGTH + len(MAGIC)
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # PS3.4 B.5: DICOMDIR SOP Class
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"

HEADER_KEYWORDS = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "Modality",
    "ReferringPhysicianName",
    "StudyDescription",
    "SeriesDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "BodyPartExamined",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "NumberOfFrames",
    "Rows",
    "Columns",
)

# PS3.5 7.1.2: VRs whose explicit encoding has a 2-byte reserved field and a 4-byte length.
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_ITEM_END = (0xFFFE, 0xE00D)
_SEQ_END = (0xFFFE, 0xE0DD)


def probe(head: bytes) -> bool:
    """Tell from the first bytes of a file whether it may be DICOM.

    Parameters
    ----------
    head : bytes
        At least the first :data:`PROBE_LENGTH` bytes (fewer if the file is shorter).

    Returns
    -------
    bool
        True for a Part 10 file (``DICM`` at offset 128, PS3.10 7.1) and for a bare data
        set without preamble that starts with a group 0002 or 0008 element, as older
        media and ACR-NEMA style writers produce.
    """
    if head[PREAMBLE_LENGTH:PROBE_LENGTH] == MAGIC:
        return True
    if len(head) < 8:
        return False
    group, element = struct.unpack_from("<HH", head, 0)
    if group not in (0x0002, 0x0008) or element > 0x0200:
        # Explicit VR big endian without meta (retired, PS3.5 A.3) starts 00 08 .. .. VR.
        big_group, big_element = struct.unpack_from(">HH", head, 0)
        return big_group == 0x0008 and big_element < 0x0200 and head[4:6].isalpha()
    vr = head[4:6]
    if vr.isalpha() and vr.isupper():
        return True
    (length,) = struct.unpack_from("<I", head, 4)
    return bool(length < 0x10000)  # implicit VR: a plausible short length


def probe_file(path: Path) -> bool:
    """Read the first bytes of ``path`` and apply :func:`probe` (raises ``OSError``)."""
    with open(path, "rb") as fh:
        return probe(fh.read(PROBE_LENGTH))


def person_name_text(value: Any) -> str:
    """Return a Person Name as text, all component groups kept and joined by ``=``.

    PS3.5 6.2.1.1: alphabetic, ideographic and phonetic groups; trailing empty groups
    are dropped. A multi-valued element is joined with ``\\``.
    """
    if value is None:
        return ""
    if isinstance(value, PersonName):
        # Empty trailing components and groups carry nothing ("^^^^" is an empty name).
        return "=".join(group.rstrip("^") for group in str(value).split("=")).rstrip("=")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(person_name_text(v) for v in value)
    return "=".join(group.rstrip("^") for group in str(value).split("=")).rstrip("=")


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _int(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _floats(ds: Any, keyword: str, count: int) -> tuple[float, ...] | None:
    try:
        value = ds.get(keyword)
        if value is None:
            return None
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def _transfer_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if uid:
        return uid
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit:
        return IMPLICIT_VR_LE
    return EXPLICIT_VR_LE if little else EXPLICIT_VR_BE


def _walk_syntax(ds: Any) -> str:
    """The encoding pydicom actually found (files whose meta names the wrong one exist)."""
    declared = _transfer_syntax(ds)
    if declared in (DEFLATED_LE, EXPLICIT_VR_BE):
        return declared
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return declared
    if not little:
        return EXPLICIT_VR_BE
    return IMPLICIT_VR_LE if implicit else EXPLICIT_VR_LE


def record_from_dataset(ds: Any, source: str) -> InstanceRecord:
    """Build the record of one instance from a (header-only) pydicom Dataset.

    Raises
    ------
    InputFileError
        When an identifying UID (PS3.3 C.12.1 SOP Instance UID, C.7.2.1 Study Instance
        UID, C.7.3.1 Series Instance UID) is missing.
    """
    meta = getattr(ds, "file_meta", None)
    sop_uid = _text(ds, "SOPInstanceUID") or (
        str(meta.get("MediaStorageSOPInstanceUID", "")) if meta is not None else ""
    )
    sop_class = _text(ds, "SOPClassUID") or (
        str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    )
    if not sop_uid:
        raise InputFileError(source, "no SOP Instance UID; not a DICOM instance")
    study_uid = _text(ds, "StudyInstanceUID")
    series_uid = _text(ds, "SeriesInstanceUID")
    if sop_class != MEDIA_STORAGE_DIRECTORY and not (study_uid and series_uid):
        raise InputFileError(source, "no Study or Series Instance UID")
    position = _floats(ds, "ImagePositionPatient", 3)
    orientation = _floats(ds, "ImageOrientationPatient", 6)
    return InstanceRecord(
        sop_instance_uid=sop_uid,
        sop_class_uid=sop_class,
        transfer_syntax_uid=_transfer_syntax(ds),
        patient=PatientRecord(
            patient_id=_text(ds, "PatientID"),
            patient_name=person_name_text(ds.get("PatientName")),
            birth_date=_text(ds, "PatientBirthDate"),
            sex=_text(ds, "PatientSex"),
        ),
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        accession_number=_text(ds, "AccessionNumber"),
        study_id=_text(ds, "StudyID"),
        study_description=_text(ds, "StudyDescription"),
        referring_physician=person_name_text(ds.get("ReferringPhysicianName")),
        modality=_text(ds, "Modality"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        body_part=_text(ds, "BodyPartExamined"),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows") or 0,
        columns=_int(ds, "Columns") or 0,
        number_of_frames=_int(ds, "NumberOfFrames") or 1,
        image_position=position,  # type: ignore[arg-type]
        image_orientation=orientation,  # type: ignore[arg-type]
        specific_character_set=_text(ds, "SpecificCharacterSet"),
        file_path=source,
    )


def read_header_bytes(data: bytes, source: str) -> InstanceRecord:
    """Parse the header of a whole file held in memory and check it is complete.

    Parameters
    ----------
    data : bytes
        The complete file.
    source : str
        The file's path, for messages and the record's ``file_path``.

    Raises
    ------
    InputFileError
        Not DICOM, unparsable, truncated, or without identifying UIDs.
    """
    if not probe(data[:PROBE_LENGTH]):
        raise InputFileError(source, "not a DICOM file")
    stream = io.BytesIO(data)
    try:
        ds = dcmread(
            stream,
            force=True,
            stop_before_pixels=True,
            specific_tags=list(HEADER_KEYWORDS),
        )
    except (InvalidDicomError, ValueError, EOFError, struct.error, KeyError) as exc:
        raise InputFileError(source, f"cannot read the DICOM header ({exc})") from exc
    record = record_from_dataset(ds, source)
    problem = truncation_problem(data, _walk_syntax(ds))
    if problem:
        raise InputFileError(source, problem)
    return replace(record, file_size=len(data))


def read_header(path: Path) -> InstanceRecord:
    """Read and check the header of one file on disk (see :func:`read_header_bytes`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read ({exc.strerror or exc})") from exc
    return read_header_bytes(data, str(path))


def _dataset_start(data: bytes) -> tuple[int, bool]:
    """Offset of the data set after the File Meta Information, and whether a meta was found."""
    if data[PREAMBLE_LENGTH:PROBE_LENGTH] != MAGIC:
        return 0, False
    pos = PROBE_LENGTH
    # PS3.10 7.1: the meta group is always explicit VR little endian.
    while pos + 8 <= len(data):
        group, _element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<I", data, pos + 8)
            pos += 12 + length
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            pos += 8 + length
    return pos, True


def truncation_problem(data: bytes, transfer_syntax: str) -> str:
    """Walk the data set's elements and report one that runs past the end of the file.

    Parameters
    ----------
    data : bytes
        The whole file.
    transfer_syntax : str
        Its transfer syntax; deflated and big endian data sets are not walked.

    Returns
    -------
    str
        Empty when every element fits in the file, else a description naming the tag.
    """
    if transfer_syntax in (DEFLATED_LE, EXPLICIT_VR_BE):
        return ""
    pos, _ = _dataset_start(data)
    if pos > len(data):
        return "truncated inside the File Meta Information"
    # Some writers label the data set with the wrong VR encoding: look at the first
    # element as pydicom does (two upper-case letters where an explicit VR would be).
    vr = data[pos + 4 : pos + 6]
    implicit = not (len(vr) == 2 and vr.isalpha() and vr.isupper())
    return _walk(data, pos, implicit)


def _walk(data: bytes, pos: int, implicit: bool) -> str:
    try:
        _Walker(data, implicit).dataset(pos, len(data), depth=0)
    except _TruncatedError as exc:
        return str(exc)
    except _UnknownStructureError:
        return ""
    return ""


class _TruncatedError(Exception):
    pass


class _UnknownStructureError(Exception):
    """The structure is not what the walker understands; pydicom's reading stands."""


class _Walker:
    """PS3.5 7.1 element and 7.5 item structure, lengths only (no values decoded)."""

    def __init__(self, data: bytes, implicit: bool) -> None:
        self.data = data
        self.size = len(data)
        self.implicit = implicit

    def _header(self, pos: int) -> tuple[int, int, bytes, int, int]:
        if pos + 8 > self.size:
            raise _TruncatedError(f"truncated in an element header at byte {pos}")
        group, element = struct.unpack_from("<HH", self.data, pos)
        if group == 0xFFFE or self.implicit:
            (length,) = struct.unpack_from("<I", self.data, pos + 4)
            return group, element, b"", length, pos + 8
        vr = self.data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > self.size:
                raise _TruncatedError(f"truncated in an element header at byte {pos}")
            (length,) = struct.unpack_from("<I", self.data, pos + 8)
            return group, element, vr, length, pos + 12
        (length,) = struct.unpack_from("<H", self.data, pos + 6)
        return group, element, vr, length, pos + 8

    def dataset(self, pos: int, end: int, depth: int) -> int:
        """Walk elements from ``pos`` to ``end`` (or an Item Delimitation when undefined)."""
        if depth > 32:
            return end
        while pos < end:
            # Trailing padding shorter than a header (some writers add one byte).
            if end == self.size and self.size - pos < 8 and not any(self.data[pos:]):
                return end
            group, element, vr, length, value = self._header(pos)
            if (group, element) == _ITEM_END:
                return value
            tag = f"({group:04X},{element:04X})"
            if length == _UNDEFINED:
                # PS3.5 6.2.2: an undefined-length UN holds implicit VR little endian items.
                walker = _Walker(self.data, True) if vr == b"UN" else self
                pos = walker._undefined(value, tag, depth)
                continue
            if value + length > self.size:
                raise _TruncatedError(
                    f"truncated inside element {tag}: {length} bytes declared, "
                    f"{self.size - value} in the file"
                )
            if (group, element) == _SEQ_END:
                return value
            pos = value + length
        return pos

    def _undefined(self, pos: int, tag: str, depth: int) -> int:
        """Items of an undefined-length sequence or encapsulated pixel data (PS3.5 7.5, A.4)."""
        while True:
            if pos + 8 > self.size:
                raise _TruncatedError(f"truncated inside element {tag}: no sequence delimiter")
            group, element, _vr, length, value = self._header(pos)
            if (group, element) == _SEQ_END:
                return value
            if (group, element) != _ITEM:
                raise _UnknownStructureError(tag)
            if length == _UNDEFINED:
                pos = self.dataset(value, self.size, depth + 1)
                continue
            if value + length > self.size:
                raise _TruncatedError(f"truncated inside an item of element {tag}")
            pos = value + length


def file_size(path: Path) -> int:
    """Size of ``path`` in bytes (``OSError`` when unreadable)."""
    return os.stat(path).st_size
