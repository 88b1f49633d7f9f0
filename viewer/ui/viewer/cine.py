"""Cine playback of a viewport: the rate it plays at, the timer, the step to the next frame.

:class:`ViewportCine` is mixed into :class:`viewer.ui.viewer.viewport.ViewportWidget`,
whose ``cine_timer``, series, frame index and frame facts it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

if TYPE_CHECKING:
    from viewer.ui.viewer.series import FrameFacts, SeriesData

#: Cine rate of a series that names none (a stack of slices, a clip without a Cine Module).
DEFAULT_CINE_FPS = 10.0
#: The rates cine plays at: a timer faster than the screen shows nothing more.
CINE_FPS_RANGE = (1.0, 60.0)


def _cine_interval(fps: float) -> int:
    """Timer interval in ms for ``fps`` frames per second."""
    return max(1, round(1000.0 / fps))


class ViewportCine:
    """The cine methods of a viewport (plain methods; the widget owns the signals)."""

    cine_timer: QTimer
    series: SeriesData | None
    index: int
    _facts: FrameFacts | None
    _cine_fps: float | None
    _cine_held: bool

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
