"""Our storage SCP over DICOM TLS (PS3.15 B.9): verified client certificates, and C-MOVE
from a TLS PACS (Orthanc with DICOM TLS) into our TLS port."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

from tests.net.conftest import FolderSink
from tests.net.tls_peers import client_context, start_tls_orthanc
from tests.support.peers import (
    PeerProcess,
    PynetdicomPeer,
    free_port,
    store_files,
    study_uid,
)
from viewer.core.errors import PeerError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.net.connection import CancelToken
from viewer.net.nodes import NodeRecord
from viewer.net.retrieve import RetrieveRequest, retrieve
from viewer.net.scp import StorageSCP
from viewer.net.tls import server_ssl_context

PACS = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
REMOTE = NodeRecord("remote", "REMOTE", "127.0.0.2", 104)



def _local(tls: dict[str, Path], **changes: object) -> NetworkSettings:
    """Our AE with TLS: the client certificate doubles as our server certificate."""
    fields: dict[str, object] = {
        "ae_title": "LIGHTBOX", "bind_address": "127.0.0.1", "port": free_port(),
        "tls_cert": str(tls["client"]), "tls_key": str(tls["client-key"]),
        "tls_ca": str(tls["ca"]), "tls_port": free_port()}
    fields.update(changes)
    return NetworkSettings(**fields).validated()  # type: ignore[arg-type]


@pytest.fixture
def tls_scp(tls: dict[str, Path], tmp_path: Path, sink: FolderSink) -> Iterator[StorageSCP]:
    local = _local(tls)
    server = StorageSCP(local, [PACS, REMOTE], tmp_path / "incoming", sink, port=0,
                        tls_port=0, ssl_context=server_ssl_context(local))
    with server:
        yield server


def _associate(port: int, calling: str, ctx: object = None, bind: str = "127.0.0.1"
               ) -> object:
    ae = AE(ae_title=calling)
    ae.acse_timeout = 5
    for uid in (Verification, CTImageStorage, MRImageStorage):
        ae.add_requested_context(uid)
    tls_args = (ctx, "127.0.0.1") if ctx is not None else None
    return ae.associate("127.0.0.1", port, ae_title="LIGHTBOX", bind_address=(bind, 0),
                        tls_args=tls_args)  # type: ignore[arg-type]


def _files(peer_files: dict[str, Path], prefix: str, n: int) -> list[Path]:
    return sorted(p for p in peer_files.values() if p.name.startswith(prefix))[:n]


def _data_set_bytes(path: Path) -> bytes:
    """The file's bytes after its File Meta Information (PS3.10 7.1)."""
    raw = path.read_bytes()
    with pydicom.dcmread(path, stop_before_pixels=True) as ds:
        start = 132 + 12 + int(ds.file_meta.FileMetaInformationGroupLength)
    return raw[start:]


def _same(got: Path, original: Path) -> None:
    """The same attributes and pixel data (a pynetdicom SCU re-encodes what it sends)."""
    a, b = pydicom.dcmread(got), pydicom.dcmread(original)
    assert a.PixelData == b.PixelData
    assert [e.tag for e in a] == [e.tag for e in b]
    assert all(a[e.tag].value == e.value for e in b), original


def _identical(got: Path, original: Path) -> None:
    """Byte-identical data set as the PACS holds it; the File Meta Information is ours."""
    assert _data_set_bytes(got) == _data_set_bytes(original), original


def test_a_verified_client_certificate_stores_over_tls(
        tls_scp: StorageSCP, tls: dict[str, Path], sink: FolderSink,
        peer_files: dict[str, Path]) -> None:
    assert tls_scp.port and tls_scp.tls_port and tls_scp.port != tls_scp.tls_port
    files = _files(peer_files, "doe_", 3)
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"])
    assoc = _associate(tls_scp.tls_port, "PACS", ctx)  # type: ignore[arg-type]
    assert assoc.is_established  # type: ignore[attr-defined]
    assert assoc.send_c_echo().Status == 0  # type: ignore[attr-defined]
    for path in files:
        assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    tls_scp.receiver.drain()
    assert len(sink.files) == 3
    for path in files:
        _same(sink.files[pydicom.dcmread(path).SOPInstanceUID], path)
    # The plain port keeps serving plain DICOM next to it.
    plain = _associate(tls_scp.port, "PACS")  # type: ignore[arg-type]
    assert plain.is_established  # type: ignore[attr-defined]
    plain.release()  # type: ignore[attr-defined]


