"""Retrieve a study, series or instances by C-GET or C-MOVE (PS3.4 C.4.2, C.4.3).

:func:`retrieve` is a generator of :class:`RetrieveProgress`; a Qt worker iterates it
and a :class:`CancelToken` stops it from any thread (C-CANCEL, then A-ABORT if the PACS
does not stop). Before moving data it asks the PACS, at image level, which instances and
SOP classes the request covers: C-GET then proposes only those storage classes (the
128-context limit is never reached), and a retry fetches only what ``already_have``
does not report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.presentation import PresentationContext, build_context

from viewer.core.errors import PeerError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.net import explain
from viewer.net.connection import CancelToken, open_association, where
from viewer.net.nodes import NodeRecord
from viewer.net.policy import (
    COMMON_STORAGE_CLASSES,
    DEFAULT_POLICY,
    GET_COMPRESSED_SYNTAXES,
    GET_MODELS,
    GET_UNCOMPRESSED_SYNTAXES,
    MAX_PRESENTATION_CONTEXTS,
    MOVE_MODELS,
    UNCOMPRESSED_SYNTAXES,
)
from viewer.net.query import QuerySpec, find
from viewer.net.receiver import ReceivedInstance, Receiver, Sink
from viewer.net.scp import StorageSCP

AlreadyHave = Callable[[Iterable[str]], set[str]]

# PS3.4 C.4.2.1.5 / C.4.3.1.4 statuses.
PENDING = (0xFF00, 0xFF01)
CANCELLED = 0xFE00
WARNING = 0xB000
MOVE_DESTINATION_UNKNOWN = 0xA801


@dataclass(frozen=True, slots=True)
class RetrieveRequest:
    """What to fetch: a study, some of its series, or instances of one series.

    ``patient_id`` is needed only with the Patient Root model (PS3.4 C.6.1.2.1).
    """

    study_uid: str
    series_uids: tuple[str, ...] = ()
    sop_uids: tuple[str, ...] = ()
    model: str = "study"
    patient_id: str = ""

    @property
    def level(self) -> str:
        """``STUDY``, ``SERIES`` or ``IMAGE`` (PS3.4 C.6.2.2)."""
        if self.sop_uids:
            return "IMAGE"
        return "SERIES" if self.series_uids else "STUDY"

    def validated(self) -> RetrieveRequest:
        """Check the unique keys fit the level (PS3.4 C.4.2.2.1), or raise UsageError."""
        if not self.study_uid:
            raise UsageError("a retrieve needs a study UID (--study)")
        if self.sop_uids and len(self.series_uids) != 1:
            raise UsageError("retrieving instances needs exactly one series UID (--series)")
        if self.model == "patient" and not self.patient_id:
            raise UsageError("a Patient Root retrieve needs --patient-id")
        return self


@dataclass(frozen=True, slots=True)
class InventoryItem:
    """One instance the PACS reports for the request (image-level C-FIND)."""

    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str


@dataclass(slots=True)
class RetrieveProgress:
    """A snapshot of a running retrieve, as the GUI or the CLI shows it.

    Counters are those of the PACS's pending responses (PS3.4 C.4.2.1.4), summed over
    the requests of this retrieve; ``received`` counts files written on our side.
    """

    method: str = ""
    phase: str = "plan"  # plan, transfer, done
    expected: int | None = None
    already_present: int = 0
    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    received: int = 0
    status: int | None = None
    failed_instances: list[str] = field(default_factory=list)
    message: str = ""
    cancelled: bool = False
    error_comment: str = ""

    def snapshot(self) -> RetrieveProgress:
        """A copy that another thread may read while the retrieve goes on."""
        return replace(self, failed_instances=list(self.failed_instances))

    @property
    def done(self) -> bool:
        """The retrieve has ended (successfully or not)."""
        return self.phase == "done"

    @property
    def ok(self) -> bool:
        """Ended with every instance retrieved."""
        return self.done and not self.cancelled and self.failed == 0 and (
            self.status in (0x0000, None)
        ) and not self.message


def inventory(node: NodeRecord, local: NetworkSettings, request: RetrieveRequest,
              cancel: CancelToken | None = None) -> list[InventoryItem]:
    """Ask the PACS which instances ``request`` covers, with their SOP classes.

    Series are found at SERIES level first, then each series at IMAGE level, following
    the hierarchical rule (PS3.4 C.4.1.3.1: one value for every key above the level).
    """
    series = list(request.series_uids)
    model = request.model
    if not series:
        spec = QuerySpec(level="series", model=model, patient_id=request.patient_id,
                         study_uids=(request.study_uid,))
        series = [str(r.get("SeriesInstanceUID", "")) for r in find(node, local, spec, cancel)]
        series = [s for s in series if s]
    items: list[InventoryItem] = []
    for s in series:
        spec = QuerySpec(level="image", model=model, patient_id=request.patient_id,
                         study_uids=(request.study_uid,), series_uids=(s,),
                         sop_uids=request.sop_uids)
        for r in find(node, local, spec, cancel):
            uid = str(r.get("SOPInstanceUID", ""))
            if uid:
                items.append(InventoryItem(s, uid, str(r.get("SOPClassUID", "") or "")))
    return items


def _identifiers(request: RetrieveRequest, missing: list[InventoryItem] | None
                 ) -> list[Dataset]:
    """C-GET/C-MOVE identifiers: the request itself, or the missing instances per series."""
    def base(level: str) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = level
        if request.model == "patient":
            ds.PatientID = request.patient_id
        ds.StudyInstanceUID = request.study_uid
        return ds

    if missing is None:
        ds = base(request.level)
        if request.series_uids:
            ds.SeriesInstanceUID = (list(request.series_uids) if len(request.series_uids) > 1
                                    else request.series_uids[0])
        if request.sop_uids:
            ds.SOPInstanceUID = (list(request.sop_uids) if len(request.sop_uids) > 1
                                 else request.sop_uids[0])
        return [ds]
    by_series: dict[str, list[str]] = {}
    for item in missing:
        by_series.setdefault(item.series_uid, []).append(item.sop_instance_uid)
    out = []
    for series_uid, uids in by_series.items():
        # PS3.4 C.4.2.2.1: IMAGE level, one series, a list of SOP Instance UIDs.
        for start in range(0, len(uids), 500):
            ds = base("IMAGE")
            ds.SeriesInstanceUID = series_uid
            chunk = uids[start:start + 500]
            ds.SOPInstanceUID = chunk if len(chunk) > 1 else chunk[0]
            out.append(ds)
    return out


def storage_contexts(sop_classes: Iterable[str], compressed_only: bool = False
                     ) -> list[PresentationContext]:
    """Storage contexts for C-GET within the 128-context limit (PS3.8 9.3.2.2).

    The given classes (or the common set when the PACS did not say) each get one
    context with the uncompressed syntaxes and, as the budget allows, one context per
    compressed syntax, so the PACS can send each instance as stored. With
    ``compressed_only`` the uncompressed context is left out (second pass for a PACS
    that sends every instance of a class on its first accepted context).
    """
    classes = sorted({c for c in sop_classes if c}) or list(COMMON_STORAGE_CLASSES)
    room = MAX_PRESENTATION_CONTEXTS - 1  # one context carries the GET model
    classes = classes[:room]
    per_class = min(len(GET_COMPRESSED_SYNTAXES) + (0 if compressed_only else 1),
                    room // len(classes))
    contexts = [] if compressed_only else [
        build_context(c, list(GET_UNCOMPRESSED_SYNTAXES)) for c in classes]
    for syntax in GET_COMPRESSED_SYNTAXES[: per_class - (0 if compressed_only else 1)]:
        contexts.extend(build_context(c, syntax) for c in classes)
    return contexts


def retrieve(
    node: NodeRecord,
    local: NetworkSettings,
    request: RetrieveRequest,
    sink: Sink,
    incoming: Path,
    *,
    method: str | None = None,
    already_have: AlreadyHave | None = None,
    cancel: CancelToken | None = None,
    scp: StorageSCP | None = None,
    our_host: str = "",
) -> Iterator[RetrieveProgress]:
    """Retrieve ``request`` from ``node``, yielding progress until it is done.

    Parameters
    ----------
    sink : callable
        Gets each received instance (a complete file in ``incoming``) on a worker thread;
        the CLI wires it to the store's ``add_received_file``.
    incoming : Path
        Folder for files as they arrive (same file system as the store).
    method : str, optional
        ``get``, ``move`` or ``auto``; the node's preference when omitted.
    already_have : callable, optional
        Returns the subset of the given SOP Instance UIDs already stored; only the rest
        is fetched.
    scp : StorageSCP, optional
        A running storage SCP for C-MOVE (``lightbox listen``); otherwise one is started
        for the duration of the C-MOVE.
    our_host : str
        Our address as the PACS should know it, for explanations.

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
    progress = RetrieveProgress(method=chosen)
    yield progress.snapshot()

    plan = _Plan(node, local, request, token)
    if already_have is not None:
        # Only what is missing: the PACS lists the instances first (PS3.4 C.4.1).
        items = plan.items()
        if items is not None:
            progress.expected = len(items)
            have = already_have([i.sop_instance_uid for i in items]) if items else set()
            progress.already_present = len(have)
            plan.todo = [i for i in items if i.sop_instance_uid not in have]
            if not plan.todo:
                progress.phase = "done"
                progress.status = 0x0000
                if not items:
                    progress.message = explain.retrieve_status(
                        where(node, local, our_host), chosen, 0x0000, 0, 0)
                yield progress.snapshot()
                return
    else:
        # A first retrieve: one study-level answer gives the SOP classes and the count;
        # the instance list is asked for only if something goes wrong.
        progress.expected = plan.summarize()

    arrived: set[str] = set()
    lock = threading.Lock()

    def counting_sink(item: ReceivedInstance) -> None:
        sink(item)
        with lock:
            arrived.add(item.sop_instance_uid)

    def still_missing() -> list[InventoryItem] | None:
        if plan.todo is None:
            return None
        external = scp.receiver.uids if scp is not None else set()
        with lock:
            return [i for i in plan.todo
                    if i.sop_instance_uid not in arrived and i.sop_instance_uid not in external]

    # Passes: the preferred encoding first, then the other one for what is still missing
    # (PACS built on dcmtk send every instance of a SOP class on the first context
    # accepted for it, so a series mixing encodings needs two associations).
    plans = {"get": [("get", False), ("get", True)], "move": [("move", False), ("move", True)]}
    sequence = plans["get"] + plans["move"] if chosen == "auto" else plans[chosen]
    get_offered = True
    for step, (kind, alternate) in enumerate(sequence):
        if kind == "get" and not get_offered:
            continue
        if step > 0 and plan.todo is None and not token.cancelled and (
                progress.failed or not progress.completed):
            plan.todo = plan.items()  # something failed: find out exactly what
        left = still_missing()
        if step > 0:
            if token.cancelled or progress.cancelled or left == []:
                break
            if left is None and (progress.completed or progress.received):
                break
            if alternate and (left is None or (scp is not None and kind == "move")):
                continue
            _reset_for_pass(progress)
        whole = left is None or len(left) == len(plan.listed or [])
        identifiers = _identifiers(request, None if whole else left)
        classes = {i.sop_class_uid for i in left} if left else plan.classes
        progress.method = kind
        try:
            if kind == "get":
                yield from _run_get(node, local, request.model, identifiers, classes,
                                    counting_sink, incoming, token, progress, our_host,
                                    alternate)
            else:
                called_back = yield from _run_move(
                    node, local, request.model, identifiers, counting_sink, incoming, token,
                    progress, scp, our_host, alternate)
                if not called_back:
                    break  # a second pass would fail the same way
        except _NoGetError as exc:
            if chosen == "get":
                raise PeerError(node.name, str(exc)) from None
            get_offered = False  # auto: C-MOVE next
    if plan.listed is not None:
        progress.expected = len(plan.listed)
    if scp is None:
        with lock:
            progress.received = len(arrived)
    _finish(node, local, progress, still_missing(), our_host)
    yield progress.snapshot()


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
    if left is None or progress.cancelled:
        return
    progress.remaining = 0
    if not left:
        progress.failed = 0
        progress.failed_instances.clear()
        if progress.status in (WARNING, 0xA700, 0xA701, 0xA702):
            progress.status = 0x0000
        progress.message = ""
        return
    progress.failed = len(left)
    progress.failed_instances = [i.sop_instance_uid for i in left]
    if not progress.message:
        progress.message = explain.retrieve_status(
            where(node, local, our_host), progress.method, progress.status or WARNING,
            progress.completed, progress.failed, progress.warning, progress.error_comment)


