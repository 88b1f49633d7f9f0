"""Receiving C-STORE data sets straight to files, and handing them on off the network thread.

The association's thread does only what must happen before the C-STORE response: it
writes the encoded data set, as received, behind a File Meta Information header
(PS3.10 7.1) into a file. Everything else (reading the header, indexing, moving into
the store) runs in the sink on a worker thread, so the network keeps streaming.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import queue
import re
import struct
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from viewer.core.errors import InputFileError
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.core.processes import pid_alive
from viewer.core.records import InstanceRecord
from viewer.dicom.header import read_header_bytes
from viewer.dicom.structure import IncompleteHeaderError
from viewer.net.commands import StoreRequest

LOGGER = logging.getLogger(__name__)
_UID = re.compile(r"^[0-9.]{1,64}$")

# PS3.4 B.2.3 C-STORE statuses we answer.
STORE_SUCCESS = 0x0000
STORE_OUT_OF_RESOURCES = 0xA700
STORE_CANNOT_UNDERSTAND = 0xC000
STORE_NOT_AUTHORIZED = 0x0124


@dataclass(frozen=True, slots=True)
class ReceivedInstance:
    """One instance written to disk by the receiver, ready for the store's import path.

    Attributes
    ----------
    path : Path
        A complete DICOM file (preamble, File Meta Information, data set as sent), under
        its temporary name in the incoming folder: the sink moves it, or leaves it to be
        kept as ``<SOP Instance UID>.dcm`` if it fails.
    sop_instance_uid, sop_class_uid, transfer_syntax_uid : str
        From the C-STORE request and its presentation context.
    calling_aet : str
        The AE title that sent it.
    move_originator_message_id : int or None
        Set for C-MOVE sub-operations (PS3.7 9.3.1.1).
    header : InstanceRecord or None
        The file's header, read from memory as it arrived; None if the sink must read
        it from the file (a header longer than what was kept, or one that did not parse).
    """

    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    calling_aet: str
    move_originator_message_id: int | None = None
    header: InstanceRecord | None = None


Sink = Callable[[ReceivedInstance], None]

# A sink with a ``many`` method gets what arrived within BATCH_WAIT seconds, up to
# BATCH_FILES instances, in one call: the store flushes and commits once per batch.
BATCH_FILES = 64
BATCH_WAIT = 0.05
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

# SOP Instance UIDs a receiver remembers (about 10 MB): more than any one retrieve brings.
RECENT_UIDS = 100_000


class RecentUids:
    """The last ``limit`` SOP Instance UIDs added, for membership tests (insertion order)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._uids: dict[str, None] = {}

    def add(self, uid: str) -> None:
        """Remember ``uid``; forget the oldest beyond the limit."""
        self._uids.pop(uid, None)
        self._uids[uid] = None
        if len(self._uids) > self.limit:
            del self._uids[next(iter(self._uids))]

    def __contains__(self, uid: object) -> bool:
        return uid in self._uids

    def __len__(self) -> int:
        return len(self._uids)


class CountingSink:
    """Wraps a sink and counts what it took, with the SOP Instance UIDs if asked.

    A batch sink stays one: its ``many`` is forwarded.

    Parameters
    ----------
    sink : callable
        The sink that takes the instances.
    keep_uids : bool
        Collect the UIDs in :attr:`arrived` (a retrieve's "what is still missing");
        a long-running listener only counts.
    """

    def __init__(self, sink: Sink, *, keep_uids: bool = True) -> None:
        self.sink = sink
        self.keep_uids = keep_uids
        self.arrived: set[str] = set()
        self.count = 0
        self.lock = threading.Lock()
        if hasattr(sink, "many"):
            self.many = self._many

    def __call__(self, item: ReceivedInstance) -> None:
        self.sink(item)
        self._note([item.sop_instance_uid])

    def _many(self, items: list[ReceivedInstance]) -> list[str]:
        problems: list[str] = self.sink.many(items)  # type: ignore[attr-defined]
        self._note([i.sop_instance_uid for i, p in zip(items, problems, strict=True) if not p])
        return problems

    def _note(self, uids: list[str]) -> None:
        with self.lock:
            self.count += len(uids)
            if self.keep_uids:
                self.arrived.update(uids)


