"""Run a function on the thread pool and get its result (or error) back on the GUI thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


def wait_processing_events(done: Callable[[], bool], timeout: float) -> bool:
    """Process events until ``done()`` holds (a cancelled job has reported back), or for
    ``timeout`` seconds; whether it holds. For shutdown, where the store must not close
    under a job still writing."""
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    return done()


class Task(QObject):
    """A background job with progress and cancel.

    The function receives this task and may call :meth:`report` and poll
    :attr:`cancelled`. ``finished(result)`` or ``failed(message)`` arrive on the GUI thread.
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, function: Callable[[Task], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function
        self._cancel = threading.Event()
        self.done = False
        self.result: Any = None
        self.error: str | None = None
        self.finished.connect(self._mark_done)
        self.failed.connect(self._mark_failed)

    def _mark_done(self, result: object) -> None:
        self.done = True
        self.result = result

    def _mark_failed(self, message: str) -> None:
        self.done = True
        self.error = message

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._cancel.set()

    def report(self, done: int, total: int, text: str = "") -> None:
        """Progress from the worker thread."""
        self.progress.emit(done, total, text)

    def start(self, pool: QThreadPool | None = None) -> Task:
        """Queue the job; returns self."""
        (pool or QThreadPool.globalInstance()).start(_Runner(self))
        return self

    def _run(self) -> None:
        try:
            result = self._function(self)
        except Exception as exc:  # every error reaches the user as one line
            log.debug("background task failed", exc_info=True)
            self.failed.emit(str(exc) or type(exc).__name__)
            return
        self.finished.emit(result)


class _Runner(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:
        self._task._run()
