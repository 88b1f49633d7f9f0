"""DIMSE command sets of the C-STORE and retrieve messages, encoded and decoded directly.

Every instance of a C-GET or C-MOVE brings a C-STORE-RQ, a C-STORE-RSP and a pending
C-GET/C-MOVE-RSP. Their command sets are small and fixed (PS3.7 9.3.1, 9.3.3, 9.3.4):
reading them without building pydicom datasets or validated pynetdicom primitives is most
of what makes a bulk receive fast. Anything unusual returns None, and the caller takes
pynetdicom's own path.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

from pynetdicom.dimse_primitives import C_GET, C_MOVE, C_STORE


def _implicit(element: int, value: bytes, pad: bytes = b"\x00") -> bytes:
    """One implicit VR little endian element of group 0000 (PS3.7 6.3.1: command sets)."""
    if len(value) % 2:
        value += pad
    return struct.pack("<HHL", 0x0000, element, len(value)) + value


@functools.lru_cache(maxsize=256)
def _uid_element(element: int, uid: str) -> bytes:
    """A UID element of a command set; the SOP Class UIDs of an association repeat."""
    return _implicit(element, uid.encode("ascii"))


# PS3.7 9.3.1.2: Command Field (C-STORE-RSP), Message ID Being Responded To, Command Data
# Set Type (none) and Status, each an implicit VR US element, packed in one call.
_RSP_MIDDLE = struct.Struct("<" + "HHLH" * 4)
_GROUP_LENGTH = struct.Struct("<HHLL")


def encode_c_store_rsp(message_id: int, sop_class: str, sop_instance: str, status: int
                       ) -> bytes:
    """The C-STORE-RSP command set (PS3.7 9.3.1.2), encoded directly."""
    sop_class_element = _uid_element(0x0002, sop_class)  # Affected SOP Class UID
    middle = _RSP_MIDDLE.pack(0x0000, 0x0100, 2, 0x8001, 0x0000, 0x0120, 2, message_id,
                              0x0000, 0x0800, 2, 0x0101, 0x0000, 0x0900, 2, status)
    sop_instance_element = _implicit(0x1000, sop_instance.encode("ascii"))
    length = len(sop_class_element) + len(middle) + len(sop_instance_element)
    return b"".join((_GROUP_LENGTH.pack(0x0000, 0x0000, 4, length), sop_class_element, middle,
                     sop_instance_element))  # (0000,0000) Command Group Length first


def command_fields(encoded: bytes | bytearray | memoryview) -> dict[int, bytes] | None:
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


@dataclass(frozen=True, slots=True)
class StoreRequest:
    """The C-STORE-RQ fields a receiver needs (PS3.7 9.3.1.1), as plain values."""

    message_id: int
    sop_class_uid: str
    sop_instance_uid: str
    move_originator_aet: str
    move_originator_id: int | None


def _us(fields: dict[int, bytes], element: int) -> int | None:
    value = fields.get(element)
    return struct.unpack("<H", value)[0] if value is not None and len(value) == 2 else None


def _text(fields: dict[int, bytes], element: int) -> str:
    return fields.get(element, b"").decode("ascii", "replace").strip(" \x00")


def store_request(fields: dict[int, bytes]) -> StoreRequest | None:
    """A C-STORE-RQ with a data set, or None for any other command."""
    if _us(fields, 0x0100) != 0x0001 or _us(fields, 0x0800) == 0x0101:
        return None
    message_id = _us(fields, 0x0110)
    sop_class, sop_instance = _text(fields, 0x0002), _text(fields, 0x1000)
    if message_id is None or not sop_class or not sop_instance:
        return None
    return StoreRequest(message_id, sop_class, sop_instance, _text(fields, 0x1030),
                        _us(fields, 0x1031))


def p_data_pdu(context_id: int, control: int, value: bytes) -> bytes:
    """A P-DATA-TF PDU with one presentation data value (PS3.8 9.3.5, E.2)."""
    return struct.pack(">BBLLBB", 0x04, 0, len(value) + 6, len(value) + 2, context_id,
                       control) + value


def c_store_request(fields: dict[int, bytes]) -> C_STORE | None:
    """A C-STORE-RQ primitive from its command fields (PS3.7 9.3.1.1), or None."""
    plain = store_request(fields)
    if plain is None:
        return None
    req = C_STORE()
    req.MessageID = plain.message_id
    req.AffectedSOPClassUID = plain.sop_class_uid
    req.AffectedSOPInstanceUID = plain.sop_instance_uid
    req.Priority = _us(fields, 0x0700) or 0
    if plain.move_originator_aet:
        req.MoveOriginatorApplicationEntityTitle = plain.move_originator_aet
    if plain.move_originator_id is not None:
        req.MoveOriginatorMessageID = plain.move_originator_id
    return req


def is_pending_retrieve_response(fields: dict[int, bytes]) -> bool:
    """A pending C-GET/C-MOVE-RSP without identifier (PS3.7 9.3.3.2 / 9.3.4.2)."""
    if _us(fields, 0x0100) not in (0x8010, 0x8021) or _us(fields, 0x0800) != 0x0101:
        return False
    if _us(fields, 0x0900) not in (0xFF00, 0xFF01) or _us(fields, 0x0120) is None:
        return False
    # Anything unusual takes pynetdicom's path.
    return not set(fields) - {0x0000, 0x0002, 0x0100, 0x0120, 0x0800, 0x0900, 0x1020, 0x1021,
                              0x1022, 0x1023}


def pending_retrieve_response(fields: dict[int, bytes]) -> C_GET | C_MOVE | None:
    """The primitive of a pending C-GET/C-MOVE-RSP without identifier, or None."""
    if not is_pending_retrieve_response(fields):
        return None
    rsp: C_GET | C_MOVE = C_GET() if _us(fields, 0x0100) == 0x8010 else C_MOVE()
    rsp.MessageIDBeingRespondedTo = _us(fields, 0x0120)
    rsp.Status = _us(fields, 0x0900)
    sop_class = _text(fields, 0x0002)
    if sop_class:
        rsp.AffectedSOPClassUID = sop_class
    rsp.NumberOfRemainingSuboperations = _us(fields, 0x1020)
    rsp.NumberOfCompletedSuboperations = _us(fields, 0x1021)
    rsp.NumberOfFailedSuboperations = _us(fields, 0x1022)
    rsp.NumberOfWarningSuboperations = _us(fields, 0x1023)
    return rsp
