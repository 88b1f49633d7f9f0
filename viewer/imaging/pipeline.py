"""The grayscale display pipeline composed into ONE lookup table (PS3.3 C.11, PS3.14).

Stored value -> Modality LUT -> VOI LUT -> Presentation LUT -> P-value -> display (GSDF) -> DDL.
:func:`build_display_lut` evaluates the whole chain once, vectorised, for every possible stored
value of an image and a view state; :meth:`DisplayLut.apply` then maps a frame with a single
``numpy.take``. The VTK view uses the same table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from viewer.core.errors import UsageError
from viewer.imaging.modality import (
    FloatArray,
    LutParams,
    ModalityParams,
    RescaleParams,
    apply_modality,
)
from viewer.imaging.modality import modality_range as _modality_range
from viewer.imaging.presentation import PresentationShape, is_inverted, presentation_unit
from viewer.imaging.voi import VoiFunction, WindowParams, min_max_window, voi_lut_unit, window_unit

log = logging.getLogger(__name__)

#: Depth of the P-values between the Presentation LUT and the display table.
PVALUE_BITS = 16
PVALUE_MAX = (1 << PVALUE_BITS) - 1
#: Integer tables wider than this many entries are not built; the chain is evaluated per pixel.
MAX_TABLE_ENTRIES = 1 << 24


@dataclass(frozen=True, eq=False)
class GrayscaleParams:
    """Everything the grayscale pipeline needs to know about one image (or frame).

    Parameters
    ----------
    photometric : str
        Photometric Interpretation (0028,0004).
    bits_allocated, bits_stored : int
        (0028,0100), (0028,0101); 0 bits stored for float pixel data.
    signed : bool
        Pixel Representation (0028,0103) is 1.
    is_float : bool
        Float / Double Float Pixel Data (7FE0,0008/0009).
    modality : RescaleParams or LutParams or None
        PS3.3 C.11.1.
    windows : tuple of WindowParams
        The file's windows in file order (PS3.3 C.11.2).
    voi_luts : tuple of LutParams
        VOI LUT Sequence items in file order.
    presentation_shape : PresentationShape or None
        Presentation LUT Shape (2050,0020) in the image.
    presentation_lut : LutParams or None
        Presentation LUT Sequence (2050,0010).
    padding : tuple of float or None
        Inclusive stored-value range that is padding (PS3.3 C.7.5.1.1.2).
    """

    photometric: str = "MONOCHROME2"
    bits_allocated: int = 16
    bits_stored: int = 16
    signed: bool = False
    is_float: bool = False
    modality: ModalityParams = None
    windows: tuple[WindowParams, ...] = ()
    voi_luts: tuple[LutParams, ...] = ()
    presentation_shape: PresentationShape | None = None
    presentation_lut: LutParams | None = None
    padding: tuple[float, float] | None = None

    @property
    def stored_min(self) -> int:
        """Smallest value Bits Stored and Pixel Representation allow (PS3.3 C.7.6.3.1)."""
        return -(1 << (self.bits_stored - 1)) if self.signed else 0

    @property
    def stored_max(self) -> int:
        """Largest value Bits Stored and Pixel Representation allow."""
        return (1 << (self.bits_stored - (1 if self.signed else 0))) - 1

    def padding_mask(self, stored: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_] | None:
        """Where ``stored`` holds Pixel Padding Value or lies in its range (PS3.3
        C.7.5.1.1.2): no value of the patient's. None when the image declares no padding."""
        if self.padding is None:
            return None
        lo, hi = self.padding
        values = np.asarray(stored)
        mask: npt.NDArray[np.bool_] = (values >= lo) & (values <= hi)
        return mask

    def modality_range(self) -> tuple[float, float]:
        """Range of modality values the stored range can produce."""
        return _modality_range(self.modality, self.stored_min, self.stored_max)

    @property
    def value_step(self) -> float:
        """How far apart neighbouring modality values are: 1 for integers (CT's HU), the
        slope where it is finer (doses in Gy, PS3.3 C.8.8.3), 0 for float pixel data."""
        if self.is_float:
            return 0.0
        if isinstance(self.modality, RescaleParams) and 0.0 < abs(self.modality.slope) < 1.0:
            return abs(self.modality.slope)
        return 1.0


