"""Accepting a storage SCP's connections without polling for the end, and before the
association: the A-ASSOCIATE-RQ against the ARTIM deadline.

socketserver's ``serve_forever`` looks for a shutdown request every poll interval: with
a short interval an always-on storage SCP wakes the process many times a second, with a
long one the SCP of a C-MOVE keeps the retrieve waiting when it stops. This loop sleeps
in ``select`` on the listening socket and a wake-up pair, so it costs nothing while idle
and stops at once.

Anyone who can reach the port can connect; until its A-ASSOCIATE-RQ has arrived (PS3.8
9.2, Sta2) nothing is known of it. :func:`receive_association_request` reads that
request on the connection's own thread within one total deadline (PS3.8 9.1.5, the
ARTIM timer), before pynetdicom creates the association: so a silent or dribbling peer
neither holds a connection past the deadline nor counts as an association, and
:class:`PendingConnections` bounds how many such peers are held at once.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import socketserver
import struct
import threading
import time

from viewer.net.policy import MAX_PRESENTATION_CONTEXTS

LOGGER = logging.getLogger(__name__)

_LENGTH = struct.Struct(">L")  # PS3.8 9.3.1: the PDU length, after type and reserved byte
_ITEM_LENGTH = struct.Struct(">H")
_A_ASSOCIATE_RQ = 0x01
_CHUNK = 64 * 1024
# PS3.8 9.3.2: the variable items of an A-ASSOCIATE-RQ follow the 6-byte header, the
# protocol version and 2 reserved bytes, the called and calling AE titles (16 each) and
# 32 reserved bytes; a presentation context item (PS3.8 9.3.2.2) is of type 0x20.
_FIRST_ITEM = 74
_PRESENTATION_CONTEXT_ITEM = 0x20
# PS3.8 9.3.4: A-ASSOCIATE-RJ, rejected-permanent (1), source DICOM UL service-provider
# (ACSE related function) (2), no-reason-given (1).
REQUEST_REJECTED = struct.pack(">BBLBBBB", 0x03, 0, 4, 0, 0x01, 0x02, 0x01)


class ArtimExpiredError(TimeoutError):
    """The whole A-ASSOCIATE-RQ did not arrive within the ARTIM deadline (PS3.8 9.1.5)."""


class StalledRequestError(TimeoutError):
    """The A-ASSOCIATE-RQ had begun and no further byte came for the stall limit."""


def receive_association_request(sock: socket.socket, deadline: float, stall: float | None,
                                limit: int) -> bytes:
    """Read a new connection's first PDU, whole, by ``deadline`` (PS3.8 9.1.5, 9.2 AE-5/6).

    The ARTIM timer of PS3.8 runs from the acceptance of the transport connection until
    the A-ASSOCIATE-RQ has arrived; pynetdicom watches it only between PDUs, so a peer
    that announced a request and sent it a byte at a time held the connection for as
    long as it liked. Here the deadline bounds every read.

    Reading stops early, without error, where the association's own reader must decide:
    the peer closed the connection (before or during the PDU), the first PDU is not an
    A-ASSOCIATE-RQ, or it announces more than ``limit`` bytes. Everything read is
    returned, to be read again by that reader (:meth:`viewer.net.pdu_input.PduInput.feed`).

    Parameters
    ----------
    sock : socket.socket
        The accepted connection (after its TLS handshake, if any), in blocking mode;
        left in blocking mode.
    deadline : float
        :func:`time.monotonic` time by which the request must be whole.
    stall : float or None
        Once the request has begun, the longest wait for a further byte (the network
        timeout, as for any PDU once begun); None for no such limit.
    limit : int
        The longest PDU body read (:data:`viewer.net.fastpath.CONTROL_PDU_LIMIT`).

    Returns
    -------
    bytes
        What the peer sent, possibly nothing.

    Raises
    ------
    ArtimExpiredError
        The deadline passed first.
    StalledRequestError
        The request had begun and no byte came for ``stall`` seconds.
    OSError
        The connection failed.
    """
    received = bytearray()
    need = 6
    try:
        while len(received) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ArtimExpiredError("no whole A-ASSOCIATE-RQ by the ARTIM deadline")
            wait = min(remaining, stall) if received and stall else remaining
            sock.settimeout(wait)
            try:
                chunk = sock.recv(_CHUNK)
            except TimeoutError:
                if wait < remaining:
                    raise StalledRequestError(
                        "no data in the middle of the A-ASSOCIATE-RQ") from None
                raise ArtimExpiredError(
                    "no whole A-ASSOCIATE-RQ by the ARTIM deadline") from None
            if not chunk:
                break  # closed: the association's reader reports it, as for any PDU
            received += chunk
            if need == 6 and len(received) >= 6:
                pdu_type, (length,) = received[0], _LENGTH.unpack_from(received, 2)
                if pdu_type != _A_ASSOCIATE_RQ or length > limit:
                    break  # PS3.8 9.2 Sta2 + Evt19 or a too long PDU: the reader aborts
                need += length
    finally:
        sock.settimeout(None)
    return bytes(received)


def context_id_problem(request: bytes, most: int = MAX_PRESENTATION_CONTEXTS) -> str | None:
    """What breaks PS3.8 9.3.2.2 in the presentation context IDs of an A-ASSOCIATE-RQ.

    Each ID is an odd integer from 1 to 255, unique within the request, so there are at
    most ``most`` (128) of them. pynetdicom answered 300 proposed contexts with 299
    under 128 distinct IDs (an A-ASSOCIATE-AC the requestor cannot match to what it
    proposed), and stopped with a traceback at an even ID. The raw request is read, once
    per connection, so that the answer needs no association: the service-provider's own
    check of PS3.8 9.2 AE-6.

    Parameters
    ----------
    request : bytes
        What :func:`receive_association_request` returned.
    most : int
        The most presentation contexts one request may propose.

    Returns
    -------
    str or None
        The problem, for the log; None when the IDs are valid, or when ``request`` is
        not a whole A-ASSOCIATE-RQ (its reader reports that) or its items do not add up
        (the decoder reports those).
    """
    if len(request) < 6 or request[0] != _A_ASSOCIATE_RQ:
        return None
    end = 6 + _LENGTH.unpack_from(request, 2)[0]
    if len(request) < end:
        return None
    ids: list[int] = []
    pos = _FIRST_ITEM
    while pos + 4 <= end:
        (length,) = _ITEM_LENGTH.unpack_from(request, pos + 2)
        if request[pos] == _PRESENTATION_CONTEXT_ITEM and length and pos + 4 < end:
            ids.append(request[pos + 4])
        pos += 4 + length
    if pos != end:
        return None
    if len(ids) > most:
        return f"{len(ids)} presentation contexts proposed, more than the {most} allowed"
    seen: set[int] = set()
    for cid in ids:
        if cid % 2 == 0:  # one byte: 0-255, so odd means 1-255
            return f"presentation context ID {cid} is not an odd number from 1 to 255"
        if cid in seen:
            return f"presentation context ID {cid} is proposed more than once"
        seen.add(cid)
    return None


class PendingConnections:
    """How many connections wait for their A-ASSOCIATE-RQ; beyond ``bound``, none more.

    Such connections are not associations (pynetdicom counts only those against the
    association limit once their request has arrived), but each holds a thread and a
    socket until the ARTIM deadline: the bound keeps many idle connections from costing
    more than that, and the log gets one line per time the bound is reached, not one
    per connection turned away.

    Parameters
    ----------
    bound : int
        The most connections held at once before their request has arrived.
    """

    def __init__(self, bound: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, bound))
        self.bound = max(1, bound)
        self._full_told = False

    def enter(self, address: str) -> bool:
        """Take a place for a new connection from ``address``; False when all are taken."""
        if self._slots.acquire(blocking=False):
            self._full_told = False
            return True
        if not self._full_told:
            self._full_told = True
            LOGGER.warning("%d connections are waiting for their A-ASSOCIATE-RQ: closing new "
                           "ones at once (the latest from %s)", self.bound, address)
        return False

    def leave(self) -> None:
        """Give back the place of a connection whose request arrived, or that was closed."""
        self._slots.release()


class AcceptLoop:
    """Serves the connections of one association server on a thread of its own.

    Parameters
    ----------
    server : socketserver.BaseServer
        A pynetdicom association server (each connection gets its own thread there).
    """

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self._wake = socket.socketpair()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lightbox-storage-scp",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        listening = self.server.socket  # type: ignore[attr-defined]
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([listening, self._wake[0]], [], [])
            except (OSError, ValueError):
                if not self._stopping.is_set():
                    LOGGER.exception("the storage SCP stopped accepting connections")
                return
            if self._stopping.is_set():
                return
            if listening in readable:
                # What serve_forever does for a ready socket: accept, verify, hand the
                # connection to its thread; errors are reported by handle_error.
                self.server._handle_request_noblock()  # type: ignore[attr-defined]
                # pynetdicom collects finished associations' garbage there, every so
                # many calls; serve_forever called it every poll, here once a connection.
                self.server.service_actions()

    def stop(self) -> None:
        """Stop accepting (connections already accepted go on) and wait for the loop."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake[1].send(b"\x00")
        self._thread.join(timeout=10)
        for end in self._wake:
            end.close()
