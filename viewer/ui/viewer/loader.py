"""Background decoding of a series into one volume, nearest frames first, never on the GUI thread.

:func:`viewer.dicom.volume.load_series` decodes the whole series into one preallocated array,
the frame the user looks at first, then the nearest ones (ahead before behind), so scrolling
finds its frames ready and a jump to the far end of a long series is served next. Its threads
run the lossless codecs outside the GIL, so every core decodes. Each slice is handed to
:class:`SeriesData` as a view of the volume (no copy); results reach the GUI thread as queued
signals.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from PySide6.QtCore import QObject, QThreadPool, Signal

from viewer.core.errors import InputFileError, LightboxError
from viewer.dicom.volume import FrameReader, SeriesVolume, SliceFailure, load_series
from viewer.ui.viewer.series import SeriesData

log = logging.getLogger(__name__)




class SeriesLoader(QObject):
    """Decodes every frame of ``series`` in the background.

    Parameters
    ----------
    series : SeriesData
        What to load.
    pool : QThreadPool, optional
        Kept for callers that share one; the volume loader runs its own threads.
    workers : int, optional
        Decoding threads; by default every core when the codec releases the GIL, else one.
    """

    frame_loaded = Signal(int)
    progress = Signal(int, int)
    finished = Signal()

    def __init__(self, series: SeriesData, pool: QThreadPool | None = None,
                 workers: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.series = series
        self._workers = workers
        self._lock = threading.Lock()
        self._volume: SeriesVolume | None = None
        self._started = False
        self._closing = False
        self._stopped = False
        self._done_count = sum(
            1 for i in range(len(series)) if series.is_loaded(i) or series.error(i))

    # ------------------------------------------------------------------ control
    def start(self, focus: int = 0) -> None:
        """Start loading around ``focus``; once started, only move the focus."""
        with self._lock:
            started, self._started = self._started, True
        if started:
            self.set_focus(focus)
            return
        if self._done_count >= len(self.series):
            self.finished.emit()
            return
        # The volume's slices are the series' frames in the order shown: enhanced files
        # say theirs in their headers, read here once (the focus file's is read anyway).
        self.series.order_frames()
        # Held while load_series starts its threads: their first callbacks wait for the
        # volume to be assigned, so that they find the array their slice is in.
        with self._lock:
            try:
                self._volume = load_series(
                    self.series.refs, focus, opener=self._open,
                    on_frame=self._slice_ready, on_failure=self._slice_failed,
                    on_done=self._volume_done, workers=self._workers)
            except LightboxError as exc:
                message = str(exc)
            else:
                return
        # Nothing to allocate for (the files nearest the focus cannot be read): every
        # slice says why, and the log says it once for the series.
        self.series.fail_all(message)
        with self._lock:
            self._done_count = len(self.series)
        self.progress.emit(len(self.series), len(self.series))
        self.finished.emit()

    def set_focus(self, index: int) -> None:
        """Load around ``index`` next (the frame on screen)."""
        volume = self._volume
        if volume is not None:
            volume.set_focus(index)

    def cancel(self) -> None:
        """Stop after the frames being decoded now; the loader is then deleted.

        A cancelled loader is done with (the series is closed), and as a child of the viewer
        it would otherwise keep the series and its volume alive until the viewer goes. It is
        deleted only once the decoding threads stopped emitting its signals.
        """
        volume = self._volume
        if volume is not None:
            volume.cancel()
        with self._lock:
            self._closing = True
            stopped = volume is None or self._stopped
        if stopped:
            self._delete_later()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the decoding threads stop (tests and shutdown only)."""
        volume = self._volume
        return True if volume is None else volume.wait(timeout_ms / 1000)

    @property
    def done(self) -> bool:
        """Whether the loading stopped: every frame decoded (or failed), or cancelled."""
        volume = self._volume
        if volume is None:
            return self._started
        return volume.done

    # ------------------------------------------------------------------ worker side
    def _open(self, path: str) -> FrameReader:
        # The viewer's own opened file: its header is read once, for decoding and display.
        try:
            return self.series.source(path).source
        except LightboxError:
            raise
        except Exception as exc:  # a parser bug fails this file's slices, not the series
            log.exception("%s cannot be opened", path)
            raise InputFileError(path, f"cannot be read: {type(exc).__name__}: {exc}") from exc

    def _volume_of_slice(self) -> SeriesVolume:
        with self._lock:  # waits for start() to have assigned it
            volume = self._volume
        assert volume is not None
        return volume

    def _slice_ready(self, index: int) -> None:
        self.series.adopt(index, self._volume_of_slice().array[index])
        self._announce(index)

    def _slice_failed(self, failure: SliceFailure) -> None:
        self._volume_of_slice()
        if failure.fits:
            self.series.fail(failure.index, failure.message)
        else:
            # Another size or colour than the series: decoded on its own, as before.
            self.series.load(failure.index)
        self._announce(failure.index)

    def _announce(self, index: int) -> None:
        with self._lock:
            self._done_count += 1
            count, total = self._done_count, len(self.series)
        try:
            self.frame_loaded.emit(index)
            self.progress.emit(count, total)
        except RuntimeError:  # the viewer was closed while this frame decoded
            self.cancel()

    def _volume_done(self) -> None:
        with contextlib.suppress(RuntimeError):  # the viewer was closed
            self.finished.emit()
        # The last signal of the last decoding thread: from now on nothing touches the
        # Qt object from another thread, so a closed series' loader can go.
        with self._lock:
            self._stopped = True
            closing = self._closing
        if closing:
            self._delete_later()

    def _delete_later(self) -> None:
        with contextlib.suppress(RuntimeError):  # deleted already
            self.deleteLater()
