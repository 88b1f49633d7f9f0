"""Dataset -> typed display parameters (PS3.3 C.7.6.3, C.11, C.7.6.16 functional groups, C.8.8.3).

The math lives in :mod:`viewer.imaging`; this module only reads attributes, resolves enhanced
multi-frame functional groups (per-frame first, then shared) and decodes LUT descriptors with
their quirks.
"""

from __future__ import annotations

import logging
import math
import os
from contextvars import ContextVar
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from viewer.dicom.values import us_or_ss
from viewer.imaging.modality import LutParams, ModalityParams, RescaleParams, modality_range
from viewer.imaging.pipeline import GrayscaleParams
from viewer.imaging.presentation import PresentationShape
from viewer.imaging.voi import VoiFunction, WindowParams

log = logging.getLogger(__name__)
# The file whose header read_grayscale_params is reading, in this thread or task.
_SOURCE: ContextVar[str] = ContextVar("grayscale_source", default="")


class _NameTheFile(logging.Filter):
    """Begin a warning about a header's values with the file it came from: one file's
    render needs no name, a series' worth of them in the application's log does."""

    def filter(self, record: logging.LogRecord) -> bool:
        source = _SOURCE.get()
        if source and isinstance(record.args, tuple) and not hasattr(record, "lightbox_file"):
            record.msg = f"%s: {record.msg}"
            record.args = (source, *record.args)
            record.lightbox_file = source
        return True


for _logger in (log, logging.getLogger("viewer.imaging.voi")):
    _logger.addFilter(_NameTheFile())

#: SOP classes whose Modality LUT maps to X-ray intensity, not a display input; dcmtk does not
#: apply it for display and neither do we (PS3.3 C.8.7.1.1.2 / C.8.7.1.1.9).
XRAY_INTENSITY_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image Storage
        "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic Image Storage
    }
)

#: Dose Units (3004,0002) defined terms -> the unit shown with dose values (PS3.3 C.8.8.3).
DOSE_UNITS = {"GY": "Gy", "RELATIVE": "relative"}

_PER_FRAME = "PerFrameFunctionalGroupsSequence"
_SHARED = "SharedFunctionalGroupsSequence"


def functional_group_items(ds: Dataset, frame_index: int, keyword: str) -> list[Dataset]:
    """Every item of macro ``keyword`` for a frame: per-frame, else shared (C.7.6.16);
    empty when neither has it."""
    per_frame = ds.get(_PER_FRAME)
    if per_frame is not None and 0 <= frame_index < len(per_frame):
        item = per_frame[frame_index]
        if keyword in item and len(item[keyword].value):
            return list(item[keyword].value)
    shared = ds.get(_SHARED)
    if shared is not None and len(shared):
        item = shared[0]
        if keyword in item and len(item[keyword].value):
            return list(item[keyword].value)
    return []


def functional_group(ds: Dataset, frame_index: int, keyword: str) -> Dataset | None:
    """Return the first item of macro ``keyword`` for a frame: per-frame, else shared (C.7.6.16)."""
    items = functional_group_items(ds, frame_index, keyword)
    return items[0] if items else None


def _floats(value: Any) -> list[float]:
    out = []
    for v in _floats_or_text(value):
        if isinstance(v, float):
            out.append(v)
        else:
            log.warning("ignoring non-numeric value %r", v)
    return out


def _finite_floats(value: Any, what: str) -> list[float | None]:
    """Each value as a finite number, or None where it is not one (text, NaN, an overflow
    such as 1e400): positions are kept, so that the n-th Window Center still pairs with
    the n-th Window Width (PS3.3 C.11.2.1.2)."""
    out: list[float | None] = []
    for number in _floats_or_text(value):
        if isinstance(number, float) and math.isfinite(number):
            out.append(number)
        else:
            log.warning("ignoring %s %r: not a finite number", what, number)
            out.append(None)
    return out


def _floats_or_text(value: Any) -> list[float | Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes | int | float) or not hasattr(value, "__iter__"):
        value = [value]
    out: list[float | Any] = []
    for v in value:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(v)
    return out


