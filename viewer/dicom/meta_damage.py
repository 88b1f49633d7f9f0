"""What is wrong with a Part 10 file's File Meta Information, for a file that failed.

A file whose group 0002 (PS3.10 7.1) is damaged is otherwise read from the wrong byte,
and what fails then (no SOP Instance UID, an element of garbage running past the end)
says nothing useful to whoever holds the file. :func:`file_meta_problem` names the
group and the byte where it stops making sense. It is asked only of files that failed
(:func:`viewer.dicom.header.read_header_bytes`), so a good file costs nothing.
"""

from __future__ import annotations

import struct

from viewer.dicom.structure import (
    IMPLICIT_VR_LE,
    LONG_VRS,
    MAGIC,
    PREAMBLE_LENGTH,
    PROBE_LENGTH,
)

_META_HEADER = struct.Struct("<HH2sH")
_UL = struct.Struct("<I")


def file_meta_problem(data: bytes, file_size: int | None = None) -> str:
    """Why the File Meta Information of a Part 10 file cannot be read (PS3.10 7.1).

    After the preamble and ``DICM`` come the elements of group 0002, always Explicit VR
    Little Endian, as many bytes as their Group Length (0002,0000) says (PS3.10 7.1,
    Table 7.1-1). Where that structure is damaged, the data set is read from the wrong
    byte, and what fails then (no SOP Instance UID, an element running past the end) is
    not the file's problem. The elements are walked by their own lengths, as readers
    do; the Group Length is only a witness. A group whose elements lead to what can be
    the start of a data set is not blamed, even with a wrong Group Length: the reason
    the file failed lies after it, and keeps its own message. This is asked only of a
    file that failed.

    Parameters
    ----------
    data : bytes
        The file, or its beginning when ``file_size`` is larger.
    file_size : int, optional
        The size of the whole file when ``data`` is only its beginning.

    Returns
    -------
    str
        ``File Meta Information unreadable at byte <offset>: <what is there>``, or empty:
        no ``DICM`` prefix, a group whose elements lead to a plausible data set, one cut
        short by the end of the file (the truncation message says so), or one not wholly
        in ``data``.
    """
    if data[PREAMBLE_LENGTH:PROBE_LENGTH] != MAGIC:
        return ""
    size = max(file_size or 0, len(data))
    pos, group_end, syntax = PROBE_LENGTH, 0, b""
    overran = ""  # the first element whose value runs past the Group Length's end
    while pos + 8 <= len(data):
        group, element, vr, length = _META_HEADER.unpack_from(data, pos)
        if group != 0x0002:
            break
        if not (vr.isalpha() and vr.isupper()):
            return _meta_unreadable(pos, f"element {_tag(group, element)} has no explicit "
                                         f"VR (bytes {vr.hex(' ')})")
        value = pos + 8
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                return ""
            (length,) = _UL.unpack_from(data, pos + 8)
            value = pos + 12
        if not overran and 0 < group_end <= size and value + length > group_end:
            overran = _meta_unreadable(
                pos, f"element {_tag(group, element)} {vr.decode()} declares {length} "
                     f"bytes, past the group's end at byte {group_end}")
        if element == 0x0000 and vr == b"UL" and length == 4 and value + 4 <= len(data):
            group_end = value + 4 + _UL.unpack_from(data, value)[0]
        elif element == 0x0010:
            syntax = data[value:value + length]
        pos = value + length
    else:
        # Cut short, or not all of it in ``data``: the verdict without this stands,
        # unless a length the Group Length contradicts sent the walk past the file's end.
        return overran if overran and pos > size else ""
    tag = _tag(group, element)
    if pos == PROBE_LENGTH:
        return _meta_unreadable(pos, f"it starts with {tag}, not a group 0002 element")
    if _data_set_may_start(group, vr, syntax):
        return ""
    if overran:
        return overran
    if group_end and pos != group_end:
        return _meta_unreadable(pos, f"{tag} is not a group 0002 element, but the Group "
                                     f"Length (0002,0000) says the group ends at byte "
                                     f"{group_end}")
    return ""


def _data_set_may_start(group: int, vr: bytes, syntax: bytes) -> bool:
    """Whether an element header can be a data set's first: a group above 0002 (PS3.5
    7.1: 0004 in a DICOMDIR, 0008 on in an instance), even or private, and in an explicit
    VR syntax a VR of two capital letters. A garbage header passes about once in 200."""
    if group <= 0x0002 or (group % 2 and group < 0x0009) or group >= 0xFFFE:
        return False
    if syntax.rstrip(b"\0 ") == IMPLICIT_VR_LE.encode():
        return True
    return vr.isalpha() and vr.isupper()


def _tag(group: int, element: int) -> str:
    return f"({group:04X},{element:04X})"


def _meta_unreadable(offset: int, what: str) -> str:
    return f"File Meta Information unreadable at byte {offset}: {what}"
