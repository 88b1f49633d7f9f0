"""Opening associations: our identity, TLS, TCP_NODELAY, and failures explained.

Every requestor association of Lightbox is opened by :func:`open_association`, which
turns any failure into a :class:`viewer.core.errors.PeerError` whose text comes from
:mod:`viewer.net.explain`.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import AssociationSocket

from viewer.core.errors import CancelledError, PeerError
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.core.settings import NetworkSettings
from viewer.net import explain
from viewer.net.nodes import NodeRecord
from viewer.net.policy import DEFAULT_POLICY, TLS_PROFILE

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


# Longest a DUL thread waits for traffic before it checks its timers again (seconds).
_IDLE_WAIT = 0.005


class _BulkReceiveSocket(AssociationSocket):
    """pynetdicom's association socket, tuned for bulk transfers.

    - ``recv`` reads a PDU with few large ``recv_into`` calls; the stock one collects it
      4 KiB at a time into a growing bytearray, most of the CPU time of a C-GET.
    - ``ready`` waits (up to ``_IDLE_WAIT``) for incoming data or for something to send,
      instead of answering at once and letting the DUL thread sleep a fixed millisecond:
      that sleep, twice per instance, capped a C-GET at about a hundred MB/s.
    """

    def recv(self, nr_bytes: int) -> bytearray:
        sock = cast(socket.socket, self.socket)
        buf = bytearray(nr_bytes)
        view = memoryview(buf)
        done = 0
        while done < nr_bytes:
            got = sock.recv_into(view[done:], nr_bytes - done)
            if not got:  # the peer closed: return what arrived, as the stock recv does
                del view
                return buf[:done]
            done += got
        return buf

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or self._is_connected is False:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        dul = self.assoc.dul
        wake = getattr(dul, "lightbox_wake", None)
        busy = not dul.to_provider_queue.empty() or not dul.event_queue.empty()
        watched: list[socket.socket] = [sock] if wake is None else [sock, wake[0]]
        try:
            readable, _, _ = select.select(watched, [], [], 0.0 if busy else _IDLE_WAIT)
        except (OSError, TimeoutError, ValueError):
            self.event_queue.put("Evt17")  # Evt17: transport connection closed
            return False
        if wake is not None and wake[0] in readable:
            with contextlib.suppress(OSError):
                wake[0].recv(4096)
        return sock in readable


class _WakeableDUL(DULServiceProvider):
    """The DUL provider, woken from its wait when the user side queues a PDU to send."""

    lightbox_wake: tuple[socket.socket, socket.socket]

    def send_pdu(self, primitive: Any) -> None:
        super().send_pdu(primitive)
        with contextlib.suppress(OSError):
            self.lightbox_wake[1].send(b"\x00")


def _implicit(element: int, value: bytes, pad: bytes = b"\x00") -> bytes:
    """One implicit VR little endian element of group 0000 (PS3.7 6.3.1: command sets)."""
    if len(value) % 2:
        value += pad
    return struct.pack("<HHL", 0x0000, element, len(value)) + value


def encode_c_store_rsp(message_id: int, sop_class: str, sop_instance: str, status: int
                       ) -> bytes:
    """The C-STORE-RSP command set (PS3.7 9.3.1.2), encoded directly."""
    body = b"".join((
        _implicit(0x0002, sop_class.encode("ascii")),  # Affected SOP Class UID
        _implicit(0x0100, struct.pack("<H", 0x8001)),  # Command Field: C-STORE-RSP
        _implicit(0x0120, struct.pack("<H", message_id)),  # Message ID Being Responded To
        _implicit(0x0800, struct.pack("<H", 0x0101)),  # Command Data Set Type: none
        _implicit(0x0900, struct.pack("<H", status)),  # Status
        _implicit(0x1000, sop_instance.encode("ascii")),  # Affected SOP Instance UID
    ))
    return _implicit(0x0000, struct.pack("<L", len(body))) + body  # Command Group Length


class _QuickStoreResponseDIMSE(DIMSEServiceProvider):
    """The DIMSE provider, sending plain C-STORE responses without building a dataset.

    pynetdicom turns every response primitive into a pydicom dataset and encodes it; for
    the one small, fixed C-STORE-RSP sent per received instance that is most of the
    association thread's work. Responses with error details take the general path.
    """

    def send_msg(self, primitive: Any, context_id: int) -> None:
        if (
            type(primitive) is C_STORE
            and primitive.MessageIDBeingRespondedTo is not None
            and isinstance(primitive.Status, int)
            and primitive.ErrorComment is None
            and primitive.OffendingElement is None
            and primitive.AffectedSOPClassUID
            and primitive.AffectedSOPInstanceUID
        ):
            pdata = P_DATA()
            command = encode_c_store_rsp(
                int(primitive.MessageIDBeingRespondedTo), str(primitive.AffectedSOPClassUID),
                str(primitive.AffectedSOPInstanceUID), int(primitive.Status))
            # PS3.8 E.2: message control header 0x03 = command, last fragment.
            pdata.presentation_data_value_list.append((context_id, b"\x03" + command))
            self.dul.send_pdu(pdata)
            return
        super().send_msg(primitive, context_id)


def set_nodelay(event: Any) -> None:
    """EVT_CONN_OPEN handler: TCP_NODELAY, bulk reads and an event-driven DUL loop.

    DIMSE is request/response with many small PDUs; with Nagle's algorithm a loopback
    C-GET runs at a few MB/s instead of hundreds.
    """
    try:
        dul = event.assoc.dul
        wrapper = dul.socket
        if type(dul) is DULServiceProvider and type(wrapper) is AssociationSocket:
            pair = socket.socketpair()
            for end in pair:
                end.setblocking(False)
            dul.lightbox_wake = pair  # type: ignore[attr-defined]
            dul.__class__ = _WakeableDUL
            dul._run_loop_delay = 0
            wrapper.__class__ = _BulkReceiveSocket
        if type(event.assoc.dimse) is DIMSEServiceProvider:
            event.assoc.dimse.__class__ = _QuickStoreResponseDIMSE
        sock = wrapper.socket
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):
        LOGGER.debug("could not tune the association socket", exc_info=True)


def client_ssl_context(node: NodeRecord) -> ssl.SSLContext:
    """Return the TLS context for associations to ``node`` (PS3.15 B.9, BCP 195).

    The peer's certificate is verified against ``node.tls_ca``; our certificate is
    presented when the node has one.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS_PROFILE.ciphers)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = node.tls_check_hostname
    try:
        ctx.load_verify_locations(cafile=node.tls_ca)
        if node.tls_cert:
            ctx.load_cert_chain(node.tls_cert, node.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise PeerError(node.name, f"cannot load the TLS files of this node: {exc}") from None
    return ctx


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
        our_port=local.port,
    )


