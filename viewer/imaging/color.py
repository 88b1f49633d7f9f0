"""Colour images: YBR_FULL / YBR_FULL_422 / YBR_PARTIAL_422 to RGB, palette colour and
supplemental palettes.

PS3.3 C.7.6.3.1.2 (photometric interpretations), C.7.6.3.1.5/.6 and C.7.9 (palette colour
lookup tables), C.7.6.19 and C.8.16.2.1.1.1 (supplemental palette colour LUT). Inputs are
numpy arrays of stored values; outputs are 8-bit RGB ready for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

UInt8Array = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int64]

# ITU-T T.871 (JFIF) inverse transform as PS3.3 C.7.6.3.1.2 references for YBR_FULL.
_YBR_TO_RGB = np.array(
    [
        [1.0, 1.0, 1.0],
        [0.0, -0.114 * 1.772 / 0.587, 1.772],
        [1.402, -0.299 * 1.402 / 0.587, 0.0],
    ]
)


# PS3.3 C.7.6.3.1.2 YBR_PARTIAL_422 forward equations, inverted as they are written.
_PARTIAL_TO_RGB = np.linalg.inv(
    np.array(
        [
            [0.2568, 0.5041, 0.0979],
            [-0.1482, -0.2910, 0.4392],
            [0.4392, -0.3678, -0.0714],
        ]
    )
)


def ybr_full_to_rgb(ybr: npt.NDArray[np.integer], bits: int = 8) -> npt.NDArray[np.integer]:
    """Convert full-range YCbCr samples to RGB (PS3.3 C.7.6.3.1.2 YBR_FULL, ITU-T T.871).

    Parameters
    ----------
    ybr : numpy.ndarray
        ``(..., 3)`` Y, Cb, Cr samples.
    bits : int
        Bits Stored; Cb/Cr are centred on ``2**(bits-1)``.

    Returns
    -------
    numpy.ndarray
        RGB with the input's dtype, rounded half up and clipped to ``0..2**bits-1``.
    """
    arr = ybr.astype(np.float64)
    arr[..., 1:] -= float(1 << (bits - 1))
    rgb = (
        arr @ _YBR_TO_RGB
    )  # R = Y + 1.402 Cr'; G = Y - 0.344136 Cb' - 0.714136 Cr'; B = Y + 1.772 Cb'
    rgb = np.clip(np.floor(rgb + 0.5), 0, (1 << bits) - 1)
    result: npt.NDArray[np.integer] = rgb.astype(ybr.dtype)
    return result


def ybr_partial_to_rgb(ybr: npt.NDArray[np.integer], bits: int = 8) -> npt.NDArray[np.integer]:
    """Convert partial-range YCbCr samples to RGB (PS3.3 C.7.6.3.1.2 YBR_PARTIAL_422).

    The inverse of the standard's forward equations (``Y = .2568R + .5041G + .0979B + 16``,
    ``CB = -.1482R - .2910G + .4392B + 128``, ``CR = .4392R - .3678G - .0714B + 128``), with
    the offsets scaled to ``bits``.

    Parameters
    ----------
    ybr : numpy.ndarray
        ``(..., 3)`` Y, Cb, Cr samples, chroma already shared out (:func:`expand_ybr_422`).
    bits : int
        Bits Stored.

    Returns
    -------
    numpy.ndarray
        RGB with the input's dtype, rounded half up and clipped to ``0..2**bits-1``.
    """
    scale = float(1 << (bits - 8)) if bits >= 8 else 1.0 / (1 << (8 - bits))
    arr = ybr.astype(np.float64) - np.array([16.0, 128.0, 128.0]) * scale
    rgb = arr @ _PARTIAL_TO_RGB.T
    rgb = np.clip(np.floor(rgb + 0.5), 0, (1 << bits) - 1)
    result: npt.NDArray[np.integer] = rgb.astype(ybr.dtype)
    return result


def expand_ybr_422(
    samples: npt.NDArray[np.integer], rows: int, cols: int
) -> npt.NDArray[np.integer]:
    """Expand uncompressed 4:2:2 YCbCr samples to one Y, Cb, Cr triple per pixel.

    Parameters
    ----------
    samples : numpy.ndarray
        The frame's samples in file order, ``Y1 Y2 Cb Cr`` per horizontal pixel pair
        (PS3.3 C.7.6.3.1.2 YBR_FULL_422 and YBR_PARTIAL_422, Planar Configuration 0);
        ``rows * cols * 2`` values.
    rows, cols : int
        Frame size; ``cols`` is even.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols, 3)`` samples; each pair shares its Cb and Cr.
    """
    if cols % 2:
        raise ValueError(f"4:2:2 YCbCr needs an even number of columns, got {cols}")
    quads: npt.NDArray[np.integer] = np.asarray(samples).reshape(rows, cols // 2, 4)
    out: npt.NDArray[np.integer] = np.empty((rows, cols, 3), dtype=quads.dtype)
    out[:, 0::2, 0] = quads[..., 0]
    out[:, 1::2, 0] = quads[..., 1]
    out[..., 1] = np.repeat(quads[..., 2], 2, axis=1)
    out[..., 2] = np.repeat(quads[..., 3], 2, axis=1)
    return out


def interleave_planes(
    samples: npt.NDArray[np.integer], rows: int, cols: int
) -> npt.NDArray[np.integer]:
    """Reorder a Planar Configuration 1 frame (``RRR…GGG…BBB``) to ``rows x cols x 3``.

    PS3.3 C.7.6.3.1.3: with Planar Configuration 1 each colour plane of a frame is sent whole.
    """
    planes: npt.NDArray[np.integer] = np.asarray(samples).reshape(3, rows, cols)
    return np.moveaxis(planes, 0, -1)


def to_8bit(values: npt.NDArray[np.integer], bits: int) -> UInt8Array:
    """Reduce unsigned samples of ``bits`` significant bits to 8 bits (their top 8 bits).

    Matches dcmtk's 8-bit output of 16-bit RGB images and palettes; ``bits <= 8`` is unchanged.
    """
    if bits <= 8:
        return values.astype(np.uint8)
    return (values.astype(np.int64) >> (bits - 8)).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class PaletteChannel:
    """One channel of a palette colour LUT (PS3.3 C.7.6.3.1.5).

    Attributes
    ----------
    first_mapped : int
        Stored value mapped to ``entries[0]`` (may be negative for signed pixel data).
    entries : numpy.ndarray
        The expanded table, int64 values in ``0..2**bits-1``.
    bits : int
        Bits per entry, 8 or 16.
    """

    first_mapped: int
    entries: IntArray
    bits: int

    def lookup(self, stored: npt.NDArray[np.integer]) -> IntArray:
        """Entries for ``stored`` values; below the first → entry 0, beyond the last → last."""
        index = np.clip(stored.astype(np.int64) - self.first_mapped, 0, len(self.entries) - 1)
        result: IntArray = self.entries[index]
        return result

    def lookup8(self, stored: npt.NDArray[np.integer]) -> UInt8Array:
        """As :meth:`lookup`, reduced to 8 bits (the top 8 bits of each entry)."""
        # Top 8 bits, as dcmtk does: 16-bit palettes usually hold 8-bit colours in the high
        # byte (0xFF00 is full intensity), which a 255/65535 scaling would turn into 254.
        return to_8bit(self.lookup(stored), self.bits)


@dataclass(frozen=True, eq=False)
class PaletteLut:
    """Red, green, blue (and optional alpha) palette colour LUTs (PS3.3 C.7.6.3.1.5/.6).

    Attributes
    ----------
    red, green, blue : PaletteChannel
        The colour channels.
    alpha : PaletteChannel or None
        Alpha Palette Color LUT (0028,1104)/(0028,1204) when present.
    uid : str or None
        Palette Color Lookup Table UID (0028,1199).
    """

    red: PaletteChannel
    green: PaletteChannel
    blue: PaletteChannel
    alpha: PaletteChannel | None = None
    uid: str | None = None

    @property
    def first_mapped(self) -> int:
        """The red channel's first mapped value (all channels share it in practice)."""
        return self.red.first_mapped