@dataclass(frozen=True, eq=False)
class DisplayCalibration:
    """P-value -> DDL table of a display (PS3.14), e.g. from ``display.gsdf_ddl_table``.

    Parameters
    ----------
    ddl : numpy.ndarray
        One DDL per P-value ``0 ... len - 1``.
    max_ddl : int
        Largest DDL of the device (255 for an 8-bit frame buffer).
    name : str
        Where it came from (file name, model), for logs.
    """

    ddl: npt.NDArray[np.integer] = field(repr=False)
    max_ddl: int = 255
    name: str = ""


@dataclass(frozen=True)
class ViewState:
    """What the user chose for one view; unset fields mean "the file's default".

    Priority: explicit ``window``, then ``voi_lut_index``, then ``window_index``, then
    ``min_max``; with none of them, the first usable window of the file, else its first
    VOI LUT, else the automatic (min-max) window.

    ``presentation`` replaces the file's Presentation LUT Shape and Presentation LUT
    Sequence, as a presentation state's would (PS3.3 C.11.6); ``negative`` keeps them and
    shows the negative of what they give (P-value ``1 - P``): the reader's Invert, which
    must turn the picture on screen over, tone curve and all (C.11.4).
    """

    window: WindowParams | None = None
    window_index: int | None = None
    voi_lut_index: int | None = None
    min_max: bool = False
    voi_function: VoiFunction | None = None
    presentation: PresentationShape | None = None
    display: DisplayCalibration | None = None
    negative: bool = False


@dataclass(frozen=True)
class FrameStats:
    """Range of a frame's stored and modality values, padding left out (PS3.3 C.7.5.1.1.2)."""

    sv_min: float
    sv_max: float
    mv_min: float
    mv_max: float


Chain = Callable[[FloatArray], npt.NDArray[np.uint8]]