class _Plan:
    """What the PACS says the request covers, asked for as late as possible."""

    def __init__(self, node: NodeRecord, local: NetworkSettings, request: RetrieveRequest,
                 token: CancelToken) -> None:
        self.node, self.local, self.request, self.token = node, local, request, token
        self.listed: list[InventoryItem] | None = None
        self.todo: list[InventoryItem] | None = None
        self.classes: set[str] = set()
        self._asked = False

    def items(self) -> list[InventoryItem] | None:
        """The image-level inventory, or None if the PACS will not give it."""
        if not self._asked:
            self._asked = True
            try:
                self.listed = inventory(self.node, self.local, self.request, self.token)
            except PeerError:
                if self.token.cancelled:
                    raise
                self.listed = None  # the PACS will not list instances: retrieve blind
        return self.listed

    def summarize(self) -> int | None:
        """Ask for SOP Classes in Study and the instance count (PS3.4 C.6.1.1.2, optional
        keys a PACS may leave empty); return the count if known."""
        r = self.request
        if r.sop_uids:
            return len(r.sop_uids)
        try:
            spec = QuerySpec(level="study", model=r.model, patient_id=r.patient_id,
                             study_uids=(r.study_uid,))
            studies = list(find(self.node, self.local, spec, self.token))
            for study in studies:
                value = study.get("SOPClassesInStudy", "")
                self.classes |= set(value if isinstance(value, list) else [value]) - {""}
            if not r.series_uids:
                counts = [study.get("NumberOfStudyRelatedInstances") for study in studies]
            else:
                spec = QuerySpec(level="series", model=r.model, patient_id=r.patient_id,
                                 study_uids=(r.study_uid,), series_uids=r.series_uids)
                counts = [s.get("NumberOfSeriesRelatedInstances")
                          for s in find(self.node, self.local, spec, self.token)]
        except PeerError:
            if self.token.cancelled:
                raise
            return None
        if not counts or any(c in (None, "") for c in counts):
            return None
        try:
            return sum(int(str(c)) for c in counts)
        except (TypeError, ValueError):
            return None


