"""One displayable DICOM image: frames, per-frame parameters and the full render of a frame.

Joins :class:`viewer.dicom.frames.FrameSource` (decoding), :mod:`viewer.dicom.params`
(parameters) and :mod:`viewer.imaging` (the composed table, colour, compositing). Used by the
command line and by the viewer alike.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from viewer.core.errors import InputFileError
from viewer.dicom.frames import FrameSource
from viewer.dicom.overlays import read_overlay_planes
from viewer.dicom.palette import is_supplemental, read_palette
from viewer.dicom.params import read_grayscale_params
from viewer.dicom.shutters import read_shutter
from viewer.imaging.color import PaletteLut, apply_palette, apply_supplemental, to_8bit
from viewer.imaging.compose import composite
from viewer.imaging.overlays import overlay_mask
from viewer.imaging.pipeline import (
    DisplayLut,
    FrameStats,
    GrayscaleParams,
    ViewState,
    build_display_lut,
    first_usable_window,
    frame_stats,
)
from viewer.imaging.shutters import shutter_mask

log = logging.getLogger(__name__)

# PS3.3 C.7.6.3.1.2: retired colour models whose samples no RGB display shows as they are.
_RETIRED_COLOUR = frozenset({"HSV", "ARGB", "CMYK"})

_DEFAULT_VIEW = ViewState()


class DicomImage:
    """A DICOM file opened for display (header read once, frames decoded on demand).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.source = FrameSource(path)
        self.layout = self.source.layout
        ds = self.source.dataset
        self._per_frame = "PerFrameFunctionalGroupsSequence" in ds
        self.palette: PaletteLut | None = None
        if self.layout.photometric == "PALETTE COLOR" or is_supplemental(ds):
            self.palette = read_palette(ds)
        self.params = lru_cache(maxsize=64)(self._params)
        self._overlay_planes = read_overlay_planes(ds)

    @property
    def number_of_frames(self) -> int:
        """Number of frames."""
        return self.source.number_of_frames

    def _params(self, frame_index: int) -> GrayscaleParams:
        index = frame_index if self._per_frame else 0
        return read_grayscale_params(self.source.dataset, index, is_float=self.layout.is_float)

    def display_lut(
        self, frame_index: int, view: ViewState, stored: npt.NDArray[Any] | None = None
    ) -> DisplayLut:
        """The composed table for a frame and a view (stats taken from ``stored`` when needed)."""
        params = self.params(frame_index)
        stats = None
        if stored is not None and needs_stats(params, view):
            stats = frame_stats(params, stored)
        return build_display_lut(params, view, stats)

    def stats(self, frame_index: int, stored: npt.NDArray[Any]) -> FrameStats:
        """Value range of a decoded frame, padding excluded."""
        return frame_stats(self.params(frame_index), stored)

    def render(
        self,
        frame_index: int,
        view: ViewState = _DEFAULT_VIEW,
        *,
        overlays: bool = True,
        shutters: bool = True,
    ) -> npt.NDArray[np.uint8]:
        """Return frame ``frame_index`` (0-based) as 8-bit grayscale or RGB for display."""
        layout = self.layout
        if layout.photometric in _RETIRED_COLOUR:
            # Their samples are not RGB: shown as RGB, HSV's pure red came out cyan.
            raise InputFileError(str(self.source.path), f"Photometric Interpretation "
                                 f"{layout.photometric} (retired, PS3.3 C.7.6.3.1.2) is not "
                                 f"shown: its samples are not RGB")
        stored = self.source.frame(frame_index)
        if layout.is_grayscale:
            lut = self.display_lut(frame_index, view, stored)
            out = lut.apply(stored)
            if self.palette is not None and is_supplemental(self.source.dataset, frame_index):
                out = apply_supplemental(stored, out, self.palette)  # PS3.3 C.7.6.19
            return self._composite(
                frame_index, out, lut.overlay_value, lut.ddl_for_pvalue, overlays, shutters
            )
        if layout.photometric == "PALETTE COLOR" and self.palette is not None:
            out = apply_palette(stored, self.palette)  # PS3.3 C.7.6.3.1.5
        elif stored.ndim == 2:
            log.warning(
                "%s: %s with one sample shown as grayscale", self.source.path, layout.photometric
            )
            out = to_8bit(stored.astype(np.int64), layout.bits_stored)
        else:
            out = to_8bit(stored, layout.bits_stored)
        return self._composite(frame_index, out, 255, _identity_ddl, overlays, shutters)

    def _composite(
        self,
        frame_index: int,
        out: npt.NDArray[np.uint8],
        overlay_value: int,
        ddl_for_pvalue: Callable[[int, int], int],
        overlays: bool,
        shutters: bool,
    ) -> npt.NDArray[np.uint8]:
        # PS3.3 C.9.2 / C.7.6.11: drawn in P-value space, after the Presentation LUT
        rows, cols = self.layout.rows, self.layout.columns
        masks: list[npt.NDArray[np.bool_]] = []
        if overlays:
            for plane in self._overlay_planes:
                words = self.source.raw_words(frame_index) if plane.embedded else None
                mask = overlay_mask(plane, frame_index, rows, cols, words)
                if mask is not None:
                    masks.append(mask)
        shutter = None
        shutter_value = ddl_for_pvalue(0, 16)  # black when no Shutter Presentation Value
        if shutters:
            spec = read_shutter(self.source.dataset, frame_index)
            if spec is not None:
                shutter = shutter_mask(spec, rows, cols)
                if spec.presentation_value is not None:
                    shutter_value = ddl_for_pvalue(int(spec.presentation_value), 16)
        if not masks and shutter is None:
            return out
        return composite(
            out,
            overlays=masks,
            overlay_value=overlay_value,
            shutter=shutter,
            shutter_value=shutter_value,
        )


def _identity_ddl(pvalue: int, bits: int) -> int:
    return round(pvalue * 255 / ((1 << bits) - 1))


def needs_stats(params: GrayscaleParams, view: ViewState) -> bool:
    """Whether the display table of a frame depends on the frame's value range: min-max
    asked for, float or 32-bit data, or no explicit choice and no usable file window or
    VOI LUT (PS3.3 C.11.2.1.2)."""
    if params.is_float or params.bits_allocated > 16 or view.min_max:
        return True
    explicit = (
        view.window is not None or view.window_index is not None or view.voi_lut_index is not None
    )
    return (not explicit and first_usable_window(params, view) is None
            and not params.voi_luts)
