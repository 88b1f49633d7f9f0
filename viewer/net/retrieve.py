"""Retrieve a study, series or instances by C-GET or C-MOVE (PS3.4 C.4.2, C.4.3).

:func:`retrieve` is a generator of :class:`RetrieveProgress`; a Qt worker iterates it
and a :class:`CancelToken` stops it from any thread (C-CANCEL, then A-ABORT if the PACS
does not stop). Before moving data it asks the PACS which SOP classes the request covers
(one study-level answer, or the image-level list when part of the study is already here):
C-GET then proposes only those storage classes (the 128-context limit is never reached),
and a retry fetches only what ``already_have`` does not report. The records and the
planning are in :mod:`viewer.net.plan`, the C-GET/C-MOVE exchanges in
:mod:`viewer.net.transfer`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from pynetdicom.presentation import PresentationContext

from viewer.core.errors import CancelledError, PeerError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.net import explain_dimse
from viewer.net.connection import CancelToken, where
from viewer.net.listener import ListenerFile
from viewer.net.nodes import NodeRecord
from viewer.net.plan import (
    CANCELLED,
    MOVE_DESTINATION_UNKNOWN,
    PENDING,
    WARNING,
    AlreadyHave,
    Held,
    InventoryItem,
    Plan,
    RetrieveProgress,
    RetrieveRequest,
    identifiers,
    inventory,
    other_storage_classes,
    proposed_classes,
    storage_contexts,
    with_uncompressed,
)
from viewer.net.scp import StorageSCP
from viewer.net.sinks import CountingSink, Sink
from viewer.net.transfer import NoGetError, not_imported_text, run_get, run_move

__all__ = [
    "CANCELLED",
    "MOVE_DESTINATION_UNKNOWN",
    "PENDING",
    "WARNING",
    "AlreadyHave",
    "Held",
    "InventoryItem",
    "RetrieveProgress",
    "RetrieveRequest",
    "inventory",
    "retrieve",
    "storage_contexts",
]


def retrieve(
    node: NodeRecord,
    local: NetworkSettings,
    request: RetrieveRequest,
    sink: Sink,
    incoming: Path,
    *,
    method: str | None = None,
    already_have: AlreadyHave | None = None,
    held: Held | None = None,
    cancel: CancelToken | None = None,
    scp: StorageSCP | None = None,
    our_host: str = "",
    listener: ListenerFile | None = None,
) -> Iterator[RetrieveProgress]:
    """Retrieve ``request`` from ``node``, yielding progress until it is done.

    Parameters
    ----------
    sink : callable
        Gets each received instance (a complete file in ``incoming``) on a worker thread;
        the CLI wires it to the store's ``add_received_files`` (a BatchSink).
    incoming : Path
        Folder for files as they arrive (same file system as the store).
    method : str, optional
        ``get``, ``move`` or ``auto``; the node's preference when omitted.
    already_have : callable, optional
        Returns the subset of the given SOP Instance UIDs already stored; only the rest
        is fetched.
    held : callable, optional
        ``held(study_uid, series_uids)``: how many instances of the study (of those
        series) are stored. When none are, the PACS is not asked to list every instance
        before the retrieve (an image-level C-FIND: half a second for 400 instances from
        Orthanc); only a retry of what is missing needs that list.
    scp : StorageSCP, optional
        A running storage SCP for C-MOVE (the application's ``always-listen`` one);
        otherwise one is started for the duration of the C-MOVE (with TLS only, on the
        TLS port, for a node that uses TLS).
    our_host : str
        Our address as the PACS should know it, for explanations.
    listener : ListenerFile, optional
        The home's listener record: when another live Lightbox process of this home
        already listens on the C-MOVE port, the C-MOVE goes to it (it stores what
        arrives) and this retrieve checks ``already_have`` for what came. Needs
        ``already_have``.

    Raises
    ------
    PeerError
        The PACS cannot be reached, refuses, stops answering or the connection drops; the
        message says what to check. Instances that arrived before stay in the sink.
    """
    request.validated()
    chosen = method or node.method
    if chosen not in ("get", "move", "auto"):
        raise UsageError("method must be get, move or auto")
    token = cancel or CancelToken()
    w = where(node, local, our_host)
    progress = RetrieveProgress()  # its method is set once a C-GET or C-MOVE is sent
    yield progress.snapshot()

    plan = Plan(node, local, request, token)
    items: list[InventoryItem] | None = None
    fetch = request  # what the C-GET or C-MOVE asks for, when not a list of instances
    try:
        first = already_have is None or (
            held is not None and not request.sop_uids
            and held(request.study_uid, request.series_uids) == 0)
        if not first:
            # Only what is missing: the PACS lists the instances first (PS3.4 C.4.1).
            # None when it will not list them all (refused, or cut short by a result
            # limit): the request itself is then fetched, and the PACS's counts expected;
            # or, with a whole list of series and their counts, the series not all here.
            items = plan.items()
            narrowed = plan.narrowed(held) if items is None and held is not None else None
            if narrowed is not None:
                fetch, progress.expected, progress.already_present = narrowed
        elif chosen != "move" or request.sop_uids:
            # A first retrieve: one study-level answer gives the SOP classes and the
            # count; the instance list is asked for only if something goes wrong.
            progress.expected = plan.summarize()
        elif request.series_uids or request.model == "patient":
            # A first C-MOVE of series: our SCP takes any storage class, but the series
            # must belong to the study; some PACS (Orthanc) move a series by its UID
            # alone, which would store a series of another study. So does a Patient Root
            # study under another patient's ID, which C-GET finds nothing for.
            progress.expected = plan.summarize(classes=False)
        # A first Study Root C-MOVE of a study needs neither: our SCP takes any storage
        # class, and the PACS's pending responses give the count.
    except (CancelledError, PeerError):
        if not token.cancelled:
            raise
    if token.cancelled:
        # Cancelled while planning: end now, before any C-GET or C-MOVE is sent (a
        # cancelled C-FIND may have listed only part of the request).
        progress.cancelled = True
        progress.status = CANCELLED
        progress.phase = "done"
        progress.message = explain_dimse.retrieve_status(w, chosen, CANCELLED, 0, 0)
        yield progress.snapshot()
        return
    if plan.found is False:
        # The PACS has no such study or series: a C-GET or C-MOVE would fail in ways that
        # blame the PACS or our AE title.
        yield _nothing(progress, request)
        return
    if already_have is not None and items is not None:
        progress.expected = len(items)
        have = already_have([i.sop_instance_uid for i in items]) if items else set()
        progress.already_present = len(have)
        plan.todo = [i for i in items if i.sop_instance_uid not in have]
        if not plan.todo:
            progress.phase = "done"
            progress.status = 0x0000
            if not items:
                progress.message = explain_dimse.retrieve_status(w, chosen, 0x0000, 0, 0)
            yield progress.snapshot()
            return
    claims = listener  # our own C-MOVE's port is claimed in the home's records
    if already_have is None:
        listener = None  # without the store, what another process received is unknown

    counting_sink = CountingSink(sink)
    arrived, lock = counting_sink.arrived, counting_sink.lock

    def still_missing() -> list[InventoryItem] | None:
        if plan.todo is None:
            return None
        refused = set(progress.not_imported_instances)  # arrived, the store said no
        with lock:
            return [i for i in plan.todo if i.sop_instance_uid not in arrived and not (
                scp is not None and i.sop_instance_uid in scp.receiver.uids)
                and i.sop_instance_uid not in refused]

    # Passes: the preferred encoding first, then the other one for what is still missing
    # (PACS built on dcmtk send every instance of a SOP class on the first context
    # accepted for it, so a series mixing encodings needs two associations); for C-GET,
    # then the storage classes not yet proposed, when the PACS will not say which
    # classes the missing instances have.
    plans = {"get": [("get", _FIRST), ("get", _ALTERNATE), ("get", _OTHER_CLASSES),
                     ("get", _OTHER_CLASSES)],
             "move": [("move", _FIRST), ("move", _ALTERNATE)]}
    sequence = plans["get"] + plans["move"] if chosen == "auto" else plans[chosen]
    get_offered = True
    offered: set[str] = set()  # storage classes a C-GET pass proposed uncompressed
    shared_used = False  # C-MOVE into another process's listener (it cannot prefer)
    for step, (kind, phase) in enumerate(sequence):
        if kind == "get" and not get_offered:
            continue
        if step > 0 and plan.todo is None and not _stopped(token) and (
                progress.failed or not progress.completed):
            try:
                plan.todo = plan.items()  # something failed: find out exactly what
            except (CancelledError, PeerError):
                if not _stopped(token):
                    raise
                break
        left = still_missing()
        if step > 0:
            if token.cancelled or progress.cancelled or progress.stopped or left == []:
                break
            if left is None and (progress.completed or progress.received):
                break
            if phase != _FIRST and (left is None or (kind == "move" and shared_used)):
                continue
        storage: list[PresentationContext] = []
        if kind == "get":
            storage = _get_contexts(phase, left, plan.classes, offered)
            if not storage:
                continue
            offered |= with_uncompressed(storage)
        if step > 0:
            _reset_for_pass(progress)
        whole = left is None or len(left) == len(plan.listed or [])
        requests = identifiers(fetch, None if whole else left)
        progress.method = kind
        try:
            if kind == "get":
                yield from run_get(node, local, request.model, requests, storage,
                                    counting_sink, incoming, token, progress, our_host)
            else:
                outcome = yield from run_move(
                    node, local, request.model, requests, counting_sink, incoming, token,
                    progress, scp, our_host, phase == _ALTERNATE, listener, claims)
                shared_used = shared_used or outcome.shared
                if outcome.shared and already_have is not None:
                    if plan.todo is None:  # a first retrieve: what should have come
                        plan.todo = plan.items()
                    stored = _settle(already_have, plan.todo, progress, token)
                    with lock:
                        arrived.update(stored)
                if not outcome.called_back:
                    break  # a second pass would fail the same way
        except NoGetError as exc:
            if chosen == "get" and phase == _FIRST:
                raise PeerError(node.name, str(exc)) from None
            # auto: C-MOVE next. After a first pass, a PACS that accepts none of a later
            # pass's contexts has nothing more to send by C-GET: what is missing is said
            # at the end, as for any pass that fetched nothing.
            get_offered = False
        except (CancelledError, PeerError):
            # Whatever fails once we sent C-CANCEL (or before we could) is the cancel.
            if not _stopped(token):
                raise
            break
    if plan.listed is not None:
        progress.expected = len(plan.listed)
    # What came through our own sink (every C-GET, a C-MOVE into an SCP of its own) is
    # counted by UID; a C-MOVE into the running SCP only by its receiver and the PACS.
    own_sink = scp is None or progress.method == "get"
    if own_sink:
        with lock:
            progress.received = len(arrived)
    if (not _stopped(token) and not progress.received and not progress.completed
            and not progress.warning and not progress.failed and plan.has_any() is False):
        # Nothing came and no sub-operation was even attempted: the PACS has no such
        # object, which is what to say rather than the status's usual causes.
        yield _nothing(progress, request)
        return
    left = still_missing()
    if _stopped(token) and not progress.cancelled and not (
            left == [] or (left is None and progress.status in (0x0000, WARNING)
                           and not progress.failed)):
        # The retrieve did not complete and we asked it to stop: any failure after our
        # C-CANCEL (or a pass that failed before a second one could run) is the cancel.
        progress.cancelled = True
    if progress.cancelled:
        kept = progress.received if own_sink else progress.completed
        progress.status = CANCELLED
        progress.message = explain_dimse.retrieve_status(w, progress.method or chosen, CANCELLED,
                                                         kept, 0)
        if progress.not_imported:
            progress.message += f"; {not_imported_text(progress.not_imported)}"
    _finish(node, local, progress, left, our_host)
    yield progress.snapshot()


# The passes of a retrieve (see the loop in :func:`retrieve`).
_FIRST, _ALTERNATE, _OTHER_CLASSES = "first", "alternate", "other classes"


def _get_contexts(phase: str, left: list[InventoryItem] | None, listed: set[str],
                  offered: set[str]) -> list[PresentationContext]:
    """The storage contexts of a C-GET pass; none if the pass has nothing to ask for.

    ``left`` is what is still missing (None before anything is, or when the PACS will
    not list it), ``listed`` the classes the PACS said the request has, ``offered`` the
    classes earlier passes proposed uncompressed.
    """
    if phase == _FIRST:
        return storage_contexts(listed)
    unknown = left is not None and any(not i.sop_class_uid for i in left)
    if phase == _OTHER_CLASSES:
        return storage_contexts(other_storage_classes(offered)) if unknown else []
    classes = {i.sop_class_uid for i in left or ()} - {""}
    if unknown or not classes:
        classes |= set(proposed_classes(listed))
    # A class the first pass did not propose gets its uncompressed context now.
    return storage_contexts(classes, again=offered)


def _stopped(token: CancelToken) -> bool:
    """``token.cancelled``, read afresh: another thread may set it at any moment (a
    plain re-read after an earlier test looks redundant to the type checker)."""
    return token.cancelled


def _nothing(progress: RetrieveProgress, request: RetrieveRequest) -> RetrieveProgress:
    """End a retrieve for which the PACS has nothing (a C-FIND at its level found no match)."""
    progress.phase = "done"
    progress.expected = 0
    progress.remaining = 0
    progress.failed = 0
    progress.failed_instances.clear()
    progress.message = explain_dimse.nothing_to_retrieve(request.describe(),
                                                         request.model == "patient")
    return progress.snapshot()


#: How long to wait for another process's listener to store what the PACS sent, after
#: the last instance that appeared in the store.
SETTLE_SECONDS = 10.0


def _settle(already_have: AlreadyHave, todo: list[InventoryItem] | None,
            progress: RetrieveProgress, token: CancelToken) -> set[str]:
    """Wait until the instances the PACS reports as sent are in the store.

    The home's listener (another process) writes each instance before answering the
    C-STORE, then imports it on a worker thread, so the last few may reach the store
    a little after the C-MOVE's final response. Returns the SOP Instance UIDs of
    ``todo`` found in the store.
    """
    if not todo:
        return set()
    uids = [i.sop_instance_uid for i in todo]
    target = min(len(uids), progress.completed + progress.warning)
    have = already_have(uids)
    last_change = time.monotonic()
    while len(have) < target and time.monotonic() - last_change < SETTLE_SECONDS:
        if token.wait(0.1):
            break
        now_have = already_have(uids)
        if len(now_have) > len(have):
            last_change = time.monotonic()
        have = now_have
    return have


def _reset_for_pass(progress: RetrieveProgress) -> None:
    progress.failed = progress.warning = 0
    progress.failed_instances.clear()
    progress.status = None
    progress.message = ""
    progress.phase = "transfer"


def _finish(node: NodeRecord, local: NetworkSettings, progress: RetrieveProgress,
            left: list[InventoryItem] | None, our_host: str) -> None:
    """Set the final counters from what is still missing, and the explanation."""
    progress.phase = "done"
    if left is None or progress.cancelled or progress.stopped:
        return
    progress.remaining = 0
    if not left:
        # Everything arrived; what the store refused is said, not fetched again.
        progress.failed = 0
        progress.failed_instances = list(progress.not_imported_instances)
        if progress.status in (WARNING, 0xA700, 0xA701, 0xA702):
            progress.status = 0x0000
        progress.message = (not_imported_text(len(progress.not_imported_instances))
                            if progress.not_imported_instances else "")
        return
    progress.failed = len(left)
    progress.failed_instances = [i.sop_instance_uid for i in left]
    if not progress.message:
        progress.message = explain_dimse.retrieve_status(
            where(node, local, our_host), progress.method, progress.status or WARNING,
            progress.completed, progress.failed, progress.warning, progress.error_comment)