class _NoGetError(Exception):
    """The PACS does not offer C-GET for this model (auto falls back to C-MOVE)."""


def _count(progress: RetrieveProgress, status: Dataset, base: tuple[int, int, int]) -> None:
    c, f, w = base
    progress.remaining = status.get("NumberOfRemainingSuboperations", progress.remaining)
    progress.completed = c + int(status.get("NumberOfCompletedSuboperations", 0) or 0)
    progress.failed = f + int(status.get("NumberOfFailedSuboperations", 0) or 0)
    progress.warning = w + int(status.get("NumberOfWarningSuboperations", 0) or 0)


def _drive(
    node: NodeRecord,
    local: NetworkSettings,
    assoc: Any,
    responses: Callable[[Dataset, int], Iterator[tuple[Dataset, Dataset | None]]],
    model: str,
    identifiers: list[Dataset],
    receiver: Receiver,
    token: CancelToken,
    progress: RetrieveProgress,
    our_host: str,
) -> Iterator[RetrieveProgress]:
    """Send each identifier, follow the pending responses, explain the end."""
    w = where(node, local, our_host)
    progress.phase = "transfer"
    final_status = 0x0000
    for n, identifier in enumerate(identifiers, start=1):
        msg_id = n
        base = (progress.completed, progress.failed, progress.warning)
        timer: list[threading.Timer] = []

        def on_cancel(msg_id: int = msg_id, timer: list[threading.Timer] = timer) -> None:
            assoc.send_c_cancel(msg_id, query_model=model)
            t = threading.Timer(DEFAULT_POLICY.cancel_grace, assoc.abort)
            t.daemon = True
            timer.append(t)
            t.start()

        unregister = token.on_cancel(on_cancel)
        last = time.monotonic()
        try:
            for status, ident in responses(identifier, msg_id):
                if "Status" not in status:
                    receiver.drain()
                    progress.received = receiver.written
                    if token.cancelled:
                        progress.cancelled = True
                        progress.status = CANCELLED
                        progress.message = explain.retrieve_status(
                            w, progress.method, CANCELLED, progress.completed, progress.failed)
                        return
                    if time.monotonic() - last >= node.dimse_timeout * 0.9:
                        text = explain.no_response(w, node.dimse_timeout,
                                                   f"C-{progress.method.upper()}")
                    else:
                        text = explain.connection_lost(w, receiver.written, progress.expected)
                    raise PeerError(node.name, text)
                last = time.monotonic()
                code = int(status.Status)
                _count(progress, status, base)
                progress.received = receiver.written
                if code in PENDING:
                    yield progress.snapshot()
                    continue
                final_status = code
                progress.error_comment = str(status.get("ErrorComment", "") or "").strip()
                if ident is not None and "FailedSOPInstanceUIDList" in ident:
                    failed = ident.FailedSOPInstanceUIDList
                    values = [failed] if isinstance(failed, str) else list(failed)
                    progress.failed_instances.extend(str(v) for v in values if v)
                if code == CANCELLED or token.cancelled:
                    progress.cancelled = True
                break
        finally:
            unregister()
            for t in timer:
                t.cancel()
        if progress.cancelled or (final_status not in (0x0000, WARNING)):
            break
    receiver.drain()
    progress.received = receiver.written
    progress.failed_instances.extend(uid for uid, _ in receiver.failures
                                     if uid not in progress.failed_instances)
    progress.status = CANCELLED if progress.cancelled else final_status
    if progress.cancelled or final_status != 0x0000 or progress.failed or (
        progress.completed == 0 and progress.received == 0
    ):
        progress.message = explain.retrieve_status(
            w, progress.method, progress.status, progress.completed, progress.failed,
            progress.warning, progress.error_comment)
    if receiver.failures:
        extra = f"{len(receiver.failures)} received instances could not be imported"
        progress.message = f"{progress.message}; {extra}" if progress.message else extra


