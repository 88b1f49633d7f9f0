"""Running C-GET and C-MOVE requests: associations, pending responses, cancel, the end.

Each function yields :class:`viewer.net.plan.RetrieveProgress` snapshots while the PACS
sends pending responses (PS3.4 C.4.2.1.4), and leaves in ``progress`` the final status
and, where something went wrong, the explanation from :mod:`viewer.net.explain`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.presentation import PresentationContext, build_context

from viewer.core.errors import CancelledError, NoAcceptedContextError, PeerError
from viewer.core.settings import NetworkSettings
from viewer.net import explain, explain_dimse
from viewer.net.connection import (
    CancelToken,
    abort_waiting,
    end_association,
    note_lost,
    open_association,
    where,
)
from viewer.net.listener import ListenerFile, port_taken
from viewer.net.nodes import NodeRecord
from viewer.net.plan import (
    CANCELLED,
    MOVE_DESTINATION_UNKNOWN,
    PENDING,
    WARNING,
    RetrieveProgress,
)
from viewer.net.policy import (
    DEFAULT_POLICY,
    GET_MODELS,
    MOVE_MODELS,
    UNCOMPRESSED_SYNTAXES,
)
from viewer.net.receiver import Receiver
from viewer.net.scp import StorageSCP
from viewer.net.sinks import Sink
from viewer.net.tls import server_ssl_context


class NoGetError(Exception):
    """The PACS does not offer C-GET for this model (auto falls back to C-MOVE)."""


def count_subops(progress: RetrieveProgress, status: Dataset, base: tuple[int, int, int]) -> None:
    c, f, w = base
    progress.remaining = status.get("NumberOfRemainingSuboperations", progress.remaining)
    progress.completed = c + int(status.get("NumberOfCompletedSuboperations", 0) or 0)
    progress.failed = f + int(status.get("NumberOfFailedSuboperations", 0) or 0)
    progress.warning = w + int(status.get("NumberOfWarningSuboperations", 0) or 0)


def drive(
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
    # A long-running storage SCP's receiver may have filled the disk before (and space
    # been freed since): only this retrieve's failures stop it.
    fulls = receiver.full_events
    # The same goes for what it received and failed to store: an always-on SCP counts
    # since it started. What the passes before this one received is counted on.
    before, failed_before = receiver.written - progress.received, len(receiver.failures)
    written_at_start = receiver.written
    for n, identifier in enumerate(identifiers, start=1):
        msg_id = n
        base = (progress.completed, progress.failed, progress.warning)
        timer: list[threading.Timer] = []

        def on_cancel(msg_id: int = msg_id, timer: list[threading.Timer] = timer) -> None:
            # PS3.7 9.3.2.3 / 9.3.3.3: C-CANCEL; a PACS that ignores it loses the
            # association after the grace period, and our wait for its next response
            # ends with the abort, not the DIMSE timeout.
            assoc.send_c_cancel(msg_id, query_model=model)
            t = threading.Timer(DEFAULT_POLICY.cancel_grace, abort_waiting, (assoc,))
            t.daemon = True
            timer.append(t)
            t.start()

        unregister = token.on_cancel(on_cancel)
        last = time.monotonic()
        answered = False
        try:
            for status, ident in responses(identifier, msg_id):
                if "Status" not in status:
                    note_lost(assoc)
                    receiver.drain()
                    progress.received = receiver.written - before
                    if token.cancelled:
                        progress.cancelled = True
                        progress.status = CANCELLED
                        progress.message = explain_dimse.retrieve_status(
                            w, progress.method, CANCELLED, progress.completed, progress.failed)
                        return
                    if progress.stopped:  # aborted after our C-CANCEL went unanswered
                        progress.message = progress.stopped
                        return
                    operation = f"C-{progress.method.upper()}"
                    silent = time.monotonic() - last >= node.dimse_timeout * 0.9
                    if n == 1 and not answered and not silent and (
                            receiver.written == written_at_start):
                        # Ended on our request, before any answer: a refusal, which a
                        # retry meets again (auto goes on with C-MOVE after a C-GET's).
                        text = explain_dimse.request_aborted(w, progress.method)
                        if progress.method == "get":
                            raise NoGetError(text)
                        raise PeerError(node.name, text)
                    if _all_arrived(progress):
                        text = explain_dimse.no_final_response(
                            w, operation, progress.completed + progress.warning,
                            node.dimse_timeout if silent else None)
                    elif silent:
                        text = explain_dimse.no_response(w, node.dimse_timeout, operation)
                    else:
                        text = explain_dimse.connection_lost(w, receiver.written - before,
                                                             progress.expected)
                    raise PeerError(node.name, text)
                last = time.monotonic()
                answered = True
                code = int(status.Status)
                count_subops(progress, status, base)
                if progress.expected is None and len(identifiers) == 1 and (
                        progress.remaining is not None):
                    # Not planned (a first C-MOVE): the PACS's counts say how many.
                    progress.expected = (progress.remaining + progress.completed
                                         + progress.failed + progress.warning)
                progress.received = receiver.written - before
                if receiver.full_events > fulls and not progress.stopped:
                    # Every further instance would fail alike: stop the PACS sending.
                    progress.stopped = explain_dimse.store_full(str(receiver.incoming))
                    on_cancel()
                if code in PENDING:
                    yield progress.snapshot()
                    continue
                final_status = code
                progress.error_comment = str(status.get("ErrorComment", "") or "").strip()
                if ident is not None and "FailedSOPInstanceUIDList" in ident:
                    failed = ident.FailedSOPInstanceUIDList
                    values = [failed] if isinstance(failed, str) else list(failed)
                    progress.failed_instances.extend(str(v) for v in values if v)
                if (code == CANCELLED and not progress.stopped) or token.cancelled:
                    progress.cancelled = True
                break
        finally:
            unregister()
            for t in timer:
                t.cancel()
        if progress.cancelled or progress.stopped or final_status not in (0x0000, WARNING):
            break
    receiver.drain()
    progress.received = receiver.written - before
    # An instance the store refused, then took when the PACS sent it again, is here;
    # one refused twice is one instance not imported.
    failures = list(dict.fromkeys(uid for uid, _ in receiver.failures[failed_before:]
                                  if uid not in receiver.uids))
    progress.failed_instances.extend(uid for uid in failures
                                     if uid not in progress.failed_instances)
    progress.status = CANCELLED if progress.cancelled else final_status
    if progress.cancelled or final_status != 0x0000 or progress.failed or (
        progress.completed == 0 and progress.received == 0
    ):
        progress.message = explain_dimse.retrieve_status(
            w, progress.method, progress.status, progress.completed, progress.failed,
            progress.warning, progress.error_comment)
    progress.not_imported_instances.extend(
        uid for uid in failures if uid not in progress.not_imported_instances)
    progress.not_imported = len(progress.not_imported_instances)
    if receiver.full_events > fulls and not progress.stopped:  # full with the last one
        progress.stopped = explain_dimse.store_full(str(receiver.incoming))
    if progress.stopped:
        progress.message = progress.stopped
    elif failures:
        extra = not_imported_text(progress.not_imported)
        progress.message = f"{progress.message}; {extra}" if progress.message else extra


def _all_arrived(progress: RetrieveProgress) -> bool:
    """Whether the PACS's last pending response counted every expected sub-operation done.

    PS3.4 C.4.2.1.4 / C.4.3.1.3: pending responses carry the sub-operation counts; none
    remaining, none failed and, with those already here, as many completed as expected
    means only the final response is missing, not an instance.
    """
    done = progress.completed + progress.warning + progress.already_present
    return (bool(progress.expected) and progress.remaining == 0 and not progress.failed
            and done >= (progress.expected or 0))


def _sent_nothing(progress: RetrieveProgress) -> bool:
    """Whether a C-MOVE ended with no instance sent: out of resources or unable to perform
    the sub-operations (0xA7xx), or every sub-operation failed (PS3.4 C.4.2.1.5)."""
    status = progress.status or 0
    return (progress.completed == 0 and not progress.cancelled and not progress.stopped
            and (status & 0xFF00 == 0xA700 or (progress.failed > 0 and status == WARNING)))


def not_imported_text(count: int) -> str:
    """What to add to a retrieve's message when the store refused received instances."""
    return (f"{count} received instance could not be imported" if count == 1
            else f"{count} received instances could not be imported")


