"""PDUs handed out from one buffered read: whole, in order, whatever the socket delivers."""

from __future__ import annotations

import socket
import struct
import threading
import tracemalloc
from collections.abc import Iterator

import pytest

from viewer.net.fastpath import _limit_stalls
from viewer.net.pdu_input import PduInput, PduTooLargeError, PeerClosedError


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBL", pdu_type, 0, len(body)) + body


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_several_pdus_from_one_read_come_out_whole_and_in_order(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    pdus = [_pdu(0x04, bytes([n]) * (100 + n)) for n in range(5)]
    theirs.sendall(b"".join(pdus))
    pdu_input = PduInput(capacity=4096)
    got = [bytes(pdu_input.next_pdu(ours, wait=True) or b"") for _ in pdus]
    assert got == pdus
    assert pdu_input.pending == 0
    assert pdu_input.next_pdu(ours, wait=False) is None  # nothing more has arrived


def test_pdus_that_wrap_the_buffer_and_one_larger_than_it(
        pair: tuple[socket.socket, socket.socket]) -> None:
    # A small buffer: PDUs run past its end (what is left moves to the front), and one
    # PDU is larger than the whole buffer (read on its own).
    ours, theirs = pair
    pdus = [_pdu(0x04, bytes([n % 251]) * size)
            for n, size in enumerate([300, 700, 650, 5000, 90, 999, 1000, 3])]
    sender = threading.Thread(target=lambda: [theirs.sendall(p[:7]) or theirs.sendall(p[7:])
                                              for p in pdus])
    sender.start()
    pdu_input = PduInput(capacity=1024)
    got = [bytes(pdu_input.next_pdu(ours, wait=True) or b"") for _ in pdus]
    sender.join()
    assert got == pdus


def test_a_peer_closing_mid_pdu_is_an_error(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.sendall(_pdu(0x04, b"x" * 100)[:50])
    theirs.close()
    with pytest.raises(ConnectionError) as raised:
        PduInput(capacity=4096).next_pdu(ours, wait=True)
    assert not isinstance(raised.value, PeerClosedError)


def test_a_peer_closing_between_pdus_is_told_apart(
        pair: tuple[socket.socket, socket.socket]) -> None:
    # After a release the peer closes at a PDU boundary: the usual end, not a lost PDU.
    ours, theirs = pair
    theirs.sendall(_pdu(0x06, b"\x00" * 4))  # A-RELEASE-RP
    theirs.close()
    pdu_input = PduInput(capacity=4096)
    assert bytes(pdu_input.next_pdu(ours, wait=True) or b"")[:1] == b"\x06"
    with pytest.raises(PeerClosedError):
        pdu_input.next_pdu(ours, wait=True)


def _no_more_reads(pdu_input: PduInput, ours: socket.socket) -> None:
    with pytest.raises(ConnectionError):
        pdu_input.next_pdu(ours, wait=True)


def test_a_pdu_longer_than_the_limit_is_refused_before_its_body_is_read(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    ours.settimeout(5)  # reading the announced body would wait for bytes never sent
    theirs.sendall(struct.pack(">BBL", 0x01, 0, 0xF0000000) + b"\x00\x01")
    pdu_input = PduInput(capacity=4096)
    with pytest.raises(PduTooLargeError) as refused:
        pdu_input.next_pdu(ours, wait=True, limit=lambda pdu_type: 1000)
    assert (refused.value.pdu_type, refused.value.length) == (0x01, 0xF0000000)
    assert "A-ASSOCIATE-RQ PDU of 4026531840 bytes" in str(refused.value)
    assert pdu_input.pending == 0
    _no_more_reads(pdu_input, ours)  # what follows cannot be framed


def test_the_limit_is_asked_per_pdu_type(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    data, release = _pdu(0x04, b"d" * 3000), _pdu(0x05, b"\x00" * 4)
    theirs.sendall(data + release)
    pdu_input = PduInput(capacity=1024)
    limits = {0x04: None, 0x05: 4}
    assert bytes(pdu_input.next_pdu(ours, wait=True, limit=limits.get) or b"") == data
    assert bytes(pdu_input.next_pdu(ours, wait=True, limit=limits.get) or b"") == release


def test_memory_follows_the_bytes_that_arrive_not_the_announced_length(
        pair: tuple[socket.socket, socket.socket]) -> None:
    # A peer announces 1 GiB, sends a little and closes: nothing near 1 GiB is allocated.
    ours, theirs = pair
    theirs.sendall(struct.pack(">BBL", 0x04, 0, 1 << 30) + b"x" * 100_000)
    theirs.close()
    pdu_input = PduInput(capacity=4096)
    tracemalloc.start()
    try:
        with pytest.raises(ConnectionError):
            pdu_input.next_pdu(ours, wait=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
    _no_more_reads(pdu_input, ours)


def test_a_peer_that_stops_mid_pdu_ends_the_read(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    _limit_stalls(ours, 0.3)  # the socket's receive timeout, as every association has
    theirs.sendall(_pdu(0x04, b"y" * 500)[:200])
    pdu_input = PduInput(capacity=4096)
    with pytest.raises(TimeoutError):
        pdu_input.next_pdu(ours, wait=True)
    theirs.sendall(b"y" * 306)  # the rest, too late: the stream is given up
    _no_more_reads(pdu_input, ours)