def make_ae(node: NodeRecord, local: NetworkSettings) -> AE:
    """Return a requestor AE with our identity and this node's timeouts."""
    ae = AE(ae_title=node.calling_aet or local.ae_title)
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

    Raises
    ------
    PeerError
        The association could not be established; the text says what to check.
    """
    if cancel is not None:
        cancel.raise_if_cancelled()
    ae = make_ae(node, local)
    watch = _Watch()

    def opened(event: Any) -> None:
        watch.connected = True
        set_nodelay(event)

    tls_args = (client_ssl_context(node), node.host) if node.uses_tls else None
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
    if assoc.is_established:
        return assoc
    w = where(node, local)
    elapsed = time.monotonic() - watch.started
    if assoc.is_rejected:
        rj: Any = assoc.acceptor.primitive
        text = explain.rejection(w, int(rj.result), int(rj.result_source), int(rj.diagnostic))
    elif watch.connected:
        if elapsed >= node.acse_timeout * 0.9:
            text = explain.association_timeout(w, node.acse_timeout)
        else:
            text = explain.association_dropped(w, node.uses_tls)
    else:
        text = diagnose_connect(node, w)
    raise PeerError(node.name, text)


def diagnose_connect(node: NodeRecord, w: explain.Where) -> str:
    """Find out why the TCP (or TLS) connection failed, by trying it once more directly."""
    try:
        sock = socket.create_connection((node.host, node.port), timeout=node.connect_timeout)
    except ConnectionRefusedError:
        return explain.connection_refused(w)
    except TimeoutError:
        return explain.connect_timeout(w, node.connect_timeout)
    except OSError as exc:
        return explain.unreachable(w, exc.strerror or str(exc))
    with sock:
        if not node.uses_tls:
            return explain.association_dropped(w, False)
        try:
            ctx = client_ssl_context(node)
            sock.settimeout(node.acse_timeout)
            with ctx.wrap_socket(sock, server_hostname=node.host):
                pass
        except ssl.SSLCertVerificationError as exc:
            return explain.certificate_refused(w, exc.verify_message or str(exc), node.tls_ca)
        except (ssl.SSLError, OSError) as exc:
            return explain.tls_failed(w, str(exc))
    return explain.association_dropped(w, True)
