"""The element structure of a DICOM file, walked without decoding values (PS3.5 7.1, 7.5).

Whether a file is DICOM at all (:func:`probe`, from its first 132 bytes), where its data set
starts (:func:`read_meta`), and whether any element runs past the end of the file
(:func:`truncation_problem`): the checks every imported file goes through, written as flat
loops over ``struct`` because they run for every element of every file of a disc.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Container

# PS3.10 7.1: 128-byte preamble then the magic "DICM".
PREAMBLE_LENGTH = 128
MAGIC = b"DICM"
PROBE_LENGTH = PREAMBLE_LENGTH + len(MAGIC)
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # PS3.4 B.5: DICOMDIR SOP Class
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"

# PS3.5 7.1.2: VRs whose explicit encoding has a 2-byte reserved field and a 4-byte length.
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
UNDEFINED_LENGTH = 0xFFFFFFFF
_EXPLICIT_HEADER = struct.Struct("<HH2sH")
_IMPLICIT_HEADER = struct.Struct("<HHI")
_U32 = struct.Struct("<I")
ITEM = (0xFFFE, 0xE000)
ITEM_END = (0xFFFE, 0xE00D)
SEQUENCE_END = (0xFFFE, 0xE0DD)


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


def read_meta(data: bytes) -> tuple[int, dict[int, bytes]]:
    """Offset of the data set and the meta values the record needs (PS3.10 7.1)."""
    meta: dict[int, bytes] = {}
    if data[PREAMBLE_LENGTH:PROBE_LENGTH] != MAGIC:
        return 0, meta
    pos = PROBE_LENGTH
    # PS3.10 7.1: the meta group is always explicit VR little endian.
    while pos + 8 <= len(data):
        group, element, vr, length = _EXPLICIT_HEADER.unpack_from(data, pos)
        if group != 0x0002:
            break
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                break
            (length,) = _U32.unpack_from(data, pos + 8)
            value = pos + 12
        else:
            value = pos + 8
        meta[group << 16 | element] = data[value : value + length]
        pos = value + length
    return pos, meta


_GROUP_LENGTH = struct.Struct("<HH2sHI")  # (0002,0000) UL 4, explicit VR little endian


def split_file_meta(head: bytes) -> tuple[int, bytes] | None:
    """Where the data set of a Part 10 file starts, and its Transfer Syntax UID.

    The File Meta Information (group 0002) belongs to the file, not to the instance
    (PS3.10 7.1): the Source AE Title and the writer's Implementation Class UID and
    Version Name differ between two copies of one instance, the data set after it does
    not. The group's elements are walked to its end, which must agree with (0002,0000)
    File Meta Information Group Length where that is present (PS3.10 7.1, Table 7.1-1).

    Parameters
    ----------
    head : bytes
        The beginning of the file, at least through the first element after the meta
        group.

    Returns
    -------
    tuple of (int, bytes) or None
        The offset of the data set and the Transfer Syntax UID (0002,0010) without its
        padding. None when ``head`` has no preamble and ``DICM`` (a bare data set), the
        end of the group is not within ``head``, or the group length says otherwise: a
        caller comparing instances then compares whole files, which never takes two
        different data sets for one.
    """
    if head[PREAMBLE_LENGTH:PROBE_LENGTH] != MAGIC:
        return None
    start, meta = read_meta(head)
    if start + 4 > len(head) or struct.unpack_from("<H", head, start)[0] == 0x0002:
        return None  # the group runs past ``head``: its end is not in sight
    if len(head) >= PROBE_LENGTH + _GROUP_LENGTH.size:
        group, element, vr, size, length = _GROUP_LENGTH.unpack_from(head, PROBE_LENGTH)
        # A length that skips into the data set would hide its first elements from a
        # comparison; one that stops short would count meta bytes as the instance's.
        if ((group, element, vr, size) == (0x0002, 0x0000, b"UL", 4)
                and start != PROBE_LENGTH + _GROUP_LENGTH.size + length):
            return None
    return start, meta.get(0x00020010, b"").rstrip(b"\x00 ")


# What a deflated data set may inflate to (PS3.5 A.5). Deflate expands up to ~1032 times:
# a 2 MB file of a 2 GiB Pixel Data of zeros took an import 4.3 GB, because pydicom
# inflates the whole data set to read its header.
MOST_INFLATED = 1 << 30
_INFLATE_PIECE = 16 << 20


def inflation_problem(data: bytes) -> str:
    """Whether a deflated file's data set inflates to more than :data:`MOST_INFLATED`.

    Inflated piece by piece and thrown away, so the check itself holds little memory.

    Returns
    -------
    str
        Empty when the data set is within bounds (or is not deflated), else the problem.
    """
    start, meta = read_meta(data)
    syntax = meta.get(0x00020010, b"").decode("latin-1").strip(" \0")
    if syntax != DEFLATED_LE:
        return ""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        total = len(inflater.decompress(data[start:], _INFLATE_PIECE))
        # At the stream's end the padding byte PS3.5 A.5 asks for after an odd length stays
        # in unconsumed_tail (CPython 3.11): without the eof test this never ended.
        while total <= MOST_INFLATED and inflater.unconsumed_tail and not inflater.eof:
            total += len(inflater.decompress(inflater.unconsumed_tail, _INFLATE_PIECE))
    except zlib.error:
        return ""  # damaged: reading it says so
    if total > MOST_INFLATED:
        return (f"its deflated data set inflates to more than {MOST_INFLATED >> 30} GiB "
                f"from {len(data) - start} bytes")
    return ""


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
    pos, _ = read_meta(data)
    if pos > len(data):
        return "truncated inside the File Meta Information"
    return _walk(data, pos, not looks_explicit(data, pos))


def looks_explicit(data: bytes, pos: int) -> bool:
    """Whether the data set starting at ``pos`` is in explicit VR, by its first element.

    Some writers label the data set with the wrong VR encoding: it is looked at as
    pydicom does, two upper-case letters where an explicit VR would be (PS3.5 7.1.2).
    """
    vr = data[pos + 4 : pos + 6]
    return len(vr) == 2 and vr.isalpha() and vr.isupper()


def _walk(data: bytes, pos: int, implicit: bool) -> str:
    try:
        Walker(data, implicit).dataset(pos, len(data), 0, None)
    except TruncatedError as exc:
        return str(exc)
    except UnknownStructureError:
        return ""
    return ""


class TruncatedError(Exception):
    pass


class UnknownStructureError(Exception):
    """The structure is not what the walker understands; pydicom's reading stands."""


