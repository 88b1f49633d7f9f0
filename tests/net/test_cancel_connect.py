"""A cancel while the association is being set up ends it at once (echo, query, retrieve).

A PACS that accepts the TCP connection and never answers the A-ASSOCIATE-RQ held a cancel
until the ACSE timeout expired (the GUI's Stop did nothing for 30 s). The timeouts here
are 30 s; each call must end within :data:`HANG_BOUND` s of a cancel sent after 0.5 s.
That bound only tells a hang from a stop: it is no speed requirement.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.net.conftest import FolderSink
from tests.support.peers import SilentPeer
from viewer.core.errors import CancelledError
from viewer.core.settings import NetworkSettings
from viewer.net.connection import CancelToken
from viewer.net.echo import echo
from viewer.net.nodes import NodeRecord
from viewer.net.query import QuerySpec, find
from viewer.net.retrieve import RetrieveRequest, retrieve

TIMEOUT = 30.0
CANCEL_AFTER = 0.5
HANG_BOUND = 10.0
STUDY = "1.2.826.0.1.3680043.2.1125.1"


def _node(port: int, **changes: Any) -> NodeRecord:
    fields: dict[str, Any] = {"name": "hung", "called_aet": "HUNG", "host": "127.0.0.1",
                              "port": port, "connect_timeout": TIMEOUT,
                              "acse_timeout": TIMEOUT, "dimse_timeout": TIMEOUT}
    fields.update(changes)
    return NodeRecord(**fields)


def _cancelled_later(token: CancelToken) -> threading.Timer:
    timer = threading.Timer(CANCEL_AFTER, token.cancel)  # the GUI thread's Stop
    timer.daemon = True
    timer.start()
    return timer


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.monotonic()
    try:
        outcome: object = call()
    except Exception as exc:  # the test looks at what came out
        outcome = exc
    return time.monotonic() - start, outcome


def test_echo_cancelled_while_the_peer_is_silent(silent: SilentPeer,
                                                 local: NetworkSettings) -> None:
    token = CancelToken()
    _cancelled_later(token)
    elapsed, outcome = _timed(lambda: echo(_node(silent.port), local, cancel=token))
    assert isinstance(outcome, CancelledError), outcome
    assert CANCEL_AFTER <= elapsed < HANG_BOUND, elapsed
    assert len(silent.clients) == 1
    # The connection was given up: the silent peer sees it closed (EOF or reset).
    client = silent.clients[0]
    client.settimeout(HANG_BOUND)
    try:
        data = client.recv(65536)
        while data:  # an A-ABORT may come first
            data = client.recv(65536)
    except ConnectionResetError:
        pass


def test_query_cancelled_while_the_peer_is_silent(silent: SilentPeer,
                                                  local: NetworkSettings) -> None:
    token = CancelToken()
    _cancelled_later(token)
    elapsed, outcome = _timed(
        lambda: list(find(_node(silent.port), local, QuerySpec(patient_name="DOE*"), token)))
    assert isinstance(outcome, CancelledError), outcome
    assert CANCEL_AFTER <= elapsed < HANG_BOUND, elapsed


@pytest.mark.parametrize("method", ["get", "move", "auto"])
def test_retrieve_cancelled_while_the_peer_is_silent(silent: SilentPeer,
                                                     local: NetworkSettings, tmp_path: Path,
                                                     method: str) -> None:
    token = CancelToken()
    _cancelled_later(token)
    sink = FolderSink(tmp_path / "received")
    elapsed, outcome = _timed(lambda: list(retrieve(
        _node(silent.port), local, RetrieveRequest(STUDY), sink, tmp_path / "incoming",
        method=method, cancel=token)))
    assert CANCEL_AFTER <= elapsed < HANG_BOUND, elapsed
    # A retrieve reports a cancel as its last progress (status 0xFE00), not as an error.
    assert isinstance(outcome, list), outcome
    last = outcome[-1]
    assert last.done and last.cancelled and not last.ok
    assert len(silent.clients) == 1  # nothing more was tried after the cancel


def test_a_cancel_just_before_the_request_sends_nothing(silent: SilentPeer,
                                                        local: NetworkSettings) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        echo(_node(silent.port), local, cancel=token)
    time.sleep(0.3)
    assert silent.clients == []


@pytest.fixture
def unanswered_syn() -> Iterator[int]:
    """A port whose listener's accept queue is full: Linux drops further SYNs, so a
    connect there hangs (what a firewall that drops packets does)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(("127.0.0.1", port))
        except TimeoutError:
            pass
        else:
            pytest.skip("this kernel completes connections past a full accept queue")
        finally:
            probe.close()
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_echo_cancelled_while_connecting(unanswered_syn: int, local: NetworkSettings) -> None:
    token = CancelToken()
    _cancelled_later(token)
    elapsed, outcome = _timed(lambda: echo(_node(unanswered_syn), local, cancel=token))
    assert isinstance(outcome, CancelledError), outcome
    assert CANCEL_AFTER <= elapsed < HANG_BOUND, elapsed
