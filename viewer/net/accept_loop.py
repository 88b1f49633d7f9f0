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
:class:`PendingConnections` bounds how many such peers are held at once, and how many of
them one address, or addresses of no configured node, may hold.
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
from typing import NamedTuple

from viewer.net.policy import MAX_PRESENTATION_CONTEXTS
from viewer.net.scp_admission import plain_address

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


# How many connections from one address may wait for their A-ASSOCIATE-RQ once more than
# half of the places are taken, and how many from addresses of no configured node at any
# time (see PendingConnections).
PENDING_PER_ADDRESS = 4
PENDING_STRANGERS = 2
# A refusal by address is logged at most once per address in this many seconds, and
# at most _TOLD_AT_MOST such lines in that time: a scan must not flood the log.
_TELL_EVERY = 60.0
_TOLD_AT_MOST = 20


class Place(NamedTuple):
    """The place :meth:`PendingConnections.enter` gave a connection, to give back."""

    address: str
    from_a_node: bool


class PendingConnections:
    """Places for the connections that wait for their A-ASSOCIATE-RQ, shared out by address.

    Such connections are not associations (pynetdicom counts only those against the
    association limit once their request has arrived), but each holds a thread and a
    socket until the ARTIM deadline (PS3.8 9.1.5). So that nobody who can merely reach
    the port can take all ``bound`` places, and lock the configured nodes out for as
    long as he keeps reconnecting, a new connection is closed at once, before its TLS
    handshake or thread, when:

    * all ``bound`` places are taken (one log line per time this bound is reached);
    * it comes from an address of no configured node and ``strangers`` such connections
      wait already. A few are let in so that their request can be rejected in DICOM
      (PS3.8 9.3.4, calling AE title not recognised) and recorded: a PACS that calls
      back for a C-MOVE from an address its node does not name is then explained;
    * more than half of the places are taken and ``per_address`` connections from its
      address wait already: one host, a node's or not, never holds all the places,
      while a PACS that opens its associations all at once is not refused when the
      SCP is idle.

    The last two are logged at most once a minute per address.

    Parameters
    ----------
    bound : int
        The most connections held at once before their request has arrived.
    per_address : int
        The most from one address once more than half of ``bound`` is taken.
    strangers : int
        The most from addresses of no configured node at once.
    """

    def __init__(self, bound: int, per_address: int = PENDING_PER_ADDRESS,
                 strangers: int = PENDING_STRANGERS) -> None:
        self.bound = max(1, bound)
        self.per_address = max(1, per_address)
        self.strangers = max(0, strangers)
        self._lock = threading.Lock()
        self._held = 0
        self._strangers_held = 0
        self._by_address: dict[str, int] = {}
        self._full_told = False
        self._told: dict[str, float] = {}  # address -> when its refusal was last logged

    def enter(self, address: str, from_a_node: bool = True) -> Place | None:
        """A place for a new connection from ``address``; None to close it at once.

        Parameters
        ----------
        address : str
            The peer's IP address, as the socket gives it.
        from_a_node : bool
            Whether a configured node has that address
            (:meth:`viewer.net.scp_admission.Admission.from_a_node`).
        """
        with self._lock:
            if self._held >= self.bound:
                if not self._full_told:
                    self._full_told = True
                    LOGGER.warning("%d connections are waiting for their A-ASSOCIATE-RQ: "
                                   "closing new ones at once (the latest from %s)",
                                   self.bound, plain_address(address))
                return None
            if not from_a_node:
                if self._strangers_held >= self.strangers:
                    self._tell(address, "no configured node has that address")
                    return None
                self._strangers_held += 1
            mine = self._by_address.get(address, 0)
            if mine >= self.per_address and self._held > self.bound // 2:
                self._tell(address, f"{mine} connections from it are waiting for their "
                                    "A-ASSOCIATE-RQ already")
                if not from_a_node:
                    self._strangers_held -= 1
                return None
            self._by_address[address] = mine + 1
            self._held += 1
            self._full_told = False
            return Place(address, from_a_node)

    def leave(self, place: Place) -> None:
        """Give back the place of a connection whose request arrived, or that was closed."""
        with self._lock:
            self._held -= 1
            if not place.from_a_node:
                self._strangers_held -= 1
            mine = self._by_address.pop(place.address, 1) - 1
            if mine:
                self._by_address[place.address] = mine

    def _tell(self, address: str, why: str) -> None:
        """Log a refusal by address, unless one was logged for it (or too many for
        others) within :data:`_TELL_EVERY` seconds."""
        now = time.monotonic()
        if now - self._told.get(address, -_TELL_EVERY) < _TELL_EVERY:
            return
        self._told = {a: t for a, t in self._told.items() if now - t < _TELL_EVERY}
        if len(self._told) >= _TOLD_AT_MOST:
            return
        self._told[address] = now
        last = " (the last such line for a minute)" if len(self._told) == _TOLD_AT_MOST else ""
        LOGGER.warning("closed a connection from %s at once: %s; not logged again for this "
                       "address for %g s%s", plain_address(address), why, _TELL_EVERY, last)


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