def _run_get(node: NodeRecord, local: NetworkSettings, model_name: str,
             identifiers: list[Dataset], classes: set[str], sink: Sink, incoming: Path,
             token: CancelToken, progress: RetrieveProgress, our_host: str,
             compressed_only: bool = False) -> Iterator[RetrieveProgress]:
    model = GET_MODELS[model_name]
    storage = storage_contexts(classes, compressed_only)
    contexts = [build_context(model, list(UNCOMPRESSED_SYNTAXES)), *storage]
    # PS3.7 D.3.3.4: we take the SCP role for each storage class on this association.
    roles = [build_role(c, scp_role=True) for c in sorted({str(cx.abstract_syntax)
                                                          for cx in storage})]
    receiver = Receiver(incoming, sink)

    assoc = open_association(node, local, contexts, ext_neg=roles, cancel=token,
                             handlers=[(evt.EVT_C_STORE, receiver.handle_store)])
    try:
        accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        if model not in accepted:
            raise _NoGetError(explain.context_refused(
                where(node, local, our_host), "C-GET", "use --method move"))

        def responses(identifier: Dataset, msg_id: int
                      ) -> Iterator[tuple[Dataset, Dataset | None]]:
            return assoc.send_c_get(identifier, model, msg_id=msg_id)

        yield from _drive(node, local, assoc, responses, model, identifiers, receiver, token,
                          progress, our_host)
    finally:
        if assoc.is_established:
            assoc.release()
        receiver.close()