def expand_segmented(
    words: Sequence[int] | npt.NDArray[np.integer], bytes_per_word: int = 2
) -> IntArray:
    """Expand segmented palette LUT data (PS3.3 C.7.9.2).

    Parameters
    ----------
    words : sequence of int
        The segmented data as words (16-bit for 16-bit palettes, bytes for 8-bit ones).
    bytes_per_word : int
        Size of one word, to turn an indirect segment's byte offset into a word index (the
        offset counts bytes, as GDCM reads it; pydicom 3.0.2 takes it as a word index).

    Returns
    -------
    numpy.ndarray
        The expanded LUT entries (int64).

    Raises
    ------
    ValueError
        On an unknown opcode, a linear or indirect segment first, a truncated stream or an
        indirect segment that points outside the data or at itself.
    """
    data = [int(w) for w in words]
    out: list[int] = []
    _expand_into(data, 0, None, out, bytes_per_word, depth=0)
    return np.asarray(out, dtype=np.int64)


def _expand_into(
    data: list[int], pos: int, count: int | None, out: list[int], word_bytes: int, depth: int
) -> None:
    if depth > 8:
        raise ValueError("segmented LUT: indirect segments nest too deeply")
    done = 0
    # A trailing pad word is allowed: every segment is longer than 2 words.
    while pos + 1 < len(data) and (count is None or done < count):
        opcode, length = data[pos], data[pos + 1]
        pos += 2
        if opcode == 0:  # PS3.3 C.7.9.2.1 discrete segment
            if pos + length > len(data):
                raise ValueError("segmented LUT: discrete segment runs past the data")
            out.extend(data[pos : pos + length])
            pos += length
        elif opcode == 1:  # PS3.3 C.7.9.2.2 linear segment, from the previous value to y1
            if not out:
                raise ValueError("segmented LUT: a linear segment cannot come first")
            if pos >= len(data):
                raise ValueError("segmented LUT: linear segment without its end value")
            y0, y1 = out[-1], data[pos]
            pos += 1
            steps = np.arange(1, length + 1, dtype=np.float64)
            out.extend(np.rint(y0 + (y1 - y0) * steps / length).astype(np.int64).tolist())
        elif opcode == 2:  # PS3.3 C.7.9.2.3 indirect segment, 32-bit byte offset, low word first
            if not out:
                raise ValueError("segmented LUT: an indirect segment cannot come first")
            if word_bytes == 1:
                if pos + 4 > len(data):
                    raise ValueError("segmented LUT: truncated indirect segment")
                low = data[pos] | data[pos + 1] << 8
                high = data[pos + 2] | data[pos + 3] << 8
                pos += 4
            else:
                if pos + 2 > len(data):
                    raise ValueError("segmented LUT: truncated indirect segment")
                low, high = data[pos], data[pos + 1]
                pos += 2
            target = (high << 16 | low) // word_bytes
            if target >= pos - 4 or target < 0:
                raise ValueError("segmented LUT: indirect segment must point to earlier segments")
            _expand_into(data, target, length, out, word_bytes, depth + 1)
        else:
            raise ValueError(f"segmented LUT: unknown segment opcode {opcode}")
        done += 1


