"""The grey-scale choice of a viewport: window, VOI LUT, inversion and display calibration.

:class:`ViewportWindowing` is mixed into :class:`viewer.ui.viewer.viewport.ViewportWidget`:
it turns the reader's choices into the display pipeline's
:class:`~viewer.imaging.pipeline.ViewState` and sets them from drags, keys and presets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from viewer.imaging.pipeline import DisplayCalibration, ViewState
from viewer.imaging.presentation import PresentationShape
from viewer.imaging.voi import VoiFunction, WindowParams
from viewer.ui.viewer.tools import CT_PRESETS, WindowPreset

if TYPE_CHECKING:
    from viewer.ui.viewer.series import FrameFacts, SeriesData


class ViewportWindowing:
    """The windowing methods of a viewport (plain methods; the widget owns the signals)."""

    series: SeriesData | None
    index: int
    window: WindowParams | None
    window_index: int | None
    voi_lut_index: int | None
    min_max: bool
    preset_name: str
    inverted: bool
    calibration: DisplayCalibration | None
    _facts: FrameFacts | None

    def view_state(self) -> ViewState:
        """The pipeline's view state for this viewport.

        Inverting a grey image shows the negative of what its presentation gives (PS3.3
        C.11.6.1 shape or C.11.4 Presentation LUT Sequence, which stays applied): the
        picture on screen turned over. A colour image has no presentation LUT; INVERSE
        asks for its RGB values inverted instead (see
        :meth:`viewer.ui.viewer.display.ViewerImage.render_decoded`), as reading
        workstations do: the key must not do nothing on a colour image.
        """
        presentation = None
        negative = False
        if self.inverted and self._facts is not None and self._facts.params is not None:
            negative = True
        elif self.inverted and self._facts is not None:
            presentation = PresentationShape.INVERSE
        window_index, voi_lut_index = self.window_index, self.voi_lut_index
        params = self._facts.params if self._facts is not None else None
        if params is not None:
            # PS3.3 C.7.6.16.2.10: each frame (each slice) has its own windows and VOI LUTs;
            # where this one lacks the one chosen, its own first is shown.
            # So is a window the frame gives but no VOI LUT Function can take (C.11.2.1.2).
            if window_index is not None and (window_index >= len(params.windows)
                                             or not params.windows[window_index].is_valid()):
                window_index = None
            if voi_lut_index is not None and voi_lut_index >= len(params.voi_luts):
                voi_lut_index = None
        return ViewState(window=self.window, window_index=window_index,
                         voi_lut_index=voi_lut_index,
                         min_max=self.min_max, presentation=presentation,
                         display=self.calibration, negative=negative)

    def current_window(self, view: ViewState | None = None) -> WindowParams | None:
        """The window in effect on the frame shown (under ``view``, else the viewport's);
        None when a VOI LUT is, or nothing is shown."""
        series, facts = self.series, self._facts
        if series is None or facts is None:
            return None
        stored = series.stored(self.index)
        if stored is None:
            return None
        image = series.image(self.index)
        try:
            return image.window(facts.ref.frame, view or self.view_state(), stored)
        except Exception:
            return None

    def _value_step(self) -> float:
        """Spacing of the frame's modality values: 1 (HU), or finer (doses in Gy)."""
        params = self._facts.params if self._facts is not None else None
        return params.value_step if params is not None else 1.0

    def _user_window(self, center: float, width: float,
                     function: VoiFunction | None = None) -> WindowParams:
        """A window the user set, in modality units.

        In integer units LINEAR, whose width is at least 1 (PS3.3 C.11.2.1.2.1). In finer
        units (doses in Gy) a width of 1 would be the narrowest window: LINEAR_EXACT
        (C.11.2.1.3.2) takes any width above 0, down to one step of the values. A
        ``function`` of SIGMOID (the file's window being dragged) is kept: its curve
        (C.11.2.1.3.1) would otherwise turn linear at the first pixel of a drag.
        """
        step = self._value_step()
        if function is VoiFunction.SIGMOID:
            return WindowParams(center, max(step or 1e-6, width), VoiFunction.SIGMOID)
        if step >= 1.0:
            return WindowParams(center, max(1.0, width))
        return WindowParams(center, max(step or 1e-6, width), VoiFunction.LINEAR_EXACT)

    def set_window(self, center: float, width: float, name: str = "") -> None:
        """Apply a window in modality units."""
        self.window = self._user_window(float(center), float(width))
        self.window_index = None
        self.voi_lut_index = None
        self.min_max = False
        self.preset_name = name
        self.refresh()
        self.window_changed.emit(self.window.center, self.window.width)

    def apply_preset(self, preset: WindowPreset) -> None:
        """Apply a named preset."""
        self.set_window(preset.center, preset.width, preset.name)

    def use_file_window(self, index: int | None = None) -> None:
        """The file's own VOI transform ``index``: its windows, then its VOI LUTs.

        Repeated, it cycles through them all (PS3.3 C.11.2: a file may offer several
        windows and several VOI LUT Sequence items; each is a way its author meant it to
        be seen, and every one must be reachable).
        """
        params = self._facts.params if self._facts else None
        windows = len(params.windows) if params else 0
        luts = len(params.voi_luts) if params else 0
        count = windows + luts
        if index is None:
            if self.window is None and not self.min_max and count:
                # With no choice made, the file's first transform is on screen (its first
                # usable window, else its first VOI LUT) in the windows-then-LUTs order.
                usable = [i for i, w in enumerate(params.windows) if w.is_valid()] if params else []
                current = (self.window_index if self.window_index is not None else
                           windows + self.voi_lut_index if self.voi_lut_index is not None
                           else usable[0] if usable else windows if luts else 0)
                index = (current + 1) % count
            else:
                index = 0
            for _ in range(count):  # past the windows no function can take (Width 0)
                if index >= windows or params is None or params.windows[index].is_valid():
                    break
                index = (index + 1) % count
        self.window = None
        self.min_max = False
        self.window_index = index if index < windows else None
        self.voi_lut_index = index - windows if windows <= index < count else None
        self.preset_name = (params.windows[index].explanation
                            if params and self.window_index is not None else "")
        self.refresh()

    def use_auto_window(self) -> None:
        """Window from the frame's minimum and maximum."""
        self.window = None
        self.window_index = None
        self.voi_lut_index = None
        self.min_max = True
        self.preset_name = "Auto"
        self.refresh()

    def presets(self) -> list[WindowPreset]:
        """Presets for the modality shown, then the file's own windows."""
        facts = self._facts
        out: list[WindowPreset] = []
        if facts is not None and facts.modality == "CT":
            out.extend(CT_PRESETS)
        if facts is not None and facts.params is not None:
            for i, w in enumerate(facts.params.windows):
                out.append(WindowPreset(w.explanation or f"File window {i + 1}", w.center,
                                        w.width))
        return out

    def toggle_invert(self) -> None:
        """Invert the grey scale (a colour image: its RGB values)."""
        self.inverted = not self.inverted
        self.refresh()

    def set_calibration(self, calibration: DisplayCalibration | None) -> None:
        """Display calibration (GSDF) used for every frame."""
        self.calibration = calibration
        self.refresh()
