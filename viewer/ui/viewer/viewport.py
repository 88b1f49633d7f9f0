"""ViewportWidget: one VTK image view with the reading interactions of a workstation.

The Qt side only binds input and state to :class:`viewer.render.image_view.ImageView`;
what reaches the screen is the display pipeline's output for the frame and window.
"""

from __future__ import annotations

import contextlib
import logging
import math

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

from viewer.imaging.pipeline import DisplayCalibration, ViewState
from viewer.imaging.presentation import PresentationShape, is_inverted
from viewer.imaging.voi import VoiFunction, WindowParams
from viewer.render.annotations import AnnotationLayer
from viewer.render.graphics import GraphicsLayer
from viewer.render.image_view import ImageView
from viewer.ui.viewer.annotate import corner_texts
from viewer.ui.viewer.canvas import ViewportCanvas
from viewer.ui.viewer.keys import handle_viewport_key
from viewer.ui.viewer.loader import SeriesLoader
from viewer.ui.viewer.measuring import MeasureController
from viewer.ui.viewer.series import FrameFacts, SeriesData
from viewer.ui.viewer.text_images import text_image
from viewer.ui.viewer.tools import CT_PRESETS, Tool, WindowPreset

log = logging.getLogger(__name__)

SERIES_MIME = "application/x-lightbox-series"

#: Cine rate of a series that names none (a stack of slices, a clip without a Cine Module).
DEFAULT_CINE_FPS = 10.0
#: The rates cine plays at: a timer faster than the screen shows nothing more.
CINE_FPS_RANGE = (1.0, 60.0)


def _cine_interval(fps: float) -> int:
    """Timer interval in ms for ``fps`` frames per second."""
    return max(1, round(1000.0 / fps))


