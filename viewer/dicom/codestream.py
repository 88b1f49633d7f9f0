"""What an encapsulated frame will decode to, read from its codestream before decoding.

A decoder allocates what the codestream declares, not what the DICOM header says: a 10 KB
file whose JPEG, JPEG-LS or JPEG 2000 header claims 60000 x 60000 pixels took 6 to 24 GB,
and the JPEG one got the process killed (PS3.5 8.2: the codestream's dimensions are the
image's). And an RLE frame
(PS3.5 G) decodes to the header's size, whatever its few bytes. A frame is checked here
first, so that a damaged or hostile file is named instead of exhausting memory.
"""

from __future__ import annotations

import struct

# ISO/IEC 10918-1 B.1.1.3 Table B.1: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC);
# ISO/IEC 14495-1 C.2.2: SOF55 (F7), JPEG-LS.
_SOF = frozenset({*range(0xC0, 0xD0), 0xF7}) - {0xC4, 0xC8, 0xCC}
# Markers without a length field (ISO/IEC 10918-1 B.1.1.2): TEM, RSTn, SOI, EOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_RLE_SYNTAX = "1.2.840.10008.1.2.5"
# PS3.5 G.3.1: a PackBits replicate run turns 2 bytes into at most 128.
_RLE_MOST_PER_BYTE = 64
# No modality's single frame comes near this (a 65535 x 65535 x 3 x 16-bit frame is 25 GB);
# beyond it a frame is taken for damaged rather than decoded.
MOST_DECODED_BYTES = 1 << 30


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a JPEG or JPEG-LS frame header (SOFn), or None if not found.

    ISO/IEC 10918-1 B.2.2: after the marker and its length, a byte of precision, then
    the number of lines and of samples per line, big endian.
    """
    found = _jpeg_frame_header(data)
    return None if found is None else (found[1], found[2])


def _jpeg_frame_header(data: bytes) -> tuple[int, int, int] | None:
    """(SOF marker, rows, columns) of a JPEG or JPEG-LS codestream, or None."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in _SOF:
            if pos + 9 > end:
                return None
            rows, columns = struct.unpack_from(">HH", data, pos + 5)
            return marker, rows, columns
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            return None
        pos += 2 + length
    return None


def j2k_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a JPEG 2000 (or HTJ2K) SIZ marker segment, or None.

    ISO/IEC 15444-1 A.5.1: SIZ follows SOC; the image is Xsiz - XOsiz wide and Ysiz - YOsiz
    high on the reference grid. A JP2 file format wrapper (some writers add one) is
    skipped to its contiguous codestream box.
    """
    pos = 0
    if data.startswith(_JP2_SIGNATURE):
        pos = len(_JP2_SIGNATURE)
        while pos + 8 <= len(data):
            (length,) = struct.unpack_from(">L", data, pos)
            if data[pos + 4:pos + 8] == b"jp2c":
                pos += 8
                break
            if length < 8:
                return None
            pos += length
    # SOC, SIZ marker, Lsiz (2 bytes), Rsiz (2 bytes), then Xsiz, Ysiz, XOsiz, YOsiz.
    if data[pos:pos + 4] != b"\xff\x4f\xff\x51" or pos + 24 > len(data):
        return None
    x_size, y_size, x_offset, y_offset = struct.unpack_from(">LLLL", data, pos + 8)
    if x_offset > x_size or y_offset > y_size:
        return None
    return y_size - y_offset, x_size - x_offset


def frame_problem(transfer_syntax: str, encoded: bytes, rows: int, columns: int,
                  decoded_bytes: int) -> str:
    """Why an encapsulated frame must not be decoded, or "" if it may.

    Parameters
    ----------
    transfer_syntax : str
        The file's transfer syntax UID.
    encoded : bytes
        The frame's encoded bytes (its fragments joined).
    rows, columns : int
        The header's Rows and Columns (PS3.3 C.7.6.3).
    decoded_bytes : int
        What the header says the decoded frame takes.
    """
    if decoded_bytes > MOST_DECODED_BYTES:
        return (f"would decode to {decoded_bytes / 1e9:.1f} GB, more than any image "
                f"Lightbox opens ({MOST_DECODED_BYTES / 1e9:.1f} GB)")
    if transfer_syntax == _RLE_SYNTAX:
        if decoded_bytes > _RLE_MOST_PER_BYTE * len(encoded):
            return (f"holds {len(encoded)} bytes of RLE, which cannot decode to the "
                    f"{decoded_bytes} bytes of a {columns}x{rows} frame")
        return ""
    is_jpeg = encoded[:2] == b"\xff\xd8"
    # The decoders fill in what a cut-short JPEG or JPEG-LS codestream lacks (libjpeg-turbo
    # only warns of a premature end): rows that look whole but were never stored. Entropy-
    # coded data never holds FF D9 (ISO/IEC 10918-1 B.1.1.5, 14495-1 9.1), so its absence
    # from the last bytes means the codestream was cut. Padding after it (NULs to an even
    # length or to a block, FF fill bytes) cannot make an FF D9, so it is looked past.
    if is_jpeg and b"\xff\xd9" not in encoded.rstrip(b"\x00\xff")[-8:]:
        return ("is cut short: its JPEG codestream ends without its end-of-image marker "
                "(a file or transfer interrupted)")
    header = _jpeg_frame_header(encoded) if is_jpeg else None  # one walk of the markers
    size = (header[1], header[2]) if header is not None else (
        None if is_jpeg else j2k_size(encoded))
    if size is not None and size != (rows, columns):
        return (f"its codestream is {size[1]}x{size[0]} pixels, the header says "
                f"{columns}x{rows}")
    least = _least_jpeg_bytes(header[0], rows, columns) if header is not None else 0
    if len(encoded) < least:
        # The decoders invent what is not there: 1 KB claiming 30000 x 30000 took 4.5 GB
        # and a minute to render, as a thumbnail too.
        return (f"holds {len(encoded)} bytes of JPEG, fewer than any {columns}x{rows} "
                f"frame takes (at least {least}): the codestream is damaged")
    return ""


def _least_jpeg_bytes(marker: int, rows: int, columns: int) -> int:
    """The fewest bytes a Huffman-coded JPEG or a JPEG-LS codestream of ``rows`` x
    ``columns`` can hold, or 0 where no bound is known (arithmetic or hierarchical
    coding).

    Each Huffman code is at least one bit: a DCT block's DC difference (ISO/IEC 10918-1
    F.1.2.1, progressive scans included), a lossless sample's difference (H.1.2.2). A
    JPEG-LS run codes at most 2^15 samples per bit and each line ends its run (ISO/IEC
    14495-1 A.7.1.1, J[31] = 15). Counted for one component, a lower bound for all.
    """
    if marker in (0xC0, 0xC1, 0xC2):
        bits = ((rows + 7) // 8) * ((columns + 7) // 8)
    elif marker == 0xC3:
        bits = rows * columns
    elif marker == 0xF7:
        bits = max(rows, rows * columns >> 15)
    else:
        return 0
    return bits // 8