def apply_palette(stored: npt.NDArray[np.integer], palette: PaletteLut) -> UInt8Array:
    """Colour stored values through a palette (PS3.3 C.7.6.3.1.5, PALETTE COLOR).

    Parameters
    ----------
    stored : numpy.ndarray
        Stored pixel values, ``rows x cols`` (any leading frame axes).
    palette : PaletteLut
        The image's palette.

    Returns
    -------
    numpy.ndarray
        uint8 ``(..., 3)`` RGB; 16-bit entries are scaled to 8 bits.
    """
    out = np.empty((*stored.shape, 3), dtype=np.uint8)
    for k, channel in enumerate((palette.red, palette.green, palette.blue)):
        out[..., k] = channel.lookup8(stored)
    return out


def apply_supplemental(
    stored: npt.NDArray[np.integer], gray: npt.NDArray[np.uint8], palette: PaletteLut
) -> UInt8Array:
    """Combine grayscale output and a supplemental palette (PS3.3 C.7.6.19, C.8.16.2.1.1.1).

    Parameters
    ----------
    stored : numpy.ndarray
        Stored values of the frame, ``rows x cols``.
    gray : numpy.ndarray
        The grayscale pipeline's 8-bit output for the same frame, ``rows x cols`` or
        ``rows x cols x 3``.
    palette : PaletteLut
        The supplemental palette.

    Returns
    -------
    numpy.ndarray
        uint8 ``rows x cols x 3``: stored values at or above the palette's first mapped value are
        coloured by the palette, the others keep their grayscale rendering.
    """
    if gray.ndim == stored.ndim:
        out = np.repeat(gray[..., np.newaxis], 3, axis=-1).astype(np.uint8)
    else:
        out = gray.astype(np.uint8, copy=True)
    coloured = stored >= palette.first_mapped  # C.8.16.2.1.1.1: below first mapped -> grayscale
    out[coloured] = apply_palette(stored[coloured], palette)
    return out
