"""C-ECHO and association failures, each explained: rejection, closed port, silence, TLS."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import evt
from pynetdicom.presentation import build_context

from tests.net.conftest import FolderSink, node_for
from tests.support.peers import (
    PeerProcess,
    PynetdicomPeer,
    SilentPeer,
    free_port,
    make_tls_files,
    server_ssl_context,
)
from viewer.core.errors import CancelledError, PeerError
from viewer.core.settings import NetworkSettings
from viewer.net.connection import (
    CancelToken,
    end_association,
    note_lost,
    open_association,
)
from viewer.net.echo import echo
from viewer.net.nodes import NodeRecord
from viewer.net.policy import VERIFICATION
from viewer.net.query import QuerySpec, find
from viewer.net.retrieve import RetrieveRequest, retrieve


def _node(port: int, **changes: object) -> NodeRecord:
    fields: dict[str, object] = {"name": "test", "called_aet": "PYPEER", "host": "127.0.0.1",
                                 "port": port, "connect_timeout": 3.0, "acse_timeout": 3.0,
                                 "dimse_timeout": 5.0}
    fields.update(changes)
    return NodeRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.peer
def test_echo_real_peers(peer: PeerProcess, local: NetworkSettings,
                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="viewer.net")
    result = echo(node_for(peer), local)
    assert result.round_trip > 0 and result.association > 0 and not result.tls
    # A released association is the usual course: nothing in the log above DEBUG.
    assert not [r.getMessage() for r in caplog.records
                if r.name.startswith("viewer.net") and r.levelno >= logging.INFO]


@pytest.mark.peer
def test_wrong_called_ae_title_is_explained(dcmqrscp: PeerProcess,
                                            local: NetworkSettings) -> None:
    with pytest.raises(PeerError) as err:
        echo(node_for(dcmqrscp, called_aet="NOTTHERE"), local)
    assert "called AE title not recognised" in str(err.value)
    assert "check the called AE title" in str(err.value)


@pytest.mark.peer
def test_rejection_is_read_after_the_peer_has_closed(dcmqrscp: PeerProcess,
                                                     local: NetworkSettings) -> None:
    # dcmtk rejects and closes the connection at once. A requestor that looks at the
    # transport only after both have happened must still read the A-ASSOCIATE-RJ.
    def late(_event: object) -> None:
        time.sleep(0.5)

    with pytest.raises(PeerError) as err:
        open_association(node_for(dcmqrscp, called_aet="NOTTHERE"), local,
                         [build_context(VERIFICATION)],
                         handlers=[(evt.EVT_REQUESTED, late)])
    assert "called AE title not recognised" in str(err.value)


def test_peer_rejecting_our_ae_title(local: NetworkSettings) -> None:
    peer = PynetdicomPeer(require_calling_aet=["SOMEONE"])
    try:
        with pytest.raises(PeerError) as err:
            echo(_node(peer.port), local)
        text = str(err.value)
        assert text.startswith("test: the PACS rejected the association permanently: "
                               "calling AE title not recognised")
        assert "Register AE LIGHTBOX (host 127.0.0.1)" in text
        # With the title it knows, the same peer answers.
        assert echo(_node(peer.port, calling_aet="SOMEONE"), local).round_trip > 0
    finally:
        peer.stop()


def test_a_lost_association_is_not_released_and_a_live_one_is(local: NetworkSettings) -> None:
    # PS3.8 7.2-7.4: once a DIMSE wait ended without a response (an A-ABORT or a closed
    # connection reached pynetdicom, which may still call the association established for
    # a moment), an A-RELEASE-RQ would wait the whole ACSE timeout for an answer that
    # cannot come. The peer sees which associations were released.
    peer = PynetdicomPeer()
    released: list[object] = []
    peer.server.bind(evt.EVT_RELEASED, lambda event: released.append(event.assoc))
    try:
        lost = open_association(_node(peer.port), local, [build_context(VERIFICATION)])
        note_lost(lost)
        end_association(lost)
        assert lost.is_established  # nothing was sent
        lost.abort()
        live = open_association(_node(peer.port), local, [build_context(VERIFICATION)])
        end_association(live)
        assert live.is_released
        deadline = time.monotonic() + 10
        while not released and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # room for a second release to arrive, were one sent
        assert len(released) == 1
    finally:
        peer.stop()


def test_closed_port(local: NetworkSettings) -> None:
    port = free_port()
    with pytest.raises(PeerError) as err:
        echo(_node(port), local)
    assert f"nothing accepts connections on 127.0.0.1:{port}" in str(err.value)


def test_peer_that_never_answers_times_out(local: NetworkSettings) -> None:
    silent = SilentPeer()
    try:
        with pytest.raises(PeerError) as err:
            echo(_node(silent.port, acse_timeout=1.0), local)
        assert "did not answer the association request within 1 s" in str(err.value)
    finally:
        silent.close()


@pytest.mark.parametrize("closes", [False, True], ids=["stays", "closes"])
def test_a_web_server_on_the_port_is_named_not_a_pdu_length(
        local: NetworkSettings, caplog: pytest.LogCaptureFixture, closes: bool) -> None:
    # "HT" reads as PDU type 0x48 and a length of 1.4 GB: the explanation was "closed the
    # connection" and an ERROR line about PDU lengths came before it. A server that then
    # closes the connection left "connection lost in the middle of a PDU" beside it.
    web = SilentPeer(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", close=closes)
    try:
        with caplog.at_level(logging.INFO), pytest.raises(PeerError) as err:
            echo(_node(web.port), local)
    finally:
        web.close()
    assert str(err.value) == (
        f"test: 127.0.0.1:{web.port} answered with something that is not DICOM (it starts "
        "with 'HTTP/1.1 400 Bad Request'): check that this port is the PACS's DICOM port, "
        "not its web or another service's port")
    assert [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("viewer")] == []


def test_a_peer_that_closes_at_once_is_explained_without_a_warning(
        local: NetworkSettings, caplog: pytest.LogCaptureFixture) -> None:
    closing = SilentPeer(close=True)
    try:
        with caplog.at_level(logging.INFO), pytest.raises(PeerError) as err:
            echo(_node(closing.port), local)
    finally:
        closing.close()
    assert "closed the connection during association set-up" in str(err.value)
    assert [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("viewer")] == []


def test_query_on_a_silent_peer_times_out(local: NetworkSettings) -> None:
    silent = SilentPeer()
    try:
        with pytest.raises(PeerError, match="did not answer the association request"):
            list(find(_node(silent.port, acse_timeout=1.0), local, QuerySpec()))
    finally:
        silent.close()


@pytest.mark.parametrize("method", ["get", "move", "auto"])
def test_a_retrieve_from_a_silent_peer_waits_for_one_association_only(
        local: NetworkSettings, tmp_path: Path, method: str) -> None:
    # The planning C-FIND cannot reach it: neither could the C-GET or C-MOVE that would
    # follow, so the retrieve stops there instead of waiting out the timeout again.
    silent = SilentPeer()
    try:
        with pytest.raises(PeerError, match="did not answer the association request"):
            list(retrieve(_node(silent.port, acse_timeout=1.0), local,
                          RetrieveRequest("1.2.826.0.1.3680043.2.1125.1"),
                          FolderSink(tmp_path / "received"), tmp_path / "incoming",
                          method=method))
        assert len(silent.clients) == 1
    finally:
        silent.close()


def test_cancel_before_start(local: NetworkSettings) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        echo(_node(free_port()), local, cancel=token)


def test_cancel_token_runs_callbacks_once_from_any_thread() -> None:
    token = CancelToken()
    calls: list[str] = []
    remove = token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    remove()
    threads = [threading.Thread(target=token.cancel) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["b"] and token.cancelled
    token.on_cancel(lambda: calls.append("late"))  # runs at once
    assert calls == ["b", "late"]


# --- DICOM TLS (PS3.15 B.9) ------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_peer(tls_files: dict[str, Path], peer_files: dict[str, Path]
             ) -> Iterator[PynetdicomPeer]:
    files = sorted(p for p in peer_files.values() if p.name.startswith("mueller_"))[:3]
    ctx = server_ssl_context(tls_files["server"], tls_files["server-key"],
                             client_ca=tls_files["ca"])
    peer = PynetdicomPeer(files, ssl_context=ctx)
    yield peer
    peer.stop()


def _tls_node(port: int, files: dict[str, Path], **changes: object) -> NodeRecord:
    return _node(port, tls_ca=str(files["ca"]), tls_cert=str(files["client"]),
                 tls_key=str(files["client-key"]), **changes)


def test_tls_echo_and_query_with_verified_certificates(
        tls_peer: PynetdicomPeer, tls_files: dict[str, Path], local: NetworkSettings) -> None:
    node = _tls_node(tls_peer.port, tls_files)
    assert echo(node, local).tls
    results = list(find(node, local, QuerySpec()))
    assert len(results) == 1 and results[0]["PatientName"] == "Müller^Jürgen"


def test_tls_retrieve(tls_peer: PynetdicomPeer, tls_files: dict[str, Path],
                      local: NetworkSettings, tmp_path: Path) -> None:
    from tests.net.conftest import FolderSink
    from tests.support.peers import study_uid
    from viewer.net.retrieve import RetrieveRequest, retrieve

    sink = FolderSink(tmp_path / "got")
    node = _tls_node(tls_peer.port, tls_files)
    last = list(retrieve(node, local, RetrieveRequest(study_uid("mueller")), sink,
                         tmp_path / "in", method="get"))[-1]
    assert last.completed == 3 and len(sink.files) == 3


def test_tls_peer_with_a_certificate_of_another_ca_is_refused(
        tls_files: dict[str, Path], local: NetworkSettings) -> None:
    rogue = PynetdicomPeer(ssl_context=server_ssl_context(tls_files["rogue"],
                                                          tls_files["rogue-key"]))
    try:
        with pytest.raises(PeerError) as err:
            echo(_tls_node(rogue.port, tls_files), local)
        text = str(err.value)
        assert f"the TLS certificate of 127.0.0.1:{rogue.port} was refused" in text
        assert "certificate verify failed" in text or "unable to get local issuer" in text
        assert str(tls_files["ca"]) in text
    finally:
        rogue.stop()


def test_tls_host_name_is_checked(tls_files: dict[str, Path], local: NetworkSettings) -> None:
    # The certificate names 127.0.0.1 and localhost; this peer listens on 127.0.0.2.
    ctx = server_ssl_context(tls_files["server"], tls_files["server-key"])
    peer = PynetdicomPeer(ssl_context=ctx, host="127.0.0.2")
    try:
        with pytest.raises(PeerError, match=r"TLS certificate of 127\.0\.0\.2:\d+ was refused"):
            echo(_tls_node(peer.port, tls_files, host="127.0.0.2"), local)
        node = _tls_node(peer.port, tls_files, host="127.0.0.2", tls_check_hostname=False)
        assert echo(node, local).tls
    finally:
        peer.stop()


def test_plain_dicom_to_a_tls_port_is_explained(tls_peer: PynetdicomPeer,
                                                local: NetworkSettings) -> None:
    start = time.monotonic()
    with pytest.raises(PeerError) as err:
        echo(_node(tls_peer.port, acse_timeout=2.0), local)
    assert "expect TLS" in str(err.value) or "did not answer" in str(err.value)
    assert time.monotonic() - start < 30


def test_a_host_name_that_does_not_resolve_is_explained(local: NetworkSettings) -> None:
    # RFC 6761: names under .invalid never resolve. This was a socket.gaierror traceback.
    with pytest.raises(PeerError) as err:
        echo(_node(104, host="nonexistent.invalid"), local)
    text = str(err.value)
    assert text.startswith("test: cannot reach nonexistent.invalid:104 (")
    assert "check the host name" in text
