"""The directory records of a DICOMDIR: their few values that import needs, and the tree
their offsets link them into (PS3.3 F.3.2.1).

A DICOMDIR of a large disc holds tens of thousands of records. pydicom converts an
element when it is first read, through its general value hooks, at some 0.1 ms each: four
values of 40,000 records took longer than parsing the file. The values read here (Record
Type, Record In-use Flag, Referenced File ID, Referenced SOP Instance UID in File, the
offsets, Study Instance UID) are code strings, UIDs and binary numbers of the default
character repertoire, so they are taken from the element's bytes while pydicom still
holds them raw, and converted by pydicom otherwise. Patient ID (LO) is not among them: it
depends on the Specific Character Set, and there is one PATIENT record per patient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"{keyword} is not a DICOM keyword")
    return tag


# PS3.3 Table F.3-3 and F.3.2.2: the record keys import reads. Named by keyword so that
# the Conformance Statement lists them (viewer.cli.conformance_facts).
RECORD_TYPE = _tag("DirectoryRecordType")  # (0004,1430) CS
IN_USE = _tag("RecordInUseFlag")  # (0004,1410) US
FILE_ID = _tag("ReferencedFileID")  # (0004,1500) CS 1-8
SOP_INSTANCE = _tag("ReferencedSOPInstanceUIDInFile")  # (0004,1511) UI
STUDY_INSTANCE = _tag("StudyInstanceUID")  # (0020,000D) UI, of STUDY records (F.5-3)
_FIRST_OFFSET = _tag("OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity")  # (0004,1200)
_NEXT_OFFSET = _tag("OffsetOfTheNextDirectoryRecord")  # (0004,1400) UL
_LOWER_OFFSET = _tag("OffsetOfReferencedLowerLevelDirectoryEntity")  # (0004,1420) UL

_VRS = {RECORD_TYPE: "CS", IN_USE: "US", FILE_ID: "CS", SOP_INSTANCE: "UI",
        STUDY_INSTANCE: "UI", _FIRST_OFFSET: "UL", _NEXT_OFFSET: "UL", _LOWER_OFFSET: "UL"}


def _raw(record: Dataset, tag: int) -> RawDataElement | None:
    """The element ``tag`` while pydicom holds it raw, in the VR the data dictionary gives
    it (implicit VR says none); None when pydicom must convert it."""
    # Typed as returning DataElement, get_item gives the raw element until it is converted.
    element: object = record.get_item(tag)
    if isinstance(element, RawDataElement) and element.VR in (None, _VRS[tag]):
        return element
    return None


def _raw_bytes(record: Dataset, tag: int) -> bytes | None:
    """The value bytes of :func:`_raw`'s element; None when there is none."""
    element = _raw(record, tag)
    return None if element is None else bytes(element.value or b"")


def record_text(record: Dataset, tag: int) -> str:
    """A CS or UI value of ``record`` as text, padding removed (PS3.5 6.2); "" if absent."""
    raw = _raw_bytes(record, tag)
    if raw is not None:
        return raw.decode("latin-1").strip("\0 ")
    value = record.get(tag)
    return "" if value is None else str(value.value).strip("\0 ")


def record_file_id(record: Dataset) -> tuple[str, ...]:
    """The components of Referenced File ID (PS3.10 8.5), empty ones dropped."""
    raw = _raw_bytes(record, FILE_ID)
    if raw is not None:
        text = raw.decode("latin-1").replace("/", "\\")
        return tuple(part for part in (p.strip("\0 ") for p in text.split("\\")) if part)
    element = record.get(FILE_ID)
    return _file_id_of(None if element is None else element.value)


