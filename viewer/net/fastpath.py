"""Bulk-transfer tuning of pynetdicom associations (TCP_NODELAY, reads, waits, C-STORE).

pynetdicom is written for clarity; a study of hundreds of instances exposes its per-PDU and
per-message costs. :func:`set_nodelay`, bound to ``EVT_CONN_OPEN`` on every association
Lightbox opens or accepts, swaps in subclasses of pynetdicom's socket, DUL and DIMSE
providers that keep their contracts but:

- turn Nagle's algorithm off (DIMSE is request/response with small PDUs);
- read each PDU with a few large ``recv_into`` calls;
- let the DUL thread wait on its socket (and a wake-up pipe) instead of sleeping 1 ms;
- receive C-STORE requests and send C-STORE responses without building pydicom datasets
  for their fixed command sets (PS3.7 9.3.1).

Anything outside those cases takes pynetdicom's own path.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import socket
import ssl
import struct
from typing import Any, cast

from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_GET, C_MOVE, C_STORE
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket

LOGGER = logging.getLogger(__name__)

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


def _command_fields(encoded: bytes | bytearray | memoryview) -> dict[int, bytes] | None:
    """Split an implicit VR little endian command set into ``{element: value}``."""
    fields: dict[int, bytes] = {}
    offset, end = 0, len(encoded)
    try:
        while offset < end:
            group, element, length = struct.unpack_from("<HHL", encoded, offset)
            if group != 0x0000 or offset + 8 + length > end:
                return None
            fields[element] = bytes(encoded[offset + 8:offset + 8 + length])
            offset += 8 + length
    except struct.error:
        return None
    return fields


def _c_store_request(fields: dict[int, bytes]) -> C_STORE | None:
    """A C-STORE-RQ primitive from its command fields (PS3.7 9.3.1.1), or None."""
    def us(element: int) -> int | None:
        value = fields.get(element)
        return struct.unpack("<H", value)[0] if value is not None and len(value) == 2 else None

    def text(element: int) -> str:
        return fields.get(element, b"").decode("ascii", "replace").strip(" \x00")

    if us(0x0100) != 0x0001 or us(0x0800) == 0x0101:  # C-STORE-RQ with a data set
        return None
    message_id = us(0x0110)
    if message_id is None or not text(0x0002) or not text(0x1000):
        return None
    req = C_STORE()
    req.MessageID = message_id
    req.AffectedSOPClassUID = text(0x0002)
    req.AffectedSOPInstanceUID = text(0x1000)
    req.Priority = us(0x0700) or 0
    if text(0x1030):
        req.MoveOriginatorApplicationEntityTitle = text(0x1030)
    if us(0x1031) is not None:
        req.MoveOriginatorMessageID = us(0x1031)
    return req


def _pending_retrieve_response(fields: dict[int, bytes]) -> C_GET | C_MOVE | None:
    """A pending C-GET/C-MOVE-RSP without identifier (PS3.7 9.3.3.2 / 9.3.4.2), or None."""
    def us(element: int) -> int | None:
        value = fields.get(element)
        return struct.unpack("<H", value)[0] if value is not None and len(value) == 2 else None

    command = us(0x0100)
    status, responding = us(0x0900), us(0x0120)
    if command not in (0x8010, 0x8021) or us(0x0800) != 0x0101 or status not in (0xFF00,
                                                                                 0xFF01):
        return None
    if responding is None or set(fields) - {0x0000, 0x0002, 0x0100, 0x0120, 0x0800, 0x0900,
                                            0x1020, 0x1021, 0x1022, 0x1023}:
        return None  # anything unusual takes pynetdicom's path
    rsp: C_GET | C_MOVE = C_GET() if command == 0x8010 else C_MOVE()
    rsp.MessageIDBeingRespondedTo = responding
    rsp.Status = status
    sop_class = fields.get(0x0002, b"").decode("ascii", "replace").strip(" \x00")
    if sop_class:
        rsp.AffectedSOPClassUID = sop_class
    rsp.NumberOfRemainingSuboperations = us(0x1020)
    rsp.NumberOfCompletedSuboperations = us(0x1021)
    rsp.NumberOfFailedSuboperations = us(0x1022)
    rsp.NumberOfWarningSuboperations = us(0x1023)
    return rsp


class _QuickStoreResponseDIMSE(DIMSEServiceProvider):
    """The DIMSE provider, with C-STORE requests and responses on a short path.

    pynetdicom turns every command set into a pydicom dataset and back; for the small,
    fixed C-STORE-RQ/RSP of each instance that is most of the network threads' work.
    A request whose command set arrives in one fragment (as peers send it) is parsed
    directly and its data set collected as is; so are the pending C-GET/C-MOVE responses
    that come with every instance; responses without error details are encoded directly.
    Everything else takes pynetdicom's path.
    """

    _quick: tuple[int, C_STORE, io.BytesIO] | None = None

    def receive_primitive(self, primitive: Any) -> None:
        pdvs = list(primitive.presentation_data_value_list)
        if self._quick is None and self.message is None and pdvs:
            context_id, first = pdvs[0]
            if first[0] & 0x03 == 0x03:  # PS3.8 E.2: a command, last fragment
                fields = _command_fields(memoryview(first)[1:])
                req = _c_store_request(fields) if fields else None
                pending = _pending_retrieve_response(fields) if fields and not req else None
                if pending is not None and len(pdvs) == 1:
                    pending._context_id = context_id
                    self.msg_queue.put((context_id, pending))
                    return
                if req is not None:
                    self._quick = (context_id, req, io.BytesIO())
                    pdvs = pdvs[1:]
                    if not pdvs:
                        return
        if self._quick is None:
            super().receive_primitive(primitive)
            return
        context_id, req, data = self._quick
        for index, (cx, fragment) in enumerate(pdvs):
            if fragment[0] & 0x01 or cx != context_id:
                # A command before the data set ended: not for the short path.
                LOGGER.error("C-STORE data set interrupted by another message")
                self._quick = None
                self.dul.event_queue.put("Evt19")  # PS3.8 9.2: invalid PDU received
                return
            data.write(memoryview(fragment)[1:])
            if fragment[0] & 0x02:  # the last fragment of the data set
                req.DataSet = data
                req._context_id = context_id
                self._quick = None
                self.msg_queue.put((context_id, req))
                if index + 1 < len(pdvs):  # the next message began in the same PDU
                    rest = P_DATA()
                    rest.presentation_data_value_list = pdvs[index + 1:]
                    self.receive_primitive(rest)
                return

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


