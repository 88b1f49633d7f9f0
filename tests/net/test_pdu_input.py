"""PDUs handed out from one buffered read: whole, in order, whatever the socket delivers."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from viewer.net.fastpath import _BulkReceiveSocket
from viewer.net.pdu_input import PduInput


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


def test_pynetdicom_reads_see_what_was_read_ahead(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    first, second = _pdu(0x04, b"a" * 10), _pdu(0x05, b"\x00" * 4)
    theirs.sendall(first + second)
    pdu_input = PduInput(capacity=4096)
    assert bytes(pdu_input.next_pdu(ours, wait=True) or b"") == first
    assert pdu_input.pending == len(second)
    assert pdu_input.take(6) + pdu_input.take(100) == second
    assert pdu_input.pending == 0


def test_a_peer_closing_mid_pdu_is_an_error(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.sendall(_pdu(0x04, b"x" * 100)[:50])
    theirs.close()
    with pytest.raises(ConnectionError):
        PduInput(capacity=4096).next_pdu(ours, wait=True)


def test_the_association_socket_reads_what_was_read_ahead_first(
        pair: tuple[socket.socket, socket.socket]) -> None:
    # pynetdicom's own reads (a PDU the short path does not take) go through the
    # association socket: it must hand out the bytes already read ahead before new ones.
    ours, theirs = pair
    first, second = _pdu(0x04, b"a" * 10), _pdu(0x05, b"\x00" * 4)
    theirs.sendall(first + second[:3])
    pdu_input = PduInput(capacity=4096)
    assert bytes(pdu_input.next_pdu(ours, wait=True) or b"") == first
    wrapper = _BulkReceiveSocket.__new__(_BulkReceiveSocket)
    ours.settimeout(5)  # a read that ignored what was read ahead would wait for ever
    wrapper.socket = ours
    wrapper._assoc = SimpleNamespace(dul=SimpleNamespace(lightbox_input=pdu_input))
    theirs.sendall(second[3:])
    assert bytes(wrapper.recv(6)) + bytes(wrapper.recv(4)) == second
