"""Who our storage SCP admits on which port, and who may hold a connection before that.

A node that uses DICOM TLS reaches us over TLS only (PS3.15 B.9): on the plain port it is
rejected as an unknown calling AE title (PS3.8 9.3.4), or its TLS could be bypassed by
its AE title and address alone. Before any A-ASSOCIATE-RQ, a connection from an address
of no configured node, or one more from an address that holds its share already, takes
the place of the oldest such connection, closed at once: nobody who merely reaches the
port can take the places configured nodes need. Timeouts are long here (ARTIM 60 s): a
connection seen closed was closed at once, and the waits below are only bounds on a hang.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

import viewer.net.scp as scp_module
from tests.net.conftest import FolderSink
from tests.net.idle_peers import (
    PATIENCE,
    closed_by_scp,
    echo_status,
    idle_connections,
    still_open,
)
from tests.net.tls_peers import client_context
from tests.support.logs import net_record
from tests.support.peers import free_port
from viewer.core.settings import NetworkSettings
from viewer.net.accept_loop import PENDING_PER_ADDRESS, PENDING_STRANGERS
from viewer.net.nodes import NodeRecord
from viewer.net.policy import DEFAULT_POLICY
from viewer.net.scp import StorageSCP
from viewer.net.tls import server_ssl_context

PACS = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
OTHER = NodeRecord("other", "OTHER", "127.0.0.3", 104)
THIRD = NodeRecord("third", "THIRD", "127.0.0.4", 104)



def _tls_node(tls: dict[str, Path]) -> NodeRecord:
    return NodeRecord("tlsscu", "TLSSCU", "127.0.0.1", 104, tls_ca=str(tls["ca"]),
                      tls_cert=str(tls["client"]), tls_key=str(tls["client-key"]))


def _local(tls: dict[str, Path]) -> NetworkSettings:
    """Our AE with TLS: the client certificate doubles as our server certificate."""
    return NetworkSettings(
        ae_title="LIGHTBOX", bind_address="127.0.0.1", port=free_port(),
        tls_cert=str(tls["client"]), tls_key=str(tls["client-key"]), tls_ca=str(tls["ca"]),
        tls_port=free_port()).validated()


@pytest.fixture
def both_ports(tls: dict[str, Path], tmp_path: Path, sink: FolderSink,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageSCP]:
    """Our SCP on a plain and a TLS port, for PACS and TLSSCU (TLS), both at 127.0.0.1,
    and OTHER and THIRD; a connection is held up to 60 s for its request."""
    policy = dataclasses.replace(DEFAULT_POLICY, artim_timeout=60.0, network_timeout=60.0)
    monkeypatch.setattr(scp_module, "DEFAULT_POLICY", policy)
    local = _local(tls)
    server = StorageSCP(local, [PACS, _tls_node(tls), OTHER, THIRD], tmp_path / "incoming",
                        sink, port=0, tls_port=0, ssl_context=server_ssl_context(local))
    with server:
        yield server


def _associate(port: int, calling: str, ctx: ssl.SSLContext | None = None,
               bind: str = "127.0.0.1") -> object:
    ae = AE(ae_title=calling)
    ae.acse_timeout = PATIENCE
    for uid in (Verification, CTImageStorage):
        ae.add_requested_context(uid)
    tls_args = (ctx, "127.0.0.1") if ctx is not None else None
    return ae.associate("127.0.0.1", port, ae_title="LIGHTBOX", bind_address=(bind, 0),
                        tls_args=tls_args)  # type: ignore[arg-type]



def _store(port: int, calling: str, path: Path, ctx: ssl.SSLContext | None = None) -> int:
    assoc = _associate(port, calling, ctx)
    assert assoc.is_established  # type: ignore[attr-defined]
    status = int(assoc.send_c_store(pydicom.dcmread(path)).Status)  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    return status





def _lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records
               if r.name.startswith("viewer.net"))


def test_a_tls_node_is_refused_on_the_plain_port_and_stores_over_tls(
        both_ports: StorageSCP, tls: dict[str, Path], sink: FolderSink,
        peer_files: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="viewer.net")
    first, second = sorted(p for p in peer_files.values() if p.name.startswith("doe_"))[:2]
    assert both_ports.port and both_ports.tls_port
    # Its AE title from its address, in clear text and without a certificate: refused
    # as a calling AE title the plain port does not know (PS3.8 9.3.4).
    assoc = _associate(both_ports.port, "TLSSCU")
    assert assoc.is_rejected  # type: ignore[attr-defined]
    rj = assoc.acceptor.primitive  # type: ignore[attr-defined]
    assert (rj.result, rj.result_source, rj.diagnostic) == (1, 1, 3)
    assert ("TLSSCU", "127.0.0.1", "LIGHTBOX", "tls") in both_ports.refused
    record = net_record(caplog, "refused on the plain port", PATIENCE)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "association from TLSSCU at 127.0.0.1 refused on the plain port: node tlsscu uses "
        f"DICOM TLS, so it must call our TLS port {both_ports.tls_port}")
    # The same node over TLS, with a certificate of our CA, is admitted and stores.
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"])
    assert _store(both_ports.tls_port, "TLSSCU", first, ctx) == 0
    # A node without TLS still stores on the plain port.
    assert _store(both_ports.port, "PACS", second) == 0
    both_ports.receiver.drain()
    assert set(sink.files) == {pydicom.dcmread(p).SOPInstanceUID for p in (first, second)}
    # The split follows a change of the nodes: TLSSCU without TLS is a plain node.
    both_ports.update_allowed([PACS, NodeRecord("tlsscu", "TLSSCU", "127.0.0.1", 104)])
    assert echo_status(both_ports.port, "TLSSCU") == 0


def test_a_tls_node_on_a_plain_only_scp_is_told_there_is_no_tls_port(
        tls: dict[str, Path], tmp_path: Path, sink: FolderSink,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="viewer.net")
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    with StorageSCP(local, [PACS, _tls_node(tls)], tmp_path / "incoming", sink,
                    port=0) as scp:
        assert echo_status(scp.port or 0, "TLSSCU") is None
        assert echo_status(scp.port or 0, "PACS") == 0
    assert "must call a TLS port of ours, and none is configured" in net_record(
        caplog, "refused on the plain port", PATIENCE).getMessage()


@pytest.mark.parametrize("tls_port", [False, True], ids=["plain", "tls"])
def test_connections_from_no_node_s_address_are_closed_at_once(
        both_ports: StorageSCP, tls: dict[str, Path], caplog: pytest.LogCaptureFixture,
        tls_port: bool) -> None:
    caplog.set_level(logging.INFO, logger="viewer.net")
    port = (both_ports.tls_port if tls_port else both_ports.port) or 0
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"]) if tls_port else None
    # More idle connections from 127.0.0.2, no node's address, than there are places
    # for connections awaiting their request: the nodes are not locked out.
    flood = DEFAULT_POLICY.max_pending_connections + 8
    with contextlib.ExitStack() as stack:
        idle = idle_connections(stack, port, "127.0.0.2", flood)
        assert echo_status(port, "PACS", ctx) == 0
        # A few are given the time for a request, that would be rejected and recorded
        # (a PACS calling back from an address its node does not name is explained):
        # the latest, each closing the oldest one waiting (in its TLS handshake, on the
        # TLS port), which is no refusal of the peer's TLS.
        assert all(closed_by_scp(sock) for sock in idle[:-PENDING_STRANGERS])
        assert all(still_open(sock) for sock in idle[-PENDING_STRANGERS:])
        assert both_ports.tls_refused == []
        # One log line for the address, not one per connection.
        assert _lines(caplog, "closed the oldest connection from 127.0.0.2 that was "
                              "waiting for its A-ASSOCIATE-RQ, for a newer one from "
                              "127.0.0.2: addresses of no configured node hold at most") == 1


def test_one_address_cannot_take_every_place(
        both_ports: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="viewer.net")
    port = both_ports.port or 0
    bound = DEFAULT_POLICY.max_pending_connections
    share = bound // 2 + 1  # what one address gets of an idle SCP
    with contextlib.ExitStack() as stack:
        # A configured node's own address (a compromised or broken host) tries to take
        # every place; another node's address tries to take the rest.
        first = idle_connections(stack, port, "127.0.0.1", bound + 8)
        second = idle_connections(stack, port, "127.0.0.3", PENDING_PER_ADDRESS + 2)
        # A third node still gets its association.
        assert echo_status(port, "THIRD", bind="127.0.0.4") == 0
        # Each one past its share closed the oldest waiting from its address.
        assert all(closed_by_scp(sock) for sock in first[:-share])
        assert all(still_open(sock) for sock in first[-share:])
        # Once more than half of the places are taken, an address gets at most its cap.
        assert all(closed_by_scp(sock) for sock in second[:-PENDING_PER_ADDRESS])
        assert all(still_open(sock) for sock in second[-PENDING_PER_ADDRESS:])
        assert _lines(caplog, "closed the oldest connection from 127.0.0.1 that was waiting "
                              f"for its A-ASSOCIATE-RQ, for a newer one: {share} from that "
                              "address were waiting") == 1


def test_a_tls_handshake_on_the_plain_port_is_named(
        both_ports: StorageSCP, tls: dict[str, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    # It was logged as "type 0x16 PDU of 16908289 bytes announced, more than ...".
    caplog.set_level(logging.INFO, logger="viewer.net")
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"])
    with socket.create_connection(("127.0.0.1", both_ports.port or 0),
                                  timeout=PATIENCE) as raw, pytest.raises(OSError):
        ctx.wrap_socket(raw, server_hostname="localhost")
    record = net_record(caplog, "began a TLS handshake on the plain DICOM port", PATIENCE)
    assert record.levelno == logging.WARNING
    assert "must call our TLS port" in record.getMessage()
    assert _lines(caplog, "PDU of") == 0
