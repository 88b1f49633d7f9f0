"""Our storage SCP against peers that hold connections or propose what PS3.8 forbids.

Before its A-ASSOCIATE-RQ has arrived a connection is nobody: it gets the ARTIM time
(PS3.8 9.1.5) for its TLS handshake and whole request, it does not take the place of a
configured node's association, and a request whose presentation context IDs break
PS3.8 9.3.2.2 is rejected. What such peers cause is logged in one line naming them.
Timeouts are shortened here; the waits below are only bounds on a hang.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import Verification
from pynetdicom.transport import AddressInformation

import viewer.net.scp as scp_module
from tests.net.conftest import FolderSink
from tests.net.tls_peers import client_context
from tests.support.listening import lightbox_listening
from tests.support.logs import net_record
from tests.support.peers import free_port
from viewer.core.errors import PeerError
from viewer.core.settings import NetworkSettings
from viewer.net.listener import LISTENER_FILE, HomeListener
from viewer.net.nodes import NodeBook, NodeRecord
from viewer.net.policy import DEFAULT_POLICY
from viewer.net.scp import StorageSCP
from viewer.net.tls import server_ssl_context

PACS = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
# How long a test waits for something that must happen within a second or two here:
# only "never" (or "after the untouched 30 s default") fails.
PATIENCE = 15.0
ARTIM = 1.0


def _short_policy(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    # network_timeout stays long: what ends a dribbling request must be the ARTIM
    # deadline, not the wait for each byte.
    fields: dict[str, object] = {"artim_timeout": ARTIM, "network_timeout": 60.0}
    fields.update(changes)
    policy = dataclasses.replace(DEFAULT_POLICY, **fields)  # type: ignore[arg-type]
    monkeypatch.setattr(scp_module, "DEFAULT_POLICY", policy)


@pytest.fixture
def scp(tmp_path: Path, sink: FolderSink, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[StorageSCP]:
    _short_policy(monkeypatch)
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    with StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=0) as server:
        yield server


def _closed_by_peer(sock: socket.socket, dribble: bytes = b"", every: float = 0.1) -> bool:
    """Send ``dribble`` a byte at a time (then nothing) until the SCP closes the
    connection; False if it is still open after PATIENCE."""
    end = time.monotonic() + PATIENCE
    sock.settimeout(every)
    sent = 0
    while time.monotonic() < end:
        try:
            if sent < len(dribble):
                sock.sendall(dribble[sent:sent + 1])
                sent += 1
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset, or a send after the SCP closed
            return True
    return False


def _log_of(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    return net_record(caplog, text, PATIENCE)


def _echo(scp: StorageSCP, port: int | None = None) -> str:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(Verification)
    ae.acse_timeout = PATIENCE
    assoc = ae.associate("127.0.0.1", port or scp.port or 0, ae_title="LIGHTBOX")
    if assoc.is_established:
        status = assoc.send_c_echo().Status
        assoc.release()
        return "echoed" if status == 0 else f"status {status}"
    if assoc.is_rejected and assoc.acceptor.primitive is not None:
        return f"rejected, reason {assoc.acceptor.primitive.diagnostic}"
    return "aborted"


def _wait_for_connections(scp: StorageSCP, count: int) -> None:
    """Until the SCP has accepted ``count`` connections (so they are its to hold)."""
    end = time.monotonic() + PATIENCE
    while scp.connections < count and time.monotonic() < end:
        time.sleep(0.01)
    assert scp.connections >= count


# A-ASSOCIATE-RQ header announcing 4096 bytes, as the audit's slow-loris peer sends.
SLOW_HEADER = struct.pack(">BBL", 0x01, 0, 4096)


def test_a_request_sent_a_byte_at_a_time_is_cut_off_at_the_artim_deadline(
        scp: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    # Each byte came well within the network timeout; only a total deadline ends it.
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    with socket.create_connection(("127.0.0.1", scp.port or 0)) as sock:
        sock.sendall(SLOW_HEADER)
        assert _closed_by_peer(sock, b"\x00" * 4096)
    record = _log_of(caplog, "ARTIM")
    assert record.levelno == logging.WARNING and "127.0.0.1:" in record.getMessage()
    assert _echo(scp) == "echoed"


def test_a_silent_connection_is_closed_at_the_artim_deadline(scp: StorageSCP) -> None:
    with socket.create_connection(("127.0.0.1", scp.port or 0)) as sock:
        assert _closed_by_peer(sock)


def test_a_configured_node_gets_its_association_beside_silent_and_dribbling_peers(
        tmp_path: Path, sink: FolderSink, monkeypatch: pytest.MonkeyPatch) -> None:
    # As many silent and as many dribbling connections as associations are allowed
    # (8 each): none of them is an association, so the node is not refused (reason 2).
    _short_policy(monkeypatch, artim_timeout=60.0)
    limit = DEFAULT_POLICY.max_associations
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    with StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=0) as scp, \
            contextlib.ExitStack() as stack:
        for i in range(2 * limit):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", scp.port or 0)))
            if i % 2:
                sock.sendall(SLOW_HEADER + b"\x00")
        _wait_for_connections(scp, 2 * limit)
        assert _echo(scp) == "echoed"


def test_beyond_the_pending_bound_the_oldest_waiting_connection_is_closed(
        tmp_path: Path, sink: FolderSink, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    _short_policy(monkeypatch, artim_timeout=60.0, max_pending_connections=4)
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    with StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=0) as scp, \
            contextlib.ExitStack() as stack:
        held = [stack.enter_context(socket.create_connection(("127.0.0.1", scp.port or 0)))
                for _ in range(4)]
        _wait_for_connections(scp, 4)
        with socket.create_connection(("127.0.0.1", scp.port or 0)) as fifth:
            # The fifth takes the place of the one that has waited longest ...
            assert _closed_by_peer(held[0])
            assert _log_of(caplog, "closed the oldest connection from 127.0.0.1"
                           ).levelno == logging.WARNING
            # ... and a configured node's association that of the next: it gets in.
            assert _echo(scp) == "echoed"
            assert _closed_by_peer(held[1])
            for sock in (*held[2:], fifth):  # still held, waiting for their request
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1)


def _association_request(context_ids: list[int]) -> bytes:
    """An A-ASSOCIATE-RQ from the configured node PACS with these context IDs."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "PACS"
    primitive.called_ae_title = "LIGHTBOX"
    primitive.calling_presentation_address = AddressInformation("127.0.0.1", 1)
    primitive.called_presentation_address = AddressInformation("127.0.0.1", 2)
    contexts = []
    for i, cid in enumerate(context_ids):
        cx = build_context(f"1.2.840.10008.5.1.4.1.1.{i + 1}", ["1.2.840.10008.1.2"])
        cx._context_id = cid  # past pynetdicom's check, which refuses even IDs to send
        contexts.append(cx)
    primitive.presentation_context_definition_list = contexts
    maximum = MaximumLengthNotification()
    maximum.maximum_length_received = 16384
    primitive.user_information = [maximum]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def _answer(scp: StorageSCP, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", scp.port or 0)) as sock:
        sock.sendall(raw)
        sock.settimeout(PATIENCE)
        head = sock.recv(6, socket.MSG_WAITALL)
        (length,) = struct.unpack(">L", head[2:6])
        body = sock.recv(length, socket.MSG_WAITALL)
        with contextlib.suppress(OSError):
            sock.sendall(struct.pack(">BBLL", 0x07, 0, 4, 0))  # A-ABORT after an AC
        return head + body


@pytest.mark.parametrize(("context_ids", "problem"), [
    ([(2 * i + 1) % 256 or 1 for i in range(300)], "300 presentation contexts"),
    ([1, 3, 1], "ID 1 is proposed more than once"),
    ([1, 4], "ID 4 is not an odd number"),
    ([0], "ID 0 is not an odd number"),
])
def test_a_request_with_invalid_context_ids_is_rejected(
        scp: StorageSCP, caplog: pytest.LogCaptureFixture, context_ids: list[int],
        problem: str) -> None:
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    answer = _answer(scp, _association_request(context_ids))
    # PS3.8 9.3.4: A-ASSOCIATE-RJ, rejected-permanent, service-provider (ACSE related).
    assert answer[0] == 0x03 and tuple(answer[7:10]) == (0x01, 0x02, 0x01)
    record = _log_of(caplog, problem)
    assert record.levelno == logging.WARNING and "127.0.0.1" in record.getMessage()
    assert _echo(scp) == "echoed"


def test_a_request_with_128_valid_contexts_is_accepted(scp: StorageSCP) -> None:
    answer = _answer(scp, _association_request([2 * i + 1 for i in range(128)]))
    assert answer[0] == 0x02  # A-ASSOCIATE-AC


def test_a_malformed_request_is_one_warning_line_without_a_traceback(
        scp: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", scp.port or 0)) as sock:
            sock.sendall(struct.pack(">BBL", 0x01, 0, 0))  # an A-ASSOCIATE-RQ of 0 bytes
            sock.settimeout(PATIENCE)
            assert sock.recv(1) == b"\x07"  # PS3.8 9.2 AA-1: A-ABORT
    record = _log_of(caplog, "cannot decode the A-ASSOCIATE-RQ PDU")
    assert record.levelno == logging.WARNING and "127.0.0.1:" in record.getMessage()
    loud = [r for r in caplog.records if r.name.startswith("viewer.net")
            and r.levelno >= logging.WARNING and (r.exc_info or r.levelno >= logging.ERROR)]
    assert not loud
    assert _echo(scp) == "echoed"


# DICOM TLS: the handshake counts against the same deadline.


@pytest.fixture
def tls_scp(tls: dict[str, Path], tmp_path: Path, sink: FolderSink,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageSCP]:
    _short_policy(monkeypatch)
    local = NetworkSettings(
        ae_title="LIGHTBOX", bind_address="127.0.0.1", port=free_port(),
        tls_cert=str(tls["client"]), tls_key=str(tls["client-key"]), tls_ca=str(tls["ca"]),
        tls_port=free_port()).validated()
    with StorageSCP(local, [PACS], tmp_path / "incoming", sink, plain=False, tls_port=0,
                    ssl_context=server_ssl_context(local)) as server:
        yield server


def _client_hello(tls: dict[str, Path]) -> bytes:
    """The first flight of a TLS client, to be sent by hand."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = client_context(tls["ca"], tls["client"], tls["client-key"])
    client = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def test_a_tls_handshake_sent_a_byte_at_a_time_is_cut_off_at_the_artim_deadline(
        tls_scp: StorageSCP, tls: dict[str, Path]) -> None:
    hello = _client_hello(tls)
    with socket.create_connection(("127.0.0.1", tls_scp.tls_port or 0)) as sock:
        assert _closed_by_peer(sock, hello, every=0.05)
    assert tls_scp.tls_refused and tls_scp.tls_refused[-1][0] == "127.0.0.1"


def test_a_tls_peer_silent_after_its_handshake_is_cut_off_at_the_artim_deadline(
        tls_scp: StorageSCP, tls: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    ctx = client_context(tls["ca"], tls["client"], tls["client-key"])
    with socket.create_connection(("127.0.0.1", tls_scp.tls_port or 0)) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(SLOW_HEADER)
        assert _closed_by_peer(sock)
    assert "127.0.0.1:" in _log_of(caplog, "ARTIM").getMessage()


# Bind failures say who holds the port, or that the address is not ours.

def test_a_port_held_by_this_homes_listener_names_its_process(
        tmp_path: Path, sink: FolderSink) -> None:
    home = tmp_path / "home"
    home.mkdir()
    NodeBook(home).add(PACS)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            (home / LISTENER_FILE).write_text(json.dumps(
                {"pid": other.pid, "ae_title": "LIGHTBOX", "port": port, "tls_port": 0}))
            local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1", port=port)
            listener = HomeListener(home, local, home / "incoming", sink)
            with pytest.raises(PeerError) as raised:
                listener.start()
        assert (f"another Lightbox process of this home (pid {other.pid}) is listening on "
                f"port {port}") in str(raised.value)
        assert "config set port" not in str(raised.value)
    finally:
        other.kill()
        other.wait()


def test_a_second_listener_of_a_home_is_refused_and_leaves_the_first_recorded(
        tmp_path: Path, sink: FolderSink) -> None:
    # `lightbox listen --port P2` beside a running `lightbox listen`: it took over the
    # home's record and removed it when it ended, while the first still listened.
    home = tmp_path / "home"
    home.mkdir()
    NodeBook(home).add(PACS)
    with lightbox_listening(home) as first:
        recorded = (home / LISTENER_FILE).read_text()
        local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1",
                                port=free_port())
        with pytest.raises(PeerError) as raised:
            HomeListener(home, local, home / "incoming", sink).start()
        assert (f"is listening on port {first.port} already: one storage SCP per home"
                in str(raised.value))
        assert (home / LISTENER_FILE).read_text() == recorded


def test_a_port_held_by_another_program_still_advises_another_port(
        tmp_path: Path, sink: FolderSink) -> None:
    home = tmp_path / "home"
    home.mkdir()
    NodeBook(home).add(PACS)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1", port=port)
        with pytest.raises(PeerError, match=r"choose another port \(Our AE\.\.\. in the "
                           r"Query/Retrieve tab, or lightbox config set port N\), and "
                           "register it"):
            HomeListener(home, local, home / "incoming", sink).start()


def test_a_bind_address_not_of_this_computer_is_named(tmp_path: Path,
                                                       sink: FolderSink) -> None:
    address = "192.0.2.1"  # TEST-NET-1 (RFC 5737): no computer's address
    with socket.socket() as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                pytest.skip(f"binding {address} fails otherwise here: {exc}")
        else:
            pytest.skip(f"{address} is an address of this computer")
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address=address)
    with pytest.raises(PeerError) as raised:
        StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=0).start()
    text = str(raised.value)
    assert f"bind-address {address} is not an address of this computer" in text
    assert "lightbox config set bind-address" in text and "config set port" not in text