class ViewportWidget(QFrame):
    """One viewport: a series, a frame, a window, a view transform and measurements."""

    activated = Signal(object)
    index_changed = Signal(int)
    window_changed = Signal(float, float)
    status_message = Signal(str)
    series_dropped = Signal(object, str)
    double_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewport")
        self.setFrameShape(QFrame.Shape.Box)
        self.setLineWidth(1)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        self.canvas = ViewportCanvas(self)
        layout.addWidget(self.canvas)
        self.view = ImageView(self.canvas.GetRenderWindow())
        self.annotations = AnnotationLayer(rasterize=text_image)
        self.graphics_layer = GraphicsLayer()
        self.view.add_layer(self.annotations)
        self.view.add_layer(self.graphics_layer)
        self.measure = MeasureController(self)

        self.series: SeriesData | None = None
        self.loader: SeriesLoader | None = None
        self.index = 0
        self.tool = Tool.WINDOW
        self.window: WindowParams | None = None  # None: the image's own
        self.window_index: int | None = None
        self.voi_lut_index: int | None = None  # a VOI LUT Sequence item chosen
        self.min_max = False
        self.preset_name = ""
        self._wheel_rest = 0  # wheel movement short of a notch (1/120 units)
        self.inverted = False  # relative to the image's own polarity
        self.calibration: DisplayCalibration | None = None
        self.overlays_on = True
        self._facts: FrameFacts | None = None
        self._shown_index: int | None = None
        self._drag_button: Qt.MouseButton | None = None
        self._drag_last = QPoint()
        self._scroll_rest = 0
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self._render_now)
        self._placeholder_timer = QTimer(self)
        self._placeholder_timer.setSingleShot(True)
        self._placeholder_timer.setInterval(150)
        self._placeholder_timer.timeout.connect(self._show_placeholder)
        self.cine_timer = QTimer(self)
        self.cine_timer.timeout.connect(self._cine_step)
        self._cine_fps: float | None = None  # None: the rate the file names
        self._cine_held = False  # playing, but paused while the viewport is not visible
        self.set_active(False)

    def showEvent(self, ev: object) -> None:  # noqa: N802
        super().showEvent(ev)  # type: ignore[arg-type]
        if self._cine_held:
            self._start_cine()
        if not getattr(self, "_warmed", False):
            # Compile the image shaders now, not when the first image is waited for.
            self._warmed = True
            if not self.view.has_frame:
                self.view.set_frame(np.zeros((2, 2), dtype=np.uint8))
                self.view.render()
                self.view.clear()

    def hideEvent(self, ev: object) -> None:  # noqa: N802
        # Another tab shown, or the window minimised: decoding and drawing frames nobody
        # sees would only take the machine from what is on screen. Resumed when shown.
        if self.cine_timer.isActive():
            self.cine_timer.stop()
            self._cine_held = True
        super().hideEvent(ev)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ series
    def set_series(self, series: SeriesData, loader: SeriesLoader, index: int = 0) -> None:
        """Show ``series`` (already loading or not) at frame ``index``."""
        if self.loader is not None:
            with contextlib.suppress(RuntimeError, TypeError):
                self.loader.frame_loaded.disconnect(self._frame_loaded)
        self.stop_cine()
        self.series = series
        self.loader = loader
        self.window = None
        self.window_index = None
        self.voi_lut_index = None
        self.min_max = False
        self.preset_name = ""
        self.inverted = False
        self._cine_fps = None
        self._facts = None
        self._shown_index = None
        self.view.reset_view()
        self._first_frame_pending = True
        loader.frame_loaded.connect(self._frame_loaded)
        self.index = max(0, min(index, len(series) - 1))
        loader.start(self.index)
        self.refresh()

    def _show_placeholder(self) -> None:
        """The frame asked for is still not decoded: never show another slice in its place."""
        series = self.series
        if series is None or series.is_loaded(self.index):
            return
        self.view.clear()
        self.graphics_layer.set_graphics([])
        self.annotations.set_orientation(None)
        self.annotations.set_spacing(None)
        self._update_texts()
        self.request_render()

    def clear(self) -> None:
        """Show nothing."""
        self.series = None
        self.loader = None
        self.view.clear()
        self.annotations.set_corner_texts("", "", "", "")
        self.request_render()

    def _frame_loaded(self, index: int) -> None:
        if index == self.index and self._shown_index != index:
            if self.series is not None and self.series.error(index):
                self.view.clear()
                self._update_texts()
                self.request_render()
                self.status_message.emit(self.series.error(index) or "")
                return
            self.refresh()
        elif self._shown_index == self.index:
            self._update_texts()  # loading progress in the corner

    @property
    def frame_count(self) -> int:
        """Frames of the series shown (0 without one)."""
        return len(self.series) if self.series is not None else 0

    # ------------------------------------------------------------------ frame and window
    def view_state(self) -> ViewState:
        """The pipeline's view state for this viewport.

        Inverting a grey image flips its Presentation LUT Shape (PS3.3 C.11.6.1). A colour
        image has no presentation LUT; INVERSE asks for its RGB values inverted instead
        (see :meth:`viewer.ui.viewer.display.ViewerImage.render_decoded`), as reading
        workstations do: the key must not do nothing on a colour image.
        """
        presentation = None
        if self.inverted and self._facts is not None and self._facts.params is not None:
            p = self._facts.params
            own = is_inverted(p.presentation_shape, p.photometric)
            presentation = PresentationShape.IDENTITY if own else PresentationShape.INVERSE
        elif self.inverted and self._facts is not None:
            presentation = PresentationShape.INVERSE
        return ViewState(window=self.window, window_index=self.window_index,
                         voi_lut_index=self.voi_lut_index,
                         min_max=self.min_max, presentation=presentation,
                         display=self.calibration)

    def set_index(self, index: int) -> None:
        """Go to frame ``index`` (clamped)."""
        if self.series is None:
            return
        index = max(0, min(index, len(self.series) - 1))
        if index == self.index and self._shown_index == index:
            return
        self.measure.cancel()
        self.index = index
        if self.loader is not None:
            self.loader.set_focus(index)
        self.refresh()
        self.index_changed.emit(index)

    def scroll(self, steps: int) -> None:
        """Move ``steps`` frames forward (negative: back)."""
        self.set_index(self.index + steps)

    def refresh(self) -> None:
        """Map the current frame through the pipeline and draw it."""
        series = self.series
        if series is None:
            return
        stored = series.stored(self.index)
        facts = series.facts(self.index)
        if stored is None or facts is None:
            # The previous image stays (with its own texts) for a moment: drawing a
            # placeholder first would delay the image it waits for by a whole redraw.
            if not self._placeholder_timer.isActive():
                self._placeholder_timer.start()
            return
        self._placeholder_timer.stop()
        self._facts = facts
        if self.cine_timer.isActive() and self._cine_fps is None:
            # Started before the file named its rate, or played into a file of another.
            interval = _cine_interval(self.cine_fps)
            if self.cine_timer.interval() != interval:
                self.cine_timer.setInterval(interval)
        image = series.image(self.index)
        try:
            pixels = image.render_decoded(facts.ref.frame, stored, self.view_state(),
                                          overlays=self.overlays_on)
        except Exception as exc:  # a broken window must not kill the viewer
            log.warning("frame %d cannot be displayed: %s", self.index + 1, exc)
            self.status_message.emit(str(exc))
            return
        spacing = facts.plane.spacing
        self.view.set_frame(pixels, (spacing.row, spacing.column))
        if self._shown_index is None:
            self.view.fit()
        self._shown_index = self.index
        self.annotations.set_orientation(facts.plane.labels())
        self.annotations.set_spacing(spacing)
        self.measure.frame_changed()
        self._update_texts()
        self.request_render()

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

    def _user_window(self, center: float, width: float) -> WindowParams:
        """A window the user set, in modality units.

        In integer units LINEAR, whose width is at least 1 (PS3.3 C.11.2.1.2.1). In finer
        units (doses in Gy) a width of 1 would be the narrowest window: LINEAR_EXACT
        (C.11.2.1.3.2) takes any width above 0, down to one step of the values.
        """
        step = self._value_step()
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
                # window, else its first VOI LUT): index 0 of windows-then-LUTs.
                current = (self.window_index if self.window_index is not None else
                           windows + self.voi_lut_index if self.voi_lut_index is not None
                           else 0)
                index = (current + 1) % count
            else:
                index = 0
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

    def toggle_overlays(self) -> None:
        """Overlays and shutters on or off."""
        self.overlays_on = not self.overlays_on
        self.refresh()

    def reset(self) -> None:
        """The image's own window, no inversion, fitted, no rotation."""
        self.window = None
        self.window_index = None
        self.voi_lut_index = None
        self.min_max = False
        self.inverted = False
        self.preset_name = ""
        self.view.reset_view()
        self.refresh()

    # ------------------------------------------------------------------ view
    def fit(self) -> None:
        self.view.fit()
        self._view_changed()

    def actual_size(self) -> None:
        self.view.actual_size()
        self._view_changed()

    def zoom_by(self, factor: float, anchor: tuple[float, float] | None = None) -> None:
        self.view.zoom_by(factor, anchor)
        self._view_changed()

    def rotate(self, quarter_turns: int) -> None:
        self.view.rotate(quarter_turns)
        self._view_changed()

    def flip(self, horizontal: bool) -> None:
        self.view.flip(horizontal)
        self._view_changed()

    def _view_changed(self) -> None:
        self._update_texts()
        self.request_render()

    # ------------------------------------------------------------------ cine
    @property
    def cine_fps(self) -> float:
        """Frames per second cine plays at: the one chosen with [ and ], else the file's
        (Cine Module, PS3.3 C.7.6.5, see :func:`viewer.ui.viewer.series.cine_rate`), else
        :data:`DEFAULT_CINE_FPS`; within :data:`CINE_FPS_RANGE`."""
        fps = self._cine_fps
        if fps is None:
            fps = self._facts.frame_rate if self._facts is not None else None
        low, high = CINE_FPS_RANGE
        return max(low, min(high, fps or DEFAULT_CINE_FPS))

    @property
    def cine_playing(self) -> bool:
        """Whether cine is on (paused while the viewport is not visible)."""
        return self.cine_timer.isActive() or self._cine_held

    def toggle_cine(self) -> None:
        """Play or stop cine at :attr:`cine_fps`."""
        if self.cine_playing:
            self.stop_cine()
        elif self.frame_count > 1:
            self._start_cine()
        self._update_texts()
        self.request_render()

    def _start_cine(self) -> None:
        if self.isVisible():
            self._cine_held = False
            self.cine_timer.start(_cine_interval(self.cine_fps))
        else:
            self._cine_held = True  # starts when shown

    def stop_cine(self) -> None:
        """Stop cine."""
        self.cine_timer.stop()
        self._cine_held = False

    def set_cine_fps(self, fps: float) -> None:
        """Play at ``fps`` frames per second (within :data:`CINE_FPS_RANGE`)."""
        low, high = CINE_FPS_RANGE
        self._cine_fps = max(low, min(high, fps))
        if self.cine_timer.isActive():
            self.cine_timer.start(_cine_interval(self.cine_fps))
        self.status_message.emit(f"Cine {self.cine_fps:.3g} frames/s")
        self._update_texts()
        self.request_render()

    def _cine_step(self) -> None:
        if self.series is None:
            return
        nxt = (self.index + 1) % len(self.series)
        if self.series.is_loaded(nxt) or self.series.error(nxt):
            self.set_index(nxt)

    # ------------------------------------------------------------------ drawing
    def request_render(self) -> None:
        """Draw at the next turn of the event loop (coalesces bursts of mouse moves)."""
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render_now(self) -> None:
        if self.canvas.isVisible():
            self.view.render()

    def render_now(self) -> None:
        """Draw immediately (tests, export)."""
        self._render_timer.stop()
        self.view.render()

    def grab_frame_buffer(self) -> np.ndarray:
        """What the viewport shows, as a (height, width, 3) uint8 array."""
        self._render_timer.stop()
        return self.view.grab()

    def displayed_pixels(self) -> np.ndarray | None:
        """The pipeline's output for the current frame, before VTK."""
        return self.view.frame

    def _update_texts(self) -> None:
        ul, ur, ll, lr = corner_texts(self)
        self.annotations.set_corner_texts(ul, ur, ll, lr)

    def _canvas_resized(self) -> None:
        ratio = self.canvas.devicePixelRatioF()
        self.view.resize(round(self.canvas.width() * ratio),
                         round(self.canvas.height() * ratio))
        self._update_texts()

    def set_active(self, active: bool) -> None:
        """Highlight the viewport the keyboard acts on."""
        self.setProperty("active", active)
        self.setStyleSheet(
            "QFrame#viewport { border: 1px solid %s; }" % ("#e0a030" if active else "#303030")
        )

    def set_annotations_visible(self, visible: bool) -> None:
        self.annotations.set_visible(visible)
        self.request_render()

    # ------------------------------------------------------------------ input
    def _display_pos(self, ev: QMouseEvent | QWheelEvent) -> tuple[float, float]:
        ratio = self.canvas.devicePixelRatioF()
        p = ev.position()
        # The cursor designates the screen pixel at (x, y); its centre is half a pixel on.
        return ((p.x() + 0.5) * ratio, (p.y() + 0.5) * ratio)

    def _mouse_press(self, ev: QMouseEvent) -> None:
        self.activated.emit(self)
        self.canvas.setFocus()
        self._drag_button = ev.button()
        self._drag_last = ev.position().toPoint()
        if ev.button() == Qt.MouseButton.LeftButton and self.tool in self.measure.tools:
            self.measure.press(self._display_pos(ev))

    def _mouse_move(self, ev: QMouseEvent) -> None:
        pos = ev.position().toPoint()
        dx, dy = pos.x() - self._drag_last.x(), pos.y() - self._drag_last.y()
        self._drag_last = pos
        self._probe_status(self._display_pos(ev))
        button = self._drag_button
        if button is None:
            if self.tool in self.measure.tools:
                self.measure.hover(self._display_pos(ev))
            return
        if button == Qt.MouseButton.RightButton:
            self._drag_window(dx, dy)
        elif button == Qt.MouseButton.MiddleButton:
            self.view.pan_by(dx, dy)
            self._view_changed()
        elif button == Qt.MouseButton.LeftButton:
            tool = self.tool
            if tool is Tool.WINDOW:
                self._drag_window(dx, dy)
            elif tool is Tool.PAN:
                self.view.pan_by(dx, dy)
                self._view_changed()
            elif tool is Tool.ZOOM:
                self.zoom_by(math.exp(-dy / 150.0))
            elif tool is Tool.SCROLL:
                # One image per 4 pixels of drag: fine control on short stacks.
                self._scroll_rest += dy
                steps = int(self._scroll_rest / 4)
                if steps:
                    self._scroll_rest -= steps * 4
                    self.scroll(steps)
            elif tool in self.measure.tools:
                self.measure.drag(self._display_pos(ev))

    def _mouse_release(self, ev: QMouseEvent) -> None:
        if (ev.button() == Qt.MouseButton.LeftButton and self.tool in self.measure.tools
                and self._drag_button == Qt.MouseButton.LeftButton):
            self.measure.release(self._display_pos(ev))
        self._drag_button = None

    def _drag_window(self, dx: int, dy: int) -> None:
        # Under a VOI LUT there is no window to move: the drag starts from the frame's
        # own range, as a reader who drags expects something to happen.
        current = self.current_window() or self.current_window(ViewState(min_max=True))
        if current is None:
            return
        # Sensitivity follows the width, so that a bone window and a brain window both move
        # at a useful pace; at least one step of the values (1 HU, a fraction of a Gy)
        # per pixel.
        step = max(self._value_step() or 1e-6, current.width / 300.0)
        self.window = self._user_window(current.center + dy * step, current.width + dx * step)
        self.window_index = None
        self.voi_lut_index = None
        self.min_max = False
        self.preset_name = ""
        self.refresh()
        self.window_changed.emit(self.window.center, self.window.width)

    def _wheel(self, ev: QWheelEvent) -> None:
        delta = ev.angleDelta().y()
        if delta == 0:
            return
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(1.15 ** (delta / 120.0), self._display_pos(ev))
            return
        # A notch is 120; a touchpad or a fine wheel sends a fraction of one per event.
        # One slice per notch, whatever the device: each event moved one slice, so a
        # fine wheel skipped eight slices per notch.
        if (delta > 0) != (self._wheel_rest > 0):
            self._wheel_rest = 0  # turned back: start the new direction afresh
        self._wheel_rest += delta
        notches = int(self._wheel_rest / 120)
        if notches:
            self._wheel_rest -= notches * 120
            self.scroll(-notches)

    def _probe_status(self, pos: tuple[float, float]) -> None:
        text = self.measure.probe_text(pos)
        if text:
            self.status_message.emit(text)

    def handle_key(self, ev: QKeyEvent) -> bool:
        """Viewer keys; returns False for keys it does not use (see :mod:`.keys`)."""
        return handle_viewport_key(self, ev)

    # ------------------------------------------------------------------ drag and drop
    def _drag_enter(self, ev: object) -> None:
        mime: QMimeData = ev.mimeData()  # type: ignore[attr-defined]
        if mime.hasFormat(SERIES_MIME):
            ev.acceptProposedAction()  # type: ignore[attr-defined]

    def _drop(self, ev: object) -> None:
        mime: QMimeData = ev.mimeData()  # type: ignore[attr-defined]
        if mime.hasFormat(SERIES_MIME):
            key = bytes(mime.data(SERIES_MIME).data()).decode()
            self.series_dropped.emit(self, key)
            ev.acceptProposedAction()  # type: ignore[attr-defined]