@pytest.mark.parametrize("certificate", ["rogue", None])
def test_a_client_without_a_certificate_of_our_ca_is_refused_at_the_handshake(
        tls_scp: StorageSCP, tls: dict[str, Path], sink: FolderSink,
        certificate: str | None) -> None:
    # The client trusts our server; only its own certificate (another CA's, or none) is bad.
    ctx = client_context(tls["ca"], *((tls[certificate], tls[f"{certificate}-key"])
                                      if certificate else ()))
    assoc = _associate(tls_scp.tls_port, "PACS", ctx)  # type: ignore[arg-type]
    assert not assoc.is_established  # type: ignore[attr-defined]
    assert not assoc.is_rejected  # type: ignore[attr-defined]  # no A-ASSOCIATE-RJ: no DICOM
    tls_scp.receiver.drain()
    assert not sink.files
    end = time.monotonic() + 5  # the server logs the refusal right after its alert left
    while not tls_scp.tls_refused and time.monotonic() < end:
        time.sleep(0.02)
    reasons = [reason for address, reason in tls_scp.tls_refused if address == "127.0.0.1"]
    assert reasons and all(r.startswith("TLS handshake") for r in reasons)
    # In words, not OpenSSL's PEER_DID_NOT_RETURN_A_CERTIFICATE.
    expected = ("its client certificate was refused (" if certificate
                else "it presented no client certificate, which our DICOM TLS port requires")
    assert any(expected in r for r in reasons), reasons


def test_plain_dicom_on_the_tls_port_is_refused(tls_scp: StorageSCP, sink: FolderSink) -> None:
    assoc = _associate(tls_scp.tls_port, "PACS")  # type: ignore[arg-type]
    assert not assoc.is_established  # type: ignore[attr-defined]
    assert not sink.files


def test_a_configured_ae_from_the_wrong_host_is_refused_over_tls(
        tls_scp: StorageSCP, tls: dict[str, Path]) -> None:
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"])
    # REMOTE is configured on 127.0.0.2: from 127.0.0.1 a valid certificate is not enough.
    assoc = _associate(tls_scp.tls_port, "REMOTE", ctx)  # type: ignore[arg-type]
    assert assoc.is_rejected  # type: ignore[attr-defined]
    rj = assoc.acceptor.primitive  # type: ignore[attr-defined]
    assert (rj.result, rj.result_source, rj.diagnostic) == (1, 1, 3)
    assert ("REMOTE", "127.0.0.1", "LIGHTBOX", "node") in tls_scp.refused
    assoc = _associate(tls_scp.tls_port, "REMOTE", ctx, bind="127.0.0.2")  # type: ignore[arg-type]
    assert assoc.is_established  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]


def test_a_silent_tls_client_does_not_hold_up_the_others(
        tls_scp: StorageSCP, tls: dict[str, Path]) -> None:
    import socket

    silent = socket.create_connection(("127.0.0.1", tls_scp.tls_port))  # never says hello
    try:
        ctx = client_context(tls["ca"], tls["server"], tls["server-key"])
        assoc = _associate(tls_scp.tls_port, "PACS", ctx)  # type: ignore[arg-type]
        assert assoc.is_established  # type: ignore[attr-defined]
        assoc.release()  # type: ignore[attr-defined]
    finally:
        silent.close()


def test_allowed_nodes_change_while_running(tls_scp: StorageSCP) -> None:
    assert _associate(tls_scp.port, "NEWCOMER").is_rejected  # type: ignore[arg-type, attr-defined]
    tls_scp.update_allowed([PACS, NodeRecord("new", "NEWCOMER", "127.0.0.1", 104)])
    assoc = _associate(tls_scp.port, "NEWCOMER")  # type: ignore[arg-type]
    assert assoc.is_established  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    tls_scp.update_allowed([REMOTE])
    assert _associate(tls_scp.port, "PACS").is_rejected  # type: ignore[arg-type, attr-defined]


def test_server_context_needs_the_tls_settings(tls: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="lightbox config set tls-cert"):
        server_ssl_context(NetworkSettings())
    gone = _local(tls, tls_ca=str(tmp_path / "moved-ca.pem"))
    with pytest.raises(UsageError, match=r"moved-ca\.pem: no such file \(tls-ca\)"):
        server_ssl_context(gone)


# --- C-MOVE from a PACS that speaks DICOM TLS ----------------------------------------


