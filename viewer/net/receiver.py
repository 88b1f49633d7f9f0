"""Receiving C-STORE data sets straight to files, and handing them on off the network thread.

The association's thread does what must happen before the C-STORE response: it writes
the encoded data set, as received, behind a File Meta Information header (PS3.10 7.1)
into a file. Once the response has left, while the peer prepares the next data set, it
reads the header from the first bytes it kept. Everything else (indexing, moving into
the store) runs in the sink on a worker thread, so the network keeps streaming. Each data
set's file is an :class:`~viewer.net.incoming_file.IncomingFile`; the worker thread is
:mod:`viewer.net.receiver_worker`, the sinks are in :mod:`viewer.net.sinks`.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.core.records import InstanceRecord
from viewer.net.commands import StoreRequest
from viewer.net.file_meta import file_meta_bytes
from viewer.net.incoming_file import (
    STORE_CANNOT_UNDERSTAND,
    STORE_DATA_SET_MISMATCH,
    STORE_NOT_AUTHORIZED,
    STORE_OUT_OF_RESOURCES,
    STORE_SUCCESS,
    IncomingFile,
)
from viewer.net.orphans import claim_orphans
from viewer.net.receiver_worker import BATCH_FILES, BATCH_WAIT, ReceiverWorker
from viewer.net.sinks import RECENT_UIDS, RecentUids, Sink

# The Conformance Statement (viewer.cli.conformance_network) reads these of the receiver.
__all__ = [
    "BATCH_FILES",
    "BATCH_WAIT",
    "STORE_CANNOT_UNDERSTAND",
    "STORE_DATA_SET_MISMATCH",
    "STORE_NOT_AUTHORIZED",
    "STORE_OUT_OF_RESOURCES",
    "STORE_SUCCESS",
    "Receiver",
]

# How long a drain waits for complete files still on their way to the queue (seconds);
# their thread queues them right after answering, so this is only a bound.
SETTLE_WAIT = 2.0

# Put on the worker's queue: deliver the batch being gathered without waiting for more.
_FLUSH = object()


def _peer_aet(assoc: Any) -> str:
    """The AE title at the other end of an association (the sender of its C-STOREs)."""
    peer = assoc.acceptor if assoc.is_requestor else assoc.requestor
    return str(peer.ae_title).strip()


@dataclass(frozen=True, slots=True)
class _AssociationEvent:
    """What ``Receiver.authorize`` reads of an event (its association)."""

    assoc: Any


class Receiver(ReceiverWorker):
    """Writes C-STORE requests to ``incoming`` and feeds a sink from one worker thread.

    Parameters
    ----------
    incoming : Path
        Folder for received files; on the same file system as the store so that the
        store moves them by renaming.
    sink : callable
        Called with each :class:`ReceivedInstance` on the worker thread; it owns the file
        afterwards. An exception marks that instance failed and the rest go on.
    """

    def __init__(self, incoming: Path, sink: Sink) -> None:
        self.incoming = incoming
        self.sink = sink
        incoming.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Complete files, a _FLUSH mark (deliver what is batched now) or None (stop).
        self._queue: queue.Queue[IncomingFile | object | None] = queue.Queue()
        self._lock = threading.Lock()
        # Notified whenever a file leaves ``_open`` (queued for the sink, or dropped).
        self._left_open = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        # Instances written, each SOP Instance UID once (see _keep); bytes of every file.
        self.written = 0
        self.bytes_written = 0
        self.delivered = 0
        self.failures: list[tuple[str, str]] = []  # (SOP Instance UID, reason)
        # The folder whose disk is full, since a write or a commit failed for want of space
        # and until an instance is stored again (space was freed); ``full_events`` counts
        # the failures, so that a retrieve tells its own from an earlier one's.
        self.full = ""
        self.full_events = 0
        # What arrived, for a retrieve that uses a storage SCP running for the whole
        # session: bounded, so that SCP does not grow without end.
        self.uids = RecentUids(RECENT_UIDS)
        self.authorize: Callable[[Any], bool] | None = None
        self._open: set[IncomingFile] = set()
        self._closed = False
        self._blanks: collections.deque[tuple[str, int]] = collections.deque()
        self._left_behind = claim_orphans(incoming)
        if self._left_behind:
            with self._lock:
                self._start_worker()

    # --- on the association's thread

    def handle_store(self, event: Any) -> int:
        """``evt.EVT_C_STORE`` handler: write the data set to its file, queue it, answer."""
        req = event.request
        originator = req.MoveOriginatorMessageID
        request = StoreRequest(
            int(req.MessageID or 0), str(req.AffectedSOPClassUID),
            str(req.AffectedSOPInstanceUID), str(req.MoveOriginatorApplicationEntityTitle or ""),
            int(originator) if originator is not None else None)
        incoming = self.begin_instance(event.assoc, request, str(event.context.transfer_syntax))
        try:
            data = req.DataSet.getbuffer()
        except (AttributeError, TypeError):
            incoming.abandon()
            return STORE_CANNOT_UNDERSTAND
        incoming.write(memoryview(data))
        status = incoming.finish()
        incoming.settle()
        return status

    def begin_instance(self, assoc: Any, request: StoreRequest, transfer_syntax: str
                       ) -> IncomingFile:
        """Open the file of one C-STORE-RQ's data set (written as it arrives).

        The File Meta Information comes first (PS3.10 7.1), with the sender's AE title
        as Source Application Entity Title: the PACS on our C-GET association, the
        calling AE on our storage SCP.
        """
        incoming = IncomingFile(self, request, transfer_syntax, _peer_aet(assoc))
        if self.authorize is not None and not self.authorize(_AssociationEvent(assoc)):
            incoming.status = STORE_NOT_AUTHORIZED
            return incoming
        try:
            incoming.part, incoming.fd = self._blank()
        except OSError as exc:
            incoming.failed(exc)
            return incoming
        with self._lock:
            closed = self._closed
            if not closed:
                self._open.add(incoming)
        if closed:
            # The retrieve has ended (a peer that died mid-way may leave a data set in
            # our socket buffer): nothing would take the file.
            incoming._discard()
            incoming.status = STORE_OUT_OF_RESOURCES
            return incoming
        incoming.write(memoryview(file_meta_bytes(
            request.sop_class_uid, request.sop_instance_uid, transfer_syntax,
            incoming.calling_aet)))
        incoming.data_start = incoming.size
        return incoming

    def _keep(self, incoming: IncomingFile, size: int, header: InstanceRecord | None) -> None:
        """A complete file: count it and queue it for the sink (the worker describes it).

        A repeat of an instance already written (the same SOP Instance UID, sent again
        by a PACS within one C-GET or C-MOVE) is queued all the same, the store keeping
        one copy, but not counted in :attr:`written`: a retrieve reports that as
        received, and would show more than the PACS has.
        """
        incoming.header = header
        with self._lock:
            self._open.discard(incoming)
            self._left_open.notify_all()
            if self.uids.add(incoming.request.sop_instance_uid):
                self.written += 1
            self.bytes_written += size
            self._start_worker()
        self._queue.put(incoming)

    def _forget(self, incoming: IncomingFile, failure: str = "") -> None:
        with self._lock:
            self._open.discard(incoming)
            self._left_open.notify_all()
            if failure:
                self.failures.append((incoming.request.sop_instance_uid, failure))

    # --- on the caller's thread

    def drain(self) -> None:
        """Wait until every file written so far went through the sink.

        The worker is told not to wait for more files to fill its batch: nothing more
        may come (the retrieve ended), and the caller is waiting.
        """
        self._await_settled()
        with self._lock:
            running = self._worker is not None
        if running:
            self._queue.put(_FLUSH)
        self._queue.join()

    def _await_settled(self) -> None:
        """Wait for files whose data set is complete but not yet queued.

        The response to the last C-STORE leaves before its file is queued (see
        :meth:`IncomingFile.settle`), so the PACS's final C-GET/C-MOVE response can
        reach the caller first: a flush sent then would miss that file, and the worker
        would hold it for a whole batch window.
        """
        deadline = time.monotonic() + SETTLE_WAIT
        with self._left_open:
            while any(incoming.settling for incoming in self._open):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._left_open.wait(remaining)

    def reopen(self) -> None:
        """Take data sets again after :meth:`close` (a storage SCP started again)."""
        with self._lock:
            self._closed = False

    def close(self) -> None:
        """Refuse new data sets, drop those cut off mid-way, drain, stop the worker."""
        with self._lock:
            self._closed = True
        # A complete file is kept even if its thread has not queued it yet.
        self._await_settled()
        with self._lock:
            unfinished = [incoming for incoming in self._open if not incoming.settling]
        for incoming in unfinished:
            incoming.abandon()
        with self._lock:
            worker = self._worker
            self._worker = None
        if worker is not None:
            self._queue.put(None)
            worker.join()
        self._drop_blanks()