@dataclass(frozen=True, eq=False)
class DisplayLut:
    """Stored value -> 8-bit DDL for one image and one view state.

    ``table[i]`` is the output for stored value ``i + offset``. With ``wrap`` (integer cells of
    up to 16 bits) the table has one entry per bit pattern of the cell, ``2**8`` or ``2**16``,
    indexed by the pattern read as unsigned: signed values need no arithmetic before the lookup
    and no index can fall outside the table. ``table`` is ``None`` for float data and very wide
    integer ranges, where :meth:`apply` evaluates the chain per pixel.
    """

    table: npt.NDArray[np.uint8] | None
    offset: int
    wrap: bool
    signed: bool
    output_bits: int
    background: int
    overlay_value: int
    voi_label: str
    _chain: Chain = field(repr=False)
    _pvalue_to_ddl: Callable[[FloatArray], npt.NDArray[np.uint8]] = field(repr=False)

    def apply(self, stored: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
        """Map a frame of stored values to DDLs in one vectorised pass."""
        table = self.table
        if table is None:
            return self._chain(np.asarray(stored, dtype=np.float64))
        if self.wrap:
            depth = table.shape[0].bit_length() - 1
            if stored.dtype.kind in "ui" and stored.dtype.itemsize * 8 == depth:
                unsigned = np.dtype(f"u{stored.dtype.itemsize}")
                return _take_chunked(table, stored.view(unsigned))
            # another cell size: the value's two's-complement pattern within the table
            index: npt.NDArray[np.int64] = np.asarray(stored, dtype=np.int64) & (table.shape[0] - 1)
            return np.take(table, index)
        return np.take(table, np.asarray(stored, dtype=np.int64) - self.offset, mode="clip")

    def ascending(self) -> tuple[npt.NDArray[np.uint8], int]:
        """Return ``(table, first stored value)`` in ascending stored-value order (for VTK)."""
        if self.table is None:
            raise ValueError("no table for float or very wide data")
        if not (self.wrap and self.signed):
            return self.table, self.offset
        half = self.table.shape[0] // 2
        return np.concatenate([self.table[half:], self.table[:half]]), -half

    def ddl_for_pvalue(self, pvalue: int, bits: int = 16) -> int:
        """DDL for a P-value of ``bits`` depth (e.g. Shutter Presentation Value, PS3.3 C.7.6.11)."""
        unit = np.array([pvalue / float((1 << bits) - 1)])
        return int(self._pvalue_to_ddl(unit)[0])


def frame_stats(params: GrayscaleParams, stored: npt.NDArray[np.generic]) -> FrameStats:
    """Stored and modality min/max of a frame, padding excluded (PS3.3 C.7.5.1.1.2)."""
    values = np.asarray(stored)
    padding = params.padding_mask(values)
    if padding is not None:
        values = values[~padding]
    if values.size == 0:
        return FrameStats(0.0, 0.0, 0.0, 0.0)
    if params.is_float:
        finite = values[np.isfinite(values)]
        values = finite if finite.size else np.zeros(1)
    sv_min, sv_max = float(values.min()), float(values.max())
    if params.modality is None or params.is_float:
        return FrameStats(sv_min, sv_max, sv_min, sv_max)
    if isinstance(params.modality, LutParams):
        # a LUT may not be monotonic: look at the values really present
        mv = apply_modality(params.modality, np.unique(values))
        return FrameStats(sv_min, sv_max, float(mv.min()), float(mv.max()))
    a, b = apply_modality(params.modality, np.array([sv_min, sv_max]))
    return FrameStats(sv_min, sv_max, float(min(a, b)), float(max(a, b)))


def resolve_voi(
    params: GrayscaleParams, view: ViewState, stats: FrameStats | None
) -> WindowParams | LutParams:
    """Return the window or VOI LUT that ``view`` selects for ``params``.

    Raises
    ------
    UsageError
        When the view asks for a window or VOI LUT the image does not have.
    """
    chosen: WindowParams | LutParams
    if view.window is not None:
        chosen = view.window
    elif view.voi_lut_index is not None:
        chosen = _pick(params.voi_luts, view.voi_lut_index, "VOI LUT")
    elif view.window_index is not None:
        chosen = _pick(params.windows, view.window_index, "window")
    elif view.min_max:
        chosen = _auto_window(params, stats)
    else:
        chosen = _default_voi(params, view, stats)
    if isinstance(chosen, WindowParams):
        if view.voi_function is not None:
            chosen = WindowParams(chosen.center, chosen.width, view.voi_function,
                                  chosen.explanation)
        if problem := chosen.width_problem():
            raise UsageError(f"window {problem}")
    return chosen


def _default_voi(params: GrayscaleParams, view: ViewState, stats: FrameStats | None
                 ) -> WindowParams | LutParams:
    """The file's first usable window, else its first VOI LUT, else the min-max window.

    A stored window whose width its function cannot take (PS3.3 C.11.2.1.2: LINEAR
    needs >= 1; width 0 is found in real files) is skipped with a warning: the image is
    shown by the next default, as a reader expects, rather than not at all.
    """
    window = first_usable_window(params, view, warn=True)
    if window is not None:
        return window
    if params.voi_luts:
        return params.voi_luts[0]
    return _auto_window(params, stats)


def first_usable_window(params: GrayscaleParams, view: ViewState, *, warn: bool = False
                        ) -> WindowParams | None:
    """The file's first window that its VOI LUT Function (or the view's) can take
    (PS3.3 C.11.2.1.2), or None; ``warn`` logs each one skipped."""
    for window in params.windows:
        function = view.voi_function or window.function
        if WindowParams(window.center, window.width, function).is_valid():
            return window
        if warn:
            log.warning("the file's window C %g W %g is not valid for %s (PS3.3 "
                        "C.11.2.1.2); the next default is shown", window.center, window.width,
                        function.value)
    return None


def build_display_lut(
    params: GrayscaleParams, view: ViewState, stats: FrameStats | None = None
) -> DisplayLut:
    """Compose modality, VOI, presentation and display stages into one table.

    Parameters
    ----------
    params : GrayscaleParams
        The image's parameters (per frame for enhanced objects).
    view : ViewState
        The user's choices.
    stats : FrameStats, optional
        The frame's value range; needed for the automatic window and for 32-bit data.

    Returns
    -------
    DisplayLut
    """
    voi = resolve_voi(params, view, stats)
    if isinstance(voi, WindowParams) and view.window is None and not view.min_max:
        _warn_if_outside(params, voi)
    shape = view.presentation if view.presentation is not None else params.presentation_shape
    invert = is_inverted(shape, params.photometric)
    # A user's shape choice replaces the image's Presentation LUT Sequence too (C.11.6).
    pres_lut = params.presentation_lut if view.presentation is None else None
    to_ddl = _display_function(view.display)

    background = int(to_ddl(np.zeros(1))[0])

    def unpadded(sv: FloatArray) -> npt.NDArray[np.uint8]:
        mv = apply_modality(None if params.is_float else params.modality, sv)
        unit = window_unit(mv, voi) if isinstance(voi, WindowParams) else voi_lut_unit(mv, voi)
        pvalue = presentation_unit(unit, invert=invert, lut=pres_lut)
        if view.negative:
            pvalue = 1.0 - pvalue
        return to_ddl(pvalue).astype(np.uint8)

    def chain(sv: FloatArray) -> npt.NDArray[np.uint8]:
        out = unpadded(sv)
        padding = params.padding_mask(sv)
        if padding is not None:
            out = np.where(padding, np.uint8(background), out)
        return out

    table: npt.NDArray[np.uint8] | None = None
    offset, wrap = 0, False
    if not params.is_float:
        if params.bits_allocated <= 16:
            wrap = True
            table = _cell_table(params, voi, unpadded, background)
        elif stats is not None and stats.sv_max - stats.sv_min < MAX_TABLE_ENTRIES:
            offset = int(stats.sv_min)
            table = chain(np.arange(offset, int(stats.sv_max) + 1, dtype=np.float64))
    overlay_value = int(to_ddl(np.ones(1))[0])
    label = voi.explanation if voi.explanation else (
        f"C {voi.center:g} W {voi.width:g}" if isinstance(voi, WindowParams) else "VOI LUT"
    )
    return DisplayLut(table, offset, wrap, params.signed, 8, background, overlay_value, label,
                      chain, to_ddl)



#: Frames larger than this are mapped in slices of this many pixels, so that the intp index
#: array ``numpy.take`` makes from uint16 values stays in cache instead of costing 8 bytes per
#: pixel of memory traffic.
_TAKE_CHUNK = 1 << 16


def _take_chunked(
    table: npt.NDArray[np.uint8], index: npt.NDArray[np.unsignedinteger]
) -> npt.NDArray[np.uint8]:
    if index.size <= 2 * _TAKE_CHUNK or not index.flags.c_contiguous:
        return np.take(table, index)
    out = np.empty(index.shape, dtype=np.uint8)
    flat_in, flat_out = index.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, _TAKE_CHUNK):
        stop = start + _TAKE_CHUNK
        np.take(table, flat_in[start:stop], out=flat_out[start:stop])
    return out


