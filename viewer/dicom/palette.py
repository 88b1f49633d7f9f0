"""Read palette colour lookup tables from a dataset (PS3.3 C.7.6.3.1.5/.6, C.7.9, C.7.6.19)."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from viewer.core.errors import InputFileError
from viewer.imaging.color import PaletteChannel, PaletteLut, expand_segmented

_CHANNELS = ("Red", "Green", "Blue")


def _source(ds: Dataset) -> str:
    return str(getattr(ds, "filename", None) or "dataset")


def _little_endian(ds: Dataset) -> bool:
    try:
        encoding = ds.original_encoding
    except AttributeError:
        encoding = (None, None)
    if encoding[1] is not None:
        return bool(encoding[1])
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    return ts is None or bool(ts.is_little_endian)


def _descriptor(ds: Dataset, keyword: str) -> tuple[int, int, int]:
    """The LUT descriptor with its quirks resolved: (entries, first mapped, bits)."""
    values = [int(v) for v in ds[keyword].value]
    if len(values) != 3:
        raise InputFileError(_source(ds), f"{keyword} has {len(values)} values instead of 3")
    n, first, bits = values
    n &= 0xFFFF  # always unsigned; a reader that took it as SS sees negatives
    n = n or 65536  # PS3.3 C.7.6.3.1.5: 0 means 2**16 entries
    # The first mapped value is US or SS according to Pixel Representation.
    if int(ds.get("PixelRepresentation", 0)) == 1:
        first = first - 65536 if first > 32767 else first
    else:
        first &= 0xFFFF
    if bits not in (8, 16):
        raise InputFileError(_source(ds), f"{keyword}: {bits} bits per entry, need 8 or 16")
    return n, first, bits


def _plain_entries(ds: Dataset, raw: bytes, n: int, bits: int, name: str) -> tuple[np.ndarray, int]:
    little = _little_endian(ds)
    if len(raw) in (2 * n, 2 * n + 1) or (bits == 16 and len(raw) >= 2 * n):
        # 16-bit words; 8-bit entries are sometimes stored one per word
        words = np.frombuffer(raw[: 2 * n], dtype="<u2" if little else ">u2")
        # An "8-bit" table whose words exceed 255 really holds 16-bit entries.
        wide = bits == 8 and int(words.max(initial=0)) > 255
        return words.astype(np.int64), 16 if wide else bits
    if bits == 8 and len(raw) in (n, n + 1):
        # 8-bit entries packed two per word (first entry in the low byte)
        data = np.frombuffer(raw[: n + (n % 2)], dtype=np.uint8)
        if not little:
            data = data.reshape(-1, 2)[:, ::-1].reshape(-1)
        return data[:n].astype(np.int64), bits
    raise ValueError(f"{name} holds {len(raw)} bytes for {n} entries of {bits} bits")


def _channel(ds: Dataset, colour: str) -> PaletteChannel | None:
    desc = f"{colour}PaletteColorLookupTableDescriptor"
    if desc not in ds:
        return None
    n, first, bits = _descriptor(ds, desc)
    plain = f"{colour}PaletteColorLookupTableData"
    segmented = f"Segmented{colour}PaletteColorLookupTableData"
    try:
        if plain in ds and ds[plain].value:
            entries, bits = _plain_entries(ds, bytes(ds[plain].value), n, bits, plain)
        elif segmented in ds and ds[segmented].value:
            raw = bytes(ds[segmented].value)
            # 8-bit palettes store the segment stream as bytes (pydicom's spring.dcm ...)
            if bits == 8:
                words = np.frombuffer(raw, dtype=np.uint8)
            else:
                dtype = "<u2" if _little_endian(ds) else ">u2"
                words = np.frombuffer(raw[: len(raw) // 2 * 2], dtype=dtype)
            entries = expand_segmented(words, bytes_per_word=1 if bits == 8 else 2)
            if len(entries) < n:
                raise ValueError(f"{len(entries)} entries expanded, descriptor says {n}")
            entries = entries[:n]
        else:
            raise ValueError("descriptor without LUT data")
    except ValueError as exc:
        raise InputFileError(_source(ds), f"{colour} palette: {exc}") from None
    entries = np.clip(entries, 0, (1 << bits) - 1)
    return PaletteChannel(first, entries, bits)


def read_palette(ds: Dataset) -> PaletteLut | None:
    """Return the dataset's palette colour LUT, or None when it has none.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        An image (PALETTE COLOR or a supplemental palette) or a Color Palette IOD.

    Returns
    -------
    PaletteLut or None
        Normal and segmented data, 8- and 16-bit entries.

    Raises
    ------
    InputFileError
        When a descriptor or the LUT data is malformed (names the file).
    """
    channels = [_channel(ds, colour) for colour in _CHANNELS]
    if all(c is None for c in channels):
        return None
    red, green, blue = channels
    if red is None or green is None or blue is None:
        raise InputFileError(_source(ds), "palette descriptors present for only some channels")
    alpha = _channel(ds, "Alpha")
    uid = ds.get("PaletteColorLookupTableUID")
    return PaletteLut(red, green, blue, alpha, str(uid) if uid else None)


def pixel_presentation(ds: Dataset, frame_index: int = 0) -> str | None:
    """Pixel Presentation (0008,9205) for a frame: top level, then per-frame, then shared groups.

    Enhanced IODs carry it inside the Frame Type functional group (e.g. CT Image Frame Type
    Sequence); ``MIXED`` at the top level defers to each frame's value.
    """
    top = ds.get("PixelPresentation")
    if top and top != "MIXED":
        return str(top)
    for groups_kw, index in (
        ("PerFrameFunctionalGroupsSequence", frame_index),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        groups = ds.get(groups_kw)
        if not groups or index >= len(groups):
            continue
        for element in groups[index]:
            if element.VR == "SQ" and element.value and "PixelPresentation" in element.value[0]:
                return str(element.value[0].PixelPresentation)
    return str(top) if top else None


def is_supplemental(ds: Dataset, frame_index: int = 0) -> bool:
    """True when a grayscale image carries a supplemental palette for this frame (C.7.6.19)."""
    if ds.get("PhotometricInterpretation") != "MONOCHROME2":
        return False
    if "RedPaletteColorLookupTableDescriptor" not in ds:
        return False
    return pixel_presentation(ds, frame_index) in ("COLOR", "MIXED")