def run_get(node: NodeRecord, local: NetworkSettings, model_name: str,
             identifiers: list[Dataset], storage: list[PresentationContext], sink: Sink,
             incoming: Path, token: CancelToken, progress: RetrieveProgress, our_host: str
             ) -> Iterator[RetrieveProgress]:
    """One C-GET association proposing ``storage`` (:func:`viewer.net.plan.storage_contexts`)."""
    model = GET_MODELS[model_name]
    contexts = [build_context(model, list(UNCOMPRESSED_SYNTAXES)), *storage]
    # PS3.7 D.3.3.4: we take the SCP role for each storage class on this association.
    roles = [build_role(c, scp_role=True) for c in sorted({str(cx.abstract_syntax)
                                                          for cx in storage})]
    receiver = Receiver(incoming, sink)
    no_get = explain.context_refused(where(node, local, our_host), "C-GET", "use --method move")
    try:
        try:
            assoc = open_association(node, local, contexts, ext_neg=roles, cancel=token,
                                     handlers=[(evt.EVT_C_STORE, receiver.handle_store)])
        except NoAcceptedContextError:
            # PS3.8 9.3.3.2: the PACS refused the C-GET context and every storage one (a
            # Q/R AE that serves FIND and MOVE only): auto goes on with C-MOVE.
            raise NoGetError(no_get) from None
        try:
            accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
            if model not in accepted:
                raise NoGetError(no_get)

            def responses(identifier: Dataset, msg_id: int
                          ) -> Iterator[tuple[Dataset, Dataset | None]]:
                return assoc.send_c_get(identifier, model, msg_id=msg_id)

            yield from drive(node, local, assoc, responses, model, identifiers, receiver,
                              token, progress, our_host)
        finally:
            end_association(assoc)
    finally:
        receiver.close()