def _cell_table(
    params: GrayscaleParams,
    voi: WindowParams | LutParams,
    unpadded: Chain,
    background: int,
) -> npt.NDArray[np.uint8]:
    """One entry per bit pattern of an 8- or 16-bit cell, indexed by the pattern as unsigned.

    Only the ``2**BitsStored`` values masking can produce are meaningful; the other patterns
    repeat the nearest end of the range. Where the chain is constant outside a window (a
    rescale followed by a LINEAR or LINEAR_EXACT window), only the stored values inside the
    window are evaluated: a window drag then costs a few hundred evaluations, not 65536.
    """
    depth = 8 if params.bits_allocated <= 8 else 16
    bits = min(params.bits_stored, depth)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if params.signed else (0, (1 << bits) - 1)
    a, b = _varying_range(params, voi, lo, hi)
    # one pass of the chain over both ends of the range and the varying part between them
    values = unpadded(np.concatenate(([lo, hi], np.arange(a, b + 1)), dtype=np.float64))
    # ascending stored-value order first, rotated into bit-pattern order at the end
    ordered = np.empty(hi - lo + 1, dtype=np.uint8)
    ordered[: a - lo] = values[0]
    ordered[a - lo : b - lo + 1] = values[2:]
    ordered[b - lo + 1 :] = values[1]
    if params.padding is not None:
        # PS3.3 C.7.5.1.1.2: padding is painted as background, never windowed
        p_lo = max(int(np.ceil(params.padding[0])), lo)
        p_hi = min(int(np.floor(params.padding[1])), hi)
        if p_lo <= p_hi:
            ordered[p_lo - lo : p_hi - lo + 1] = background
    table = np.empty(1 << depth, dtype=np.uint8)
    if not params.signed:
        table[: hi + 1] = ordered
        table[hi + 1 :] = ordered[-1]
    else:
        half = 1 << (bits - 1)
        table[:half] = ordered[half:]
        table[half : 1 << (depth - 1)] = ordered[-1]
        table[1 << (depth - 1) : (1 << depth) - half] = ordered[0]
        table[(1 << depth) - half :] = ordered[:half]
    return table


