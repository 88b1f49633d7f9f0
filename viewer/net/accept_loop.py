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
them one address, or addresses of no configured node, may hold: past that, the oldest
waiting connection makes room for the new one.
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
from collections.abc import Callable

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
    the first PDU is not an A-ASSOCIATE-RQ, or it announces more than ``limit`` bytes.
    Everything read is returned, to be read again by that reader
    (:meth:`viewer.net.pdu_input.PduInput.feed`). A peer that closed before sending
    anything gets nothing back; one that closed in the middle of its first PDU raises.

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
    ConnectionError
        The peer closed the connection in the middle of its first PDU.
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
                if received:
                    # Closed with the request unfinished ("\n" from a TLS probe): no
                    # association can answer it, and one started on it waited for a
                    # request that never comes, holding an association place meanwhile.
                    raise ConnectionError(
                        f"the peer closed the connection after {len(received)} bytes of "
                        "its first PDU")
                break  # closed before any byte: nothing to answer
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
# A place given to a newer connection, or a refusal, is logged at most once per address
# in this many seconds, and at most _TOLD_AT_MOST such lines in that time: a scan must
# not flood the log.
_TELL_EVERY = 60.0
_TOLD_AT_MOST = 20


def _nothing() -> None:
    """The wake-up of a place whose connection has no waiting thread to wake."""


class Place:
    """The place :meth:`PendingConnections.enter` gave a connection, to give back.

    Parameters
    ----------
    address : str
        The peer's IP address.
    from_a_node : bool
        Whether a configured node had that address when the connection was accepted.
    wake : callable
        Ends the connection's wait for its A-ASSOCIATE-RQ when a newer connection takes
        its place (it shuts the socket down: the blocked read returns at once). Called
        at most once, with the places' lock held; must not block.
    """

    __slots__ = ("address", "evicted", "from_a_node", "wake")

    def __init__(self, address: str, from_a_node: bool,
                 wake: Callable[[], object] = _nothing) -> None:
        self.address = address
        self.from_a_node = from_a_node
        self.wake = wake
        #: Whether a newer connection took this place (set with the lock held, before
        #: ``wake``): the connection is to be closed, and its failure is no news.
        self.evicted = False


