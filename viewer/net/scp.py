"""Lightbox's storage SCP: where C-MOVE sub-operations arrive (PS3.4 B.2, SCP role).

It accepts associations only from configured nodes (calling AE title *and* host),
answers C-ECHO, and writes every instance through a :class:`Receiver` to the sink,
i.e. the store's import path. It listens on the plain port, on the DICOM TLS port
(PS3.15 B.9: the peer's client certificate must be signed by our CA), or both. It runs
while a C-MOVE needs it, or for as long as the user asks (``lightbox listen``, or the
application with ``always-listen``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, cast

from pydicom.uid import UID
from pynetdicom import AE, AllStoragePresentationContexts, evt, sop_class
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from viewer.core.errors import PeerError
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.core.settings import NetworkSettings
from viewer.net.accept_loop import (
    REQUEST_REJECTED,
    AcceptLoop,
    ArtimExpiredError,
    PendingConnections,
    StalledRequestError,
    context_id_problem,
    receive_association_request,
)
from viewer.net.fastpath import CONTROL_PDU_LIMIT, set_nodelay
from viewer.net.nodes import NodeRecord
from viewer.net.pdu_input import PduInput
from viewer.net.policy import (
    DEFAULT_POLICY,
    STORAGE_SYNTAXES_UNCOMPRESSED_FIRST,
    STORAGE_TRANSFER_SYNTAXES,
    UNCOMPRESSED_SYNTAXES,
    VERIFICATION,
    AssociationPolicy,
)
from viewer.net.receiver import Receiver
from viewer.net.sinks import Sink

LOGGER = logging.getLogger(__name__)

# PS3.4 B.5: every storage SOP class pynetdicom knows, accepted in the SCP role.
SCP_STORAGE_CLASSES = tuple(str(cx.abstract_syntax) for cx in AllStoragePresentationContexts)


def _storage_like(uid: str) -> bool:
    """Whether an abstract syntax not in :data:`SCP_STORAGE_CLASSES` is taken as storage:
    a private UID, or one pynetdicom knows as no other service (PS3.4 B.5)."""
    name = UID(uid)
    return name.is_private or not name.keyword or not hasattr(sop_class, name.keyword)


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        LOGGER.warning("cannot resolve node host %s; it cannot send to us", host)
        return set()


def plain_address(address: str) -> str:
    """``address`` as a node's host resolves to: an IPv4-mapped IPv6 address as IPv4.

    A socket bound to ``::`` (all addresses) also takes IPv4 connections, and reports
    their peer as ``::ffff:a.b.c.d`` (RFC 4291 2.5.5.2, RFC 3493 3.7); a node
    configured as ``a.b.c.d`` is that same peer.
    """
    try:
        mapped = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        return str(mapped.ipv4_mapped)
    return address


#: How long :meth:`StorageSCP.stop` lets an association's A-ABORT leave before it closes
#: the connection (a DUL thread blocked reading the rest of a PDU sends it only then).
ABORT_SEND_SECONDS = 1.0


def _abort_associations(associations: list[Association]) -> None:
    """Abort ``associations`` (PS3.8 7.3.1) and wait until their threads have ended.

    An A-ABORT is queued for each; once it has left (or after
    :data:`ABORT_SEND_SECONDS`) the connection is closed, so that neither a PACS that
    never closes its end (PS3.8 9.2, Sta13 waits for it up to the ARTIM timeout) nor a
    data set stalled mid-PDU holds the association's thread, which is not a daemon:
    the process would not end while it ran.
    """
    for assoc in associations:
        # Info only: a PACS that keeps an idle association open a while after a
        # successful C-MOVE (Orthanc's DicomAssociationCloseDelay) loses nothing.
        LOGGER.info("storage SCP stopping: aborting the association from AE %s at %s, "
                    "still open", str(assoc.requestor.ae_title).strip(),
                    plain_address(str(assoc.requestor.address)))
        with contextlib.suppress(Exception):  # it may have ended meanwhile
            assoc.abort(block=False)
    deadline = time.monotonic() + ABORT_SEND_SECONDS
    for assoc in associations:
        dul = assoc.dul
        while (dul.is_alive() and dul.state_machine.current_state not in ("Sta1", "Sta13")
               and time.monotonic() < deadline):
            time.sleep(0.01)
        raw = getattr(dul.socket, "socket", None)
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)  # the DUL sees the close (Evt17): Sta1
    for assoc in associations:
        dul, end = assoc.dul, time.monotonic() + ABORT_SEND_SECONDS
        while (dul.is_alive() and dul.state_machine.current_state != "Sta1"
               and time.monotonic() < end):
            time.sleep(0.01)
        if dul.is_alive() and dul.state_machine.current_state != "Sta1":
            # pynetdicom's kill() would wait for Sta1 without end.
            LOGGER.warning("an aborted association from %s did not end",
                           plain_address(str(assoc.requestor.address)))
            continue
        assoc.kill()
        if assoc is not threading.current_thread():  # stopped from one of its handlers
            assoc.join(timeout=ABORT_SEND_SECONDS)


class RefusedContext(NamedTuple):
    """A presentation context our storage SCP refused (PS3.8 9.3.3.2): instances of that
    SOP class in those transfer syntaxes cannot come, unless the sender converts them.

    Attributes
    ----------
    calling : str
        The requestor's calling AE title.
    sop_class : str
        The abstract syntax proposed.
    transfer_syntaxes : tuple of str
        The transfer syntaxes proposed for it.
    result : int
        PS3.8 9.3.3.2: 3, abstract syntax not supported; 4, transfer syntaxes not
        supported.
    """

    calling: str
    sop_class: str
    transfer_syntaxes: tuple[str, ...]
    result: int


class Refusal(NamedTuple):
    """An association our storage SCP turned away, for the log and a C-MOVE's explanation.

    Attributes
    ----------
    calling, address : str
        The requestor's calling AE title and IP address.
    called : str
        The AE title it asked for (PS3.8 7.1.1.4).
    reason : str
        ``"node"`` (no configured node sends with that AE title from that address) or
        ``"called"`` (the called AE title is not ours).
    """

    calling: str
    address: str
    called: str
    reason: str


# How often an idle incoming association looks for a release or an abort (seconds): a
# millisecond woke it a thousand times a second, each wake taking the GIL from the
# network thread.
_CHECK_EVERY = 0.01

@functools.lru_cache(maxsize=4)
def _scp_contexts(syntaxes: tuple[str, ...]) -> tuple[PresentationContext, ...]:
    """Verification and every storage SOP class in the SCP role (PS3.4 A.4, B.5).

    Built once per process: building the 170-odd contexts, with pynetdicom checking
    every UID, took 50 ms at each start of a C-MOVE's SCP. pynetdicom copies them for
    each association it accepts, so sharing them is safe.
    """
    contexts = [build_context(VERIFICATION, list(UNCOMPRESSED_SYNTAXES))]
    contexts += [build_context(uid, list(syntaxes)) for uid in SCP_STORAGE_CLASSES]
    return tuple(contexts)


class _SharedContexts(list[PresentationContext]):
    """The server's supported contexts, which every accepted association shares.

    pynetdicom deep-copies a server's contexts for each association it accepts: for our
    170-odd contexts that copy was 15-30 ms of every C-MOVE's call-back, more than the
    negotiation itself. Negotiation (PS3.8 9.3.2.2; pynetdicom's
    ``negotiate_as_acceptor``) only reads the acceptor's contexts and builds new ones
    for its result, so each association gets a new list of the same contexts.
    """

    def __deepcopy__(self, memo: dict[int, object]) -> list[PresentationContext]:
        return list(self)


class _QuickAcceptorAssociation(Association):
    """An acceptor association whose reactor waits for the next message on its queue.

    pynetdicom's acceptor loop sleeps a fixed millisecond before each look at the
    message queue, so a C-MOVE that the PACS sends one instance at a time (waiting for
    each C-STORE response) pays that millisecond per instance. This loop blocks on the
    queue instead (a message wakes it at once) and every :data:`_CHECK_EVERY` seconds
    makes the same checks: release requested, aborted, DUL gone, network timeout (PS3.8
    9.1 state machine). Data sets written by the DUL thread's short path never reach the
    queue, so the loop mostly waits.
    """

    def _run_reactor(self) -> None:
        self._is_paused = False
        while not self._kill:
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False
            try:
                context_id, msg = self.dimse.msg_queue.get(timeout=_CHECK_EVERY)
            except queue.Empty:
                context_id, msg = None, None
            if msg:
                self._serve_request(msg, cast(int, context_id))
            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return
            if self.acse.is_aborted():
                self.dul.receive_pdu(wait=False)  # lets EVT_ACSE_RECV subscribers see it
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return
            if not self.dul.is_alive():
                self.kill()
                return
            if self.dul.idle_timer_expired():
                LOGGER.error("network timeout on an incoming association; aborting it")
                self.abort()
                self.kill()
                return


class _RequestHandler(RequestHandler):
    """pynetdicom's connection handler, for a connection whose A-ASSOCIATE-RQ was read.

    The association's reader (:class:`viewer.net.pdu_input.PduInput`, installed by
    :func:`viewer.net.fastpath.set_nodelay` on EVT_CONN_OPEN) gets the bytes first, and
    reads them as if from the socket: the state machine sees the request arrive as it
    would have (PS3.8 9.2, Sta2 + Evt6).
    """

    def handle(self) -> None:
        server = cast(_TlsAssociationServer, self.server)
        received = server.received.pop(self.request, b"")
        assoc = self._create_association()
        evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
        pdu_input: PduInput | None = getattr(assoc.dul, "lightbox_input", None)
        if received and pdu_input is None:
            # The request cannot be put back into pynetdicom's own reads.
            LOGGER.error("connection from %s closed: its association socket could not be "
                         "set up", self.client_address[0])
            server.shutdown_request(self.request)
            return
        if received and pdu_input is not None:
            pdu_input.feed(received)
        assoc.start()


class HandshakesUnderway:
    """TLS connections accepted whose handshake has no outcome yet.

    A PACS whose certificate our SCP refuses reports its C-MOVE sub-operations failed as
    soon as the handshake fails, which can be before our connection's thread has noted
    why: the retrieve waits for these to settle before it explains the failure.
    """

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def begin(self) -> None:
        """A TLS connection was accepted."""
        with self._changed:
            self._count += 1

    def end(self) -> None:
        """A handshake's outcome was told (refusal or acceptance)."""
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wait(self, seconds: float) -> bool:
        """Wait until no handshake is underway, at most ``seconds``; whether none is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, seconds)


class _TlsAssociationServer(ThreadedAssociationServer):
    """An association server that holds a connection only until its ARTIM deadline
    before the association, and does the TLS handshake on the connection's own thread.

    pynetdicom wraps the accepted socket in the accepting thread, so one peer that
    connects and never finishes its handshake holds up every other connection and the
    server's shutdown. Here the accept loop only wraps the socket; the handshake runs
    on the connection's thread, and a peer whose certificate our CA did not sign (or
    that has none) is refused there (PS3.15 B.9).

    From the connection's acceptance, the handshake and the whole A-ASSOCIATE-RQ must
    arrive within the ARTIM timeout (PS3.8 9.1.5; :func:`receive_association_request`),
    read on that thread before pynetdicom creates the association: a connection that
    has sent no request is no association, so it does not count against the association
    limit that configured nodes need, and at most ``max_pending_connections`` of them are
    held at once (:class:`PendingConnections`). Once the request has arrived, nothing of
    this is on the path of the association's PDUs.
    """

    on_refused: Any = None  # callable(address, reason), set by StorageSCP
    on_accepted: Any = None  # callable(), set by StorageSCP: a connection past its handshake
    handshakes: HandshakesUnderway  # set by StorageSCP
    policy: AssociationPolicy = DEFAULT_POLICY  # set by StorageSCP
    pending: PendingConnections
    received: dict[Any, bytes]  # socket -> its A-ASSOCIATE-RQ, for _RequestHandler

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, address = cast(socket.socket, self.socket).accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        # On the accept loop's thread: nothing here may wait for the peer.
        if not self.pending.enter(str(client_address[0])):
            self.shutdown_request(request)
            return
        tls = isinstance(request, ssl.SSLSocket)
        if tls:
            self.handshakes.begin()
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self.pending.leave()
            if tls:
                self.handshakes.end()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            received = self._association_request(request, client_address)
        finally:
            self.pending.leave()
        if received is None:
            self.shutdown_request(request)
            return
        self.received[request] = received
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.received.pop(request, None)

    def _handshake(self, request: ssl.SSLSocket, address: str, deadline: float) -> bool:
        """The TLS handshake (PS3.15 B.9); False, the refusal told, when it fails."""
        try:
            # CPython applies a socket timeout to the whole handshake (one deadline over
            # its reads and writes), not to each read: a handshake sent a byte at a time
            # ends with the rest of the ARTIM time, too.
            request.settimeout(max(deadline - time.monotonic(), 0.001))
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "verify_message", None) or getattr(
                exc, "reason", None) or str(exc)
            if self.on_refused is not None:
                self.on_refused(address, f"TLS handshake: {reason}")
            return False
        return True

    def _association_request(self, request: Any, client_address: Any) -> bytes | None:
        """The TLS handshake, then the bytes of the A-ASSOCIATE-RQ, by the ARTIM deadline;
        None (the reason logged in one line) when the connection is to be closed."""
        address = str(client_address[0])
        peer = f"{client_address[0]}:{client_address[1]}"
        artim = self.policy.artim_timeout
        deadline = time.monotonic() + artim
        tls = isinstance(request, ssl.SSLSocket)
        try:
            if tls and not self._handshake(request, address, deadline):
                return None
            if self.on_accepted is not None:  # counted past the handshake, as always
                self.on_accepted()
        finally:
            if tls:  # its outcome is known (refusal or acceptance) before this
                self.handshakes.end()
        try:
            received = receive_association_request(
                request, deadline, self.policy.network_timeout, CONTROL_PDU_LIMIT)
        except ArtimExpiredError:
            LOGGER.warning("closed the connection from %s: no whole A-ASSOCIATE-RQ within the "
                           "ARTIM timeout of %g s (PS3.8 9.1.5)", peer, artim)
            return None
        except StalledRequestError:
            LOGGER.warning("closed the connection from %s: no data for %g s in the middle "
                           "of its A-ASSOCIATE-RQ", peer, self.policy.network_timeout)
            return None
        except OSError as exc:
            LOGGER.warning("connection from %s lost before its A-ASSOCIATE-RQ (%s)", peer,
                           exc.strerror or exc)
            return None
        if not received:
            LOGGER.debug("connection from %s closed before any PDU", peer)
            return None
        problem = context_id_problem(received)
        if problem is not None:
            # PS3.8 9.2 AE-6: a request the service-provider cannot accept is answered
            # with an A-ASSOCIATE-RJ (an A-ABORT is for a PDU that does not decode,
            # Evt19; this one does, but its contexts cannot be answered one to one, PS3.8
            # 9.3.3.2). Rejected-permanent: the same request would fail again.
            LOGGER.warning("rejected the association request from %s: %s (PS3.8 9.3.2.2)",
                           peer, problem)
            with contextlib.suppress(OSError):
                request.sendall(REQUEST_REJECTED)
            return None
        return received

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOGGER.warning("incoming association from %s failed", client_address, exc_info=True)


class ListenError(PeerError):
    """The storage SCP cannot listen on its address and port; the message says why.

    Parameters
    ----------
    local : NetworkSettings
        Our AE title and bind address.
    port : int
        The port it tried.
    tls : bool
        Whether that is the DICOM TLS port.
    error : OSError
        What ``bind`` (or the address lookup) raised.

    Attributes
    ----------
    port, tls, errno
        As given; ``errno`` is the error's number (None if it has none), so that a
        caller that knows more (:class:`viewer.net.listener.HomeListener`: another
        Lightbox process of the home holds the port) can say it.
    """

    def __init__(self, local: NetworkSettings, port: int, tls: bool, error: OSError) -> None:
        self.port, self.tls, self.errno = port, tls, error.errno
        what = f"cannot listen for C-MOVE{' with DICOM TLS' if tls else ''}"
        address = local.bind_address
        if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
            advice = (f"bind-address {address} is not an address of this computer: lightbox "
                      "config set bind-address ADDRESS (one of this computer's addresses, or "
                      "0.0.0.0 for all of them)")
        else:
            setting = "tls-port" if tls else "port"
            advice = (f"choose another port with lightbox config set {setting} N, and "
                      "register it on the PACS")
        super().__init__(f"{local.ae_title}@{address}:{port}",
                         f"{what} ({error.strerror or error}): {advice}")


class StorageSCP:
    """A storage SCP for the nodes in ``allowed``, on a plain port, a TLS port, or both.

    Parameters
    ----------
    local : NetworkSettings
        Our AE title, ports, bind address and maximum PDU.
    allowed : iterable of NodeRecord
        Who may open associations: the node's AE title from the node's host
        (:meth:`update_allowed` changes it while running).
    incoming : Path
        Where received files are written before the sink takes them.
    sink : callable
        Receives each :class:`viewer.net.receiver.ReceivedInstance` on a worker thread.
    port : int, optional
        The plain port; overrides ``local.port`` (0 picks a free port).
    ssl_context : ssl.SSLContext, optional
        Also serve DICOM over TLS (PS3.15 B.9) on ``tls_port``
        (:func:`viewer.net.connection.server_ssl_context` builds it from ``local``).
    tls_port : int, optional
        The TLS port; overrides ``local.tls_port`` (0 picks a free port).
    plain : bool
        Serve the plain port; False with an ``ssl_context`` listens with TLS only (the
        storage SCP of a C-MOVE from a TLS node).
    prefer_uncompressed : bool
        When a context proposes several syntaxes, pick an uncompressed one first
        (:data:`viewer.net.policy.STORAGE_SYNTAXES_UNCOMPRESSED_FIRST`).
    """

    def __init__(
        self,
        local: NetworkSettings,
        allowed: Iterable[NodeRecord],
        incoming: Path,
        sink: Sink,
        *,
        port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tls_port: int | None = None,
        plain: bool = True,
        prefer_uncompressed: bool = False,
    ) -> None:
        if not plain and ssl_context is None:
            raise ValueError("a storage SCP needs a plain port or a TLS context")
        self.local = local
        self.allowed = list(allowed)
        self.receiver = Receiver(incoming, sink)
        self.receiver.authorize = self._authorized
        self._port = local.port if port is None else port
        self._tls_port = local.tls_port if tls_port is None else tls_port
        self._plain = plain
        self._ssl = ssl_context
        self._syntaxes = (STORAGE_SYNTAXES_UNCOMPRESSED_FIRST if prefer_uncompressed
                          else STORAGE_TRANSFER_SYNTAXES)
        self._servers: dict[bool, ThreadedAssociationServer] = {}  # keyed by "is TLS"
        self._loops: list[AcceptLoop] = []
        self._ae: AE | None = None
        self._pairs: frozenset[tuple[str, str]] = frozenset()
        self.refused: list[Refusal] = []  # associations turned away, oldest first
        self.refused_contexts: list[RefusedContext] = []  # contexts refused, each once
        self.tls_refused: list[tuple[str, str]] = []  # (address, reason) failed handshakes
        # Connections accepted (past their TLS handshake), to tell "never called back".
        self.connections = 0
        self.handshakes = HandshakesUnderway()

    @property
    def port(self) -> int | None:
        """The plain port (the real one once started); None when serving TLS only."""
        if not self._plain:
            return None
        server = self._servers.get(False)
        return int(server.server_address[1]) if server is not None else self._port

    @property
    def tls_port(self) -> int | None:
        """The TLS port (the real one once started); None without TLS."""
        if self._ssl is None:
            return None
        server = self._servers.get(True)
        return int(server.server_address[1]) if server is not None else self._tls_port

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return bool(self._servers)

    def serves(self, node: NodeRecord) -> bool:
        """True if ``node`` can send here the way it must: over TLS if it uses TLS."""
        return self._ssl is not None if node.uses_tls else self._plain

    def update_allowed(self, allowed: Iterable[NodeRecord]) -> None:
        """Change who may connect, for the associations that start from now on."""
        self.allowed = list(allowed)
        if self._ae is not None:
            self._ae.require_calling_aet = self._calling_titles()
            self._pairs = self._address_pairs()

    def _calling_titles(self) -> list[str]:
        return sorted({t for n in self.allowed for t in n.sending_titles}) or ["\x00none"]

    def _address_pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset((title, addr) for n in self.allowed
                         for addr in _addresses(n.host) for title in n.sending_titles)

    @property
    def our_titles(self) -> frozenset[str]:
        """The called AE titles we answer to: ours, and the one a node knows us by."""
        return frozenset({self.local.ae_title.strip()}
                         | {n.calling_aet.strip() for n in self.allowed if n.calling_aet})

    def start(self) -> StorageSCP:
        """Start listening in background threads; raise PeerError if a port is taken."""
        if self._servers:
            return self
        self.receiver.reopen()
        self._pairs = self._address_pairs()
        ae = AE(ae_title=self.local.ae_title)
        ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        ae.maximum_pdu_size = self.local.max_pdu
        ae.maximum_associations = DEFAULT_POLICY.max_associations
        ae.acse_timeout = DEFAULT_POLICY.acse_timeout
        ae.dimse_timeout = DEFAULT_POLICY.dimse_timeout
        ae.network_timeout = DEFAULT_POLICY.network_timeout
        # PS3.8 9.3.4: a calling AE title we do not know is rejected (reason 3).
        ae.require_calling_aet = self._calling_titles()
        self._ae = ae
        endpoints: list[tuple[bool, int, ssl.SSLContext | None]] = []
        if self._plain:
            endpoints.append((False, self._port, None))
        if self._ssl is not None:
            endpoints.append((True, self._tls_port, self._ssl))
        try:
            for tls, port, context in endpoints:
                self._servers[tls] = self._listen(ae, port, context)
        except PeerError:
            self.stop()
            raise
        self._loops = [AcceptLoop(server) for server in self._servers.values()]
        LOGGER.info("storage SCP %s listening on port %s, TLS port %s", self.local.ae_title,
                    self.port, self.tls_port)
        return self

    def _listen(self, ae: AE, port: int, context: ssl.SSLContext | None
                ) -> ThreadedAssociationServer:
        handlers = [
            (evt.EVT_CONN_OPEN, self._on_connection),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted_contexts),
            (evt.EVT_C_STORE, self.receiver.handle_store),
        ]
        try:
            server = ae.make_server(
                (self.local.bind_address, port),
                contexts=_SharedContexts(_scp_contexts(self._syntaxes)),
                ssl_context=context,
                evt_handlers=handlers,  # type: ignore[arg-type]
                server_class=_TlsAssociationServer,
                request_handler=_RequestHandler,
            )
        except OSError as exc:
            raise ListenError(self.local, port, context is not None, exc) from None
        guarded = cast(_TlsAssociationServer, server)
        guarded.on_refused = self._on_tls_refused
        guarded.on_accepted = self._on_accepted
        guarded.handshakes = self.handshakes
        guarded.policy = DEFAULT_POLICY  # read now: tests give a policy of short timeouts
        guarded.pending = PendingConnections(DEFAULT_POLICY.max_pending_connections)
        guarded.received = {}
        return server

    def _on_tls_refused(self, address: str, reason: str) -> None:
        address = plain_address(address)
        self.tls_refused.append((address, reason))
        LOGGER.warning("refused a DICOM TLS connection from %s: %s", address, reason)

    def _on_accepted(self) -> None:
        self.connections += 1

    def _on_connection(self, event: Any) -> None:
        set_nodelay(event)
        if type(event.assoc) is Association and event.assoc.is_acceptor:
            event.assoc.__class__ = _QuickAcceptorAssociation

    def _on_requested(self, event: Any) -> None:
        """Reject an association from an unknown node or to another AE title.

        A node is known by its AE title *and* its host; the called AE title must be ours
        (the Move Destination we named, PS3.7 9.1.4), or the association is meant
        for another application.
        """
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling = str(primitive.calling_ae_title).strip()
        called = str(primitive.called_ae_title).strip()
        address = plain_address(str(assoc.requestor.address))
        if (calling, address) not in self._pairs:
            self.refused.append(Refusal(calling, address, called, "node"))
            LOGGER.warning("refused association from AE %s at %s: not a configured node",
                           calling, address)
            # PS3.8 9.3.4: rejected-permanent, service-user, calling AE title not recognised.
            self._reject(assoc, 0x03)
        elif called not in self.our_titles:
            self.refused.append(Refusal(calling, address, called, "called"))
            LOGGER.warning("refused association from AE %s at %s: it called AE %s, this is "
                           "AE %s", calling, address, called, self.local.ae_title)
            # PS3.8 9.3.4: rejected-permanent, service-user, called AE title not recognised.
            self._reject(assoc, 0x07)
        else:
            self._support_unlisted_storage(assoc, primitive)

    def _on_accepted_contexts(self, event: Any) -> None:
        """Note the contexts we refused (PS3.8 9.3.3.2): a sender that cannot convert
        those instances fails to send them, and the C-MOVE it serves says why."""
        assoc = event.assoc
        if not assoc.is_acceptor:
            return
        calling = str(assoc.requestor.ae_title).strip()
        for cx in assoc.rejected_contexts:
            refused = RefusedContext(calling, str(cx.abstract_syntax),
                                     tuple(str(t) for t in cx.transfer_syntax),
                                     int(cx.result or 0))
            if refused in self.refused_contexts:
                continue
            self.refused_contexts.append(refused)
            LOGGER.info("AE %s proposed %s in %s, which this storage SCP does not accept",
                        calling, UID(refused.sop_class).name,
                        ", ".join(UID(t).name for t in refused.transfer_syntaxes)
                        or "no transfer syntax")

    def _support_unlisted_storage(self, assoc: Any, primitive: Any) -> None:
        """Accept, from a configured node, storage SOP classes pynetdicom does not list.

        A Siemens MR study holds CSA Non-Image objects (private class 1.3.12.2.1107.5.9.1),
        and a class newer than pynetdicom's list may come from any modality. With their
        contexts refused, a PACS fails the whole C-MOVE, the standard images with them.
        Any abstract syntax that is private, or that pynetdicom does not know as another
        service, is taken as storage (PS3.4 B.5; as pynetdicom's unrestricted storage
        service and dcmtk's storescp --promiscuous do), for this association only.
        """
        known = {str(cx.abstract_syntax) for cx in assoc.acceptor.supported_contexts}
        extra = []
        for proposed in primitive.presentation_context_definition_list:
            uid = str(proposed.abstract_syntax)
            if uid not in known and _storage_like(uid):
                known.add(uid)
                extra.append(build_context(uid, list(self._syntaxes)))
        if extra:
            assoc.acceptor.supported_contexts = [*assoc.acceptor.supported_contexts, *extra]

    @staticmethod
    def _reject(assoc: Any, diagnostic: int) -> None:
        assoc.acse.send_reject(0x01, 0x01, diagnostic)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()  # waits until the A-ASSOCIATE-RJ has left, as pynetdicom's own check

    def _authorized(self, event: Any) -> bool:
        calling = str(event.assoc.requestor.ae_title).strip()
        return (calling, plain_address(str(event.assoc.requestor.address))) in self._pairs

    def stop(self) -> None:
        """Stop listening, abort the associations still open and hand every file to the sink.

        A PACS that failed its C-MOVE may keep its sub-association open for minutes; the
        association's thread would keep the process from ending. Aborted (PS3.8 7.3.1),
        it leaves complete instances to the sink and a data set cut off mid-way to be
        dropped by the receiver, as any association that ends early.
        """
        servers, self._servers = list(self._servers.values()), {}
        loops, self._loops = self._loops, []
        for loop in loops:
            loop.stop()
        for server in servers:
            server.server_close()
        _abort_associations([a for s in servers for a in s.active_associations])
        self._ae = None
        self.receiver.close()

    def __enter__(self) -> StorageSCP:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
