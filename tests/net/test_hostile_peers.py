"""Our storage SCP against peers that break the upper layer protocol (PS3.8 9).

Anyone who can reach the port can send bytes before any AE title is checked: what they
announce must not cost memory they did not send, and a PDU left half-sent must not hold
an association (and its thread) for ever. The SCP goes on serving configured nodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, Verification
from pynetdicom.transport import AssociationSocket

import viewer.net.scp as scp_module
from tests.net.conftest import FolderSink
from tests.support import testdata
from tests.support.logs import net_record
from viewer.core.settings import NetworkSettings
from viewer.net.fastpath import CONTROL_PDU_LIMIT, _BulkReceiveSocket
from viewer.net.nodes import NodeRecord
from viewer.net.scp import StorageSCP

PACS = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
# How long a test waits for the SCP to close a connection: far beyond the 1 s the SCP's
# network timeout is set to here, so that only "never" fails.
PATIENCE = 60.0


@pytest.fixture
def scp(tmp_path: Path, sink: FolderSink, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[StorageSCP]:
    policy = dataclasses.replace(scp_module.DEFAULT_POLICY, network_timeout=1.0)
    monkeypatch.setattr(scp_module, "DEFAULT_POLICY", policy)
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    server = StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=0)
    with server:
        yield server


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the SCP sends until it closes the connection."""
    sock.settimeout(PATIENCE)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _echo_works(scp: StorageSCP) -> bool:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    try:
        return bool(assoc.is_established and assoc.send_c_echo().Status == 0)
    finally:
        assoc.release()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_a_huge_announced_association_request_is_aborted_without_allocating_it(
        scp: StorageSCP) -> None:
    # Before the limit, these 6 bytes made the SCP allocate (and zero) 3.75 GiB.
    before = _resident_bytes()
    with socket.create_connection(("127.0.0.1", scp.port)) as sock:
        sock.sendall(struct.pack(">BBL", 0x01, 0, 0xF0000000))
        answer = _until_closed(sock)
    assert answer[:1] == b"\x07"  # PS3.8 9.3.8: A-ABORT, then the connection closed
    assert _resident_bytes() - before < 256 * 1024 * 1024
    assert _echo_works(scp)


def test_a_pdu_left_half_sent_does_not_hold_the_association(scp: StorageSCP) -> None:
    with socket.create_connection(("127.0.0.1", scp.port)) as sock:
        sock.sendall(struct.pack(">BBL", 0x01, 0, 200) + b"\x00\x01")  # 2 of 200 bytes
        _until_closed(sock)  # a socket.timeout here: the SCP waited for ever
    assert _echo_works(scp)


def test_an_oversized_data_pdu_on_an_association_aborts_it_and_stores_nothing(
        scp: StorageSCP, sink: FolderSink) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assert assoc.is_established
    too_long = max(scp.local.max_pdu, CONTROL_PDU_LIMIT) + 1
    assert assoc.dul.socket is not None
    assoc.dul.socket.send(struct.pack(">BBL", 0x04, 0, too_long) + b"\x00" * 64)
    assoc.join(PATIENCE)  # the association's thread ends with the SCP's A-ABORT
    assert assoc.is_aborted
    scp.receiver.drain()
    assert not sink.files
    assert _echo_works(scp)


def _store_pdus(scp: StorageSCP) -> list[bytes]:
    """The P-DATA-TF PDUs of one C-STORE of a small CT, as pynetdicom sends them."""
    sent: list[bytes] = []
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assoc.bind(evt.EVT_DATA_SENT, lambda event: sent.append(bytes(event.data)))
    assert assoc.send_c_store(pydicom.dcmread(testdata.test_file("CT_small.dcm"))).Status == 0
    assoc.release()
    return [pdu for pdu in sent if pdu[0] == 0x04]