@pytest.fixture(scope="module")
def tls_move_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def tls_orthanc(tmp_path_factory: pytest.TempPathFactory, tls: dict[str, Path],
                peer_files: dict[str, Path], tls_move_port: int) -> Iterator[PeerProcess]:
    peer = start_tls_orthanc(tmp_path_factory.mktemp("tls-orthanc"), tls,
                             ("LIGHTBOX", tls_move_port))
    try:
        store_files(peer, _files(peer_files, "mueller_", 12))  # over its REST API
        yield peer
    finally:
        peer.stop()


def _tls_node(peer: PeerProcess, tls: dict[str, Path]) -> NodeRecord:
    return NodeRecord("secure", peer.aet, "127.0.0.1", peer.port, method="move",
                      tls_ca=str(tls["ca"]), tls_cert=str(tls["client"]),
                      tls_key=str(tls["client-key"]), connect_timeout=5.0,
                      acse_timeout=10.0, dimse_timeout=30.0)


@pytest.mark.peer
def test_move_from_a_tls_pacs_arrives_on_our_tls_port(
        tls_orthanc: PeerProcess, tls: dict[str, Path], tls_move_port: int,
        sink: FolderSink, tmp_path: Path, peer_files: dict[str, Path]) -> None:
    # The plain port is taken by something else: a TLS node's C-MOVE does not need it.
    local = _local(tls, tls_port=tls_move_port)
    blocker = StorageSCP(local, [PACS], tmp_path / "other", sink)
    with blocker:
        progress = list(retrieve(_tls_node(tls_orthanc, tls), local,
                                 RetrieveRequest(study_uid("mueller")), sink,
                                 tmp_path / "incoming", method="move"))
    last = progress[-1]
    assert last.ok and last.completed == 12, last.message
    expected = {pydicom.dcmread(p).SOPInstanceUID: p for p in _files(peer_files, "mueller_", 12)}
    assert set(sink.files) == set(expected)
    for uid, path in sink.files.items():
        _identical(path, expected[uid])


@pytest.mark.peer
def test_move_from_a_tls_pacs_without_our_tls_settings_says_what_to_set(
        tls_orthanc: PeerProcess, tls: dict[str, Path], sink: FolderSink,
        tmp_path: Path) -> None:
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1", port=free_port())
    with pytest.raises(PeerError) as err:
        list(retrieve(_tls_node(tls_orthanc, tls), local,
                      RetrieveRequest(study_uid("mueller")), sink, tmp_path / "in",
                      method="move"))
    text = str(err.value)
    assert text.startswith("secure: this node uses DICOM TLS")
    assert "lightbox config set tls-cert F tls-key F tls-ca F" in text
    assert "port 2762 (DICOM TLS)" in text and "use C-GET" in text
    assert not sink.files


@pytest.mark.peer
def test_move_from_a_tls_pacs_into_a_running_plain_scp_starts_a_tls_one(
        tls_orthanc: PeerProcess, tls: dict[str, Path], tls_move_port: int,
        sink: FolderSink, tmp_path: Path) -> None:
    local = _local(tls, tls_port=tls_move_port)
    node = _tls_node(tls_orthanc, tls)
    series = RetrieveRequest(study_uid("mueller"))
    with StorageSCP(local, [node], tmp_path / "always", sink) as plain_scp:
        assert not plain_scp.serves(node)
        last = list(retrieve(node, local, series, sink, tmp_path / "in", method="move",
                             scp=plain_scp))[-1]
    assert last.ok and len(sink.files) == 12, last.message


@pytest.mark.parametrize(("listing", "delay"), [(False, 0.5), (True, 0.5), (False, 0.0)])
def test_cancel_while_planning_ends_the_retrieve_at_once(
        local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path], listing: bool, delay: float) -> None:
    # The plan's study- or series-level C-FIND takes 2 s; the cancel comes during it
    # (or before the retrieve starts).
    peer = PynetdicomPeer(_files(peer_files, "doe_0_000", 3), stall=2.0)
    token = CancelToken()
    if not delay:
        token.cancel()
    timer = threading.Timer(delay, token.cancel)
    try:
        node = NodeRecord("py", "PYPEER", "127.0.0.1", peer.port, acse_timeout=5.0,
                          dimse_timeout=10.0)
        timer.start()
        steps = list(retrieve(node, local, RetrieveRequest(study_uid("doe")), sink,
                              tmp_path / "incoming", method="get", cancel=token,
                              already_have=sink.have if listing else None))
    finally:
        timer.cancel()
        peer.stop()
    last = steps[-1]
    assert last.done and last.cancelled and last.status == 0xFE00
    assert last.completed == 0 and not sink.files
    assert all(s.phase == "plan" for s in steps[:-1])