def _strings(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return [str(value)]
    return [str(v) for v in value]


def read_lut(
    item: Dataset, *, signed_first: bool, little_endian: bool = True, what: str = "LUT"
) -> LutParams | None:
    """Decode one LUT item (descriptor + data) with the descriptor quirks of PS3.3 C.11.1.1.1.

    * 1st value 0 means 65536 entries (a reader decoding it as SS sees 0 or a negative number);
    * 2nd value is US or SS as ``signed_first`` says;
    * 8-bit entries may be packed two per 16-bit word (detected as dcmtk does: the number of
      words is ``ceil(n / 2)``); every entry is masked to the descriptor's bits.
    """
    desc = item.get("LUTDescriptor")
    raw = item.get("LUTData")
    if desc is None or raw is None:
        return None
    values = [int(v) for v in (desc if hasattr(desc, "__iter__") else [desc])]
    if len(values) != 3:
        log.warning("%s descriptor %r does not have 3 values; ignored", what, values)
        return None
    n = int(values[0]) & 0xFFFF or 0x10000
    first = us_or_ss(values[1], signed_first)
    bits = int(values[2])
    if not 1 <= bits <= 16:
        log.warning("%s descriptor gives %d bits per entry; ignored", what, bits)
        return None
    if isinstance(raw, bytes | bytearray):
        words = np.frombuffer(
            bytes(raw[: len(raw) // 2 * 2]), dtype="<u2" if little_endian else ">u2"
        ).astype(np.int64)
    else:
        words = np.asarray(raw if hasattr(raw, "__iter__") else [raw], dtype=np.int64) & 0xFFFF
    if bits <= 8 and n > 1 and words.shape[0] == (n + 1) // 2:
        # two 8-bit entries per word, first entry in the low byte
        data = np.empty(words.shape[0] * 2, dtype=np.int64)
        data[0::2] = words & 0xFF
        data[1::2] = words >> 8
        words = data[:n]
    if words.shape[0] < n:
        log.warning("%s has %d entries, descriptor says %d", what, words.shape[0], n)
        if words.shape[0] == 0:
            return None
    words = words[:n] & ((1 << bits) - 1)
    explanation = str(item.get("LUTExplanation", "") or "")
    return LutParams(first_mapped=first, bits=bits, data=words, explanation=explanation)


def _little_endian(ds: Dataset) -> bool:
    little = ds.original_encoding[1]
    return True if little is None else bool(little)


def read_modality(ds: Dataset, frame_index: int = 0) -> ModalityParams:
    """Modality LUT parameters of a frame (PS3.3 C.11.1, C.7.6.16.2.9).

    An RT Dose without a Modality LUT or Rescale Slope/Intercept of its own (or with an
    identity one) is scaled by its Dose Grid Scaling (PS3.3 C.8.8.3, see
    :func:`read_dose_scaling`).
    """
    if str(ds.get("SOPClassUID", "")) in XRAY_INTENSITY_SOP_CLASSES:
        return None
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    seq = ds.get("ModalityLUTSequence")
    if seq:
        # both forms present is non-conformant; dcmtk and pydicom use the LUT
        return read_lut(
            seq[0], signed_first=signed, little_endian=_little_endian(ds), what="Modality LUT"
        )
    source = functional_group(ds, frame_index, "PixelValueTransformationSequence")
    if source is None or "RescaleSlope" not in source:
        source = ds
    slope = _finite_floats(source.get("RescaleSlope"), "Rescale Slope")
    intercept = _finite_floats(source.get("RescaleIntercept"), "Rescale Intercept")
    if not slope and not intercept:
        return read_dose_scaling(ds)
    s = slope[0] if slope else 1.0
    b = intercept[0] if intercept else 0.0
    if s is None or b is None or s == 0.0:
        # No transform can be trusted: the stored values are shown as they are.
        log.warning("Rescale Slope %s, Intercept %s: not usable; modality transform ignored",
                    "?" if s is None else f"{s:g}", "?" if b is None else f"{b:g}")
        return None
    if s == 1.0 and b == 0.0:
        # An identity rescale beside Dose Grid Scaling (some planning systems write both)
        # says nothing: without the scaling the doses would read as raw integers.
        return read_dose_scaling(ds)
    return RescaleParams(slope=s, intercept=b, rescale_type=str(source.get("RescaleType", "")))


def read_dose_scaling(ds: Dataset) -> RescaleParams | None:
    """Dose Grid Scaling (3004,000E) as a linear modality transform (PS3.3 C.8.8.3).

    Table C.8-39: the stored values times Dose Grid Scaling are doses in Dose Units
    (3004,0002), ``GY`` or ``RELATIVE``. The RT Dose IOD has no Modality LUT Module, so this
    is the only way from its stored values to doses; :func:`read_modality` uses it when the
    image has neither a Modality LUT Sequence nor Rescale Slope/Intercept.

    Parameters
    ----------
    ds : Dataset
        The header.

    Returns
    -------
    RescaleParams or None
        ``slope`` = Dose Grid Scaling, ``intercept`` 0, ``unit`` from Dose Units (empty when
        it is absent or not a defined term); ``None`` without a usable Dose Grid Scaling.
    """
    scaling = _floats(ds.get("DoseGridScaling"))
    if not scaling:
        return None
    factor = scaling[0]
    if factor == 0.0 or not np.isfinite(factor):
        log.warning("Dose Grid Scaling %r is invalid; stored values shown unscaled", factor)
        return None
    units = str(ds.get("DoseUnits", "") or "").strip().upper()
    # Kept even when the factor is 1: the unit still tells the reader these are doses.
    return RescaleParams(slope=factor, intercept=0.0, unit=DOSE_UNITS.get(units, ""))


def read_windows(ds: Dataset, frame_index: int = 0) -> tuple[WindowParams, ...]:
    """All windows of a frame with explanations and VOI LUT Function (PS3.3 C.11.2)."""
    source = functional_group(ds, frame_index, "FrameVOILUTSequence")
    if source is None or "WindowCenter" not in source:
        source = ds
    centers = _finite_floats(source.get("WindowCenter"), "Window Center")
    widths = _finite_floats(source.get("WindowWidth"), "Window Width")
    labels = _strings(source.get("WindowCenterWidthExplanation"))
    # A frame's window takes the function of its own Frame VOI LUT item (PS3.3
    # C.7.6.16.2.10), LINEAR when the item has none: a top-level VOI LUT Function is no
    # part of the frame's window.
    function = VoiFunction.parse(str(source.get("VOILUTFunction", "") or ""))
    windows = []
    for i in range(min(len(centers), len(widths))):
        center, width = centers[i], widths[i]
        if center is None or width is None:
            continue
        label = labels[i] if i < len(labels) else ""
        windows.append(WindowParams(center, width, function, label))
    return tuple(windows)


def read_voi_luts(
    ds: Dataset, frame_index: int, modality: ModalityParams, bits_stored: int, signed: bool
) -> tuple[LutParams, ...]:
    """All VOI LUT Sequence items (PS3.3 C.11.2.1.1); descriptor's 2nd value per C.11.2.1.1."""
    source = functional_group(ds, frame_index, "FrameVOILUTSequence")
    if source is None or "VOILUTSequence" not in source:
        source = ds
    seq = source.get("VOILUTSequence")
    if seq is None:
        return ()
    if modality is None:
        signed_first = signed
    else:
        lo = -(1 << (bits_stored - 1)) if signed else 0
        hi = (1 << (bits_stored - (1 if signed else 0))) - 1
        signed_first = modality_range(modality, lo, hi)[0] < 0
    luts = []
    for item in seq:
        lut = read_lut(
            item, signed_first=signed_first, little_endian=_little_endian(ds), what="VOI LUT"
        )
        if lut is not None:
            luts.append(lut)
    return tuple(luts)


def read_presentation(ds: Dataset) -> tuple[PresentationShape | None, LutParams | None]:
    """Presentation LUT Shape (2050,0020) and Sequence (2050,0010) at top level (C.11.4, C.11.6)."""
    shape = PresentationShape.parse(str(ds.get("PresentationLUTShape", "") or ""))
    lut = None
    seq = ds.get("PresentationLUTSequence")
    if seq:
        lut = read_lut(
            seq[0], signed_first=False, little_endian=_little_endian(ds), what="Presentation LUT"
        )
    return shape, lut


def read_padding(ds: Dataset, signed: bool, is_float: bool) -> tuple[float, float] | None:
    """Inclusive padding range in stored values (PS3.3 C.7.5.1.1.2), single-sample images only."""
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return None
    if is_float:
        value = _floats(ds.get("FloatPixelPaddingValue"))
        limit = _floats(ds.get("FloatPixelPaddingRangeLimit"))
        if not value:
            return None
        lo, hi = value[0], (limit[0] if limit else value[0])
    else:
        if "PixelPaddingValue" not in ds:
            return None
        bits_allocated = int(ds.get("BitsAllocated", 16) or 16)

        def stored(v: Any) -> float:
            iv = int(v if not isinstance(v, bytes) else int.from_bytes(v[:2], "little"))
            return float(us_or_ss(iv, signed)) if bits_allocated <= 16 else float(iv)

        lo = stored(ds.PixelPaddingValue)
        hi = stored(ds.PixelPaddingRangeLimit) if "PixelPaddingRangeLimit" in ds else lo
    return (min(lo, hi), max(lo, hi))


def read_grayscale_params(
    ds: Dataset, frame_index: int = 0, *, is_float: bool = False
) -> GrayscaleParams:
    """Everything the grayscale pipeline needs for frame ``frame_index`` of ``ds``.

    Parameters
    ----------
    ds : Dataset
        The header (pixel data not needed).
    frame_index : int
        0-based frame, for enhanced objects' per-frame functional groups (PS3.3 C.7.6.16).
    is_float : bool
        The pixel data is Float/Double Float Pixel Data (no Modality LUT, no Bits Stored).
    """
    name = getattr(ds, "filename", None)
    token = _SOURCE.set(str(name) if isinstance(name, str | os.PathLike) else "")
    try:
        return _read_grayscale_params(ds, frame_index, is_float)
    finally:
        _SOURCE.reset(token)


def _read_grayscale_params(ds: Dataset, frame_index: int, is_float: bool) -> GrayscaleParams:
    bits_allocated = int(ds.get("BitsAllocated", 16) or 16)
    bits_stored = (
        bits_allocated if is_float else int(ds.get("BitsStored", bits_allocated) or bits_allocated)
    )
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1 and not is_float
    modality = None if is_float else read_modality(ds, frame_index)
    shape, pres_lut = read_presentation(ds)
    return GrayscaleParams(
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2")
        .strip()
        .upper(),
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        signed=signed,
        is_float=is_float,
        modality=modality,
        windows=read_windows(ds, frame_index),
        voi_luts=read_voi_luts(ds, frame_index, modality, bits_stored, signed),
        presentation_shape=shape,
        presentation_lut=pres_lut,
        padding=read_padding(ds, signed, is_float),
    )


