"""Background workers of the query/retrieve panel: every network operation off the GUI thread.

Each worker is a :class:`QRunnable` with a signals object created on the GUI thread, so
what it emits from the pool thread is queued to the widgets (never a direct call into
Qt from a worker). Cancelling goes through the operation's :class:`CancelToken`, which
the GUI thread may set at any time: the network layer then sends C-CANCEL (PS3.7
9.3.2.3) and the worker ends after the peer's final response.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal

from viewer.core.errors import CancelledError, LightboxError
from viewer.net.connection import CancelToken
from viewer.net.nodes import NodeRecord
from viewer.net.query import QuerySpec
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest
from viewer.ui.qr.service import QueryRetrieveService

log = logging.getLogger(__name__)

#: Matches are handed to the GUI in batches at most this often (seconds), so a PACS
#: answering thousands of matches does not flood the event loop with one event each.
BATCH_INTERVAL_S = 0.1
BATCH_SIZE = 50
#: Retrieve progress is reported at most this often (seconds), besides phase changes.
PROGRESS_INTERVAL_S = 0.05


def _message(exc: BaseException) -> str:
    if isinstance(exc, LightboxError):
        return str(exc)
    log.warning("unexpected error in a network worker", exc_info=exc)
    return f"unexpected error: {type(exc).__name__}: {exc}"


class EchoSignals(QObject):
    """``succeeded(EchoResult)`` or ``failed(message)``."""

    succeeded = Signal(object)
    failed = Signal(str)


class EchoWorker(QRunnable):
    """C-ECHO one node (the node dialog's Test button, the panel's Test button)."""

    def __init__(self, service: QueryRetrieveService, node: NodeRecord,
                 cancel: CancelToken | None = None) -> None:
        super().__init__()
        self.service = service
        self.node = node
        self.cancel = cancel or CancelToken()
        self.signals = EchoSignals()

    def run(self) -> None:
        try:
            result = self.service.echo(self.node, self.cancel)
        except Exception as exc:  # every failure reaches the user as one line
            self.signals.failed.emit(_message(exc))
            return
        self.signals.succeeded.emit(result)


class FindSignals(QObject):
    """``matches(tag, list of dict)`` while running, then ``finished(tag, count, cancelled)``
    or ``failed(tag, message)``. ``tag`` says what the query was for (``""`` for the
    study query, a Study Instance UID for a series drill-down)."""

    matches = Signal(str, list)
    finished = Signal(str, int, bool)
    failed = Signal(str, str)


class FindWorker(QRunnable):
    """Stream a C-FIND's matches to the GUI in small batches."""

    def __init__(self, service: QueryRetrieveService, node: NodeRecord, spec: QuerySpec,
                 tag: str = "", cancel: CancelToken | None = None) -> None:
        super().__init__()
        self.service = service
        self.node = node
        self.spec = spec
        self.tag = tag
        self.cancel = cancel or CancelToken()
        self.signals = FindSignals()

    def run(self) -> None:
        batch: list[dict[str, Any]] = []
        count = 0
        last = time.monotonic()
        try:
            for match in self.service.find(self.node, self.spec, self.cancel):
                batch.append(match)
                count += 1
                now = time.monotonic()
                if len(batch) >= BATCH_SIZE or now - last >= BATCH_INTERVAL_S:
                    self.signals.matches.emit(self.tag, batch)
                    batch, last = [], now
        except CancelledError:
            pass
        except Exception as exc:
            if batch:
                self.signals.matches.emit(self.tag, batch)
            self.signals.failed.emit(self.tag, _message(exc))
            return
        if batch:
            self.signals.matches.emit(self.tag, batch)
        self.signals.finished.emit(self.tag, count, self.cancel.cancelled)


class RetrieveSignals(QObject):
    """``progress(key, RetrieveProgress)`` while running, then ``finished(key, progress)``
    or ``failed(key, message, last progress)``. Each progress is a copy the GUI owns."""

    progress = Signal(str, object)
    finished = Signal(str, object)
    failed = Signal(str, str, object)


def _snapshot(progress: RetrieveProgress) -> RetrieveProgress:
    # The net layer updates one progress object in place; the GUI gets its own copy.
    snap = copy.copy(progress)
    snap.failed_instances = list(progress.failed_instances)
    return snap


class RetrieveWorker(QRunnable):
    """Run one retrieve (a study, or some series of one study) to its end or its cancel.

    Parameters
    ----------
    key : str
        What the GUI calls this retrieve (the Study Instance UID).
    """

    def __init__(self, service: QueryRetrieveService, node: NodeRecord,
                 request: RetrieveRequest, key: str, cancel: CancelToken | None = None
                 ) -> None:
        super().__init__()
        self.service = service
        self.node = node
        self.request = request
        self.key = key
        self.cancel = cancel or CancelToken()
        self.signals = RetrieveSignals()

    def run(self) -> None:
        last = RetrieveProgress(method=self.node.method)
        if self.cancel.cancelled:  # cancelled while still waiting in the queue
            last.phase, last.cancelled = "done", True
            self.signals.finished.emit(self.key, last)
            return
        sent = 0.0
        phase = ""
        try:
            for progress in self.service.retrieve(self.node, self.request, self.cancel):
                last = _snapshot(progress)
                now = time.monotonic()
                if progress.phase != phase or now - sent >= PROGRESS_INTERVAL_S:
                    phase, sent = progress.phase, now
                    self.signals.progress.emit(self.key, last)
        except CancelledError:
            last.phase, last.cancelled = "done", True
        except Exception as exc:
            self.signals.failed.emit(self.key, _message(exc), last)
            return
        if self.cancel.cancelled and not last.cancelled:
            # A cancel during the inventory C-FIND ends that query quietly; the retrieve
            # may then report "nothing to send" although the user stopped it.
            last.phase, last.cancelled, last.message = "done", True, ""
        self.signals.finished.emit(self.key, last)
