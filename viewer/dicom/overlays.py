"""Read overlay planes (groups 6000-601E) from a dataset (PS3.3 C.9.2, C.9.3)."""

from __future__ import annotations

import logging

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from viewer.dicom.pixel_header import usable_high_bit
from viewer.imaging.overlays import OVERLAY_GROUPS, OverlayPlane, unpack_overlay_frames

_log = logging.getLogger(__name__)


def _value(ds: Dataset, group: int, element: int, default: object = None) -> object:
    elem = ds.get(Tag(group, element))
    if elem is None or elem.value is None or elem.value == "":
        return default
    return elem.value


def _int(ds: Dataset, group: int, element: int, default: int) -> int:
    value = _value(ds, group, element)
    try:
        return int(value) if value is not None else default  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def _text(ds: Dataset, group: int, element: int) -> str | None:
    value = _value(ds, group, element)
    return str(value).strip() or None if value is not None else None


def _little_endian(ds: Dataset) -> bool:
    try:
        little = ds.original_encoding[1]
    except AttributeError:
        little = None
    if little is not None:
        return bool(little)
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    return ts is None or bool(ts.is_little_endian)


def read_overlay_planes(ds: Dataset) -> list[OverlayPlane]:
    """Return the overlay planes of an image, separate Overlay Data and embedded.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The image; its pixel data is not read here (embedded overlays keep only their bit
        position; the caller passes the pixel words to ``overlay_mask``).

    Returns
    -------
    list of OverlayPlane
        In group order. A group without rows/columns, or whose data is too short, is skipped
        with a warning naming the group (one bad overlay never hides the image).
    """
    planes: list[OverlayPlane] = []
    source = str(getattr(ds, "filename", None) or "dataset")
    for group in OVERLAY_GROUPS:
        rows = _int(ds, group, 0x0010, 0)
        cols = _int(ds, group, 0x0011, 0)
        if rows <= 0 or cols <= 0:
            continue
        origin_value = _value(ds, group, 0x0050, [1, 1])
        try:
            origin = (int(origin_value[0]), int(origin_value[1]))  # type: ignore[index]
        except (TypeError, ValueError, IndexError):
            origin = (1, 1)
        n_frames = max(_int(ds, group, 0x0015, 1), 1)
        common = {
            "group": group,
            "rows": rows,
            "cols": cols,
            "origin": origin,
            "n_frames": n_frames,
            "image_frame_origin": max(_int(ds, group, 0x0051, 1), 1),
            "overlay_type": _text(ds, group, 0x0040) or "G",
            "label": _text(ds, group, 0x1500),
            "description": _text(ds, group, 0x0022),
        }
        data_elem = ds.get(Tag(group, 0x3000))
        if data_elem is not None and data_elem.value:
            raw = np.frombuffer(bytes(data_elem.value), dtype=np.uint8)
            if data_elem.VR == "OW" and not _little_endian(ds):
                # OW is swapped per 16-bit word in big endian; bits count from the word's LSB
                raw = raw[: raw.size // 2 * 2].reshape(-1, 2)[:, ::-1].reshape(-1)
            try:
                bits = unpack_overlay_frames(raw, n_frames, rows, cols)
            except ValueError as exc:
                _log.warning("%s: overlay %04X skipped: %s", source, group, exc)
                continue
            planes.append(OverlayPlane(**common, bits=bits))  # type: ignore[arg-type]
            continue
        allocated = _int(ds, group, 0x0100, 1)
        position = _int(ds, group, 0x0102, 0)
        image_bits = int(ds.get("BitsAllocated", 0) or 0)
        stored = int(ds.get("BitsStored", image_bits) or image_bits)
        high = usable_high_bit(ds, stored, image_bits)
        if high is None:
            high = stored - 1  # as the pixel reader takes it
        value_bits = range(high - stored + 1, high + 1)  # PS3.5 8.1.1
        if allocated > 1 and 0 <= position < image_bits and position not in value_bits:
            # Retired embedded overlay (PS3.5 8.1.2): the bit lives in bits of each pixel
            # cell that the value leaves unused, above it or, when High Bit is the cell's
            # top, below it; it covers the image frames themselves.
            planes.append(OverlayPlane(**common, bit_position=position))  # type: ignore[arg-type]
        else:
            _log.warning("%s: overlay %04X has no Overlay Data and no usable bit", source, group)
    return planes
