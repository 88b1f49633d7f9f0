"""Background decoding of a series, nearest frames first, never on the GUI thread.

Workers of a :class:`QThreadPool` take the not-yet-decoded frame nearest to the frame the
user looks at (ahead before behind), so scrolling finds its frames ready and a jump to the
far end of a long series is served next. Results reach the GUI thread as queued signals.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from viewer.ui.viewer.series import SeriesData

#: Frames a worker decodes before it goes back to the end of the pool's queue.
CHUNK = 8


class _Worker(QRunnable):
    def __init__(self, loader: SeriesLoader) -> None:
        super().__init__()
        self._loader = loader
        self.setAutoDelete(True)

    def run(self) -> None:
        loader = self._loader
        for _ in range(CHUNK):
            index = loader._take()
            if index is None:
                return  # _take counted this worker out
            loader.series.load(index)
            loader._done(index)
        # Give the pool back after a few frames, so that other series (and other viewports)
        # loading at the same time take turns instead of waiting for this one to finish.
        loader._requeue()


class SeriesLoader(QObject):
    """Decodes every frame of ``series`` in the background.

    Parameters
    ----------
    series : SeriesData
        What to load.
    pool : QThreadPool, optional
        Shared pool; the global one by default.
    workers : int
        How many frames decode at once.
    """

    frame_loaded = Signal(int)
    progress = Signal(int, int)
    finished = Signal()

    def __init__(self, series: SeriesData, pool: QThreadPool | None = None,
                 workers: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.series = series
        self._pool = pool or QThreadPool.globalInstance()
        self._workers = max(1, workers)
        self._lock = threading.Lock()
        self._focus = 0
        self._pending = {i for i in range(len(series)) if not series.is_loaded(i)}
        self._in_flight: set[int] = set()
        self._running = 0
        self._cancelled = False
        self._done_count = len(series) - len(self._pending)
        self._ramped = False

    # ------------------------------------------------------------------ control
    def start(self, focus: int = 0) -> None:
        """Start (or resume) loading around ``focus``.

        One worker decodes the frame on screen alone; the others join once it is done, so
        the first image does not share the processor with frames nobody looks at yet.
        """
        self.set_focus(focus)
        with self._lock:
            self._cancelled = False
            self._ramped = False
            want = min(1, len(self._pending)) - self._running
            self._running += max(0, want)
        for _ in range(max(0, want)):
            self._pool.start(_Worker(self))
        if not self._pending and not self._in_flight:
            self.finished.emit()

    def set_focus(self, index: int) -> None:
        """Load around ``index`` next (the frame on screen)."""
        with self._lock:
            self._focus = index

    def cancel(self) -> None:
        """Stop after the frames being decoded now."""
        with self._lock:
            self._cancelled = True

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the workers stop (tests and shutdown only)."""
        return bool(self._pool.waitForDone(timeout_ms))

    @property
    def done(self) -> bool:
        """Whether every frame is decoded (or failed)."""
        with self._lock:
            return not self._pending and not self._in_flight

    # ------------------------------------------------------------------ worker side
    def _requeue(self) -> None:
        with self._lock:
            if self._cancelled or not self._pending:
                self._running -= 1
                return
        self._pool.start(_Worker(self))

    def _take(self) -> int | None:
        with self._lock:
            if self._cancelled or not self._pending:
                self._running -= 1
                return None
            focus = self._focus
            # Nearest first; at equal distance the frame ahead (scrolling usually goes on).
            index = min(self._pending, key=lambda i: (abs(i - focus), i < focus))
            self._pending.discard(index)
            self._in_flight.add(index)
            return index

    def _done(self, index: int) -> None:
        with self._lock:
            self._in_flight.discard(index)
            self._done_count += 1
            count, total = self._done_count, len(self.series)
            finished = not self._pending and not self._in_flight
            more = 0
            if not self._ramped:
                self._ramped = True
                more = max(0, min(self._workers, len(self._pending)) - self._running)
                self._running += more
        for _ in range(more):
            self._pool.start(_Worker(self))
        try:
            self.frame_loaded.emit(index)
            self.progress.emit(count, total)
            if finished:
                self.finished.emit()
        except RuntimeError:  # the viewer was closed while this frame decoded
            self.cancel()
