"""A configured node's address held full of idle connections does not lock the node out.

A connection waits up to the ARTIM time (PS3.8 9.1.5) for its A-ASSOCIATE-RQ, holding a
place. A host that shares a node's address (behind NAT, or on the PACS's own computer)
could keep that address's share of the places taken with connections that send nothing,
and every further connection from it, the node's own association included, used to be
closed at once. A new connection now takes the place of the oldest one waiting that it
competes with, which is shut down (the thread that waits on it wakes at once).
Timeouts are long here (ARTIM 60 s): a connection seen closed was closed for a newer
one, and the waits below are only bounds on a hang.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import viewer.net.scp as scp_module
from tests.net.conftest import FolderSink
from tests.net.idle_peers import (
    closed_by_scp,
    echo_status,
    idle_connections,
    still_open,
)
from tests.net.tls_peers import client_context
from tests.support.peers import free_port
from viewer.core.settings import NetworkSettings
from viewer.net.accept_loop import PENDING_PER_ADDRESS, PendingConnections, Place
from viewer.net.nodes import NodeRecord
from viewer.net.policy import DEFAULT_POLICY
from viewer.net.scp import StorageSCP
from viewer.net.tls import server_ssl_context

PACS = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
OTHER = NodeRecord("other", "OTHER", "127.0.0.3", 104)


class Wakes:
    """Records which places were woken, in order."""

    def __init__(self) -> None:
        self.woken: list[str] = []

    def of(self, name: str) -> Callable[[], None]:
        return lambda: self.woken.append(name)


def _enter(pending: PendingConnections, wakes: Wakes, name: str, address: str,
           from_a_node: bool = True) -> Place:
    place = pending.enter(address, from_a_node, wakes.of(name))
    assert place is not None
    return place


def test_past_its_share_an_address_closes_its_oldest_waiting_connection_first() -> None:
    wakes = Wakes()
    pending = PendingConnections(8, per_address=2)
    others = [_enter(pending, wakes, f"other{i}", "10.0.0.9") for i in range(3)]
    first = _enter(pending, wakes, "a1", "10.0.0.1")
    second = _enter(pending, wakes, "a2", "10.0.0.1")
    assert wakes.woken == []  # 5 of 8 held: more than half, but 10.0.0.1 is at its cap
    newer = [_enter(pending, wakes, f"a{i}", "10.0.0.1") for i in (3, 4)]
    assert wakes.woken == ["a1", "a2"]  # oldest first, and only that address's
    assert first.evicted and second.evicted and not any(p.evicted for p in newer + others)
    assert (pending.held, pending.held_by("10.0.0.1"), pending.held_by("10.0.0.9")) == (5, 2, 3)


def test_a_place_is_given_back_once_and_a_connection_that_left_is_never_closed() -> None:
    wakes = Wakes()
    pending = PendingConnections(3, per_address=8)
    arrived = [_enter(pending, wakes, f"a{i}", "10.0.0.1") for i in (1, 2)]
    waiting = _enter(pending, wakes, "a3", "10.0.0.1")
    for place in arrived:  # their A-ASSOCIATE-RQ arrived: they left the places
        assert pending.leave(place)
        assert not pending.leave(place)  # a second leave gives nothing back
    assert (pending.held, pending.held_by("10.0.0.1")) == (1, 1)
    later = [_enter(pending, wakes, f"a{i}", "10.0.0.1") for i in (4, 5, 6)]
    # All 3 places taken at a6: the oldest still waiting goes, not a1 or a2, older.
    assert wakes.woken == ["a3"] and waiting.evicted
    assert not pending.leave(waiting)  # its thread, woken: nothing to give back
    assert (pending.held, pending.held_by("10.0.0.1")) == (3, 3)
    for place in later:
        assert pending.leave(place)
    assert (pending.held, pending.held_by("10.0.0.1")) == (0, 0)


def test_a_stranger_closes_the_oldest_of_the_stranger_address_holding_most() -> None:
    wakes = Wakes()
    pending = PendingConnections(32, strangers=2)
    _enter(pending, wakes, "x1", "10.0.0.7", from_a_node=False)
    _enter(pending, wakes, "x2", "10.0.0.7", from_a_node=False)
    node = _enter(pending, wakes, "node", "10.0.0.1")
    _enter(pending, wakes, "y1", "10.0.0.8", from_a_node=False)
    assert wakes.woken == ["x1"]  # 10.0.0.7 held both strangers' places
    # One each now: a host that reconnects closes its own, not the other's.
    _enter(pending, wakes, "x3", "10.0.0.7", from_a_node=False)
    _enter(pending, wakes, "x4", "10.0.0.7", from_a_node=False)
    assert wakes.woken == ["x1", "x2", "x3"] and not node.evicted
    assert (pending.held, pending.held_by("10.0.0.7"), pending.held_by("10.0.0.8")) == (3, 1, 1)


def test_strangers_with_no_places_are_closed_at_once() -> None:
    pending = PendingConnections(4, strangers=0)
    assert pending.enter("10.0.0.7", from_a_node=False) is None
    assert pending.held == 0


def test_at_the_bound_the_oldest_of_the_address_holding_most_is_closed() -> None:
    wakes = Wakes()
    pending = PendingConnections(4, per_address=8)
    _enter(pending, wakes, "b1", "10.0.0.2")
    _enter(pending, wakes, "a1", "10.0.0.1")
    _enter(pending, wakes, "a2", "10.0.0.1")
    _enter(pending, wakes, "c1", "10.0.0.3")
    _enter(pending, wakes, "d1", "10.0.0.4")  # all 4 taken: 10.0.0.1 holds most
    assert wakes.woken == ["a1"]
    # Equal shares: the newcomer's own address first, else the oldest one's.
    _enter(pending, wakes, "c2", "10.0.0.3")
    _enter(pending, wakes, "e1", "10.0.0.5")
    assert wakes.woken == ["a1", "c1", "b1"]
    assert (pending.held, pending.held_by("10.0.0.2")) == (4, 0)


def test_a_wake_that_fails_still_gives_the_place_to_the_new_connection() -> None:
    def reset() -> None:
        raise ConnectionResetError

    pending = PendingConnections(1)
    old = pending.enter("10.0.0.1", wake=reset)
    new = pending.enter("10.0.0.1")
    assert old is not None and old.evicted and new is not None and not new.evicted
    assert pending.held == 1


# --- the storage SCP, over real sockets -------------------------------------------------



@pytest.fixture
def both_ports(tls: dict[str, Path], tmp_path: Path, sink: FolderSink,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageSCP]:
    """Our SCP on a plain and a TLS port for PACS and TLSSCU (TLS), both at 127.0.0.1,
    and OTHER; a connection is held up to 60 s for its request."""
    policy = dataclasses.replace(DEFAULT_POLICY, artim_timeout=60.0, network_timeout=60.0)
    monkeypatch.setattr(scp_module, "DEFAULT_POLICY", policy)
    local = NetworkSettings(
        ae_title="LIGHTBOX", bind_address="127.0.0.1", port=free_port(),
        tls_cert=str(tls["client"]), tls_key=str(tls["client-key"]), tls_ca=str(tls["ca"]),
        tls_port=free_port()).validated()
    tls_node = NodeRecord("tlsscu", "TLSSCU", "127.0.0.1", 104, tls_ca=str(tls["ca"]),
                          tls_cert=str(tls["client"]), tls_key=str(tls["client-key"]))
    with StorageSCP(local, [PACS, tls_node, OTHER], tmp_path / "incoming", sink, port=0,
                    tls_port=0, ssl_context=server_ssl_context(local)) as server:
        yield server






@pytest.mark.parametrize("tls_port", [False, True], ids=["plain", "tls"])
def test_a_node_gets_its_association_though_its_address_holds_its_share_idle(
        both_ports: StorageSCP, tls: dict[str, Path], caplog: pytest.LogCaptureFixture,
        tls_port: bool) -> None:
    caplog.set_level(logging.INFO, logger="viewer.net")
    port = (both_ports.tls_port if tls_port else both_ports.port) or 0
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"]) if tls_port else None
    calling = "TLSSCU" if tls_port else "PACS"
    half = DEFAULT_POLICY.max_pending_connections // 2
    with contextlib.ExitStack() as stack:
        # Another node's address takes more than half of the places, and a host at the
        # node's own address (NAT, or the PACS's computer) its share, sending nothing.
        idle_connections(stack, port, "127.0.0.3", half + 1)
        mine = idle_connections(stack, port, "127.0.0.1", PENDING_PER_ADDRESS)
        # The node's association, from that address, takes the place of the oldest of
        # them (in its TLS handshake, on the TLS port), which sees its end at once.
        assert echo_status(port, calling, ctx) == 0
        assert closed_by_scp(mine[0])
        assert all(still_open(sock) for sock in mine[1:])
        # Closing it for a newer connection is no refusal of that peer's TLS.
        assert both_ports.tls_refused == []
        assert any("closed the oldest connection from 127.0.0.1 that was waiting for its "
                   "A-ASSOCIATE-RQ" in r.getMessage() for r in caplog.records)
