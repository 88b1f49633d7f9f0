"""Bulk-transfer tuning of pynetdicom associations (TCP_NODELAY, reads, waits, C-STORE).

pynetdicom is written for clarity; a study of hundreds of instances exposes its per-PDU and
per-message costs. :func:`set_nodelay`, bound to ``EVT_CONN_OPEN`` on every association
Lightbox opens or accepts, swaps in subclasses of pynetdicom's socket, DUL and DIMSE
providers that keep their contracts but:

- turn Nagle's algorithm off (DIMSE is request/response with small PDUs);
- read each PDU with a few large ``recv_into`` calls;
- let the DUL thread wait on its socket (and a wake-up pipe) instead of sleeping 1 ms;
- hand P-DATA-TF PDUs to the DIMSE provider as views of the received bytes, where
  :class:`viewer.net.quick_dimse.QuickStoreDIMSE` writes C-STORE data sets straight to
  their files and answers them without building pydicom datasets (PS3.7 9.3.1).

Anything outside those cases takes pynetdicom's own path.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import struct
import sys
import threading
import time
from typing import Any, cast

from pynetdicom import evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dul import DULServiceProvider
from pynetdicom.transport import AssociationSocket

from viewer.net.association_requests import decoded_request
from viewer.net.pdu_input import (
    PDU_NAMES,
    PduInput,
    PduTooLargeError,
    PeerClosedError,
    StreamGivenUpError,
)
from viewer.net.quick_dimse import QuickStoreDIMSE, observed

LOGGER = logging.getLogger(__name__)

# Longest a DUL thread waits for traffic before it checks its timers again (seconds).
_IDLE_WAIT = 0.005
_U32_BE = struct.Struct(">L")
# Waiting for the DUL to reach Sta1 when an association is stopped (seconds).
_STOP_WAIT = 0.01
_STOP_STEP = 0.0002
# Bytes of one data set read PDU after PDU before the reactor gets a turn.
_STREAM_BYTES = 16 * 1024 * 1024
_PDU_TYPES = frozenset(range(0x01, 0x08))  # PS3.8 9.3.1: A-ASSOCIATE-RQ to A-ABORT
# PS3.8 9.2 states in which a peer closing the connection is the usual course: idle,
# awaiting an A-ASSOCIATE-RQ (a probe), awaiting the close after a release or abort.
_QUIET_CLOSE_STATES = frozenset({"Sta1", "Sta2", "Sta13"})
# The longest PDU read other than a P-DATA-TF on an established association (bytes after
# the 6-byte header). A valid A-ASSOCIATE-RQ or -AC carries at most 128 presentation
# context items and one user information item, each with a 2-byte length (PS3.8 9.3.2):
# under 8.5 MB. Without a limit, 6 bytes from anyone who can connect made the reader
# allocate the 4 GiB a PDU length can announce, before any AE title was checked.
CONTROL_PDU_LIMIT = 16 * 1024 * 1024


class _BulkReceiveSocket(AssociationSocket):
    """pynetdicom's association socket, tuned for bulk transfers.

    - the DUL below reads every PDU through its own buffer (:class:`PduInput`), never
      through this socket's ``recv``;
    - ``ready`` waits (up to ``_IDLE_WAIT``) for incoming data or for something to send,
      instead of answering at once and letting the DUL thread sleep a fixed millisecond:
      that sleep, twice per instance, capped a C-GET at about a hundred MB/s.
    """

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or self._is_connected is False:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        dul = self.assoc.dul
        pdu_input: PduInput | None = getattr(dul, "lightbox_input", None)
        if pdu_input is not None and pdu_input.pending:
            return True
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
        if not readable:
            dimse = self.assoc.dimse
            if isinstance(dimse, QuickStoreDIMSE):
                dimse.flush_held()
        return sock in readable


class _WakeableDUL(DULServiceProvider):
    """The DUL provider: woken when the user side queues a PDU, P-DATA read directly.

    In the established state (Sta6), with nothing queued before it, a P-DATA-TF PDU goes
    from the socket's buffer to the DIMSE provider as memoryviews of its PDVs: what the
    state machine would do (PS3.8 9.2, Sta6 + Evt10: DT-2, stay in Sta6) without decoding
    it into PDU objects and copying it on the way. Every other PDU, and every PDU while
    anything is queued, takes pynetdicom's path.
    """

    lightbox_wake: tuple[socket.socket, socket.socket]
    lightbox_input: PduInput  # what the short path read ahead; pynetdicom's reads see it
    _data_limit: int | None = None
    _data_limit_known = False

    def send_pdu(self, primitive: Any) -> None:
        super().send_pdu(primitive)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self.lightbox_wake[1].send(b"\x00")

    def stop_dul(self) -> bool:
        """Stop the reactor once the state machine is idle (Sta1), as pynetdicom's does.

        The release confirmation reaches the user a moment before the DUL closes the
        transport and returns to Sta1; pynetdicom's ``Association.kill`` then finds it a
        step short and sleeps 10 ms before it asks again. Here that step is waited for in
        small ones (up to 10 ms), and the reactor is woken so that it exits at once.
        """
        if threading.current_thread() is self:
            return super().stop_dul()
        deadline = time.monotonic() + _STOP_WAIT
        while (self.state_machine.current_state != "Sta1" and self.is_alive()
               and time.monotonic() < deadline):
            time.sleep(_STOP_STEP)
        if self.state_machine.current_state != "Sta1":
            return False
        self._kill_thread = True
        self._wake()
        self.join(_STOP_WAIT * 100)
        return not self.is_alive()

    def _direct_ready(self) -> bool:
        return (
            self.state_machine.current_state == "Sta6"
            and isinstance(self.assoc.dimse, QuickStoreDIMSE)
            # The queues' deques, read without their locks: only this thread fills them.
            and not self.event_queue.queue
            and not self._recv_pdu.queue
            and not observed(self.assoc, evt.EVT_DATA_RECV, evt.EVT_PDU_RECV)
        )

    def _pdu_limit(self, pdu_type: int) -> int | None:
        """The longest PDU body read (PS3.8 9.3.1), None for no limit.

        A P-DATA-TF on an established association may be as long as the maximum we
        announced (PS3.8 D.1), or 16 MiB for a peer that overruns a smaller one; with
        no maximum announced (0), any length. Anything else: :data:`CONTROL_PDU_LIMIT`.
        """
        if pdu_type == 0x04 and self.state_machine.current_state == "Sta6":
            if not self._data_limit_known:  # fixed once established; asked per PDU
                announced = _announced_maximum(self.assoc)
                self._data_limit = max(announced, CONTROL_PDU_LIMIT) if announced else None
                self._data_limit_known = True
            return self._data_limit
        return CONTROL_PDU_LIMIT

    def _read_pdu_data(self) -> None:
        sock = cast(AssociationSocket, self.socket).socket
        if sock is None:
            self.event_queue.put("Evt17")  # PS3.8 9.2: transport connection closed
            return
        if not self._direct_ready():
            # pynetdicom's reading (its READ_PDU_EXC cases), through the same buffer and
            # with the same limits as the short path.
            pdu = self._next_pdu(sock, wait=True)
            if pdu is not None:
                self._queue_pdu(bytearray(pdu))
            return
        dimse = cast(QuickStoreDIMSE, self.assoc.dimse)
        if not self._read_direct(sock, dimse, wait=True):
            return
        # PDU after PDU without a turn of the reactor each (its queue checks, a select and
        # a sleep per PDU were a third of this thread's work): the rest of a data set as
        # it arrives, then the next message if it comes within _IDLE_WAIT and takes the
        # short path too. Up to _STREAM_BYTES, and never past a PDU the user side queued
        # (an A-ABORT on cancel must not wait behind a study).
        if not _streams(sock):
            return
        budget = _STREAM_BYTES
        watched = [sock, self.lightbox_wake[0]]
        while budget > 0 and not self.to_provider_queue.queue and not self._kill_thread:
            if not dimse.receiving and not self.lightbox_input.pending:
                if not self._direct_ready():
                    return
                try:
                    readable, _, _ = select.select(watched, [], [], _IDLE_WAIT)
                except (OSError, ValueError):
                    return  # the reactor's own look at the socket reports it
                if sock not in readable:
                    return  # quiet, or woken by the user side: the reactor's turn
            length = self._read_direct(sock, dimse, wait=False)
            if not length:
                return
            self._idle_timer.restart()  # what the reactor does for each PDU it reads
            budget -= length

    def _read_direct(self, sock: socket.socket, dimse: QuickStoreDIMSE, *, wait: bool
                     ) -> int:
        """Read one PDU and hand it on; its length, or 0 to stop.

        With ``wait`` false, return 0 at once if no PDU has begun to arrive.
        """
        pdu = self._next_pdu(sock, wait=wait)
        if pdu is None:
            return 0
        pdu_type, length = pdu[0], len(pdu) - 6
        # The views of the PDU are consumed before this returns: written to a file, or
        # copied by the DIMSE provider.
        if pdu_type == 0x04 and length > 6 and _U32_BE.unpack_from(pdu, 6)[0] + 4 == length and (
                dimse.receive_fragment(pdu[10], pdu[11:])):
            return length  # one PDV, the next fragment of the data set being written
        pdvs = _pdvs(pdu[6:]) if pdu_type == 0x04 else None
        if pdvs is None:
            self._queue_pdu(bytearray(pdu))
            return 0
        dimse.receive_pdvs(pdvs)
        return length

    def _next_pdu(self, sock: socket.socket, *, wait: bool) -> memoryview | None:
        """The next PDU of a known type, or None with the event queued that says why."""
        try:
            pdu = self.lightbox_input.next_pdu(sock, wait=wait, limit=self._pdu_limit)
        except PduTooLargeError as exc:
            if not self._answer_is_not_dicom(exc.head):
                LOGGER.error("association with %s aborted: %s (PS3.8 9.3.1)",
                             _peer(sock, self.assoc), exc)
            self.event_queue.put("Evt19")  # PS3.8 9.2: invalid PDU, A-ABORT
            return None
        except TimeoutError:
            LOGGER.error("association with %s aborted: no data for %s s in the middle of a "
                         "PDU", _peer(sock, self.assoc), self.assoc.network_timeout)
            self.event_queue.put("Evt17")  # PS3.8 9.2: transport connection closed
            return None
        except PeerClosedError:
            self._peer_closed(sock)
            self.event_queue.put("Evt17")  # PS3.8 9.2: transport connection closed
            return None
        except StreamGivenUpError as exc:
            # Said when the PDU failed, or explained by the opener (a web server's answer).
            LOGGER.debug("association with %s: %s", _peer(sock, self.assoc), exc)
            self.event_queue.put("Evt17")
            return None
        except OSError as exc:  # ConnectionError too: the peer closed mid-PDU
            # A TLS alert (a PACS refusing our client certificate under TLS 1.3) is no
            # lost PDU: the association's opener explains it (PS3.15 B.9).
            LOGGER.log(logging.DEBUG if isinstance(exc, ssl.SSLError) else logging.ERROR,
                       "association with %s: connection lost in the middle of a PDU (%s)",
                       _peer(sock, self.assoc), exc)
            self.event_queue.put("Evt17")
            return None
        if pdu is not None and pdu[0] not in _PDU_TYPES:
            if not self._answer_is_not_dicom(bytes(pdu[:32])):
                LOGGER.error("unknown PDU type 0x%02X received from %s", pdu[0],
                             _peer(sock, self.assoc))
            self.event_queue.put("Evt19")  # PS3.8 9.2: unrecognised or invalid PDU
            return None
        return pdu

    def _answer_is_not_dicom(self, head: bytes) -> bool:
        """Keep ``head``, the start of what answered our association request, for the
        opener to explain (:func:`viewer.net.connection.open_association`); False when
        no request of ours awaits an answer (Sta5) and the caller must log it itself.

        A web server or another service on the port answers with text whose first bytes
        read as a PDU type and a length of gigabytes ("HT": type 0x48): the opener's
        "this is not DICOM" is the whole story, and a log line about PDU lengths is not.
        """
        record = getattr(self.assoc.ae, "connection_record", None)
        if self.state_machine.current_state != "Sta5" or record is None:
            return False
        record.not_dicom = head
        return True

    def _peer_closed(self, sock: socket.socket) -> None:
        """Say how a connection closed between PDUs: the usual end of an association
        after its release (Sta13) or before any request (Sta2); otherwise the peer
        dropped it, which its user should hear of."""
        state = self.state_machine.current_state
        if state in _QUIET_CLOSE_STATES:
            LOGGER.debug("connection closed by %s (%s)", _peer(sock, self.assoc), state)
            return
        # Sta5, awaiting our request's answer: the opener's explanation is the warning
        # (a line before it said the same twice); the peer's address, which the socket
        # has lost by then, stays in the log for whoever reads it.
        opening = state == "Sta5" and hasattr(self.assoc.ae, "connection_record")
        LOGGER.log(logging.INFO if opening else logging.WARNING,
                   "association with %s: the peer closed the connection without releasing "
                   "the association (PS3.8 9.2, %s)", _peer(sock, self.assoc, titled=True),
                   state)

    def _decode_pdu(self, bytestream: bytearray) -> tuple[Any, str]:
        # An A-ASSOCIATE-RQ already seen is not decoded again, unless someone watches
        # for the raw data or the PDU (they get pynetdicom's own decoding).
        if bytestream[:1] == b"\x01" and not observed(
                self.assoc, evt.EVT_DATA_RECV, evt.EVT_PDU_RECV):
            return decoded_request(bytes(bytestream)), "Evt6"  # PS3.8 9.2: Evt6, RQ PDU
        return cast(tuple[Any, str], super()._decode_pdu(bytestream))

    def _queue_pdu(self, data: bytearray) -> None:
        """pynetdicom's path for a PDU already read: decode, queue its event and itself."""
        try:
            pdu, event = self._decode_pdu(data)
        except Exception as exc:
            # Anyone who can connect can send a PDU that does not decode: one line per
            # PDU, naming who sent it; the traceback only for whoever debugs the decoder.
            sock = cast(AssociationSocket, self.socket).socket
            name = PDU_NAMES.get(data[0], f"type 0x{data[0]:02X}") if data else "empty"
            LOGGER.warning("cannot decode the %s PDU of %d bytes from %s, aborting the "
                           "association (PS3.8 9.3.1): %s", name, len(data),
                           _peer(sock, self.assoc),
                           f"{type(exc).__name__}: {exc}")
            LOGGER.debug("decoding the PDU failed", exc_info=True)
            self.event_queue.put("Evt19")  # PS3.8 9.2: invalid PDU, A-ABORT
            return
        self.event_queue.put(event)
        self._recv_pdu.put(pdu)


