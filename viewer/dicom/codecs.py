"""The decoder used for each transfer syntax: a fast lossless path beside pydicom's plugins.

pylibjpeg, through pydicom's decoder plugins, is the decoder that is always there. Where
imagecodecs is installed it decodes the lossless grayscale syntaxes instead: it is several
times faster than pylibjpeg on JPEG Lossless (libjpeg-turbo) and JPEG-LS (CharLS), as fast
on JPEG 2000 (the same OpenJPEG), and it releases the GIL while it decodes, so a pool of
threads decodes on every core. Its output equals pylibjpeg's bit for bit (checked in the
tests): a lossless codestream has one right answer. Lossy syntaxes are left to pydicom,
where two libraries may round differently.

The fast path writes straight into a caller's array (a slice of a series volume) and applies
the same signedness corrections as pydicom (PS3.5 8.2.3 for JPEG-LS, 8.2.4 for JPEG 2000);
:mod:`viewer.dicom.frames` then masks to Bits Stored with :func:`mask_stored_inplace`, the
in-place twin of :func:`mask_stored` that every decoded frame goes through.
"""

from __future__ import annotations

import itertools
import logging
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import get_j2k_parameters
from pydicom.uid import (
    UID,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

log = logging.getLogger(__name__)

_ic: Any
try:  # optional: the fast path; pylibjpeg through pydicom is the fallback
    import imagecodecs as _ic
except ImportError:  # pragma: no cover - imagecodecs is a declared dependency
    _ic = None

BASELINE_PLUGIN = "pylibjpeg"
"""pydicom decoding plugin preferred for every encapsulated syntax when it is installed."""

_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
)
_SOS = 0xDA


class CodestreamError(ValueError):
    """The encoded frame is not what the fast path expects; pydicom decodes it instead."""


@dataclass(frozen=True)
class FrameSpec:
    """What the fast path needs to know about a file's frames (PS3.3 C.7.6.3)."""

    rows: int
    columns: int
    bits_allocated: int
    bits_stored: int
    signed: bool

    @property
    def dtype(self) -> np.dtype[Any]:
        """The stored-value dtype, as pydicom returns it (native byte order)."""
        return np.dtype(f"{'i' if self.signed else 'u'}{self.bits_allocated // 8}")


FrameDecoder = Callable[[bytes, npt.NDArray[Any], FrameSpec], None]


def jpeg_precision(src: bytes) -> int:
    """Sample precision P of a JPEG or JPEG-LS codestream's frame header.

    ISO/IEC 10918-1 B.2.2 (SOFn) and ISO/IEC 14495-1 C.2.2 (SOF55): the byte after the
    segment length.

    Raises
    ------
    CodestreamError
        No SOI, or no frame header before the first scan.
    """
    if src[:2] != b"\xff\xd8":
        raise CodestreamError("no JPEG SOI marker")
    pos = 2
    end = len(src) - 4
    while pos < end:
        if src[pos] != 0xFF:
            raise CodestreamError(f"no JPEG marker at byte {pos}")
        marker = src[pos + 1]
        if marker == 0xFF:  # fill byte (B.1.1.2)
            pos += 1
            continue
        if marker in _SOF:
            return src[pos + 4]
        if marker == _SOS:
            break
        (length,) = struct.unpack_from(">H", src, pos + 2)
        pos += 2 + length
    raise CodestreamError("no JPEG frame header")


def _shift_extend(out: npt.NDArray[Any], precision: int) -> None:
    # Shift the sign bit of a precision-bit value to the top and back: arithmetic for a
    # signed dtype (sign extension), logical for an unsigned one (masking). In place.
    bits = 8 * out.dtype.itemsize
    shift = bits - precision
    if 0 < shift < bits:
        unsigned = out.view(f"u{out.dtype.itemsize}")  # a left shift is defined on unsigned
        np.left_shift(unsigned, shift, out=unsigned)
        np.right_shift(out, shift, out=out)


