"""The receiver's worker thread: blank files made ahead, complete files handed to the sink.

:class:`ReceiverWorker` is the part of :class:`~viewer.net.receiver.Receiver` that runs
off the network. It creates empty files ahead for the data sets to come (the network
thread takes them), hands each complete file to the sink, in batches when the sink
takes batches, counts what the sink took, and keeps what it refused. At start it stores
the complete files of Lightbox processes that ended before their sink took them.
"""

from __future__ import annotations

import collections
import contextlib
import filecmp
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from viewer.core.errors import disk_full
from viewer.net.incoming_file import IncomingFile
from viewer.net.orphans import left_behind, part_name
from viewer.net.sinks import ReceivedInstance, RecentUids, Sink

# The receiver's records keep its name (the command line's log shows it).
LOGGER = logging.getLogger("viewer.net.receiver")
_UID = re.compile(r"^[0-9.]{1,64}$")

# A sink with a ``many`` method gets what arrived within BATCH_WAIT seconds, up to
# BATCH_FILES instances, in one call: the store flushes and commits once per batch.
BATCH_FILES = 64
BATCH_WAIT = 0.05
# Empty files the worker creates ahead for the data sets to come: creating a file costs
# the network thread 0.3-0.5 ms during a retrieve (docs/networking.md), in series with
# the PACS waiting for our response.
BLANK_FILES = 64

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _described(incoming: IncomingFile) -> ReceivedInstance:
    """What the sink gets for a complete file (built on the worker, off the network)."""
    request = incoming.request
    return ReceivedInstance(
        Path(incoming.part), request.sop_instance_uid, request.sop_class_uid,
        incoming.transfer_syntax, incoming.calling_aet, request.move_originator_id,
        incoming.header)


class ReceiverWorker:
    """The worker thread of a :class:`~viewer.net.receiver.Receiver`, and its blank files.

    A base of ``Receiver``, which sets the attributes declared here in its ``__init__``.
    """

    incoming: Path
    sink: Sink
    _queue: queue.Queue[IncomingFile | object | None]
    _lock: threading.Lock
    _worker: threading.Thread | None
    delivered: int
    failures: list[tuple[str, str]]
    full: str
    full_events: int
    uids: RecentUids
    _blanks: collections.deque[tuple[str, int]]
    _left_behind: list[Path]

    def _start_worker(self) -> None:
        """Start the worker thread if it is not running (with the lock held)."""
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._run, name="lightbox-receiver", daemon=True
            )
            self._worker.start()

    # --- blank files: taken on the association's thread, made on the worker thread

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
                self._set_aside(item, problem)
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
                # Kept, even on a full disk: a push was answered before its row failed.
                # A full disk is said once, by note_full.
                self._set_aside(item, "" if self.full else problem)

    def _set_aside(self, item: ReceivedInstance, problem: str) -> None:
        """Keep a file the sink did not take as ``<SOP Instance UID>.dcm`` (see
        :func:`_keep`), and say so with ``problem`` (unless it is empty).

        Under its temporary name it would be removed as a partial file once this process
        ends; it stays for whoever wants to see why it was refused. The warning names it
        where it is kept: the sink's reason names the temporary file, gone by then.
        """
        uid = item.sop_instance_uid
        kept = _keep(item.path, self.incoming, uid if _UID.match(uid) else uuid.uuid4().hex)
        if problem:
            LOGGER.warning("received instance %s not imported (kept as %s): %s", uid, kept,
                           problem.removeprefix(f"{item.path}: ").replace(str(item.path),
                                                                          kept.name))


def _keep(path: Path, folder: Path, stem: str) -> Path:
    """Give a refused file its lasting name in ``folder``: ``<stem>.dcm``, else
    ``<stem>-2.dcm``, ``<stem>-3.dcm``...; where it is left if it cannot be renamed.

    Two different data sets may carry one SOP Instance UID (a careless anonymiser, a
    corrected re-send): each was answered Success and said to be kept, so neither may
    replace the other. The same bytes kept already are not kept twice.
    """
    for number in range(1, 1000):
        kept = folder / (f"{stem}.dcm" if number == 1 else f"{stem}-{number}.dcm")
        try:
            os.link(path, kept)  # fails where the name is taken: never replaces a file
        except FileExistsError:
            same = False
            with contextlib.suppress(OSError):
                same = filecmp.cmp(path, kept, shallow=False)
            if same:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                return kept
            continue
        except OSError:  # no hard links here (some network and FAT file systems)
            if os.path.lexists(kept):
                continue
            try:
                os.rename(path, kept)
            except OSError:
                return path
            return kept
        with contextlib.suppress(OSError):
            os.unlink(path)
        return kept
    return path