def _limit_stalls(sock: socket.socket, seconds: float | None) -> None:
    """Bound how long a read waits for the rest of a PDU that has begun.

    The DUL thread waits for a PDU to begin in ``select``, where pynetdicom's timers
    (ARTIM, the network timeout) are watched; once one has begun, it reads in blocking
    mode. A peer that sent part of a PDU and then nothing held that thread, and the
    association, for ever: a receive timeout on the socket (``SO_RCVTIMEO``, which
    costs nothing per read) ends such a read with EAGAIN after the network timeout.
    """
    if not seconds or seconds <= 0:
        return
    if sys.platform == "win32":
        value = struct.pack("<L", min(int(seconds * 1000), 0xFFFFFFFF))  # DWORD, ms
    else:
        value = struct.pack("@ll", int(seconds), int(seconds % 1 * 1_000_000))  # timeval
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)


def _announced_maximum(assoc: Any) -> int:
    """The maximum PDU length we announced on this association (0: none)."""
    ours = assoc.acceptor if assoc.is_acceptor else assoc.requestor
    return int(ours.maximum_length or 0)


def _peer(sock: socket.socket | None, assoc: Any = None, *, titled: bool = False) -> str:
    """The other end of an association, for a log line: ``host:port``.

    A peer that reset the connection (a TLS port answering a plain A-ASSOCIATE-RQ) has
    no address left on the socket, so the one the association recorded when it
    connected is used. ``titled`` puts the peer's AE title first (``AE X at host:port``):
    AE titles and addresses only, never anything of a patient.
    """
    other = None if assoc is None else (
        assoc.requestor if assoc.is_acceptor else assoc.acceptor)
    try:
        host, port = sock.getpeername()[:2] if sock is not None else (None, None)
    except (OSError, ValueError):
        host = port = None
    if host is None:
        info = getattr(other, "address_info", None)
        if info is not None and info.address:
            host, port = info.address, info.port
    address = "the peer" if host is None else f"{host}:{port}"
    title = str(getattr(other, "ae_title", "") or "").strip() if titled else ""
    return f"AE {title} at {address}" if title else address