@dataclass(frozen=True, slots=True)
class MoveOutcome:
    """How a C-MOVE pass went, for the retrieve's next step.

    Attributes
    ----------
    called_back : bool
        False if the PACS never connected back to us, or only as someone our storage SCP
        refuses: a second pass would fail alike.
    shared : bool
        The sub-operations went to another Lightbox process's storage SCP of this home
        (``listener.json``); what arrived is in the store, not in this sink.
    """

    called_back: bool
    shared: bool = False


def move_scp(node: NodeRecord, local: NetworkSettings, incoming: Path, sink: Sink,
             our_host: str) -> StorageSCP:
    """The storage SCP for one C-MOVE from ``node``: TLS only for a TLS node (PS3.15 B.9).

    Raises
    ------
    PeerError
        ``node`` uses TLS and our TLS settings are missing: the text says what to set.
    """
    if not node.uses_tls:
        return StorageSCP(local, [node], incoming, sink)
    if not local.tls_configured:
        raise PeerError(node.name, explain_dimse.move_needs_tls(where(node, local, our_host)))
    return StorageSCP(local, [node], incoming, sink, ssl_context=server_ssl_context(local),
                      plain=False)


def _shared_listener(node: NodeRecord, local: NetworkSettings,
                     listener: ListenerFile | None) -> bool:
    """True if another live process of this home listens where the PACS will connect."""
    if listener is None:
        return False
    record = listener.live()
    port = local.tls_port if node.uses_tls else local.port
    # The port must really be taken: a stale record whose process id was reused by
    # another program must not stop us from listening ourselves.
    return (record is not None and record.serves_port(port, node.uses_tls)
            and port_taken(local.bind_address, port))