def _varying_range(
    params: GrayscaleParams, voi: WindowParams | LutParams, lo: int, hi: int
) -> tuple[int, int]:
    """Stored values ``[a, b]`` outside which the unpadded chain is constant (else ``lo, hi``)."""
    modality = params.modality
    if modality is None:
        slope, intercept = 1.0, 0.0
    elif isinstance(modality, LutParams):
        return lo, hi
    else:
        slope, intercept = float(modality.slope), float(modality.intercept)
    if (
        not isinstance(voi, WindowParams)
        or voi.function is VoiFunction.SIGMOID
        or slope == 0.0
    ):
        return lo, hi
    c, w = float(voi.center), float(voi.width)
    if voi.function is VoiFunction.LINEAR_EXACT:
        x_lo, x_hi = c - w / 2.0, c + w / 2.0  # PS3.3 C.11.2.1.3.2
    else:
        x_lo, x_hi = c - 0.5 - (w - 1.0) / 2.0, c - 0.5 + (w - 1.0) / 2.0  # C.11.2.1.2.1
    s1, s2 = sorted(((x_lo - intercept) / slope, (x_hi - intercept) / slope))
    # one stored value of margin on each side keeps rounding at the edges exact
    a = max(lo, min(hi, int(np.floor(s1)) - 1))
    b = min(hi, max(lo, int(np.ceil(s2)) + 1))
    return a, b


def _pick(items: tuple[WindowParams, ...] | tuple[LutParams, ...], index: int, what: str
          ) -> WindowParams | LutParams:
    if not 0 <= index < len(items):
        have = f"{len(items)} {what}{'s' if len(items) != 1 else ''}"
        raise UsageError(f"{what} {index + 1} asked for, the image has {have}")
    return items[index]


def _auto_window(params: GrayscaleParams, stats: FrameStats | None) -> WindowParams:
    if stats is None:
        lo, hi = params.modality_range() if not params.is_float else (0.0, 1.0)
    else:
        lo, hi = stats.mv_min, stats.mv_max
    if params.value_step < 1.0:
        # Real or finely scaled values (doses in Gy): min..max exactly. The integer
        # convention's +1 maps them alike, but reads "W 1.456" for doses 0.80-1.25.
        if hi <= lo:
            # A constant frame: black, as the integer convention and dcmtk show it, so
            # the same picture does not turn grey with a finer Rescale Slope.
            return WindowParams(lo + 0.5, 1.0, VoiFunction.LINEAR_EXACT, "MIN-MAX")
        return WindowParams((lo + hi) / 2.0, hi - lo, VoiFunction.LINEAR_EXACT, "MIN-MAX")
    return min_max_window(lo, hi)


def _warn_if_outside(params: GrayscaleParams, window: WindowParams) -> None:
    if params.is_float or params.modality is None:
        return
    lo, hi = params.modality_range()
    if window.center + window.width / 2.0 < lo or window.center - window.width / 2.0 > hi:
        log.warning(
            "window C %g W %g lies outside the rescaled range %g..%g (stored-value units?)",
            window.center, window.width, lo, hi,
        )


def _display_function(
    calibration: DisplayCalibration | None,
) -> Callable[[FloatArray], npt.NDArray[np.uint8]]:
    if calibration is None:
        # A display already calibrated to the GSDF: P-values go straight to DDLs (PS3.14).
        def identity(p: FloatArray) -> npt.NDArray[np.uint8]:
            return np.rint(np.clip(p, 0.0, 1.0) * 255.0).astype(np.uint8)

        return identity

    table = np.asarray(calibration.ddl, dtype=np.float64)
    scale = 255.0 / float(calibration.max_ddl)
    ddl8 = np.rint(np.clip(table * scale, 0, 255)).astype(np.uint8)
    last = ddl8.shape[0] - 1

    def calibrated(p: FloatArray) -> npt.NDArray[np.uint8]:
        # P-values quantised to the calibration table's depth (PS3.14 7.1)
        index = np.rint(np.clip(p, 0.0, 1.0) * last).astype(np.intp)
        out: npt.NDArray[np.uint8] = ddl8[index]
        return out

    return calibrated