def _streams(sock: socket.socket) -> bool:
    """Whether a data set's PDUs can be read on without the reactor: a plain blocking
    socket and a non-blocking probe (TLS buffers records of its own; Windows has no
    MSG_DONTWAIT)."""
    return (hasattr(socket, "MSG_DONTWAIT") and not isinstance(sock, ssl.SSLSocket)
            and sock.gettimeout() is None)


def _pdvs(body: memoryview) -> list[tuple[int, memoryview]] | None:
    """The PDV items of a P-DATA-TF body (PS3.8 9.3.5.1): (context ID, header + value)."""
    view = body
    items: list[tuple[int, memoryview]] = []
    pos, end = 0, len(body)
    while pos < end:
        if pos + 6 > end:
            return None
        (length,) = _U32_BE.unpack_from(body, pos)
        if length < 2 or pos + 4 + length > end:
            return None  # pynetdicom's decoder reports the malformed PDU
        items.append((body[pos + 4], view[pos + 5:pos + 4 + length]))
        pos += 4 + length
    return items or None


def _closed(event: Any) -> None:
    """EVT_CONN_CLOSE: drop a data set cut off mid-way, close the DUL's wake-up pair."""
    dimse = event.assoc.dimse
    if isinstance(dimse, QuickStoreDIMSE):
        dimse.abandon()
    for end in getattr(event.assoc.dul, "lightbox_wake", ()):
        end.close()


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
            dul.lightbox_input = PduInput()  # type: ignore[attr-defined]
            dul.__class__ = _WakeableDUL
            dul._run_loop_delay = 0
            wrapper.__class__ = _BulkReceiveSocket
        if type(event.assoc.dimse) is DIMSEServiceProvider:
            event.assoc.dimse.__class__ = QuickStoreDIMSE
        event.assoc.bind(evt.EVT_CONN_CLOSE, _closed)
        sock = wrapper.socket
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _limit_stalls(sock, event.assoc.network_timeout)
    except (AttributeError, OSError):
        LOGGER.debug("could not tune the association socket", exc_info=True)


