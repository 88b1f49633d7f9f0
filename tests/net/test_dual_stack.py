"""A storage SCP bound to ``::`` takes IPv4 peers too, which it sees as IPv4-mapped IPv6
addresses (RFC 4291 2.5.5.2): they are the nodes configured with the IPv4 address."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.net.conftest import OUR_AET, FolderSink, move_from_another_address, node_for
from tests.support.peers import PeerProcess, study_uid
from viewer.core.settings import NetworkSettings
from viewer.net.retrieve import RetrieveRequest, retrieve
from viewer.net.scp import plain_address


def _dual_stack() -> bool:
    """Whether this host can listen on ``::`` for IPv6 and IPv4 alike."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", 0))
    except OSError:
        return False
    return True


needs_dual_stack = pytest.mark.skipif(not _dual_stack(), reason="no dual-stack IPv6 here")


@pytest.fixture
def everywhere(move_port: int) -> NetworkSettings:
    """Our AE listening on every address, IPv6 and IPv4 (``bind-address ::``)."""
    return NetworkSettings(ae_title=OUR_AET, port=move_port, bind_address="::")


def test_ipv4_mapped_addresses_are_read_as_ipv4() -> None:
    assert plain_address("::ffff:127.0.0.1") == "127.0.0.1"
    assert plain_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert plain_address("::1") == "::1"
    assert plain_address("2001:db8::1") == "2001:db8::1"
    assert plain_address("127.0.0.1") == "127.0.0.1"
    assert plain_address("not an address") == "not an address"


@needs_dual_stack
@pytest.mark.peer
def test_an_ipv4_pacs_moves_into_a_dual_stack_scp(
        orthanc: PeerProcess, everywhere: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    # Orthanc connects back to 127.0.0.1, which the SCP on :: sees as ::ffff:127.0.0.1.
    last = list(retrieve(node_for(orthanc), everywhere, RetrieveRequest(study_uid("doe")),
                         sink, tmp_path / "incoming", method="move"))[-1]
    assert last.ok, last.message
    assert last.received == 30 and len(sink.files) == 30


@needs_dual_stack
@pytest.mark.peer
def test_a_refused_ipv4_pacs_is_named_by_its_ipv4_address(
        orthanc: PeerProcess, everywhere: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    # The advice names the address a node can be given, not its IPv4-mapped form.
    message = move_from_another_address(orthanc, everywhere, sink, tmp_path / "incoming")
    assert "::ffff:" not in message
