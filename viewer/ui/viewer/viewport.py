"""ViewportWidget: one VTK image view with the reading interactions of a workstation.

The Qt side only binds input and state to :class:`viewer.render.image_view.ImageView`;
what reaches the screen is the display pipeline's output for the frame and window.
The widget's input, windowing and cine methods live in :mod:`viewer.ui.viewer.interaction`,
:mod:`viewer.ui.viewer.windowing` and :mod:`viewer.ui.viewer.cine`.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

from viewer.imaging.pipeline import DisplayCalibration
from viewer.imaging.voi import WindowParams
from viewer.render.annotations import AnnotationLayer
from viewer.render.graphics import GraphicsLayer
from viewer.render.image_view import ImageView
from viewer.ui.viewer.annotate import corner_texts
from viewer.ui.viewer.canvas import ViewportCanvas
from viewer.ui.viewer.cine import ViewportCine, _cine_interval
from viewer.ui.viewer.interaction import ViewportInteraction
from viewer.ui.viewer.loader import SeriesLoader
from viewer.ui.viewer.measuring import MeasureController
from viewer.ui.viewer.series import FrameFacts, SeriesData
from viewer.ui.viewer.text_images import text_image
from viewer.ui.viewer.tools import Tool
from viewer.ui.viewer.windowing import ViewportWindowing

log = logging.getLogger(__name__)


class ViewportWidget(ViewportInteraction, ViewportWindowing, ViewportCine, QFrame):
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
        self.render_error: str | None = None  # why the frame asked for could not be drawn
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
        self._blank()

    def _blank(self) -> None:
        """No image, no graphics, only the corner texts: what shows a frame is missing."""
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

    # ------------------------------------------------------------------ frame
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
            # Never leave the previous frame on screen under this one's number: the probe
            # and the measurements would read this frame's values off that picture.
            self._facts = None
            self.render_error = str(exc)
            self._blank()
            self.status_message.emit(str(exc))
            return
        self.render_error = None
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
