"""Receiving C-STORE data sets straight to files, and handing them on off the network thread.

The association's thread does what must happen before the C-STORE response: it writes
the encoded data set, as received, behind a File Meta Information header (PS3.10 7.1)
into a file. Once the response has left, while the peer prepares the next data set, it
reads the header from the first bytes it kept. Everything else (indexing, moving into
the store) runs in the sink on a worker thread, so the network keeps streaming. The
sinks are in :mod:`viewer.net.sinks`.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.core.errors import InputFileError, disk_full
from viewer.core.records import InstanceRecord
from viewer.core.writeback import start_writeback
from viewer.dicom.header import read_header_bytes
from viewer.dicom.structure import IncompleteHeaderError
from viewer.net.commands import StoreRequest
from viewer.net.file_meta import file_meta_bytes
from viewer.net.orphans import CAN_SEAL, SEALED_MODE, claim_orphans, left_behind, part_name
from viewer.net.sinks import RECENT_UIDS, ReceivedInstance, RecentUids, Sink

LOGGER = logging.getLogger(__name__)
_UID = re.compile(r"^[0-9.]{1,64}$")

# PS3.4 B.2.3 C-STORE statuses we answer.
STORE_SUCCESS = 0x0000
STORE_OUT_OF_RESOURCES = 0xA700
STORE_CANNOT_UNDERSTAND = 0xC000
STORE_NOT_AUTHORIZED = 0x0124


# A sink with a ``many`` method gets what arrived within BATCH_WAIT seconds, up to
# BATCH_FILES instances, in one call: the store flushes and commits once per batch.
BATCH_FILES = 64
BATCH_WAIT = 0.05
# How long a drain waits for complete files still on their way to the queue (seconds);
# their thread queues them right after answering, so this is only a bound.
SETTLE_WAIT = 2.0
# How much of each data set is kept in memory to read its header from (the store's
# importer reads as much of a file for the same purpose).
HEAD_BYTES = 64 * 1024
# Empty files the worker creates ahead for the data sets to come: creating a file costs
# the network thread 0.3-0.5 ms during a retrieve (docs/networking.md), in series with
# the PACS waiting for our response.
BLANK_FILES = 64


def _described(incoming: IncomingFile) -> ReceivedInstance:
    """What the sink gets for a complete file (built on the worker, off the network)."""
    request = incoming.request
    return ReceivedInstance(
        Path(incoming.part), request.sop_instance_uid, request.sop_class_uid,
        incoming.transfer_syntax, incoming.calling_aet, request.move_originator_id,
        incoming.header)


# Put on the worker's queue: deliver the batch being gathered without waiting for more.
_FLUSH = object()

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _peer_aet(assoc: Any) -> str:
    """The AE title at the other end of an association (the sender of its C-STOREs)."""
    peer = assoc.acceptor if assoc.is_requestor else assoc.requestor
    return str(peer.ae_title).strip()


@dataclass(frozen=True, slots=True)
class _AssociationEvent:
    """What ``Receiver.authorize`` reads of an event (its association)."""

    assoc: Any


class IncomingFile:
    """One data set on its way into ``incoming``, under a temporary name.

    The file keeps its temporary name (``<pid>-<start>-<random>.part``) until the sink takes it:
    renaming it on the association's thread cost as much as writing it (the worker
    renames files out of the same folder meanwhile). A write that fails marks the
    instance failed (status 0xA700); the rest of its fragments are then only counted.
    """

    __slots__ = (
        "calling_aet",
        "complete",
        "fd",
        "head",
        "header",
        "part",
        "receiver",
        "request",
        "size",
        "status",
        "transfer_syntax",
    )

    def __init__(self, receiver: Receiver, request: StoreRequest, transfer_syntax: str,
                 calling_aet: str) -> None:
        self.receiver = receiver
        self.request = request
        self.transfer_syntax = transfer_syntax
        self.calling_aet = calling_aet
        self.part = ""
        self.fd: int | None = None
        self.size = 0
        self.status = STORE_SUCCESS
        # The beginning of the file, to read its header once the response has left.
        self.head = bytearray()
        self.complete = False
        self.header: InstanceRecord | None = None

    def write(self, fragment: memoryview) -> None:
        """Append a fragment; after a failure, drop it."""
        if self.fd is None:
            return
        if len(self.head) < HEAD_BYTES:
            self.head += fragment[:HEAD_BYTES - len(self.head)]
        try:
            while fragment:
                written = os.write(self.fd, fragment)
                fragment = fragment[written:]
                self.size += written
        except OSError as exc:
            self.failed(exc)

    def failed(self, exc: OSError) -> None:
        """The file cannot be written: answer 0xA700 (PS3.4 B.2.3), keep nothing."""
        if disk_full(exc):
            self.receiver.note_full()  # said once for the retrieve, not per instance
        else:
            LOGGER.error("cannot write received instance %s: %s",
                         self.request.sop_instance_uid, exc)
        self._discard()
        self.status = STORE_OUT_OF_RESOURCES
        where = self.part or self.receiver.incoming
        self.receiver._forget(self, f"cannot write {where}: {exc}")

    def finish(self) -> int:
        """The data set is complete (the file is closed by :meth:`settle`); the C-STORE
        status. The file is sealed (:data:`~viewer.net.orphans.SEALED_MODE`) before that
        status is sent."""
        if self.fd is not None:
            self.complete = True
            if CAN_SEAL:
                with contextlib.suppress(OSError):  # unsealed, it is only not recovered
                    os.fchmod(self.fd, SEALED_MODE)
        return self.status

    @property
    def settling(self) -> bool:
        """Complete and answered, and about to be queued (true until it is)."""
        return self.complete or (self.fd is None and self.status == STORE_SUCCESS)

    def settle(self) -> None:
        """Start writing the file to disk, close it, read the header from memory and
        queue the file for the sink.

        Called once the response has left, while the peer reads it and sends the next
        data set. Read on the worker instead, each header held the GIL that this thread
        needs after every read from the socket; written out only by the store's flush,
        the last batch's data was still to write after the last instance.
        """
        if not self.complete or self.fd is None:
            return
        self.complete = False
        fd, self.fd = self.fd, None
        start_writeback(fd)
        try:
            os.close(fd)
        except OSError as exc:  # the descriptor is gone all the same (close(2))
            self.failed(exc)
            return
        header: InstanceRecord | None = None
        try:
            header = read_header_bytes(bytes(self.head), self.part, self.size)
        except (IncompleteHeaderError, InputFileError):
            pass  # the store reads the file itself, and names the problem
        except Exception:  # pydicom raises many types on damaged input (an unknown VR)
            LOGGER.debug("header of %s left to the store", self.part, exc_info=True)
        self.head = bytearray()
        self.receiver._keep(self, self.size, header)

    def abandon(self) -> None:
        """The data set will not be completed: remove what was written."""
        self._discard()
        self.receiver._forget(self)

    def _discard(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self.part)


class Receiver:
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
        return incoming

    def _blank(self) -> tuple[str, int]:
        """An empty file for the next data set: one made ahead by the worker, or a new one."""
        try:
            return self._blanks.popleft()
        except IndexError:
            return self._new_blank()

    def _new_blank(self) -> tuple[str, int]:
        path = f"{self.incoming}/{part_name()}"
        return path, os.open(path, _CREATE, 0o600)

    def _stock_blanks(self) -> None:
        """On the worker: create files ahead, so the network thread need not wait for it."""
        try:
            while len(self._blanks) < BLANK_FILES:
                self._blanks.append(self._new_blank())
        except OSError:
            pass  # the network thread will try itself, and report the error

    def _drop_blanks(self) -> None:
        while True:
            try:
                path, fd = self._blanks.popleft()
            except IndexError:
                return
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)

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

    def _start_worker(self) -> None:
        """Start the worker thread if it is not running (with the lock held)."""
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._run, name="lightbox-receiver", daemon=True
            )
            self._worker.start()

    def _forget(self, incoming: IncomingFile, failure: str = "") -> None:
        with self._lock:
            self._open.discard(incoming)
            self._left_open.notify_all()
            if failure:
                self.failures.append((incoming.request.sop_instance_uid, failure))

    # --- on the worker thread

    def _run(self) -> None:
        many = getattr(self.sink, "many", None)
        if self._left_behind:
            self._store_left_behind(many)
        while True:
            self._stock_blanks()
            batch = self._next_batch(BATCH_FILES if many is not None else 1)
            items = [_described(f) for f in batch if isinstance(f, IncomingFile)]
            try:
                if many is not None and items:
                    self._account(items, self._many(many, items))
                elif items:
                    self._account(items, [self._one(items[0])])
            finally:
                for _ in batch:
                    self._queue.task_done()
            if batch[-1] is None:  # the stop mark
                return

    def _store_left_behind(self, many: Callable[[list[ReceivedInstance]], list[str]] | None
                           ) -> None:
        """Hand the sink the complete files of processes that ended before their sink
        took them (:func:`~viewer.net.orphans.claim_orphans`), outside this receiver's counts."""
        paths, self._left_behind = self._left_behind, []
        items = [item for item in map(left_behind, paths) if item is not None]
        for path in set(paths) - {item.path for item in items}:
            kept = self.incoming / f"{uuid.uuid4().hex}.dcm"
            with contextlib.suppress(OSError):
                os.replace(path, kept)
            LOGGER.warning("a received file whose File Meta Information cannot be read is "
                           "kept as %s", kept)
        problems: list[str] = []
        for start in range(0, len(items), BATCH_FILES):
            chunk = items[start:start + BATCH_FILES]
            problems += (self._many(many, chunk) if many is not None
                         else [self._one(item) for item in chunk])
        for item, problem in zip(items, problems, strict=True):
            if problem:
                LOGGER.warning("received instance %s not imported: %s",
                               item.sop_instance_uid, problem)
                self._set_aside(item)
        if items:
            LOGGER.warning("%d instances received and answered by a Lightbox process that "
                           "ended before storing them: %d stored now", len(items),
                           problems.count(""))

    def _next_batch(self, limit: int) -> list[IncomingFile | object | None]:
        """The next item, and what else arrives within BATCH_WAIT, up to ``limit``.

        A mark (flush or stop) ends the batch at once.
        """
        batch = [self._queue.get()]
        deadline = time.monotonic() + BATCH_WAIT
        while len(batch) < limit and isinstance(batch[-1], IncomingFile):
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0
                             else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _many(self, many: Callable[[list[ReceivedInstance]], list[str]],
              items: list[ReceivedInstance]) -> list[str]:
        try:
            return many(items)
        except Exception as exc:  # the batch failed as a whole (the store is unusable)
            if disk_full(exc):
                self.note_full()
            return [str(exc) or type(exc).__name__] * len(items)

    def note_full(self) -> None:
        """The disk of ``incoming`` (the store's) is full: remember it, say it once."""
        with self._lock:
            self.full_events += 1
            if self.full:
                return
            self.full = str(self.incoming)
        LOGGER.error("cannot store received instances: the disk of %s is full", self.full)

    def _one(self, item: ReceivedInstance) -> str:
        try:
            self.sink(item)
        except Exception as exc:  # one bad instance never stops the batch
            return str(exc) or type(exc).__name__
        return ""

    def _account(self, items: list[ReceivedInstance], problems: list[str]) -> None:
        with self._lock:
            for item, problem in zip(items, problems, strict=True):
                if not problem:
                    self.delivered += 1
                    self.full = ""  # stored: there is room again
                    continue
                self.failures.append((item.sop_instance_uid, problem))
                # Not arrived, for a retrieve asking what is still missing: a retry
                # through the same storage SCP must fetch it again.
                self.uids.discard(item.sop_instance_uid)
                if not self.full:  # a full disk is said once, by note_full
                    LOGGER.warning("received instance %s not imported: %s",
                                   item.sop_instance_uid, problem)
                # Kept, even on a full disk: a push was answered before its row failed.
                self._set_aside(item)

    def _set_aside(self, item: ReceivedInstance) -> None:
        """Keep a file the sink did not take as ``<SOP Instance UID>.dcm``.

        Under its temporary name it would be removed as a partial file once this process
        ends; it stays for whoever wants to see why it was refused.
        """
        uid = item.sop_instance_uid
        name = uid if _UID.match(uid) else uuid.uuid4().hex
        with contextlib.suppress(OSError):
            os.replace(item.path, self.incoming / f"{name}.dcm")

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
