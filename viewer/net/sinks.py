"""What a receiver hands on: received instances, and the sinks that take them.

A sink is called on the receiver's worker thread with each complete file
(:class:`ReceivedInstance`); one with a ``many`` method gets them in batches.
:class:`BatchSink` wires the store's batch import, :class:`CountingSink` counts what a
sink took.
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
