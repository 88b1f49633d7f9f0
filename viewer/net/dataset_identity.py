"""The SOP Class and Instance UIDs a received data set carries, read from its first bytes.

A C-STORE request names the instance it sends (Affected SOP Class and Instance UID, PS3.7
9.1.1); the File Meta Information written for it takes them from there (PS3.10 7.1). A
data set that says otherwise would be filed under UIDs it does not have, and its meta
information would contradict it: such a request is answered 0xA900, as dcmtk's storescp
does. This is read on the association's thread before the response leaves, so it walks
only the elements before (0008,0018), with no parser.
"""

from __future__ import annotations

import struct

from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

_SOP_CLASS = 0x00080016
_SOP_INSTANCE = 0x00080018
_UNDEFINED = 0xFFFFFFFF
# PS3.5 7.1.2: explicit VRs whose value length takes 4 bytes after 2 reserved ones.
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})
_NOT_WALKED = frozenset({DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian})
_TAG = struct.Struct("<HH")
_SHORT = struct.Struct("<H")
_LONG = struct.Struct("<L")


def dataset_uids(data: bytes | bytearray | memoryview, transfer_syntax: str, *,
                 whole: bool) -> tuple[str, str] | None:
    """The (SOP Class UID, SOP Instance UID) at the start of a data set, or None.

    Parameters
    ----------
    data : bytes-like
        The data set's first bytes, without File Meta Information.
    transfer_syntax : str
        The presentation context's transfer syntax.
    whole : bool
        Whether ``data`` is the whole data set (its end is then the data set's end).

    Returns
    -------
    tuple of str, or None
        Either UID is "" when the data set lacks it. None when this cannot tell: a
        little-endian syntax is the only kind walked (every compressed one is explicit
        VR little endian before the pixel data; deflated and big endian data sets are
        left to the store), a sequence of undefined length or the end of a part of a
        data set before (0008,0018) end the walk, and values that are not digits and
        dots are taken for a misread.
    """
    if transfer_syntax in _NOT_WALKED:
        return None
    # Every other syntax, compressed ones included, is explicit VR little endian here.
    explicit = transfer_syntax != ImplicitVRLittleEndian
    found = {_SOP_CLASS: "", _SOP_INSTANCE: ""}
    view = memoryview(data)
    offset = 0
    while offset + 8 <= len(view):
        group, element = _TAG.unpack_from(view, offset)
        tag = group << 16 | element
        if tag > _SOP_INSTANCE:
            break
        if explicit:
            vr = bytes(view[offset + 4:offset + 6])
            if vr in _LONG_VRS:
                if offset + 12 > len(view):
                    return None
                (length,) = _LONG.unpack_from(view, offset + 8)
                start = offset + 12
            else:
                (length,) = _SHORT.unpack_from(view, offset + 6)
                start = offset + 8
        else:
            (length,) = _LONG.unpack_from(view, offset + 4)
            start = offset + 8
        if length == _UNDEFINED or start + length > len(view):
            return None
        if tag in found:
            found[tag] = bytes(view[start:start + length]).decode("ascii", "replace").rstrip(
                "\0 ")
        offset = start + length
    else:
        if not whole:
            return None  # the part ran out before (0008,0018) was passed
    sop_class, sop_instance = found[_SOP_CLASS], found[_SOP_INSTANCE]
    if not all(_digits_and_dots(uid) for uid in (sop_class, sop_instance) if uid):
        return None  # misread (an element before them misencoded): the store reads it
    return sop_class, sop_instance


def _digits_and_dots(value: str) -> bool:
    """Whether ``value`` is made of a UID's characters (PS3.5 9.1)."""
    return value.isascii() and value.replace(".", "").isdigit()
