"""Mouse, wheel, key and drag-and-drop input of a viewport.

:class:`ViewportInteraction` is mixed into :class:`viewer.ui.viewer.viewport.ViewportWidget`;
its canvas (:class:`viewer.ui.viewer.canvas.ViewportCanvas`) hands it the Qt events.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent

from viewer.imaging.pipeline import ViewState
from viewer.imaging.presentation import is_inverted
from viewer.ui.viewer.keys import handle_viewport_key
from viewer.ui.viewer.tools import Tool

if TYPE_CHECKING:
    from viewer.render.image_view import ImageView
    from viewer.ui.viewer.canvas import ViewportCanvas
    from viewer.ui.viewer.measuring import MeasureController

SERIES_MIME = "application/x-lightbox-series"


class ViewportInteraction:
    """The input methods of a viewport (plain methods; the widget owns the signals)."""

    canvas: ViewportCanvas
    view: ImageView
    measure: MeasureController
    tool: Tool
    _drag_button: Qt.MouseButton | None
    _drag_last: QPoint
    _scroll_rest: int
    _wheel_rest: int

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
        params = self._facts.params if self._facts is not None else None
        if params is not None and (is_inverted(params.presentation_shape, params.photometric)
                                   != self.inverted):
            # Shown inverted (MONOCHROME1, an INVERSE shape, or the Invert key): the same
            # hand movement must brighten the picture on screen, as on every other image.
            dy = -dy
        self.window = self._user_window(current.center + dy * step, current.width + dx * step,
                                        current.function)
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
