"""Read a frame's Real World Value Mapping items (PS3.3 C.7.6.16.2.11)."""

from __future__ import annotations

import logging
import struct
from typing import Any

from viewer.dicom.params import functional_group_items
from viewer.dicom.values import finite_number, us_or_ss
from viewer.imaging.real_world import RealWorldMapping, ucum_text

LOGGER = logging.getLogger(__name__)
_SEQUENCE = "RealWorldValueMappingSequence"


def _stored_bound(item: Any, keyword: str, float_keyword: str, signed: bool) -> float | None:
    # US or SS by Pixel Representation (C.7.6.16.2.11.1.1); an implicit VR file may leave
    # the two bytes undecided.
    value = item.get(keyword)
    if value is None:
        value = item.get(float_keyword)
        return float(value) if isinstance(value, int | float) else None
    if isinstance(value, bytes):
        if len(value) != 2:
            return None
        return float(struct.unpack("<h" if signed else "<H", value)[0])
    try:
        return float(us_or_ss(value, signed))
    except (TypeError, ValueError):
        return None


def _mapping(item: Any, signed: bool) -> RealWorldMapping | None:
    first = _stored_bound(item, "RealWorldValueFirstValueMapped",
                          "DoubleFloatRealWorldValueFirstValueMapped", signed)
    last = _stored_bound(item, "RealWorldValueLastValueMapped",
                         "DoubleFloatRealWorldValueLastValueMapped", signed)
    if first is None or last is None or last < first:
        return None
    units = item.get("MeasurementUnitsCodeSequence")
    code = units[0] if units else None
    unit = ucum_text(str(code.get("CodeValue", "") or ""),
                     str(code.get("CodeMeaning", "") or "")) if code is not None else ""
    label = str(item.get("LUTLabel", "") or item.get("LUTExplanation", "") or "").strip()
    table = item.get("RealWorldValueLUTData")
    if table is not None:
        values = [finite_number(v) for v in (table if hasattr(table, "__len__") else [table])]
        if not values or any(v is None for v in values):
            return None
        return RealWorldMapping(first, last, table=tuple(v for v in values if v is not None),
                                unit=unit, label=label)
    slope = finite_number(item.get("RealWorldValueSlope"))
    intercept = finite_number(item.get("RealWorldValueIntercept"))
    if slope is None or intercept is None:
        return None
    return RealWorldMapping(first, last, slope, intercept, unit=unit, label=label)


def read_real_world(ds: Any, frame_index: int = 0) -> tuple[RealWorldMapping, ...]:
    """The Real World Value Mapping items of a frame, in the file's order.

    From the frame's functional group (per-frame, else shared: PS3.3 C.7.6.16.2.11), else
    the top-level sequence (C.7.6.16.2.11 is also used outside enhanced images, e.g. by
    legacy MR). Items that cannot be read are left out with a log line.
    """
    items = functional_group_items(ds, frame_index, _SEQUENCE) or ds.get(_SEQUENCE) or []
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    out = []
    for item in items:
        mapping = _mapping(item, signed)
        if mapping is None:
            LOGGER.warning("a Real World Value Mapping item without a usable range, line or "
                           "table is ignored (PS3.3 C.7.6.16.2.11)")
            continue
        out.append(mapping)
    return tuple(out)


__all__ = ["read_real_world"]