def _file_id_of(value: Any) -> tuple[str, ...]:
    """The components of a Referenced File ID value as pydicom gives it."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part for part in value.replace("/", "\\").split("\\") if part)
    return tuple(str(part) for part in value if str(part))


def _number(record: Dataset, tag: int, size: int) -> int | None:
    """A single US or UL value; 0 when absent or empty; None when it is not one number."""
    element = _raw(record, tag)
    if element is not None:
        raw = bytes(element.value or b"")
        if not raw:
            return 0
        if len(raw) != size:
            return None
        return int.from_bytes(raw, "little" if element.is_little_endian else "big")
    value = record.get(tag)
    value = None if value is None else value.value
    if not value:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def record_in_use(record: Dataset) -> bool:
    """Whether the record is in use: Record In-use Flag absent or not 0000H (PS3.3
    Table F.3-3)."""
    # An empty or multi-valued flag is damage, not 0000H: the record is kept.
    element = record.get_item(IN_USE)
    return element is None or element.value in (None, b"") or _number(record, IN_USE, 2) != 0


def _offset(record: Dataset, tag: int) -> int | None:
    """The offset ``tag`` of ``record``: 0 for none, None when it is no offset at all.

    PS3.3 Table F.3-3: 00000000H means no next record, or no lower-level entity. An
    absent or empty element counts as 0, as pydicom's FileSet takes it.
    """
    return _number(record, tag, 4)


@dataclass(slots=True)
class _Chain:
    """One chain of directory records being walked (PS3.3 F.3.2.1)."""

    following: int  # the offset to follow next; 0 at the chain's end
    source: str  # the element that offset came from, as a note names it
    parent: int | None  # the record whose lower-level entity the chain is; None: the root
    members: list[int] = field(default_factory=list)  # offsets of its records so far


@dataclass(slots=True)
class RecordTree:
    """How a DICOMDIR's offsets link its records (PS3.3 F.3.2.1, F.5)."""

    problem: str = ""  # the first inconsistency; "" when the offsets make one tree
    records: dict[int, Dataset] = field(default_factory=dict)  # by their byte offset
    # Each record the offsets reach -> the record above it (None at the root's level).
    parents: dict[int, int | None] = field(default_factory=dict)

    # Record offset -> the Study Instance UID above it ("" for none), as found.
    _studies: dict[int, str] = field(default_factory=dict)

    def study_of(self, record: Dataset) -> str:
        """The Study Instance UID of the STUDY record the offsets put ``record`` under;
        "" when the offsets are inconsistent or do not reach it (the sequence order tells
        the study then)."""
        offset = getattr(record, "seq_item_tell", None)
        if self.problem or offset not in self.parents:
            return ""
        path: list[int] = []
        study = ""
        current: int | None = offset
        while current is not None:
            known = self._studies.get(current)
            if known is not None:
                study = known
                break
            path.append(current)
            if record_text(self.records[current], RECORD_TYPE) == "STUDY":
                study = record_text(self.records[current], STUDY_INSTANCE)
                break
            current = self.parents.get(current)
        for visited in path:  # a series' images share the walk up
            self._studies[visited] = study
        return study


def link_records(ds: Dataset) -> RecordTree:
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
    RecordTree
        Its ``problem`` is empty when every offset reached leads to a record of its own,
        else the first problem found, naming the records by their byte offsets.
    """
    tree = RecordTree()
    for record in ds.get("DirectoryRecordSequence") or []:
        where = getattr(record, "seq_item_tell", None)
        if not isinstance(where, int):
            tree.problem = "a directory record's place in the file is unknown"
            return tree
        tree.records[where] = record
    if tree.records:
        tree.problem = _walk(ds, tree)
    return tree


def _walk(ds: Dataset, tree: RecordTree) -> str:
    """Follow the offsets from the root, filling ``tree.parents``; the first problem."""
    records = tree.records
    first = _offset(ds, _FIRST_OFFSET)
    if first is None:
        return "(0004,1200) of the root is not a single number"
    if not first:
        return ("the Offset of the First Directory Record of the Root Directory Entity "
                "(0004,1200) names no record")
    # Depth-first, as the entities nest. The records of the chains still open are the
    # ones the current record is reached from: an offset back to one of them is a loop.
    chains = [_Chain(first, "(0004,1200) of the root", None)]
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
        tree.parents[offset] = chain.parent
        following = _offset(records[offset], _NEXT_OFFSET)
        lower = _offset(records[offset], _LOWER_OFFSET)
        if following is None or lower is None:
            return f"an offset of the record at byte {offset} is not a single number"
        chain.following = following
        chain.source = f"(0004,1400) of the record at byte {offset}"
        if lower:
            chains.append(_Chain(lower, f"(0004,1420) of the record at byte {offset}", offset))
    return ""


__all__ = [
    "FILE_ID",
    "IN_USE",
    "RECORD_TYPE",
    "SOP_INSTANCE",
    "STUDY_INSTANCE",
    "RecordTree",
    "link_records",
    "record_file_id",
    "record_in_use",
    "record_text",
]