def _target(out: npt.NDArray[Any], spec: FrameSpec) -> npt.NDArray[Any]:
    if out.shape != (spec.rows, spec.columns) or out.dtype != spec.dtype:
        raise ValueError(f"out must be {spec.rows}x{spec.columns} {spec.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    return out


def _decode_jpeg(src: bytes, out: npt.NDArray[Any], spec: FrameSpec) -> None:
    # PS3.5 A.4.1 / 8.2.1: the decoded sample is the stored value's bit pattern; masking to
    # Bits Stored and sign extension follow in frames.py, as after pydicom's decoders.
    out = _target(out, spec)
    precision = jpeg_precision(src)
    if (precision > 8) != (spec.bits_allocated == 16):
        raise CodestreamError(f"precision {precision} with Bits Allocated {spec.bits_allocated}")
    _ic.jpeg8_decode(src, out=out.view(f"u{spec.bits_allocated // 8}"))


def _decode_jpegls(src: bytes, out: npt.NDArray[Any], spec: FrameSpec) -> None:
    out = _target(out, spec)
    precision = jpeg_precision(src)
    if (precision > 8) != (spec.bits_allocated == 16):
        raise CodestreamError(f"precision {precision} with Bits Allocated {spec.bits_allocated}")
    _ic.jpegls_decode(src, out=out.view(f"u{spec.bits_allocated // 8}"))
    if spec.signed:
        # JPEG-LS has no sign: signed values are their P-bit two's complement (PS3.5 8.2.3),
        # extended from P, the codestream's precision, which may be below Bits Stored.
        _shift_extend(out, precision)


def _decode_j2k(src: bytes, out: npt.NDArray[Any], spec: FrameSpec) -> None:
    out = _target(out, spec)
    info = get_j2k_parameters(src)
    if not info:
        raise CodestreamError("no JPEG 2000 SIZ marker")
    precision = int(info["precision"])
    j2k_signed = bool(info["is_signed"])
    if (precision > 8) != (spec.bits_allocated == 16) or precision > 16:
        raise CodestreamError(f"precision {precision} with Bits Allocated {spec.bits_allocated}")
    kind = "i" if j2k_signed else "u"
    _ic.jpeg2k_decode(src, out=out.view(f"{kind}{spec.bits_allocated // 8}"))
    if j2k_signed != spec.signed:
        # PS3.5 8.2.4: the codestream's signedness should match Pixel Representation; some
        # encoders disagree, and the P-bit pattern is then reread as pydicom does.
        _shift_extend(out, precision)


def _decode_rle(src: bytes, out: npt.NDArray[Any], spec: FrameSpec) -> None:
    # PS3.5 G.3: a 64-byte header (segment count, 15 offsets), then one PackBits segment per
    # byte of the sample, most significant first. imagecodecs trusts the offsets (an offset
    # past the end crashes it), so the header is checked here first.
    out = _target(out, spec)
    nbytes = spec.bits_allocated // 8
    if len(src) < 64:
        raise CodestreamError("RLE header is truncated")
    header = struct.unpack_from("<16I", src)
    if header[0] != nbytes:
        raise CodestreamError(f"{header[0]} RLE segments for {nbytes} bytes per pixel")
    bounds = [*header[1 : 1 + nbytes], len(src)]
    if bounds[0] < 64 or any(b <= a for a, b in itertools.pairwise(bounds)):
        raise CodestreamError(f"RLE segment offsets {bounds[:-1]} out of order or range")
    # Segment by segment: a segment that decodes short left the rest of ``out`` as it was
    # (uninitialised memory, shown as pixels); each must give a byte for every pixel.
    pixels = out.size
    cells = out.reshape(-1).view(np.uint8).reshape(pixels, nbytes)
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        segment = _ic.packbits_decode(src[start:end])
        if len(segment) < pixels:
            raise CodestreamError(f"RLE segment {number + 1} decodes to {len(segment)} "
                                  f"bytes, fewer than the frame's {pixels} pixels")
        column = nbytes - 1 - number if sys.byteorder == "little" else number
        cells[:, column] = np.frombuffer(segment, np.uint8, pixels)


_FAST: dict[str, tuple[str, FrameDecoder]] = {
    JPEGLossless: ("imagecodecs (libjpeg-turbo)", _decode_jpeg),  # PS3.5 A.4.1
    JPEGLosslessSV1: ("imagecodecs (libjpeg-turbo)", _decode_jpeg),
    JPEGLSLossless: ("imagecodecs (CharLS)", _decode_jpegls),  # PS3.5 A.4.3
    JPEG2000Lossless: ("imagecodecs (OpenJPEG)", _decode_j2k),  # PS3.5 A.4.4
    # PS3.5 A.4.11: the same SIZ marker and decoder (OpenJPEG reads HTJ2K code-blocks).
    HTJ2KLossless: ("imagecodecs (OpenJPEG)", _decode_j2k),
    HTJ2KLosslessRPCL: ("imagecodecs (OpenJPEG)", _decode_j2k),
    RLELossless: ("imagecodecs (DICOM RLE)", _decode_rle),  # PS3.5 A.4.2
}


def fast_decoder(
    transfer_syntax: str,
    *,
    samples_per_pixel: int,
    photometric: str,
    bits_allocated: int,
    is_float: bool = False,
) -> tuple[str, FrameDecoder] | None:
    """The GIL-releasing decoder for one file's frames, or None to let pydicom decode.

    Only lossless syntaxes of single-sample grayscale images with 8 or 16 bits allocated
    take the fast path: there the output is defined exactly, and it is what a diagnostic
    series is made of (CT, MR, CR/DX).
    """
    if _ic is None or is_float or samples_per_pixel != 1 or bits_allocated not in (8, 16):
        return None
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return None
    return _FAST.get(transfer_syntax)


def mask_stored(arr: npt.NDArray[Any], bits_stored: int, signed: bool,
                low_bit: int = 0) -> npt.NDArray[Any]:
    """Keep the ``bits_stored`` bits from ``low_bit`` up, shifted down, and sign-extend
    when ``signed`` (PS3.5 8.1.1: the value is bits High Bit - Bits Stored + 1 to High
    Bit of its cell).

    Bits outside them may hold garbage or retired overlays; they never reach the pixel
    value.
    """
    itemsize = arr.dtype.itemsize
    if arr.dtype.kind not in "ui" or (bits_stored >= itemsize * 8 and not low_bit):
        return arr
    word = arr.view(f"u{itemsize}")
    if low_bit:
        word = word >> np.array(low_bit, dtype=word.dtype)
    unsigned = word & np.array((1 << bits_stored) - 1, dtype=f"u{itemsize}")
    if not signed:
        return np.asarray(unsigned)
    sign = np.array(1 << (bits_stored - 1), dtype=f"i{itemsize}")
    values = unsigned.view(f"i{itemsize}")
    return np.asarray((values ^ sign) - sign)


def mask_stored_inplace(arr: npt.NDArray[Any], bits_stored: int, signed: bool,
                        low_bit: int = 0) -> npt.NDArray[Any]:
    """:func:`mask_stored` in place, for frames written into a volume (PS3.5 8.1.1).

    ``arr`` must be of a signed dtype when ``signed`` (as decoders return them). Returns
    ``arr``.
    """
    itemsize = arr.dtype.itemsize
    if arr.dtype.kind not in "ui" or (bits_stored >= itemsize * 8 and not low_bit):
        return arr
    unsigned = arr.view(f"u{itemsize}")
    if not signed:
        if low_bit:
            np.right_shift(unsigned, low_bit, out=unsigned)
        mask = np.array((1 << bits_stored) - 1, dtype=unsigned.dtype)
        np.bitwise_and(unsigned, mask, out=unsigned)
        return arr
    # the value's top bit to the top of the cell, then an arithmetic shift back down:
    # drops what is above and below it and sign-extends, all at once
    np.left_shift(unsigned, itemsize * 8 - bits_stored - low_bit, out=unsigned)
    values = arr.view(f"i{itemsize}")
    np.right_shift(values, itemsize * 8 - bits_stored, out=values)
    return arr


def lossy_jpeg_fallback(transfer_syntax: str, *, samples_per_pixel: int,
                        bits_allocated: int) -> FrameDecoder | None:
    """libjpeg-turbo for a grayscale lossy JPEG frame (PS3.5 A.4.1) that pydicom's
    plugins refused, or None.

    Some archives' 12-bit JPEG Extended frames bend ISO/IEC 10918-1 (a scan's spectral
    selection other than 0-63, B.2.3): pylibjpeg refuses them, Pillow has no 12-bit
    JPEG, while libjpeg-turbo, of the IJG lineage dcmtk uses, decodes them to dcmtk's
    values. Colour frames are left refused: their YCbCr conversion is pydicom's.
    """
    if (_ic is None or samples_per_pixel != 1 or bits_allocated not in (8, 16)
            or transfer_syntax not in (JPEGBaseline8Bit, JPEGExtended12Bit)):
        return None
    return _decode_jpeg


def pydicom_plugins(transfer_syntax: UID) -> tuple[str, ...]:
    """The pydicom decoding plugins to try in turn; empty to let pydicom choose.

    pylibjpeg first, then the other installed plugins except GDCM, so that results do not
    depend on what else is installed. GDCM is left out: it prints to the process's stderr
    on bad input, and the benchmarks install it only as a peer.
    """
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        return ()
    if decoder.is_native:
        return ()
    available = list(decoder.available_plugins)
    ordered = sorted((p for p in available if p != "gdcm"), key=lambda p: p != BASELINE_PLUGIN)
    return tuple(ordered) if ordered else tuple(available)


def decoder_names() -> dict[str, str]:
    """Which decoder this installation uses per lossless syntax (for logs and benchmarks)."""
    names = {}
    for uid in _FAST:
        fast = fast_decoder(uid, samples_per_pixel=1, photometric="MONOCHROME2", bits_allocated=16)
        plugins = pydicom_plugins(UID(uid))
        names[UID(uid).name] = fast[0] if fast else f"pydicom ({', '.join(plugins)})"
    return names