def _damaged(rng: random.Random, pdus: list[bytes]) -> list[bytes]:
    damaged = [bytearray(p) for p in pdus]
    pdu = rng.choice(damaged)
    kind = rng.randrange(5)
    if kind == 0:  # PDU, PDV and command headers
        pdu[rng.randrange(min(len(pdu), 48))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # the PDU's or the PDV's length
        struct.pack_into(">L", pdu, rng.choice((2, 6)),
                         rng.choice((0, 1, 2, 6, len(pdu) - 7, 0xFFFF)))
    elif kind == 2:  # presentation context ID, message control header
        pdu[rng.choice((10, 11))] = rng.randrange(256)
    elif kind == 3:  # order and repetition
        return [bytes(p) for p in rng.choice((damaged[::-1], damaged * 2, damaged[1:]))]
    else:  # a command element's length
        at = 12 + 8 * rng.randrange(6) + 4
        struct.pack_into("<L", damaged[0], at, rng.choice((0, 1, 3, 500, 0xFFFFFFFF)))
    return [bytes(p) for p in damaged]


def test_damaged_store_requests_never_stop_the_scp(
        scp: StorageSCP, sink: FolderSink, monkeypatch: pytest.MonkeyPatch) -> None:
    # A configured node that sends broken PDUs: whatever the SCP answers (a response,
    # an A-ABORT, or waiting for bytes that never come), no thread of it dies, what it
    # hands on is a whole file, and it goes on serving.
    died: list[str] = []
    monkeypatch.setattr(threading, "excepthook",
                        lambda args: died.append(f"{args.thread}: {args.exc_value!r}"))
    pdus = _store_pdus(scp)
    rng = random.Random(7)
    for _ in range(40):
        ae = AE(ae_title="PACS")
        ae.add_requested_context(CTImageStorage)
        ae.network_timeout = 1  # our side gives up on a silent SCP
        assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
        assert assoc.is_established and assoc.dul.socket is not None
        with contextlib.suppress(OSError):
            for pdu in _damaged(rng, pdus):
                assoc.dul.socket.send(pdu)
        assoc.join(PATIENCE)
        assoc.abort()
    scp.receiver.drain()
    assert not died
    for path in sink.files.values():
        pydicom.dcmread(path, stop_before_pixels=True)  # a whole file with its meta
    assert _echo_works(scp)


def test_every_pdu_is_read_through_the_associations_buffer(
        scp: StorageSCP, sink: FolderSink, monkeypatch: pytest.MonkeyPatch) -> None:
    # The short path reads ahead into the DUL's buffer: a PDU read through the socket's
    # own recv would skip those bytes. Negotiation, data, echo and release all go
    # through the buffer (and its limits) on our side.
    ours: list[int] = []
    stock = AssociationSocket.recv

    def recv(self: AssociationSocket, nr_bytes: int) -> bytearray:
        if isinstance(self, _BulkReceiveSocket):
            ours.append(nr_bytes)
        return stock(self, nr_bytes)

    monkeypatch.setattr(AssociationSocket, "recv", recv)
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assert assoc.send_c_store(pydicom.dcmread(testdata.test_file("CT_small.dcm"))).Status == 0
    assert assoc.send_c_echo().Status == 0
    assoc.release()
    scp.receiver.drain()
    assert len(sink.files) == 1 and not ours


def _record_of(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    return net_record(caplog, text, PATIENCE)


def test_a_released_association_ends_without_an_error_in_the_log(
        scp: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    # The peer closes the connection after the release (Sta13): the usual end of every
    # association, which must not read as a failure in an administrator's log.
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    assert _echo_works(scp)
    assert _record_of(caplog, "connection closed by 127.0.0.1:").levelno == logging.DEBUG
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_peer_dropping_an_association_is_logged_with_its_address(
        scp: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    ae = AE(ae_title="PACS")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assert assoc.is_established and assoc.dul.socket is not None
    assert assoc.dul.socket.socket is not None
    assoc.dul.socket.socket.shutdown(socket.SHUT_WR)  # no release, no abort: just gone
    record = _record_of(caplog, "without releasing the association")
    assoc.abort()
    assert record.levelno == logging.WARNING and "127.0.0.1:" in record.getMessage()


def test_a_connection_lost_mid_request_is_a_warning_naming_the_peer(
        scp: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    # Closed with the A-ASSOCIATE-RQ unfinished: no association is started for it (one
    # would hold a place waiting for the rest), and the accept loop says why.
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    with socket.create_connection(("127.0.0.1", scp.port)) as sock:
        sock.sendall(struct.pack(">BBL", 0x01, 0, 200) + b"\x00\x01")  # 2 of 200 bytes
        sock.shutdown(socket.SHUT_WR)
        _until_closed(sock)
    record = _record_of(caplog, "lost before its A-ASSOCIATE-RQ")
    assert record.levelno == logging.WARNING and "127.0.0.1:" in record.getMessage()
    assert "after 8 bytes of its first PDU" in record.getMessage()
    assert _echo_works(scp)