def tag_text(group: int, element: int) -> str:
    return f"({group:04X},{element:04X})"


# The longest value the header reader collects (PS3.5 6.2: an LO holds 64 characters, a PN
# 64 per component group, a UI 64 bytes; 1024 times that is damage, not a value).
MOST_COLLECTED = 64 << 10


class IncompleteHeaderError(Exception):
    """The first bytes given were not enough; read the whole file and ask again."""


class Walker:
    """PS3.5 7.1 element and 7.5 item structure, lengths only (no values decoded).

    ``data`` may be only the beginning of a file of ``size`` bytes: lengths are checked
    against ``size``, and :class:`IncompleteHeaderError` is raised when a needed byte lies
    beyond ``data``.
    """

    def __init__(self, data: bytes, implicit: bool, size: int | None = None,
                 wanted: Container[int] = ()) -> None:
        self.data = data
        self.wanted = wanted
        self.have = len(data)
        self.size = max(size or 0, self.have)
        self.implicit = implicit

    def _header(self, pos: int) -> tuple[int, int, bytes, int, int]:
        if pos + 8 > self.size:
            raise TruncatedError(f"truncated in an element header at byte {pos}")
        if pos + 12 > self.have and self.have < self.size:
            raise IncompleteHeaderError(pos)
        group, element = struct.unpack_from("<HH", self.data, pos)
        if group == 0xFFFE or self.implicit:
            (length,) = struct.unpack_from("<I", self.data, pos + 4)
            return group, element, b"", length, pos + 8
        vr = self.data[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            if pos + 12 > self.size:
                raise TruncatedError(f"truncated in an element header at byte {pos}")
            (length,) = struct.unpack_from("<I", self.data, pos + 8)
            return group, element, vr, length, pos + 12
        (length,) = struct.unpack_from("<H", self.data, pos + 6)
        return group, element, vr, length, pos + 8

    def dataset(self, pos: int, end: int, depth: int, collect: dict[int, bytes] | None) -> int:
        """Walk elements from ``pos`` to ``end`` (or an Item Delimitation when undefined).

        ``collect`` receives the values of the top-level elements whose tags are in ``wanted``.
        This loop runs for every element of every imported file, so it is written flat: an
        element whose 12 header bytes are all in memory takes the branch without bounds
        checks, and delimiters (group FFFE) are the rare branch.
        """
        if depth > 32:
            # Deeper nesting (an SR content tree) is sound DICOM the walk does not follow:
            # pydicom's reading decides. Returning here took the file for truncated.
            raise UnknownStructureError("sequences nested more than 32 deep")
        data, have, size, implicit = self.data, self.have, self.size, self.implicit
        wanted = self.wanted if collect is not None else ()
        # Below this offset a 12-byte header is in memory and inside the file.
        checked = min(have, size) - 12
        explicit_header = _EXPLICIT_HEADER.unpack_from
        u32 = _U32.unpack_from
        long_vrs = LONG_VRS
        while pos < end:
            if pos > checked:
                if pos + 8 > size:
                    # Trailing padding shorter than a header (some writers add one byte).
                    if end == size and have < size:
                        raise IncompleteHeaderError(pos)  # zeros or not: read them
                    if end == size == have and not any(data[pos:]):
                        return end
                    raise TruncatedError(f"truncated in an element header at byte {pos}")
                if pos + 12 > have and have < size:
                    raise IncompleteHeaderError(pos)
            if implicit:
                group, element, length = _IMPLICIT_HEADER.unpack_from(data, pos)
                vr = b""
                value = pos + 8
            else:
                group, element, vr, length = explicit_header(data, pos)
                if group == 0xFFFE:
                    (length,) = u32(data, pos + 4)
                    value = pos + 8
                elif vr in long_vrs:
                    if pos + 12 > size:
                        raise TruncatedError(f"truncated in an element header at byte {pos}")
                    (length,) = u32(data, pos + 8)
                    value = pos + 12
                else:
                    value = pos + 8
            if group == 0xFFFE:
                if element == 0xE00D:
                    return value
                if element == 0xE0DD and length != UNDEFINED_LENGTH:
                    if value + length > size:
                        raise TruncatedError(
                            f"truncated inside element {tag_text(group, element)}: {length} "
                            f"bytes declared, {size - value} in the file"
                        )
                    return value
            if length == UNDEFINED_LENGTH:
                # PS3.5 6.2.2: an undefined-length UN holds implicit VR little endian items.
                walker = Walker(data, True, size, self.wanted) if vr == b"UN" else self
                pos = walker._undefined(value, tag_text(group, element), depth)
                continue
            pos = value + length
            if pos > size:
                raise TruncatedError(
                    f"truncated inside element {tag_text(group, element)}: {length} bytes "
                    f"declared, {size - value} in the file"
                )
            if group << 16 | element in wanted:
                if length > MOST_COLLECTED:
                    # A UID, a name, a date: none is near this. Read on, it took the whole
                    # file into memory, twice (a 1 GiB Series Description, 8 kB on disk).
                    raise TruncatedError(
                        f"element {tag_text(group, element)} declares {length} bytes, more "
                        f"than any value of its kind holds: the header is damaged")
                if pos > have:
                    raise IncompleteHeaderError(value)
                collect[group << 16 | element] = data[value:pos]  # type: ignore[index]
        return pos

    def _undefined(self, pos: int, tag: str, depth: int) -> int:
        """Items of an undefined-length sequence or encapsulated pixel data (PS3.5 7.5, A.4)."""
        while True:
            if pos + 8 > self.size:
                raise TruncatedError(f"truncated inside element {tag}: no sequence delimiter")
            group, element, _vr, length, value = self._header(pos)
            if (group, element) == SEQUENCE_END:
                return value
            if (group, element) != ITEM:
                raise UnknownStructureError(tag)
            if length == UNDEFINED_LENGTH:
                pos = self.dataset(value, self.size, depth + 1, None)
                continue
            if value + length > self.size:
                raise TruncatedError(f"truncated inside an item of element {tag}")
            pos = value + length


