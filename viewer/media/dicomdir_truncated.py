"""The directory records of a truncated DICOMDIR that lie whole before the cut.

A DICOMDIR cut short (a copy stopped half way, a damaged disc) still names, in its
Directory Record Sequence (0004,1220, PS3.3 F.3.2.2), the files of every record before
the cut. pydicom either reads such a file without complaint, last record half read, or
raises, depending on the byte where it ends, and the records before the cut were lost
with it. Here the items of the sequence are walked by their lengths and delimiters
(PS3.5 7.5) up to the cut, and the data is cut back to the end of the last whole item,
whose sequence is given the length of what remains, for pydicom to parse: every whole
record is read, and a partial last one, whose Referenced File ID may be cut, is not.

The walk reads tags and lengths only, each element once, so its work is bounded by the
file's size. Explicit and implicit VR little endian and explicit VR big endian (PS3.5
A.1-A.3) are walked; a deflated DICOMDIR (A.5) is not.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from viewer.dicom.structure import (
    DEFLATED_LE,
    EXPLICIT_VR_BE,
    ITEM,
    ITEM_END,
    LONG_VRS,
    SEQUENCE_END,
    UNDEFINED_LENGTH,
    TruncatedError,
    UnknownStructureError,
    looks_explicit,
    read_meta,
    tag_text,
)

_DIRECTORY_RECORD_SEQUENCE = (0x0004, 0x1220)
# PS3.10 7.1: the DICOMDIR's own encoding, which the walk follows.
_TRANSFER_SYNTAX = tag_for_keyword("TransferSyntaxUID") or 0x00020010
_GROUP_LENGTH = tag_for_keyword("FileMetaInformationGroupLength") or 0x00020000
_MOST_DEPTH = 32  # nested sequences; no directory record comes near


@dataclass(frozen=True, slots=True)
class CutDirectory:
    """What a truncated DICOMDIR still holds."""

    problem: str  # where it was cut, worded for the report
    records: list[Dataset]  # the whole directory records before the cut, in sequence order


class _Elements:
    """Tags and lengths of one encoding (PS3.5 7.1), values skipped."""

    def __init__(self, data: bytes, *, little: bool, implicit: bool) -> None:
        self.data = data
        self.implicit = implicit
        order = "<" if little else ">"
        self._tag = struct.Struct(order + "HH").unpack_from
        self._u16 = struct.Struct(order + "H").unpack_from
        self._u32 = struct.Struct(order + "I").unpack_from

    def header(self, pos: int) -> tuple[int, int, bytes, int, int]:
        """Group, element, VR (empty when implicit), length, and where the value starts."""
        data = self.data
        if pos + 8 > len(data):
            raise TruncatedError
        group, element = self._tag(data, pos)
        if group == 0xFFFE or self.implicit:  # PS3.5 7.5: item tags carry no VR
            return group, element, b"", self._u32(data, pos + 4)[0], pos + 8
        vr = data[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                raise TruncatedError
            return group, element, vr, self._u32(data, pos + 8)[0], pos + 12
        return group, element, vr, self._u16(data, pos + 6)[0], pos + 8

    def skip(self, pos: int, depth: int) -> int:
        """Where the element at ``pos`` ends."""
        _, _, vr, length, value = self.header(pos)
        if length != UNDEFINED_LENGTH:
            if value + length > len(self.data):
                raise TruncatedError
            return value + length
        # PS3.5 6.2.2: an undefined-length UN holds implicit VR little endian items.
        walker = _Elements(self.data, little=True, implicit=True) if vr == b"UN" else self
        return walker.items(value, depth)

    def items(self, pos: int, depth: int) -> int:
        """Where an undefined-length sequence (or encapsulated value) starting at ``pos``
        ends, its Sequence Delimitation Item included (PS3.5 7.5.2)."""
        while True:
            group, element, _, _, value = self.header(pos)
            if (group, element) == SEQUENCE_END:
                return value
            pos = self.item(pos, depth)

    def item(self, pos: int, depth: int) -> int:
        """Where the item at ``pos`` ends, its Item Delimitation Item included."""
        group, element, _, length, value = self.header(pos)
        if (group, element) != ITEM or depth > _MOST_DEPTH:
            raise UnknownStructureError(tag_text(group, element))
        if length != UNDEFINED_LENGTH:
            if value + length > len(self.data):
                raise TruncatedError
            return value + length
        pos = value
        while True:
            group, element, _, _, value = self.header(pos)
            if (group, element) == ITEM_END:
                return value
            pos = self.skip(pos, depth + 1)


def _sequence_at(elements: _Elements, pos: int) -> tuple[bytes, int, int] | None:
    """VR, length and value position of the Directory Record Sequence, the top-level
    elements walked from ``pos``; None when the data set has none.

    Raises
    ------
    TruncatedError
        The data ends before the sequence's header does.
    """
    data = elements.data
    while pos < len(data):
        if pos + 8 > len(data) and not any(data[pos:]):
            return None  # trailing padding shorter than a header (some writers add a byte)
        group, element, vr, length, value = elements.header(pos)
        if (group, element) == _DIRECTORY_RECORD_SEQUENCE:
            return vr, length, value
        pos = elements.skip(pos, 0)
    return None


def _whole_items(elements: _Elements, value: int, length: int) -> tuple[int, int | None] | None:
    """Where the data can be cut so that it ends with whole directory records.

    Returns
    -------
    tuple of (int, int or None) or None
        None when the sequence whose value starts at ``value`` and every element after
        it end within the data. Else the end of the last item that does, and how many
        items end there; or, when the cut is after the sequence, the end of the
        sequence and None: every record is whole.
    """
    data = elements.data
    # An undefined length ends at the Sequence Delimitation Item (PS3.5 7.5.2).
    end = None if length == UNDEFINED_LENGTH else value + length
    whole = pos = value
    count = 0
    try:
        if end is not None and end <= len(data):
            # The sequence ends within the file: its items, whatever their lengths say,
            # are pydicom's to read (pydicom's DICOMDIR-nooffset has a last item 24
            # bytes longer than its sequence).
            pos = end
        while end is None or pos < end:
            group, element, _, _, after = elements.header(pos)
            if end is None and (group, element) == SEQUENCE_END:
                pos = after
                break
            pos = whole = elements.item(pos, 1)
            count += 1
    except TruncatedError:
        return whole, count
    sequence_end = pos
    try:
        while pos < len(data):  # the elements after the sequence, if any
            if pos + 8 > len(data) and not any(data[pos:]):
                return None
            pos = elements.skip(pos, 0)
    except TruncatedError:
        return sequence_end, None
    return None


def complete_records(data: bytes) -> CutDirectory | None:
    """The whole directory records of a DICOMDIR that ends before its data set does.

    Parameters
    ----------
    data : bytes
        The DICOMDIR file as read, File Meta Information included (PS3.10 7.1).

    Returns
    -------
    CutDirectory or None
        None when every element of the data set ends within ``data``, or its structure
        is not one walked here (deflated, or not items where a sequence's items should
        be): pydicom's reading of it stands. Else where it was cut and the records
        wholly before the cut.

    Raises
    ------
    Exception
        pydicom could not parse the data cut back to the whole records.
    """
    start, meta = read_meta(data)
    syntax = meta.get(_TRANSFER_SYNTAX, b"").rstrip(b"\0 ").decode("ascii", "replace")
    group_length = meta.get(_GROUP_LENGTH, b"")
    if start == len(data) and len(group_length) == 4:
        # Nothing after the meta elements: a cut between two of them looks like a whole
        # group. PS3.10 7.1: the group length (its element ends at byte 144) says where
        # the group ends. Only here is it trusted: a wrong one in a sound file is harmless.
        start = max(start, 144 + int.from_bytes(group_length, "little"))
    if start > len(data):
        return CutDirectory(f"truncated at byte {len(data)}, inside the File Meta "
                            "Information", [])
    if syntax == DEFLATED_LE:
        return None
    explicit = looks_explicit(data, start)
    big = syntax == EXPLICIT_VR_BE
    elements = _Elements(data, little=not big, implicit=not explicit)
    try:
        sequence = _sequence_at(elements, start)
        if sequence is None:
            # PS3.3 F.3.2.2: the sequence is Type 2, present even when empty, and it is
            # the data set's last element: one cut at an element's end before it.
            return CutDirectory(f"it ends at byte {len(data)} without its Directory Record "
                                "Sequence (0004,1220), truncated", [])
        vr, length, value = sequence
        if explicit and vr != b"SQ":
            return None  # an encoding pydicom reads its own way
        cut_at = _whole_items(elements, value, length)
    except TruncatedError:
        return CutDirectory(f"truncated at byte {len(data)}, before the Directory Record "
                            "Sequence (0004,1220)", [])
    except UnknownStructureError:
        return None
    if cut_at is None:
        return None
    whole, count = cut_at
    cut = bytearray(data[:whole])
    if count is not None:
        # A value length of what is left, in the 4 bytes where explicit and implicit VR
        # both put an SQ's length (PS3.5 7.1.2, 7.1.3): no item moves.
        cut[value - 4 : value] = (whole - value).to_bytes(4, "big" if big else "little")
    ds = dcmread(io.BytesIO(bytes(cut)), force=True)
    records = list(ds.get("DirectoryRecordSequence") or [])[:count]
    return CutDirectory(f"truncated at byte {len(data)}, after {len(records)} whole "
                        "directory records", records)