def test_tls_port_settings_are_checked(tls: dict[str, Path]) -> None:
    local = _local(tls)
    with pytest.raises(UsageError, match="both"):
        replace(local, tls_port=local.port).validated()


@pytest.mark.peer
def test_move_from_a_tls_pacs_goes_to_the_home_s_tls_listener(
        tls_orthanc: PeerProcess, tls: dict[str, Path], tls_move_port: int,
        tmp_path: Path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    from tests.support.peers import wait_for_port
    from viewer.cli import main
    from viewer.net.listener import ListenerFile
    from viewer.net.nodes import NodeBook
    from viewer.store.study_store import StudyStore

    home = tmp_path / "home"
    home.mkdir()
    NodeBook(home).add(_tls_node(tls_orthanc, tls))
    assert main(["--home", str(home), "config", "set", "bind-address", "127.0.0.1", "port",
                 str(free_port()), "tls-port", str(tls_move_port), "tls-cert",
                 str(tls["client"]), "tls-key", str(tls["client-key"]), "tls-ca",
                 str(tls["ca"])]) == 0
    listen = subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(home), "listen"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(tls_move_port, proc=listen)  # type: ignore[arg-type]
        end = time.monotonic() + 20
        while ListenerFile(home).live() is None and time.monotonic() < end:
            time.sleep(0.05)
        done = subprocess.run([sys.executable, "-m", "viewer", "--home", str(home), "retrieve",
                               "secure", "--study", study_uid("mueller"), "--json"],
                              capture_output=True, text=True, timeout=120)
    finally:
        os.kill(listen.pid, signal.SIGINT)
        out, err = listen.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["method"] == "move" and report["received"] == 12, report
    # The listener took them into the store, in batches (a line each).
    batches = [int(n) for n in re.findall(r"received (\d+) instances? from ORTHANC", out)]
    assert sum(batches) == 12, (out, err)
    with StudyStore.open(home) as store:
        study = store.study(study_uid("mueller"))
        assert study is not None and study.number_of_instances == 12


@pytest.mark.peer
def test_move_from_a_pacs_whose_certificate_our_ca_did_not_sign_is_explained(
        tls_orthanc: PeerProcess, tls: dict[str, Path], tls_move_port: int,
        sink: FolderSink, tmp_path: Path) -> None:
    message = _move_refused_by_our_ca(tls_orthanc, tls, tls_move_port, sink, tmp_path)
    assert str(tls["rogue-ca"]) in message


def _move_refused_by_our_ca(tls_orthanc: PeerProcess, tls: dict[str, Path],
                            tls_move_port: int, sink: FolderSink, tmp_path: Path) -> str:
    """A C-MOVE whose PACS our SCP refuses, explained as such; the explanation."""
    # Orthanc's certificate is signed by "ca"; our storage SCP trusts only "rogue-ca".
    local = _local(tls, tls_port=tls_move_port, tls_ca=str(tls["rogue-ca"]))
    last = list(retrieve(_tls_node(tls_orthanc, tls), local,
                         RetrieveRequest(study_uid("mueller")), sink, tmp_path / "in",
                         method="move"))[-1]
    assert last.done and not last.ok and not sink.files
    assert last.message.startswith(
        f"the PACS connected to our DICOM TLS port {tls_move_port}, but its certificate "
        "was refused (")
    return last.message


@pytest.mark.peer
def test_a_certificate_refusal_noted_late_is_still_explained(
        tls_orthanc: PeerProcess, tls: dict[str, Path], tls_move_port: int,
        sink: FolderSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The PACS reports the sub-operations failed as soon as our SCP ends the handshake,
    # which can be before the SCP's connection thread has noted why (a busy machine).
    noted = StorageSCP._on_tls_refused

    def late(scp: StorageSCP, address: str, reason: str) -> None:
        time.sleep(1.0)
        noted(scp, address, reason)

    monkeypatch.setattr(StorageSCP, "_on_tls_refused", late)
    _move_refused_by_our_ca(tls_orthanc, tls, tls_move_port, sink, tmp_path)