class AddMany(Protocol):
    """``StudyStore.add_received_files``: a batch of files, with the headers read already."""

    def __call__(self, paths: list[Path], *, headers: Sequence[InstanceRecord | None]
                 ) -> Sequence[object]:
        """One result per path: the stored record, or an exception saying why not."""


class BatchSink:
    """A sink that hands received files to a batch import (``StudyStore.add_received_files``).

    Parameters
    ----------
    add_many : callable
        Takes a list of file paths (and ``headers``, each file's header or None) and
        returns one result per path, an exception for a file that was not taken.
    """

    def __init__(self, add_many: AddMany) -> None:
        self.add_many = add_many

    def __call__(self, item: ReceivedInstance) -> None:
        (result,) = self.add_many([item.path], headers=[item.header])
        if isinstance(result, Exception):
            raise result

    def many(self, items: list[ReceivedInstance]) -> list[str]:
        """Import a batch; return a problem per item ("" for each one taken)."""
        results = self.add_many([item.path for item in items],
                                headers=[item.header for item in items])
        return [str(r) if isinstance(r, Exception) else "" for r in results]


def _element(group_elem: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element of group 0002 (PS3.5 7.1.2)."""
    if len(value) % 2:
        value += b"\x00" if vr == b"UI" else b" "  # PS3.5 6.2: even length, UI pads NUL
    tag = struct.pack("<HH", 0x0002, group_elem)
    if vr == b"OB":
        return tag + vr + b"\x00\x00" + struct.pack("<L", len(value)) + value
    return tag + vr + struct.pack("<H", len(value)) + value


_PREAMBLE = b"\x00" * 128 + b"DICM"
_VERSION = _element(0x0001, b"OB", b"\x00\x01")
_IMPLEMENTATION = _element(0x0012, b"UI", IMPLEMENTATION_CLASS_UID.encode()) + _element(
    0x0013, b"SH", IMPLEMENTATION_VERSION_NAME.encode())


@functools.lru_cache(maxsize=64)
def _meta_parts(sop_class: str, syntax: str, source_aet: str) -> tuple[bytes, bytes]:
    """The File Meta elements around the SOP Instance UID, the same for a whole series."""
    before = _VERSION + _element(0x0002, b"UI", sop_class.encode("ascii"))
    after = b"".join((
        _element(0x0010, b"UI", syntax.encode("ascii")),
        _IMPLEMENTATION,
        _element(0x0016, b"AE", source_aet.encode("ascii", "replace")) if source_aet else b"",
    ))
    return before, after


_GROUP_LENGTH = struct.Struct("<HH2sHL")  # (0002,0000) UL, explicit VR little endian


def _file_meta_bytes(sop_class: str, sop_instance: str, syntax: str, source_aet: str) -> bytes:
    """Preamble and File Meta Information (PS3.10 7.1), encoded directly: a few
    microseconds, where building a pydicom dataset per instance costs milliseconds."""
    before, after = _meta_parts(sop_class, syntax, source_aet)
    instance = _element(0x0003, b"UI", sop_instance.encode("ascii"))
    length = len(before) + len(instance) + len(after)
    return b"".join((_PREAMBLE, _GROUP_LENGTH.pack(0x0002, 0x0000, b"UL", 4, length), before,
                     instance, after))


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _remove_orphans(incoming: Path) -> None:
    """Remove the files of Lightbox processes that no longer run (a crash, a kill).

    Partial data sets, and complete ones the process ended before its sink took: a retry
    of the retrieve fetches those again.
    """
    for path in incoming.glob("*-*.part"):
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                path.unlink()


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

    The file keeps its temporary name (``<pid>-<random>.part``) until the sink takes it:
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
        LOGGER.error("cannot write received instance %s: %s", self.request.sop_instance_uid,
                     exc)
        self._discard()
        self.status = STORE_OUT_OF_RESOURCES
        where = self.part or self.receiver.incoming
        self.receiver._forget(self, f"cannot write {where}: {exc}")

    def finish(self) -> int:
        """Close the complete file; the C-STORE status."""
        if self.fd is None:
            return self.status
        fd, self.fd = self.fd, None
        try:
            os.close(fd)
        except OSError as exc:
            self.failed(exc)
            return self.status
        self.complete = True
        return self.status

    def settle(self) -> None:
        """Read the header from memory and queue the complete file for the sink.

        Called once the response has left, while the peer reads it and sends the next
        data set: read on the worker instead, each header held the GIL that this thread
        needs after every read from the socket.
        """
        if not self.complete:
            return
        self.complete = False
        header: InstanceRecord | None = None
        # Otherwise the store reads the file itself, and names any problem.
        with contextlib.suppress(IncompleteHeaderError, InputFileError):
            header = read_header_bytes(bytes(self.head), self.part, self.size)
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
        incoming.mkdir(parents=True, exist_ok=True)
        # Complete files, a _FLUSH mark (deliver what is batched now) or None (stop).
        self._queue: queue.Queue[IncomingFile | object | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.written = 0
        self.bytes_written = 0
        self.delivered = 0
        self.failures: list[tuple[str, str]] = []  # (SOP Instance UID, reason)
        # What arrived, for a retrieve that uses a storage SCP running for the whole
        # session: bounded, so that SCP does not grow without end.
        self.uids = RecentUids(RECENT_UIDS)
        self.authorize: Callable[[Any], bool] | None = None
        self._open: set[IncomingFile] = set()
        self._closed = False
        self._blanks: collections.deque[tuple[str, int]] = collections.deque()
        _remove_orphans(incoming)

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
        incoming.write(memoryview(_file_meta_bytes(
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
        path = f"{self.incoming}/{os.getpid()}-{uuid.uuid4().hex}.part"
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
        """A complete file: count it and queue it for the sink (the worker describes it)."""
        incoming.header = header
        with self._lock:
            self._open.discard(incoming)
            self.written += 1
            self.bytes_written += size
            self.uids.add(incoming.request.sop_instance_uid)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="lightbox-receiver", daemon=True
                )
                self._worker.start()
        self._queue.put(incoming)

    def _forget(self, incoming: IncomingFile, failure: str = "") -> None:
        with self._lock:
            self._open.discard(incoming)
            if failure:
                self.failures.append((incoming.request.sop_instance_uid, failure))

    # --- on the worker thread

    def _run(self) -> None:
        many = getattr(self.sink, "many", None)
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

    @staticmethod
    def _many(many: Callable[[list[ReceivedInstance]], list[str]],
              items: list[ReceivedInstance]) -> list[str]:
        try:
            return many(items)
        except Exception as exc:  # the batch failed as a whole (the store is unusable)
            return [str(exc) or type(exc).__name__] * len(items)

    def _one(self, item: ReceivedInstance) -> str:
        try:
            self.sink(item)
        except Exception as exc:  # one bad instance never stops the batch
            return str(exc) or type(exc).__name__
        return ""

    def _account(self, items: list[ReceivedInstance], problems: list[str]) -> None:
        with self._lock:
            for item, problem in zip(items, problems, strict=True):
                if problem:
                    LOGGER.warning("received instance %s not imported: %s",
                                   item.sop_instance_uid, problem)
                    self.failures.append((item.sop_instance_uid, problem))
                    self._set_aside(item)
                else:
                    self.delivered += 1

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
        with self._lock:
            running = self._worker is not None
        if running:
            self._queue.put(_FLUSH)
        self._queue.join()

    def reopen(self) -> None:
        """Take data sets again after :meth:`close` (a storage SCP started again)."""
        with self._lock:
            self._closed = False

    def close(self) -> None:
        """Refuse new data sets, drop those cut off mid-way, drain, stop the worker."""
        with self._lock:
            self._closed = True
            unfinished = list(self._open)
        for incoming in unfinished:
            incoming.abandon()
        with self._lock:
            worker = self._worker
            self._worker = None
        if worker is not None:
            self._queue.put(None)
            worker.join()
        self._drop_blanks()
