"""A whole series decoded into one preallocated array, nearest slices first, on every core.

:func:`load_series` allocates ``slices x rows x columns`` of the stored dtype once and lets
a few worker threads fill it: each takes the not-yet-decoded slice nearest to the focus
(ahead before behind, as a reader scrolls), opens its file's header and writes the frame
straight into its slice with :meth:`viewer.dicom.frames.FrameSource.frame_into`. No slice
is copied on the way: uncompressed pixels are read from the file into the array, and the
lossless codecs (imagecodecs) decode into it with the GIL released, so threads use every
core. The focus slice is taken first, so the first image is ready after one file.

A file that cannot be read fails its slices only; the others still load, and the failure
names the file.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from viewer.core.errors import LightboxError
from viewer.dicom.frames import FrameMismatchError, FrameSource

log = logging.getLogger(__name__)

_PENDING, _LOADED, _FAILED = 0, 1, 2


class FrameReader(Protocol):
    """What the loader needs of an opened file (a :class:`FrameSource` or a wrapper)."""

    def frame(self, index: int) -> npt.NDArray[Any]: ...

    def frame_into(self, index: int, out: npt.NDArray[Any]) -> None: ...


@dataclass(frozen=True)
class SliceRef:
    """One slice of the volume: a file and the 0-based frame in it."""

    path: str
    frame: int = 0


@dataclass(frozen=True)
class SliceFailure:
    """Why one slice could not be loaded (the message names the file)."""

    index: int
    path: str
    message: str
    fits: bool = True
    """False when the slice is readable but of another size or type than the volume."""


def _as_ref(item: Any) -> SliceRef:
    if isinstance(item, SliceRef):
        return item
    if isinstance(item, str | os.PathLike):
        return SliceRef(os.fspath(item), 0)
    return SliceRef(str(item.path), int(getattr(item, "frame", 0)))  # e.g. geometry.FrameRef


def nearest_first(count: int, focus: int) -> list[int]:
    """Indices ``0..count-1`` by distance to ``focus``, the one ahead first at a tie."""
    return sorted(range(count), key=lambda i: (abs(i - focus), i < focus))


class SeriesVolume:
    """The stored values of a series, filled in the background by :func:`load_series`.

    Attributes
    ----------
    array : numpy.ndarray
        ``(slices, rows, columns)`` (``(slices, rows, columns, 3)`` for colour), stored values
        as :meth:`FrameSource.frame` returns them; zeros where a slice is not loaded (yet).
    """

    def __init__(
        self,
        refs: Sequence[SliceRef],
        shape: tuple[int, ...],
        dtype: Any,
        cancel: threading.Event | None = None,
    ) -> None:
        self.refs = list(refs)
        # calloc'd: pages are committed as slices arrive, failed slices stay black
        self.array: npt.NDArray[Any] = np.zeros((len(self.refs), *shape), dtype=dtype)
        self._state = np.zeros(len(self.refs), dtype=np.int8)
        self._failures: dict[int, SliceFailure] = {}
        self._lock = threading.Lock()
        self._cancel = cancel if cancel is not None else threading.Event()
        self._finished = threading.Event()
        self._taken = np.zeros(len(self.refs), dtype=bool)
        self._order: list[int] = []
        self._workers = 0
        self.threads = 0
        """How many decoding threads were started."""

    def __len__(self) -> int:
        return len(self.refs)

    # ------------------------------------------------------------------ reader side
    def is_loaded(self, index: int) -> bool:
        """Whether slice ``index`` holds its decoded values."""
        return bool(self._state[index] == _LOADED)

    def failure(self, index: int) -> SliceFailure | None:
        """Why slice ``index`` failed, if it did."""
        with self._lock:
            return self._failures.get(index)

    @property
    def failures(self) -> list[SliceFailure]:
        """Every failed slice so far, in slice order."""
        with self._lock:
            return [self._failures[i] for i in sorted(self._failures)]

    def loaded_count(self) -> int:
        """How many slices are decoded (failures not counted)."""
        return int(np.count_nonzero(self._state == _LOADED))

    @property
    def done(self) -> bool:
        """Whether the workers stopped: every slice done, or cancelled."""
        return self._finished.is_set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called (or the caller's cancel event was set)."""
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the workers stop; False on timeout."""
        return self._finished.wait(timeout)

    def cancel(self) -> None:
        """Stop after the slices being decoded now (thread-safe, returns at once)."""
        self._cancel.set()

    def set_focus(self, index: int) -> None:
        """Decode the slices nearest ``index`` next (the slice on screen)."""
        with self._lock:
            self._order = [i for i in nearest_first(len(self.refs), index) if not self._taken[i]]
            self._order.reverse()  # popped from the end

    # ------------------------------------------------------------------ worker side
    def _take(self) -> int | None:
        with self._lock:
            while self._order and not self._cancel.is_set():
                index = self._order.pop()
                if not self._taken[index]:
                    self._taken[index] = True
                    return index
            return None

    def _mark(self, index: int, failure: SliceFailure | None) -> None:
        with self._lock:
            if failure is None:
                self._state[index] = _LOADED
            else:
                self._state[index] = _FAILED
                self._failures[index] = failure

    def _worker_exit(self) -> bool:
        with self._lock:
            self._workers -= 1
            last = self._workers == 0
        if last:
            self._finished.set()
        return last


class _Sources:
    """Opened files shared by the workers; each file's header is read once."""

    def __init__(self, refs: Sequence[SliceRef], opener: Callable[[str], FrameReader]) -> None:
        self._opener = opener
        self._lock = threading.Lock()
        self._open: dict[str, FrameReader | LightboxError] = {}
        self._path_locks: dict[str, threading.Lock] = {}
        self._uses: dict[str, int] = {}
        for ref in refs:
            self._uses[ref.path] = self._uses.get(ref.path, 0) + 1

    def get(self, path: str) -> FrameReader:
        with self._lock:
            held = self._open.get(path)
            lock = self._path_locks.setdefault(path, threading.Lock())
        if held is None:
            with lock:
                with self._lock:
                    held = self._open.get(path)
                if held is None:
                    try:
                        held = self._opener(path)
                    except LightboxError as exc:
                        held = exc
                    with self._lock:
                        self._open[path] = held
        if isinstance(held, LightboxError):
            raise held
        return held

    def release(self, path: str) -> None:
        """One slice of ``path`` is done; forget the header after the last one."""
        with self._lock:
            self._uses[path] -= 1
            if self._uses[path] == 0:
                self._open.pop(path, None)
                self._path_locks.pop(path, None)