def _check_listener_title(node: NodeRecord, local: NetworkSettings,
                          listener: ListenerFile) -> None:
    """Raise PeerError if the home's listener answers as another AE title than the one
    the C-MOVE names (``config set ae-title`` while it runs): it would refuse the PACS,
    and "the PACS never connected back" would send the administrator to the PACS."""
    record = listener.live()
    if record is not None and record.ae_title != local.ae_title:
        raise PeerError(node.name, explain_dimse.listener_has_old_title(
            record.ae_title, local.ae_title, record.pid))


#: How long a failed C-MOVE waits for the outcome of TLS handshakes underway at our SCP.
HANDSHAKE_SETTLE_SECONDS = 5.0

#: How long a C-MOVE waits for another retrieve of this home to free our storage port.
PORT_WAIT_SECONDS = 120.0


def _start_own_scp(server: StorageSCP, node: NodeRecord, local: NetworkSettings,
                   listener: ListenerFile | None, claims: ListenerFile | None,
                   token: CancelToken, progress: RetrieveProgress,
                   ) -> Generator[RetrieveProgress, None, str | None]:
    """Start the storage SCP of one C-MOVE, waiting while another retrieve holds its port.

    Another retrieve of this home listens on the same port for its own C-MOVE (its
    claim in ``claims``): its SCP receives only for its own request and stops when that
    ends, so sharing it would lose instances. This one waits (at most
    :data:`PORT_WAIT_SECONDS`, yielding ``phase == "wait"``) and listens once it is free.

    Returns the port claim's token, or None when the home's listener (``listener``)
    took the port meanwhile: the C-MOVE then goes to it.

    Raises
    ------
    PeerError
        The port is taken by something else (the message says which setting to
        change), or the other retrieve did not free it in time.
    CancelledError
        Cancelled while waiting.
    """
    port = local.tls_port if node.uses_tls else local.port
    deadline: float | None = None
    while True:
        try:
            server.start()
        except PeerError:
            if _shared_listener(node, local, listener):
                return None  # it started meanwhile
            if claims is None or claims.port_holder(port) is None:
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + PORT_WAIT_SECONDS
                phase, progress.phase = progress.phase, "wait"
                yield progress.snapshot()
                progress.phase = phase
            elif now >= deadline:
                raise PeerError(node.name, explain_dimse.move_port_busy(
                    port, PORT_WAIT_SECONDS)) from None
            if token.wait(0.2):
                raise CancelledError("cancelled") from None
            continue
        return claims.claim_port(port) if claims is not None else ""


