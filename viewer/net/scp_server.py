"""The accepting server of Lightbox's storage SCP, and the end of its associations.

pynetdicom's association server, adapted: the accept loop only accepts (and wraps a TLS
socket); on the connection's own thread, the TLS handshake (PS3.15 B.9: the peer's
client certificate must be signed by our CA) and the whole A-ASSOCIATE-RQ must arrive
within the ARTIM timeout (PS3.8 9.1.5) before pynetdicom creates an association. The
associations it accepts share the server's presentation contexts, and their reactor waits
on its message queue instead of polling it (PS3.8 9.1 state machine). When the SCP stops,
the associations still open are aborted (PS3.8 7.3.1) and their threads ended.
:class:`viewer.net.scp.StorageSCP` builds and configures these servers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import socket
import ssl
import threading
import time
from typing import Any, cast

from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from viewer.net.accept_loop import (
    REQUEST_REJECTED,
    ArtimExpiredError,
    PendingConnections,
    Place,
    StalledRequestError,
    context_id_problem,
    receive_association_request,
)
from viewer.net.explain import incoming_tls_failure
from viewer.net.fastpath import CONTROL_PDU_LIMIT
from viewer.net.pdu_input import PduInput
from viewer.net.policy import DEFAULT_POLICY, AssociationPolicy
from viewer.net.scp_admission import Admission, plain_address

# The storage SCP's one log name, which users filter on, for every module of it.
LOGGER = logging.getLogger("viewer.net.scp")
# RFC 8446 5.1 / RFC 5246 6.2.1: a record of content type 22 (handshake), version 3.x;
# no PDU type is 0x16 (PS3.8 9.3.1).
_TLS_HANDSHAKE_RECORD = b"\x16\x03"

# How often an idle incoming association looks for a release or an abort (seconds): a
# millisecond woke it a thousand times a second, each wake taking the GIL from the
# network thread.
_CHECK_EVERY = 0.01


class SharedContexts(list[PresentationContext]):
    """The server's supported contexts, which every accepted association shares.

    pynetdicom deep-copies a server's contexts for each association it accepts: for our
    170-odd contexts that copy was 15-30 ms of every C-MOVE's call-back, more than the
    negotiation itself. Negotiation (PS3.8 9.3.2.2; pynetdicom's
    ``negotiate_as_acceptor``) only reads the acceptor's contexts and builds new ones
    for its result, so each association gets a new list of the same contexts.
    """

    def __deepcopy__(self, memo: dict[int, object]) -> list[PresentationContext]:
        return list(self)


class QuickAcceptorAssociation(Association):
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


def _shut_down(sock: socket.socket) -> None:
    """End a waiting connection's reads and writes from another thread (PS3.8 9.1.5: its
    place goes to a newer connection before its ARTIM time is up).

    ``shutdown(SHUT_RDWR)`` makes a read blocked on the socket, in the TLS handshake or in
    :func:`viewer.net.accept_loop.receive_association_request`, return at once (end of
    file), and sends the peer a FIN, where ``close`` from another thread would leave the
    read waiting. The socket's own method is called, not :meth:`ssl.SSLSocket.shutdown`:
    that one also drops the TLS state the connection's thread may be using.
    """
    with contextlib.suppress(OSError):  # the peer may have reset it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class PrereadRequestHandler(RequestHandler):
    """pynetdicom's connection handler, for a connection whose A-ASSOCIATE-RQ was read.

    The association's reader (:class:`viewer.net.pdu_input.PduInput`, installed by
    :func:`viewer.net.fastpath.set_nodelay` on EVT_CONN_OPEN) gets the bytes first, and
    reads them as if from the socket: the state machine sees the request arrive as it
    would have (PS3.8 9.2, Sta2 + Evt6).
    """

    def handle(self) -> None:
        server = cast(TlsAssociationServer, self.server)
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


class TlsAssociationServer(ThreadedAssociationServer):
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
    held at once (:class:`PendingConnections`: fewer from one address, or from addresses
    of no configured node, checked against :attr:`admission` at accept time; past that,
    the oldest waiting connection it competes with is shut down for the new one, which
    ends its thread's wait at once). Once the request has arrived, nothing of this is on
    the path of the association's PDUs.
    """

    on_refused: Any = None  # callable(address, reason), set by StorageSCP
    on_accepted: Any = None  # callable(), set by StorageSCP: a connection past its handshake
    handshakes: HandshakesUnderway  # set by StorageSCP
    policy: AssociationPolicy = DEFAULT_POLICY  # set by StorageSCP
    pending: PendingConnections
    places: dict[Any, Place]  # socket -> its place in pending, until its request arrived
    admission: Admission  # who this port admits, set by StorageSCP with the node list
    received: dict[Any, bytes]  # socket -> its A-ASSOCIATE-RQ, for PrereadRequestHandler

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, address = cast(socket.socket, self.socket).accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        # On the accept loop's thread: nothing here may wait for the peer. The address
        # checks are set look-ups (the node hosts were resolved when the nodes were set),
        # made before the TLS handshake and the thread that a place would cost.
        address = str(client_address[0])
        place = self.pending.enter(address, self.admission.from_a_node(address),
                                   functools.partial(_shut_down, request))
        if place is None:
            self.shutdown_request(request)
            return
        self.places[request] = place
        tls = isinstance(request, ssl.SSLSocket)
        if tls:
            self.handshakes.begin()
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self.pending.leave(self.places.pop(request))
            if tls:
                self.handshakes.end()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        place = self.places[request]
        try:
            received = self._association_request(request, client_address, place)
        finally:
            # Given back already once its request arrived; once more changes nothing.
            self.pending.leave(self.places.pop(request))
        if received is None:
            self.shutdown_request(request)
            return
        self.received[request] = received
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.received.pop(request, None)

    def _handshake(self, request: ssl.SSLSocket, address: str, deadline: float,
                   place: Place) -> bool:
        """The TLS handshake (PS3.15 B.9); False, the refusal told, when it fails."""
        try:
            # CPython applies a socket timeout to the whole handshake (one deadline over
            # its reads and writes), not to each read: a handshake sent a byte at a time
            # ends with the rest of the ARTIM time, too.
            request.settimeout(max(deadline - time.monotonic(), 0.001))
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            if place.evicted:  # we shut the socket down: no refusal of the peer's TLS
                LOGGER.debug("connection from %s closed during its TLS handshake: a newer "
                             "connection took its place", address)
                return False
            reason = incoming_tls_failure(str(getattr(exc, "reason", None) or exc),
                                          getattr(exc, "verify_message", None))
            if self.on_refused is not None:
                self.on_refused(address, f"TLS handshake: {reason}")
            return False
        return True

    def _association_request(self, request: Any, client_address: Any, place: Place
                             ) -> bytes | None:
        """The TLS handshake, then the bytes of the A-ASSOCIATE-RQ, by the ARTIM deadline;
        None (the reason logged in one line) when the connection is to be closed.

        A connection whose place a newer one took (:attr:`Place.evicted`) was shut down
        to end this wait: what its reads then report is our doing, logged at DEBUG only
        (:class:`PendingConnections` logged the closing).
        """
        address = str(client_address[0])
        peer = f"{client_address[0]}:{client_address[1]}"
        artim = self.policy.artim_timeout
        deadline = time.monotonic() + artim
        tls = isinstance(request, ssl.SSLSocket)
        try:
            if tls and not self._handshake(request, address, deadline, place):
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
            if not place.evicted:
                LOGGER.warning("closed the connection from %s: no whole A-ASSOCIATE-RQ "
                               "within the ARTIM timeout of %g s (PS3.8 9.1.5)", peer, artim)
            return None
        except StalledRequestError:
            if not place.evicted:
                LOGGER.warning("closed the connection from %s: no data for %g s in the "
                               "middle of its A-ASSOCIATE-RQ", peer,
                               self.policy.network_timeout)
            return None
        except OSError as exc:
            if not place.evicted:
                LOGGER.warning("connection from %s lost before its A-ASSOCIATE-RQ (%s)",
                               peer, exc.strerror or exc)
            return None
        # The place goes back as soon as the request is here, before it is judged: from
        # then on no newer connection can close this one (only waiting ones are closed),
        # and whether it was closed before is settled.
        self.pending.leave(place)
        if place.evicted:
            if received:
                # Shut down just as its request arrived: no association can answer it.
                LOGGER.warning("closed the connection from %s: a newer connection took its "
                               "place just as its A-ASSOCIATE-RQ arrived", peer)
            else:  # cut short by our shutdown: no request to judge
                LOGGER.debug("connection from %s closed before its A-ASSOCIATE-RQ: a newer "
                             "connection took its place", peer)
            return None
        if not received:
            LOGGER.debug("connection from %s closed before any PDU", peer)
            return None
        if not tls and received[:2] == _TLS_HANDSHAKE_RECORD:
            # Read as a PDU it is one of type 0x16 announcing some 16 MB: say what it is.
            LOGGER.warning("closed the connection from %s: it began a TLS handshake on the "
                           "plain DICOM port; a peer that uses DICOM TLS (PS3.15 B.9) must "
                           "call our TLS port", peer)
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


#: How long :meth:`viewer.net.scp.StorageSCP.stop` lets an association's A-ABORT leave
#: before it closes the connection (a DUL thread blocked reading the rest of a PDU sends it
#: only then).
ABORT_SEND_SECONDS = 1.0


def abort_associations(associations: list[Association]) -> None:
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