def _first_geometry(
    refs: Sequence[SliceRef], start: int, sources: _Sources
) -> tuple[tuple[int, ...], np.dtype[Any], npt.NDArray[Any] | None, int, bool]:
    """Shape and dtype of the series' frames, from the file nearest ``start`` that opens.

    A file whose frames go straight into the volume tells them from its header; another
    one decodes its frame, which is then kept to be copied into its slice.
    """
    problems = []
    for index in nearest_first(len(refs), start)[:8]:
        ref = refs[index]
        try:
            reader = sources.get(ref.path)
            parallel = bool(getattr(reader, "decodes_without_gil", False))
            geometry = getattr(reader, "frame_geometry", lambda: None)()
            if geometry is not None:
                return geometry[0], geometry[1], None, index, parallel
            held = reader.frame(ref.frame)
            return held.shape, held.dtype, held, index, parallel
        except LightboxError as exc:
            problems.append(str(exc))
    # The frames of one multi-frame file fail alike: each problem is said once.
    raise LightboxError(f"the series cannot be read: {'; '.join(dict.fromkeys(problems))}")


def load_series(
    slices: Sequence[Any],
    start: int = 0,
    *,
    on_frame: Callable[[int], None] | None = None,
    on_failure: Callable[[SliceFailure], None] | None = None,
    on_done: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    opener: Callable[[str], FrameReader] = FrameSource,
) -> SeriesVolume:
    """Start decoding a series into one array and return it at once.

    Parameters
    ----------
    slices : sequence
        The slices in display order: paths, :class:`SliceRef`, or anything with ``path``
        and ``frame`` (such as :class:`viewer.dicom.geometry.FrameRef`).
    start : int
        The slice shown first: decoded first, then the nearest ones.
    on_frame : callable, optional
        Called with the slice index as each slice is ready, from a worker thread.
    on_failure : callable, optional
        Called with a :class:`SliceFailure` for each slice that fails, from a worker thread.
    on_done : callable, optional
        Called once when the workers stop (all done or cancelled), from a worker thread.
    cancel : threading.Event, optional
        Set from any thread to stop after the slices in progress.
    workers : int, optional
        Decoding threads. By default ``os.cpu_count()`` when the series' codec releases the
        GIL (imagecodecs), else one: more threads would only contend for the GIL.
    opener : callable
        Opens a file for reading frames (e.g. a cache of opened files the caller keeps).

    Returns
    -------
    SeriesVolume
        Being filled; :meth:`SeriesVolume.wait` blocks until it is complete.

    Raises
    ------
    LightboxError
        When ``slices`` is empty, or the files nearest ``start`` cannot be read: there is
        then no size to allocate for.
    """
    refs = [_as_ref(s) for s in slices]
    if not refs:
        raise LightboxError("the series has no images")
    start = min(max(start, 0), len(refs) - 1)
    sources = _Sources(refs, opener)
    shape, dtype, held, held_index, parallel = _first_geometry(refs, start, sources)
    volume = SeriesVolume(refs, shape, dtype, cancel)
    volume.set_focus(start)

    def decode(index: int) -> None:
        ref = refs[index]
        failure = None
        try:
            out = volume.array[index]
            if held is not None and index == held_index:
                out[...] = held
            else:
                sources.get(ref.path).frame_into(ref.frame, out)
        except FrameMismatchError as exc:
            failure = SliceFailure(index, ref.path, str(exc), fits=False)
        except LightboxError as exc:
            failure = SliceFailure(index, ref.path, str(exc))
        except Exception as exc:  # a decoder bug must not stop the series
            log.exception("slice %d (%s) cannot be read", index + 1, ref.path)
            failure = SliceFailure(index, ref.path, f"{ref.path}: {type(exc).__name__}: {exc}")
        sources.release(ref.path)
        volume._mark(index, failure)
        if failure is not None:
            log.warning("slice %d: %s", index + 1, failure.message)
        _notify(on_failure if failure is not None else on_frame, failure or index)

    def run() -> None:
        try:
            while (index := volume._take()) is not None:
                decode(index)
        finally:
            if volume._worker_exit() and on_done is not None:
                _notify(on_done)

    if workers is None:
        # Threads add cores only while the codec runs outside the GIL; reading uncompressed
        # files or decoding with pylibjpeg is Python-bound, and a second thread only contends.
        workers = (os.cpu_count() or 1) if parallel else 1
    count = max(1, min(workers, len(refs)))
    volume._workers = volume.threads = count
    for n in range(count):
        threading.Thread(target=run, name=f"series-load-{n}", daemon=True).start()
    return volume


def _notify(callback: Callable[..., None] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:  # a listener's bug must not stop the loading
        log.exception("series loading callback failed")


def load_series_blocking(slices: Sequence[Any], start: int = 0, **kwargs: Any) -> SeriesVolume:
    """:func:`load_series` and wait for it (command line, benchmarks, tests)."""
    volume = load_series(slices, start, **kwargs)
    volume.wait()
    return volume


__all__ = [
    "FrameReader",
    "SeriesVolume",
    "SliceFailure",
    "SliceRef",
    "load_series",
    "load_series_blocking",
    "nearest_first",
]
