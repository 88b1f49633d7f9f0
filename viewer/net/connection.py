"""Opening associations: our identity, TLS, TCP_NODELAY, and failures explained.

Every requestor association of Lightbox is opened by :func:`open_association`, which
turns any failure into a :class:`viewer.core.errors.PeerError` whose text comes from
:mod:`viewer.net.explain`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import AddressInformation, AssociationSocket

from viewer.core.errors import (
    CancelledError,
    NoAcceptedContextError,
    PeerUnreachableError,
)
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.core.settings import DICOM_TLS_PORT, NetworkSettings
from viewer.net import explain
from viewer.net.fastpath import set_nodelay
from viewer.net.nodes import NodeRecord
from viewer.net.policy import DEFAULT_POLICY
from viewer.net.tls import (
    ConnectionRecord,
    RecordingSocket,
    client_ssl_context,
    recording_ssl_socket,
    tls_reason,
)

LOGGER = logging.getLogger(__name__)


class CancelToken:
    """Cancels a running operation from any thread.

    The GUI thread calls :meth:`cancel`; the worker running the operation sees
    :attr:`cancelled` and callbacks registered by the operation (sending C-CANCEL)
    run at once in the cancelling thread.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask the operation to stop; safe to call from any thread, more than once."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a dead association must not break the canceller
                LOGGER.debug("cancel callback failed", exc_info=True)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when cancelled (now, if already); return an unregister function."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)

                def remove() -> None:
                    with self._lock:
                        if callback in self._callbacks:
                            self._callbacks.remove(callback)

                return remove
        callback()
        return lambda: None

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`CancelledError` if cancelled."""
        if self.cancelled:
            raise CancelledError("cancelled")


def where(node: NodeRecord, local: NetworkSettings, our_host: str = "") -> explain.Where:
    """The facts :mod:`viewer.net.explain` needs about this node and us."""
    host = our_host or (local.bind_address if local.bind_address not in ("", "0.0.0.0", "::")
                        else "this computer's address")
    return explain.Where(
        peer_aet=node.called_aet,
        host=node.host,
        port=node.port,
        our_aet=node.calling_aet or local.ae_title,
        our_host=host,
        # A TLS node sends its C-MOVE sub-operations to our TLS port (PS3.15 B.9).
        our_port=(local.tls_port or DICOM_TLS_PORT) if node.uses_tls else local.port,
        our_tls=node.uses_tls,
    )


class RequestorAE(AE):
    """A requestor AE whose association request can be stopped from another thread.

    pynetdicom's ``associate`` blocks while the TCP (and TLS) connection is made, up to
    the connection timeout, and then while it waits for the A-ASSOCIATE-AC or -RJ, up to
    the ACSE timeout; it offers no way to stop in between. This AE
    keeps the association being requested, so that :meth:`stop_request` can end the
    wait at once: a PACS that accepts TCP and never answers held a Stop for 30 s.
    """

    def __init__(self, ae_title: str) -> None:
        super().__init__(ae_title=ae_title)
        self._request_lock = threading.Lock()
        self._requesting: tuple[Association, AssociationSocket] | None = None
        self._request_stopped = False
        self.connection_record = ConnectionRecord()

    def _create_socket(self, assoc: Association, address: AddressInformation,
                       tls_args: tuple[ssl.SSLContext, str] | None) -> AssociationSocket:
        # Called by associate() once per request, before anything is sent or connected.
        record = self.connection_record
        if tls_args is not None:
            # SSLContext.sslsocket_class is public (Python 3.7+): the socket pynetdicom
            # wraps then keeps the error it logs and drops.
            tls_args[0].sslsocket_class = recording_ssl_socket(record)
        sock = super()._create_socket(assoc, address, tls_args)
        if tls_args is None and sock.socket is not None:
            raw = sock.socket
            recording = RecordingSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
            recording.record = record
            sock.socket = recording
        with self._request_lock:
            stopped = self._request_stopped
            if not stopped:
                self._requesting = (assoc, sock)
        if stopped:
            sock.close()
            raise CancelledError("cancelled")
        return sock

    def stop_request(self) -> None:
        """End the association request in progress now; safe from any thread.

        While connecting (TCP or the TLS handshake) the socket is shut down, which makes
        the connect fail at once. While waiting for the peer's answer, the wait is woken
        as its ACSE timeout would wake it, so pynetdicom takes its usual way out: an
        A-ABORT (PS3.8 7.3: either side may abort at any time) and the connection
        closed. The caller of ``associate`` then finds the association not established.
        """
        with self._request_lock:
            self._request_stopped = True
            requesting = self._requesting
        if requesting is None:
            return  # _create_socket sees the flag and refuses to start
        assoc, sock = requesting
        # None is what the ACSE's wait returns when its timeout expires.
        assoc.dul.to_user_queue.put(None)
        raw = sock.socket
        if not sock._is_connected and raw is not None:
            # socket.socket's own shutdown: an SSLSocket's would drop its SSL object
            # under the handshake running on the DUL thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(raw, socket.SHUT_RDWR)


def make_ae(node: NodeRecord, local: NetworkSettings) -> RequestorAE:
    """Return a requestor AE with our identity and this node's timeouts.

    Its association request can be stopped from another thread (see
    :func:`open_association`'s ``cancel``).
    """
    ae = RequestorAE(node.calling_aet or local.ae_title)
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    ae.connection_timeout = node.connect_timeout
    ae.acse_timeout = node.acse_timeout
    ae.dimse_timeout = node.dimse_timeout
    ae.network_timeout = DEFAULT_POLICY.network_timeout
    return ae


@dataclass
class _Watch:
    connected: bool = False
    started: float = field(default_factory=time.monotonic)


def open_association(
    node: NodeRecord,
    local: NetworkSettings,
    contexts: Sequence[PresentationContext],
    *,
    ext_neg: Sequence[Any] = (),
    handlers: Sequence[tuple[Any, Callable[..., Any]]] = (),
    cancel: CancelToken | None = None,
) -> Association:
    """Request an association with ``node`` proposing ``contexts``.

    Parameters
    ----------
    contexts : sequence of PresentationContext
        At most 128 (PS3.8 9.3.2.2).
    ext_neg : sequence
        Extended negotiation items (SCP/SCU Role Selection for C-GET, PS3.7 D.3.3.4).
    handlers : sequence of (event, handler)
        pynetdicom event handlers bound for the life of the association.
    cancel : CancelToken, optional
        Cancelling while the association is being set up (TCP, TLS, A-ASSOCIATE-RQ
        waiting for its AC or RJ, PS3.8 7.1) stops the request at once, with an A-ABORT
        once connected, rather than after the connection or ACSE timeout.

    Raises
    ------
    PeerUnreachableError
        The association could not be established; the text says what to check.
    NoAcceptedContextError
        The peer accepted the association but none of ``contexts`` (PS3.8 9.3.3.2); the
        caller may say which service it lacks, or try another.
    CancelledError
        ``cancel`` was cancelled before or while the association was set up (an
        association established at that moment is aborted).
    """
    if cancel is not None:
        cancel.raise_if_cancelled()
    ae = make_ae(node, local)
    watch = _Watch()

    def opened(event: Any) -> None:
        watch.connected = True
        set_nodelay(event)

    tls_args = (client_ssl_context(node), node.host) if node.uses_tls else None
    unregister = cancel.on_cancel(ae.stop_request) if cancel is not None else None
    try:
        assoc = ae.associate(
            node.host,
            node.port,
            contexts=list(contexts),
            ae_title=node.called_aet,
            max_pdu=local.max_pdu,
            ext_neg=list(ext_neg) or None,
            tls_args=tls_args,
            evt_handlers=[(evt.EVT_CONN_OPEN, opened), *handlers],
        )
    except socket.gaierror as exc:  # pynetdicom resolves the address before connecting
        raise PeerUnreachableError(node.name, explain.unreachable(
            where(node, local), exc.strerror or str(exc))) from None
    finally:
        if unregister is not None:
            unregister()
    if cancel is not None and cancel.cancelled:
        # The peer may have accepted just as the cancel came: the caller wants nothing
        # more of it, and an association left open would hold the PACS's resources.
        if assoc.is_established:
            assoc.abort()
        raise CancelledError("cancelled")
    if assoc.is_established:
        return assoc
    w = where(node, local)
    elapsed = time.monotonic() - watch.started
    if _accepted_without_contexts(assoc):
        proposed = tuple(dict.fromkeys(str(cx.abstract_syntax) for cx in contexts))
        raise NoAcceptedContextError(node.name, explain.no_context_accepted(
            w, [UID(uid).name for uid in proposed],
            [cx.result for cx in assoc.rejected_contexts]), proposed)
    rj = _rejection(assoc)
    record = ae.connection_record
    if rj is not None:
        text = explain.rejection(w, int(rj.result), int(rj.result_source), int(rj.diagnostic),
                                node=node.name)
    elif watch.connected and record.not_dicom:
        text = explain.not_dicom(w, record.not_dicom)
    elif watch.connected and record.alert is not None:
        # TLS 1.3: the PACS refused our client certificate after the handshake.
        text = explain.tls_failure(w, tls_reason(record.alert), our_cert=bool(node.tls_cert))
    elif watch.connected:
        if elapsed >= node.acse_timeout * 0.9:
            text = explain.association_timeout(w, node.acse_timeout)
        else:
            text = explain.association_dropped(w, node.uses_tls)
    elif record.error is not None:
        # The first attempt's own error: trying again took up to another connect
        # timeout (a silent TLS port: 41 s) and could not be cancelled.
        text = explain_connect_error(node, w, record.error, handshaking=record.handshaking)
    else:
        text = diagnose_connect(node, w, cancel)
    raise PeerUnreachableError(node.name, text)


def _accepted_without_contexts(assoc: Association) -> bool:
    """Whether the peer answered with an A-ASSOCIATE-AC that accepts no context.

    PS3.8 9.3.3.2 lets an acceptor refuse every proposed presentation context;
    pynetdicom then aborts the association itself ("No accepted presentation
    contexts"), which left it looking like a peer that dropped the connection. The AC
    it received is kept as the acceptor's primitive.
    """
    primitive = assoc.acceptor.primitive
    return (isinstance(primitive, A_ASSOCIATE) and primitive.result == 0x00
            and not assoc.accepted_contexts)


def abort_waiting(assoc: Association) -> None:
    """Abort ``assoc`` (PS3.8 7.3) and wake whoever waits for its next DIMSE message.

    pynetdicom's wait for the next response lasts the whole DIMSE timeout, abort or
    not: an empty message ends it now (what it returns when that timeout expires), so
    a cancelled C-GET or C-MOVE whose PACS ignores the C-CANCEL ends with the abort
    rather than up to 120 s later.
    """
    assoc.abort()
    assoc.dimse.msg_queue.put((None, None))


# Associations whose last DIMSE wait ended without a response (see note_lost).
_LOST: weakref.WeakSet[Association] = weakref.WeakSet()


def note_lost(assoc: Association) -> None:
    """Record that a DIMSE wait on ``assoc`` ended without a response.

    pynetdicom hands back a response without a Status when the DIMSE timeout expired
    (it has aborted the association itself) or when an A-ABORT or a closed connection
    reached it (PS3.8 7.3, 7.4): either way the association is over, though until
    pynetdicom's own thread has taken the abort in, it still looks established.
    """
    _LOST.add(assoc)


def end_association(assoc: Association) -> None:
    """Release ``assoc`` (PS3.8 7.2) if it is still up and was not lost (:func:`note_lost`).

    A release of a lost association waited the whole ACSE timeout (30 s) for an
    A-RELEASE-RP that could not come.
    """
    if assoc.is_established and assoc not in _LOST:
        assoc.release()


def _rejection(assoc: Association) -> Any:
    """The A-ASSOCIATE-RJ primitive the peer answered with, if it did (PS3.8 7.1.1.7).

    pynetdicom's requestor checks, once it has sent the request, that the transport is
    still connected; a peer that rejects at once and closes the connection (as dcmtk
    does) may have done both by then. pynetdicom then aborts and never reads the
    rejection its DUL has queued for it, so it is looked for there.
    """
    if assoc.is_rejected:
        return assoc.acceptor.primitive
    for primitive in list(assoc.dul.to_user_queue.queue):
        if isinstance(primitive, A_ASSOCIATE) and primitive.result in (0x01, 0x02):
            return primitive
    return None


def explain_connect_error(node: NodeRecord, w: explain.Where, exc: OSError, *,
                          handshaking: bool) -> str:
    """Explain why the TCP connect or the TLS handshake (PS3.15 B.9) with ``node`` failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return explain.certificate_refused(
            w, exc.verify_message or tls_reason(exc), node.tls_ca,
            hostname_checked=node.tls_check_hostname)
    if isinstance(exc, ssl.SSLError):
        return explain.tls_failure(w, tls_reason(exc), our_cert=bool(node.tls_cert))
    if isinstance(exc, TimeoutError):
        if handshaking:
            return explain.tls_handshake_timeout(w, node.connect_timeout)
        return explain.connect_timeout(w, node.connect_timeout)
    if isinstance(exc, ConnectionRefusedError):
        return explain.connection_refused(w)
    if handshaking and isinstance(exc, ConnectionError):
        # A plain DICOM peer reads our ClientHello as a PDU of an unknown type and drops.
        return explain.tls_failure(w, "CONNECTION_RESET", our_cert=bool(node.tls_cert))
    return explain.unreachable(w, exc.strerror or str(exc))


def diagnose_connect(node: NodeRecord, w: explain.Where, cancel: CancelToken | None = None
                     ) -> str:
    """Find out why the TCP (or TLS) connection failed, by trying it once more directly.

    Only when the first attempt left no error behind. Bounded by the node's connect
    timeout, handshake included, and ended at once by ``cancel``.

    Raises
    ------
    CancelledError
        ``cancel`` was cancelled before or during the attempt.
    """
    if cancel is not None:
        cancel.raise_if_cancelled()
    handshaking = False
    deadline = time.monotonic() + node.connect_timeout
    try:
        infos = socket.getaddrinfo(node.host, node.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return explain.unreachable(w, exc.strerror or str(exc))
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    current: list[socket.socket] = [sock]  # wrapping for TLS detaches the first one

    def stop() -> None:
        # socket.socket's shutdown: an SSLSocket's would drop its SSL object under the
        # handshake running in the other thread.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(current[-1], socket.SHUT_RDWR)

    unregister = cancel.on_cancel(stop) if cancel is not None else None
    try:
        with sock:
            sock.settimeout(node.connect_timeout)
            sock.connect(address)
            if not node.uses_tls:
                return explain.association_dropped(w, False)
            handshaking = True
            sock.settimeout(max(deadline - time.monotonic(), 0.1))
            with client_ssl_context(node).wrap_socket(
                    sock, server_hostname=node.host, do_handshake_on_connect=False) as tls:
                current.append(tls)
                if cancel is not None:
                    cancel.raise_if_cancelled()
                tls.do_handshake()
    except OSError as exc:
        if cancel is not None:
            cancel.raise_if_cancelled()
        return explain_connect_error(node, w, exc, handshaking=handshaking)
    finally:
        if unregister is not None:
            unregister()
    return explain.association_dropped(w, True)