def _run_move(node: NodeRecord, local: NetworkSettings, model_name: str,
              identifiers: list[Dataset], sink: Sink, incoming: Path, token: CancelToken,
              progress: RetrieveProgress, scp: StorageSCP | None, our_host: str,
              uncompressed_first: bool = False) -> Generator[RetrieveProgress, None, bool]:
    """Run the C-MOVE requests; return False if the PACS never connected back to us."""
    model = MOVE_MODELS[model_name]
    own = scp is None
    server = scp or StorageSCP(local, [node], incoming, sink,
                               prefer_uncompressed=uncompressed_first)
    if own:
        server.start()
    try:
        assoc = open_association(node, local,
                                 [build_context(model, list(UNCOMPRESSED_SYNTAXES))],
                                 cancel=token)
        try:
            if not assoc.accepted_contexts:
                raise PeerError(node.name, explain.context_refused(
                    where(node, local, our_host), "C-MOVE",
                    "it offers neither C-GET nor C-MOVE for this model"))
            destination = node.calling_aet or local.ae_title

            def responses(identifier: Dataset, msg_id: int
                          ) -> Iterator[tuple[Dataset, Dataset | None]]:
                return assoc.send_c_move(
                    identifier, destination, model, msg_id=msg_id)

            calls = server.connections
            yield from _drive(node, local, assoc, responses, model, identifiers,
                              server.receiver, token, progress, our_host)
            failed = progress.status not in (0x0000, WARNING, CANCELLED, None)
            if failed and progress.completed == 0 and server.connections == calls and (
                    progress.status != MOVE_DESTINATION_UNKNOWN):
                progress.message = explain.move_never_connected(where(node, local, our_host))
                return False
            return True
        finally:
            if assoc.is_established:
                assoc.release()
    finally:
        if own:
            server.stop()
