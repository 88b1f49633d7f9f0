"""Overlay planes (PS3.3 C.9.2): bit planes placed on image frames.

Overlays are drawn after the grayscale pipeline at a fixed output level (they are not windowed);
this module only answers "which image pixels does this overlay cover on that frame".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]

#: Overlay groups are 6000-601E, even groups only (PS3.3 C.9.2).
OVERLAY_GROUPS = tuple(range(0x6000, 0x6020, 2))


@dataclass(frozen=True, eq=False)
class OverlayPlane:
    """One overlay plane (repeating group 60xx).

    Attributes
    ----------
    group : int
        0x6000..0x601E.
    rows, cols : int
        Overlay Rows (60xx,0010) / Overlay Columns (60xx,0011).
    origin : tuple of int
        Overlay Origin (60xx,0050), 1-based ``(row, column)`` of the overlay's first pixel in the
        image; may be < 1 or beyond the image.
    n_frames : int
        Number of Frames in Overlay (60xx,0015), default 1.
    image_frame_origin : int
        Image Frame Origin (60xx,0051): 1-based image frame of overlay frame 1.
    overlay_type : str
        Overlay Type (60xx,0040): ``G`` graphics or ``R`` ROI.
    label, description : str or None
        Overlay Label (60xx,1500) and Overlay Description (60xx,0022).
    bits : numpy.ndarray or None
        ``(n_frames, rows, cols)`` bool planes from Overlay Data (60xx,3000); None for an
        embedded overlay.
    bit_position : int or None
        Overlay Bit Position (60xx,0102) of an embedded (retired) overlay inside the pixel words;
        None when the overlay has its own Overlay Data.
    """

    group: int
    rows: int
    cols: int
    origin: tuple[int, int] = (1, 1)
    n_frames: int = 1
    image_frame_origin: int = 1
    overlay_type: str = "G"
    label: str | None = None
    description: str | None = None
    bits: BoolArray | None = None
    bit_position: int | None = None

    @property
    def embedded(self) -> bool:
        """True for an overlay stored in unused high bits of the pixel data (retired form)."""
        return self.bits is None

    def overlay_frame(self, frame_index: int) -> int | None:
        """0-based overlay frame shown on 0-based image frame ``frame_index``, or None."""
        k = frame_index + 1 - self.image_frame_origin  # PS3.3 C.9.3 Multi-frame Overlay
        return k if 0 <= k < self.n_frames else None


def unpack_bits(data: bytes | npt.NDArray[np.uint8], count: int, bit_offset: int = 0) -> BoolArray:
    """Unpack ``count`` bits starting at bit ``bit_offset``, least significant bit first.

    Parameters
    ----------
    data : bytes or numpy.ndarray
        Packed bits (Overlay Data, or Pixel Data with Bits Allocated 1), byte order as in a
        little endian stream.
    count : int
        Number of bits to return.
    bit_offset : int
        Index of the first bit; frames of packed data are not byte aligned (PS3.5 8.1.1).

    Returns
    -------
    numpy.ndarray
        ``count`` booleans.

    Raises
    ------
    ValueError
        When the data holds fewer than ``bit_offset + count`` bits.
    """
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    first = bit_offset // 8
    last = (bit_offset + count + 7) // 8
    if last > raw.size:
        raise ValueError(f"need {bit_offset + count} bits, the data holds {raw.size * 8}")
    bits = np.unpackbits(raw[first:last], bitorder="little")
    start = bit_offset - first * 8
    result: BoolArray = bits[start : start + count].astype(bool)
    return result


def unpack_overlay_frames(
    data: bytes | npt.NDArray[np.uint8], n_frames: int, rows: int, cols: int
) -> BoolArray:
    """Unpack all frames of Overlay Data into ``(n_frames, rows, cols)`` booleans."""
    return unpack_bits(data, n_frames * rows * cols).reshape(n_frames, rows, cols)


def _place(plane_bits: BoolArray, origin: tuple[int, int], rows: int, cols: int) -> BoolArray:
    """Put an overlay plane on an image grid: overlay (r, c) -> image (r + oy - 1, c + ox - 1)."""
    mask = np.zeros((rows, cols), dtype=bool)
    oy, ox = origin[0] - 1, origin[1] - 1  # PS3.3 C.9.2 Overlay Origin: top-left pixel is 1\1
    prow, pcol = plane_bits.shape
    top, left = max(oy, 0), max(ox, 0)
    bottom, right = min(oy + prow, rows), min(ox + pcol, cols)
    if bottom > top and right > left:
        mask[top:bottom, left:right] = plane_bits[top - oy : bottom - oy, left - ox : right - ox]
    return mask


def overlay_mask(
    plane: OverlayPlane,
    frame_index: int,
    rows: int,
    cols: int,
    raw_words: npt.NDArray[np.integer] | None = None,
) -> BoolArray | None:
    """Image pixels covered by ``plane`` on image frame ``frame_index`` (0-based).

    Parameters
    ----------
    plane : OverlayPlane
        The overlay.
    frame_index : int
        0-based image frame.
    rows, cols : int
        Image size.
    raw_words : numpy.ndarray, optional
        The frame's unmasked pixel words (``rows x cols``), needed for embedded overlays.

    Returns
    -------
    numpy.ndarray or None
        ``rows x cols`` bool mask, or None when the plane does not cover this frame.

    Raises
    ------
    ValueError
        For an embedded overlay without ``raw_words``.
    """
    k = plane.overlay_frame(frame_index)
    if k is None:
        return None
    if plane.bits is not None:
        return _place(plane.bits[k], plane.origin, rows, cols)
    if raw_words is None:
        raise ValueError(f"overlay group {plane.group:04X} is embedded: pass the pixel words")
    position = plane.bit_position or 0
    # PS3.3 C.9.2, retired embedded form: the overlay bit sits above Bits Stored in each cell
    bits = ((np.asarray(raw_words).astype(np.int64) >> position) & 1).astype(bool)
    return _place(bits[: plane.rows, : plane.cols], plane.origin, rows, cols)