class PendingConnections:
    """Places for the connections that wait for their A-ASSOCIATE-RQ, shared out by address.

    Such connections are not associations (pynetdicom counts only those against the
    association limit once their request has arrived), but each holds a thread and a
    socket until the ARTIM deadline (PS3.8 9.1.5). So that nobody who can merely reach
    the port can take all ``bound`` places, and lock the configured nodes out for as long
    as he keeps reconnecting, the places are shared out:

    * connections from addresses of no configured node hold at most ``strangers`` places.
      A few are let in so that their request can be rejected in DICOM (PS3.8 9.3.4,
      calling AE title not recognised) and recorded: a PACS that calls back for a C-MOVE
      from an address its node does not name is then explained;
    * once more than half of the places are taken, one address holds at most
      ``per_address``: one host, a node's or not, never holds all the places, while a
      PACS that opens its associations all at once is not refused when the SCP is idle;
    * at most ``bound`` places are held in all.

    A new connection that would break one of these does not wait for a place, nor is it
    closed: the oldest waiting connection it competes with is closed instead, and the
    new one takes its place (closing the new one, as this class did, let a host that
    shares a node's address, behind NAT or on the PACS's own computer, keep its share
    taken with idle connections and have every further connection from that address,
    the node's own associations included, closed at once). A genuine peer sends its
    request within milliseconds of connecting (its TLS handshake included), so the one
    that has waited longest is the likeliest to be idle; one that waits on purpose loses
    its place to the next connection, and a host that keeps reconnecting mostly closes
    its own. The one closed is, in this order:

    * past its address's share: that address's oldest;
    * past the strangers' places: the oldest of the address of no configured node that
      holds most of them;
    * past ``bound``: the oldest of the address that holds most places. Closing the new
      one instead would again let hosts that hold many places (a few node addresses
      each at its share, plus the strangers' places) lock out a node that holds none;
      a host that holds most loses first, and an address holding one place (a node
      whose request is on its way) is not touched while another holds more.

    Among addresses holding as many places, the new connection's own is chosen, then the
    one whose oldest connection is oldest: a host that reconnects cannot close another's
    connection while it holds as many itself. A connection whose request has arrived has
    left (:meth:`leave`) and is never closed here. Taking a place is a few dictionary
    operations and at most one pass over the ``bound`` places, on the accept loop's
    thread before the TLS handshake. Each such closing (and each connection closed for
    lack of a place, with no strangers' places) is logged at most once a minute per
    address, and the bound's first reaching once.

    Parameters
    ----------
    bound : int
        The most connections held at once before their request has arrived.
    per_address : int
        The most from one address once more than half of ``bound`` is taken.
    strangers : int
        The most from addresses of no configured node at once; with 0, such connections
        are closed at once.
    """

    def __init__(self, bound: int, per_address: int = PENDING_PER_ADDRESS,
                 strangers: int = PENDING_STRANGERS) -> None:
        self.bound = max(1, bound)
        self.per_address = max(1, per_address)
        self.strangers = max(0, strangers)
        self._lock = threading.Lock()
        self._waiting: dict[Place, None] = {}  # the places held, oldest first
        self._strangers_held = 0
        self._by_address: dict[str, int] = {}
        self._full_told = False
        self._told: dict[str, float] = {}  # address -> when its line was last logged

    @property
    def held(self) -> int:
        """How many places are held."""
        with self._lock:
            return len(self._waiting)

    def held_by(self, address: str) -> int:
        """How many places connections from ``address`` hold."""
        with self._lock:
            return self._by_address.get(address, 0)

    def enter(self, address: str, from_a_node: bool = True,
              wake: Callable[[], object] = _nothing) -> Place | None:
        """A place for a new connection from ``address``, perhaps the place of an older
        one, closed for it; None to close the new one at once (a stranger when
        ``strangers`` is 0).

        Parameters
        ----------
        address : str
            The peer's IP address, as the socket gives it.
        from_a_node : bool
            Whether a configured node has that address
            (:meth:`viewer.net.scp_admission.Admission.from_a_node`).
        wake : callable
            What closes the new connection if a newer one takes its place
            (:class:`Place`).

        Returns
        -------
        Place or None
            The place, to give back with :meth:`leave`.
        """
        with self._lock:
            held = len(self._waiting)
            mine = self._by_address.get(address, 0)
            if mine >= self.per_address and held > self.bound // 2:
                victim = self._oldest_of_most(address, lambda p: p.address == address)
                self._tell(address, f"closed the oldest connection from "
                                    f"{plain_address(address)} that was waiting for its "
                                    f"A-ASSOCIATE-RQ, for a newer one: {mine} from that "
                                    "address were waiting")
            elif not from_a_node and self._strangers_held >= self.strangers:
                victim = self._oldest_of_most(address, lambda p: not p.from_a_node)
                if victim is None:
                    self._tell(address, f"closed a connection from {plain_address(address)} "
                                        "at once: no configured node has that address")
                    return None
                self._tell(address, f"closed the oldest connection from "
                                    f"{plain_address(victim.address)} that was waiting "
                                    "for its A-ASSOCIATE-RQ, for a newer one from "
                                    f"{plain_address(address)}: addresses of no configured "
                                    f"node hold at most {self.strangers} places")
            elif held >= self.bound:
                victim = self._oldest_of_most(address, lambda p: True)
                if not self._full_told and victim is not None:
                    self._full_told = True
                    LOGGER.warning("%d connections are waiting for their A-ASSOCIATE-RQ: "
                                   "for each new one, the oldest waiting connection from "
                                   "the address holding most of them is closed (the first "
                                   "from %s, for one from %s)", self.bound,
                                   plain_address(victim.address), plain_address(address))
            else:
                victim = None
                self._full_told = False
            if victim is not None:
                self._drop(victim)
                victim.evicted = True
                # With the lock held: the connection's thread closes its socket only
                # after leave(), which waits for this lock, so the descriptor shut down
                # here cannot have been closed and reused by a newer connection.
                with contextlib.suppress(OSError):
                    victim.wake()
            place = Place(address, from_a_node, wake)
            self._waiting[place] = None
            self._by_address[address] = self._by_address.get(address, 0) + 1
            if not from_a_node:
                self._strangers_held += 1
            return place

    def leave(self, place: Place) -> bool:
        """Give back the place of a connection whose request arrived, or that was closed.

        Parameters
        ----------
        place : Place
            What :meth:`enter` gave; given back once, however often this is called.

        Returns
        -------
        bool
            False when a newer connection had taken the place (the connection was shut
            down, and is to be closed even if its request had arrived meanwhile).
        """
        with self._lock:
            if place not in self._waiting:
                return False
            self._drop(place)
            return True

    def _drop(self, place: Place) -> None:
        """Take ``place`` out of the places held (the lock held)."""
        del self._waiting[place]
        if not place.from_a_node:
            self._strangers_held -= 1
        mine = self._by_address.pop(place.address, 1) - 1
        if mine:
            self._by_address[place.address] = mine

    def _oldest_of_most(self, address: str, among: Callable[[Place], bool]
                        ) -> Place | None:
        """The oldest place of the address that holds most of the places ``among``
        selects: of equals, ``address`` itself, then the one whose oldest is oldest."""
        counts: dict[str, int] = {}
        oldest: dict[str, Place] = {}
        for place in self._waiting:
            if among(place):
                counts[place.address] = counts.get(place.address, 0) + 1
                oldest.setdefault(place.address, place)
        if not counts:
            return None
        # max() keeps the first of equals: counts is in the order of each one's oldest.
        return oldest[max(counts, key=lambda a: (counts[a], a == address))]

    def _tell(self, address: str, line: str) -> None:
        """Log ``line`` about a connection from ``address``, unless one was logged for it
        (or too many for others) within :data:`_TELL_EVERY` seconds."""
        now = time.monotonic()
        if now - self._told.get(address, -_TELL_EVERY) < _TELL_EVERY:
            return
        self._told = {a: t for a, t in self._told.items() if now - t < _TELL_EVERY}
        if len(self._told) >= _TOLD_AT_MOST:
            return
        self._told[address] = now
        last = " (the last such line for a minute)" if len(self._told) == _TOLD_AT_MOST else ""
        LOGGER.warning("%s; not logged again for this address for %g s%s", line,
                       _TELL_EVERY, last)


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
