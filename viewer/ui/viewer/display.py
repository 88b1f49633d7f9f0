"""Stored frame -> display frame with exactly the steps of ``lightbox render``.

:class:`ViewerImage` is a :class:`viewer.dicom.image.DicomImage` (the renderer of the
command line) that renders an already decoded frame and shares its combined tables through
a :class:`LutCache`: scrolling a CT series whose slices share rescale and window reuses one
table, and a window drag builds one table per step, never a pass over pixels in Python.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from viewer.dicom.frames import FrameSource
from viewer.dicom.image import DicomImage, needs_stats
from viewer.imaging.modality import RescaleParams, apply_modality
from viewer.imaging.pipeline import (
    DisplayLut,
    GrayscaleParams,
    ViewState,
    frame_stats,
    resolve_voi,
)
from viewer.imaging.presentation import PresentationShape
from viewer.imaging.voi import WindowParams


def params_key(params: GrayscaleParams) -> Any:
    """A value key for parameters that differ only by object identity across files."""
    if (params.voi_luts or params.presentation_lut is not None
            or not (params.modality is None or isinstance(params.modality, RescaleParams))):
        return id(params)
    return (params.photometric, params.bits_allocated, params.bits_stored, params.signed,
            params.is_float, params.modality, params.windows, params.presentation_shape,
            params.padding)


class LutCache:
    """The last few combined tables of a series (thread-safe, small)."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._tables: dict[Any, DisplayLut] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> DisplayLut | None:
        with self._lock:
            return self._tables.get(key)

    def put(self, key: Any, lut: DisplayLut) -> None:
        with self._lock:
            if len(self._tables) >= self._size:
                self._tables.pop(next(iter(self._tables)))
            self._tables[key] = lut


class _DecodedFrames:
    """A FrameSource that answers with the frame already decoded, when it is the one asked."""

    def __init__(self, source: FrameSource) -> None:
        self._source = source
        self._local = threading.local()

    def frame(self, index: int) -> np.ndarray:
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == index:
            return held[1]  # type: ignore[no-any-return]
        return self._source.frame(index)

    def hold(self, index: int, stored: np.ndarray | None) -> None:
        self._local.held = None if stored is None else (index, stored)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


class ViewerImage(DicomImage):
    """A DicomImage that renders decoded frames and shares its tables.

    Parameters
    ----------
    path : str
        The file.
    luts : LutCache
        Shared by every file of the series.
    """

    def __init__(self, path: str, luts: LutCache) -> None:
        super().__init__(path)
        self.frames = _DecodedFrames(self.source)
        self.source = self.frames  # type: ignore[assignment]
        self.luts = luts
        self._rendering = threading.local()  # per call of render_decoded: invert colour?

    def display_lut(self, frame_index: int, view: ViewState,
                    stored: np.ndarray | None = None) -> DisplayLut:
        params = self.params(frame_index)
        # A table made from a frame's own value range (min-max, or no usable file window:
        # PS3.3 C.11.2.1.2) is that frame's alone, whatever parameters it shares.
        frame = (str(self.source.path), frame_index) if needs_stats(params, view) else None
        key = (params_key(params), view, frame)
        lut = self.luts.get(key)
        if lut is None:
            lut = super().display_lut(frame_index, view, stored)
            self.luts.put(key, lut)
        return lut

    def render_decoded(self, frame_index: int, stored: np.ndarray, view: ViewState, *,
                       overlays: bool = True) -> np.ndarray:
        """:meth:`DicomImage.render` of a frame decoded already (no second decode).

        A colour frame with ``view.presentation`` INVERSE is shown with its RGB values
        inverted. PS3.3 defines no presentation LUT for colour (C.11.4, C.11.6: grey only), so
        this is a display choice, the one reading workstations make; overlays and shutters
        are drawn after it, as after a grey image's Presentation LUT (C.9.2, C.7.6.11),
        so they keep their own value.
        """
        self.frames.hold(frame_index, stored)
        self._rendering.invert_colour = (not self.layout.is_grayscale
                                         and view.presentation is PresentationShape.INVERSE)
        try:
            return self.render(frame_index, view, overlays=overlays, shutters=overlays)
        finally:
            self.frames.hold(frame_index, None)
            self._rendering.invert_colour = False

    def _composite(self, frame_index: int, out: np.ndarray, overlay_value: int,
                   ddl_for_pvalue: Callable[[int, int], int], overlays: bool,
                   shutters: bool) -> np.ndarray:
        # The last step shared by grey and colour frames before overlays and shutters:
        # where a colour frame is inverted (a grey one was, in its Presentation LUT).
        if getattr(self._rendering, "invert_colour", False):
            out = np.subtract(255, out, dtype=np.uint8)
        return super()._composite(frame_index, out, overlay_value, ddl_for_pvalue,
                                  overlays, shutters)

    def window(self, frame_index: int, view: ViewState, stored: np.ndarray
               ) -> WindowParams | None:
        """The window ``view`` resolves to on this frame (None: colour or VOI LUT)."""
        if not self.layout.is_grayscale:
            return None
        params = self.params(frame_index)
        stats = frame_stats(params, stored) if view.window is None else None
        voi = resolve_voi(params, view, stats)
        return voi if isinstance(voi, WindowParams) else None

    def modality_values(self, frame_index: int, stored: np.ndarray) -> np.ndarray:
        """Modality values (e.g. HU, PS3.3 C.11.1) of a grey frame; stored values otherwise."""
        if not self.layout.is_grayscale or self.layout.is_float:
            return np.asarray(stored)
        params = self.params(frame_index)
        if params.modality is None:
            return np.asarray(stored)
        return apply_modality(params.modality, np.asarray(stored, dtype=np.float64))