def run_move(node: NodeRecord, local: NetworkSettings, model_name: str,
              identifiers: list[Dataset], sink: Sink, incoming: Path, token: CancelToken,
              progress: RetrieveProgress, scp: StorageSCP | None, our_host: str,
              compressed_first: bool = False, listener: ListenerFile | None = None,
              claims: ListenerFile | None = None,
              ) -> Generator[RetrieveProgress, None, MoveOutcome]:
    """Run the C-MOVE requests into ``scp``, our own SCP, or the home's listener.

    ``scp`` is used when it serves the node (over TLS for a TLS node); otherwise a storage
    SCP runs for this C-MOVE only, unless ``listener`` names another live process of
    this home listening on that port: then that process receives and stores. The port
    of our own SCP is claimed in ``claims`` (the home's records) while it listens.
    """
    model = MOVE_MODELS[model_name]
    if scp is not None and not scp.serves(node):
        scp = None  # e.g. an always-on plain SCP and a TLS node: a TLS one for this move
    shared = scp is None and _shared_listener(node, local, listener)
    if shared and not node.calling_aet and listener is not None:
        _check_listener_title(node, local, listener)
    own = scp is None and not shared
    server = scp
    claim: str | None = None
    if own:
        server = move_scp(node, local, incoming, sink, our_host)
        claim = yield from _start_own_scp(server, node, local, listener, claims, token,
                                          progress)
        if claim is None:
            own, shared, server = False, True, None
    receiver = server.receiver if server is not None else Receiver(incoming, sink)
    preference = contextlib.ExitStack()
    if compressed_first and server is not None:
        # A second pass: the PACS's associations, and only theirs, get the other
        # preference (another process's listener cannot be asked).
        preference.enter_context(server.preferring_compressed(node))
    no_move = explain.context_refused(where(node, local, our_host), "C-MOVE",
                                      "it offers neither C-GET nor C-MOVE for this model")
    try:
        try:
            assoc = open_association(node, local,
                                     [build_context(model, list(UNCOMPRESSED_SYNTAXES))],
                                     cancel=token)
        except NoAcceptedContextError:
            raise PeerError(node.name, no_move) from None  # PS3.8 9.3.3.2
        try:
            if not assoc.accepted_contexts:
                raise PeerError(node.name, no_move)
            destination = node.calling_aet or local.ae_title

            def responses(identifier: Dataset, msg_id: int
                          ) -> Iterator[tuple[Dataset, Dataset | None]]:
                return assoc.send_c_move(
                    identifier, destination, model, msg_id=msg_id)

            calls = server.connections if server is not None else 0
            handshakes = len(server.tls_refused) if server is not None else 0
            turned_away = len(server.refused) if server is not None else 0
            unsent = len(server.refused_contexts) if server is not None else 0
            yield from drive(node, local, assoc, responses, model, identifiers,
                              receiver, token, progress, our_host)
            failed = progress.status not in (0x0000, WARNING, CANCELLED, None)
            if failed and progress.completed == 0 and server is not None:
                # Why its handshake failed may still be on its way to us: wait for it.
                server.handshakes.wait(HANDSHAKE_SETTLE_SECONDS)
            refusals = server.refused[turned_away:] if server is not None else []
            if failed and progress.completed == 0 and refusals:
                # It did connect back, as someone our SCP does not accept: say who.
                progress.message = explain_dimse.move_callback_refused(
                    where(node, local, our_host), node.name, *refusals[-1])
                return MoveOutcome(called_back=False, shared=shared)
            never = server is None or server.connections == calls
            unsendable = server.refused_contexts[unsent:] if server is not None else []
            if unsendable and (failed or progress.failed):
                # It connected back, and had instances our SCP accepts no context for.
                progress.message = explain_dimse.move_contexts_refused(
                    where(node, local, our_host), progress.completed, unsendable)
                return MoveOutcome(called_back=True, shared=shared)
            if failed and progress.completed == 0 and never and (
                    progress.status != MOVE_DESTINATION_UNKNOWN):
                w = where(node, local, our_host)
                refused = server.tls_refused[handshakes:] if server is not None else []
                progress.message = (
                    explain_dimse.client_certificate_refused(w, refused[-1][1], local.tls_ca)
                    if refused else explain_dimse.move_never_connected(w))
                return MoveOutcome(called_back=False, shared=shared)
            if not never and _sent_nothing(progress):
                # It reached us, so the address and the firewall are not why.
                progress.message = explain_dimse.move_sent_nothing(
                    where(node, local, our_host), progress.status or 0, progress.failed,
                    progress.error_comment)
                if progress.not_imported:
                    progress.message += f"; {not_imported_text(progress.not_imported)}"
            return MoveOutcome(called_back=True, shared=shared)
        finally:
            end_association(assoc)
    finally:
        preference.close()
        if own and server is not None:
            server.stop()
            if claims is not None and claim:
                claims.release_port(local.tls_port if node.uses_tls else local.port, claim)
        elif server is None:
            receiver.close()
