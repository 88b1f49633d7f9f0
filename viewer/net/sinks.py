"""What a receiver hands on: received instances, and the sinks that take them.

A sink is called on the receiver's worker thread with each complete file
(:class:`ReceivedInstance`); one with a ``many`` method gets them in batches.
:class:`BatchSink` wires the store's batch import, :class:`CountingSink` counts what a
sink took.

A peer may send one instance (one SOP Instance UID) more than once: a PACS that repeats
a C-STORE sub-operation of a C-GET or C-MOVE, a modality that pushes again. The store
keeps one copy; what Lightbox reports as received counts it once (:class:`RecentUids`
tells a repeat from a first arrival), while a C-GET or C-MOVE response's sub-operation
counts stay the PACS's own (PS3.4 C.4.2.1.4, C.4.3.1.3).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from viewer.core.records import InstanceRecord


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

# SOP Instance UIDs a receiver remembers (about 10 MB): more than any one retrieve brings.
RECENT_UIDS = 100_000


class RecentUids:
    """The last ``limit`` SOP Instance UIDs seen, for membership tests (insertion order).

    A UID taken out with :meth:`discard` is no longer a member but is still known as
    seen, so that :meth:`add` tells a repeat from a first arrival.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._uids: dict[str, bool] = {}  # UID -> a member (False once discarded)

    def add(self, uid: str) -> bool:
        """Remember ``uid`` as a member; forget the oldest beyond the limit.

        Returns
        -------
        bool
            True if ``uid`` was not seen before (within the last ``limit``).
        """
        first = self._uids.pop(uid, None) is None
        self._uids[uid] = True
        if len(self._uids) > self.limit:
            del self._uids[next(iter(self._uids))]
        return first

    def discard(self, uid: str) -> None:
        """No longer a member (it arrived, but the sink did not take it); still seen."""
        if uid in self._uids:
            self._uids[uid] = False

    def __contains__(self, uid: object) -> bool:
        return self._uids.get(uid, False) if isinstance(uid, str) else False

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
        a long-running listener remembers only the last :data:`RECENT_UIDS`, to tell
        a repeat.
    on_taken : callable, optional
        Called on the sink's thread once the counts are updated, with the instances
        the sink took and, for each, whether it is a first arrival (False: a repeat).

    Attributes
    ----------
    instances : int
        Instances taken, each SOP Instance UID once: what a report calls received.
    count : int
        Files taken, a repeat of an instance included: it changes whenever the sink
        took something (the store may have changed: one deleted there and sent again).
    """

    def __init__(self, sink: Sink, *, keep_uids: bool = True,
                 on_taken: Callable[[list[ReceivedInstance], list[bool]], None] | None = None
                 ) -> None:
        self.sink = sink
        self.keep_uids = keep_uids
        self.on_taken = on_taken
        self.arrived: set[str] = set()
        # Without ``arrived``, what was taken lately: a repeat comes within the same
        # retrieve or push, not after a hundred thousand other instances.
        self._recent = None if keep_uids else RecentUids(RECENT_UIDS)
        self.instances = 0
        self.count = 0
        self.lock = threading.Lock()
        if hasattr(sink, "many"):
            self.many = self._many

    def __call__(self, item: ReceivedInstance) -> None:
        self.sink(item)
        self._note([item])

    def _many(self, items: list[ReceivedInstance]) -> list[str]:
        problems: list[str] = self.sink.many(items)  # type: ignore[attr-defined]
        self._note([i for i, p in zip(items, problems, strict=True) if not p])
        return problems

    def _note(self, items: list[ReceivedInstance]) -> None:
        firsts: list[bool] = []
        with self.lock:
            self.count += len(items)
            for item in items:
                uid = item.sop_instance_uid
                if self._recent is None:
                    firsts.append(uid not in self.arrived)
                    self.arrived.add(uid)
                else:
                    firsts.append(self._recent.add(uid))
            self.instances += sum(firsts)
        if self.on_taken is not None and items:
            self.on_taken(items, firsts)


class AddMany(Protocol):
    """``StudyStore.add_received_files``: a batch of files, with the headers read already."""

    def __call__(self, paths: list[Path], *, headers: Sequence[InstanceRecord | None],
                 durable: bool) -> Sequence[object]:
        """One result per path: the stored record, or an exception saying why not;
        ``durable``: the rows are on disk before it returns."""


class BatchSink:
    """A sink that hands received files to a batch import (``StudyStore.add_received_files``).

    Parameters
    ----------
    add_many : callable
        Takes a list of file paths (and ``headers``, each file's header or None) and
        returns one result per path, an exception for a file that was not taken.
    durable : bool
        Have each batch's rows flushed to disk before the next (``add_many``'s
        ``durable``): for a storage SCP that takes pushes, whose senders may delete
        what was acknowledged.
    """

    def __init__(self, add_many: AddMany, *, durable: bool = False) -> None:
        self.add_many = add_many
        self.durable = durable

    def __call__(self, item: ReceivedInstance) -> None:
        (result,) = self.add_many([item.path], headers=[item.header], durable=self.durable)
        if isinstance(result, Exception):
            raise result

    def many(self, items: list[ReceivedInstance]) -> list[str]:
        """Import a batch; return a problem per item ("" for each one taken)."""
        results = self.add_many([item.path for item in items],
                                headers=[item.header for item in items], durable=self.durable)
        return [str(r) if isinstance(r, Exception) else "" for r in results]
