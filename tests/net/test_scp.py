"""Our storage SCP: only configured nodes (AE title and host) may store into it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLSLossless
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

from tests.net.conftest import FolderSink
from viewer.core.settings import NetworkSettings
from viewer.net.association_requests import decoded_request
from viewer.net.nodes import NodeRecord
from viewer.net.scp import StorageSCP
from viewer.net.scp_admission import scp_contexts

PACS = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
REMOTE = NodeRecord("remote", "REMOTE", "127.0.0.2", 104)


@pytest.fixture
def scp(tmp_path: Path, sink: FolderSink) -> Iterator[StorageSCP]:
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    server = StorageSCP(local, [PACS, REMOTE], tmp_path / "incoming", sink, port=0)
    with server:
        yield server


def _associate(scp: StorageSCP, calling: str, bind: str = "127.0.0.1",
               called: str = "LIGHTBOX") -> object:
    ae = AE(ae_title=calling)
    for uid in (Verification, CTImageStorage, MRImageStorage):
        ae.add_requested_context(uid)
    return ae.associate("127.0.0.1", scp.port, ae_title=called, bind_address=(bind, 0))


def test_a_configured_node_stores_and_echoes(scp: StorageSCP, sink: FolderSink,
                                             peer_files: dict[str, Path]) -> None:
    files = sorted(p for p in peer_files.values() if p.name.startswith("doe_"))[:4]
    assoc = _associate(scp, "PACS")
    assert assoc.is_established  # type: ignore[attr-defined]
    assert assoc.send_c_echo().Status == 0  # type: ignore[attr-defined]
    for path in files:
        ds = pydicom.dcmread(path)
        assert assoc.send_c_store(ds).Status == 0  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    scp.receiver.drain()
    assert len(sink.files) == 4
    for path in files:
        original = pydicom.dcmread(path)
        got = pydicom.dcmread(sink.files[original.SOPInstanceUID])
        assert got.PixelData == original.PixelData
        assert got.file_meta.SourceApplicationEntityTitle == "PACS"
        assert got.file_meta.ImplementationVersionName == "LIGHTBOX_010"


def test_an_unknown_calling_ae_is_rejected(scp: StorageSCP, sink: FolderSink) -> None:
    assoc = _associate(scp, "INTRUDER")
    assert assoc.is_rejected  # type: ignore[attr-defined]
    rj = assoc.acceptor.primitive  # type: ignore[attr-defined]
    assert (rj.result, rj.result_source, rj.diagnostic) == (1, 1, 3)
    assert not sink.files


def test_a_known_ae_from_another_host_is_rejected(scp: StorageSCP, sink: FolderSink,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    # REMOTE is configured on 127.0.0.2; PACS on 127.0.0.1. Swap them.
    assoc = _associate(scp, "REMOTE", bind="127.0.0.1")
    assert assoc.is_rejected  # type: ignore[attr-defined]
    assert ("REMOTE", "127.0.0.1", "LIGHTBOX", "node") in scp.refused
    # Not "not a configured node": it is one, at another address.
    assert ("refused association from AE REMOTE at 127.0.0.1: AE REMOTE is node remote at "
            "127.0.0.2, not at this address (if it sends from here, give the node this "
            "address: Edit... in the Query/Retrieve tab, or lightbox node edit remote "
            "--address ...)") in caplog.text
    assoc = _associate(scp, "REMOTE", bind="127.0.0.2")
    assert assoc.is_established  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]


def test_an_association_for_another_ae_title_is_rejected(scp: StorageSCP) -> None:
    assoc = _associate(scp, "PACS", called="WORKSTATION2")
    assert assoc.is_rejected  # type: ignore[attr-defined]
    rj = assoc.acceptor.primitive  # type: ignore[attr-defined]
    # PS3.8 9.3.4: called AE title not recognised.
    assert (rj.result, rj.result_source, rj.diagnostic) == (1, 1, 7)
    assert scp.refused[-1] == ("PACS", "127.0.0.1", "WORKSTATION2", "called")


def test_a_node_may_send_as_its_own_ae_and_call_us_as_it_knows_us(
        tmp_path: Path, sink: FolderSink) -> None:
    # Many PACS store with an AE title other than the one they answer queries with, and
    # a node may know us by a calling AE title of its own: both are accepted, from the
    # node's host only.
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    node = NodeRecord("pacs", "PACS_QR", "127.0.0.1", 104, calling_aet="LB_CT",
                      sending_aet="PACS_STORE")
    with StorageSCP(local, [node], tmp_path / "incoming", sink, port=0) as server:
        for calling, called in (("PACS_STORE", "LB_CT"), ("PACS_QR", "LIGHTBOX")):
            assoc = _associate(server, calling, called=called)
            assert assoc.is_established, (calling, called)  # type: ignore[attr-defined]
            assoc.release()  # type: ignore[attr-defined]
        assert _associate(server, "PACS_STORE", bind="127.0.0.2").is_rejected  # type: ignore[attr-defined]
        assert _associate(server, "OTHER").is_rejected  # type: ignore[attr-defined]


def test_the_port_in_use_is_explained(scp: StorageSCP, tmp_path: Path,
                                      sink: FolderSink) -> None:
    from viewer.core.errors import PeerError

    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1", port=scp.port)
    with pytest.raises(PeerError, match="cannot listen for C-MOVE"):
        StorageSCP(local, [PACS], tmp_path / "other", sink).start()


def test_a_stopped_scp_lets_go_of_its_port_and_starts_again(
        tmp_path: Path, sink: FolderSink) -> None:
    # The accept loop sleeps until a connection or the stop: stopping ends its thread
    # and closes the port, and the same SCP serves again once started again.
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    scp = StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=0)
    scp.start()
    port = scp.port
    first = _associate(scp, "PACS")
    assert first.is_established  # type: ignore[attr-defined]
    first.release()  # type: ignore[attr-defined]
    loops = [t for t in threading.enumerate() if t.name == "lightbox-storage-scp"]
    assert loops
    scp.stop()
    assert not any(t.is_alive() for t in loops)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens any more
    scp = StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=port)
    with scp:
        assoc = _associate(scp, "PACS")
        assert assoc.is_established  # type: ignore[attr-defined]
        assert assoc.send_c_echo().Status == 0  # type: ignore[attr-defined]
        assoc.release()  # type: ignore[attr-defined]


def test_each_association_negotiates_on_its_own(scp: StorageSCP) -> None:
    """The supported contexts are shared between associations, not copied for each: one
    association's negotiation must not change what the next one is offered."""
    def offered() -> list[tuple[str, tuple[str, ...], object, object]]:
        return [(str(c.abstract_syntax), tuple(map(str, c.transfer_syntax)), c.scu_role,
                 c.scp_role) for c in scp_contexts(scp._syntaxes)]

    before = offered()
    accepted = []
    for syntaxes in ([JPEGLSLossless], [ImplicitVRLittleEndian], [ExplicitVRLittleEndian]):
        ae = AE(ae_title="PACS")
        ae.add_requested_context(CTImageStorage, syntaxes)
        assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
        assert assoc.is_established
        accepted.append([str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts])
        assoc.release()
    assert accepted == [[JPEGLSLossless], [ImplicitVRLittleEndian], [ExplicitVRLittleEndian]]
    assert offered() == before


def _association_requests_decoded() -> tuple[int, int]:
    info = decoded_request.cache_info()
    return info.hits, info.misses


def test_a_repeated_association_request_is_decoded_once(scp: StorageSCP) -> None:
    """A PACS sends the same A-ASSOCIATE-RQ for every association: the second one reuses
    the first one's decoding, and each association still negotiates on its own."""
    hits, _misses = _association_requests_decoded()
    for _ in range(2):
        assoc = _associate(scp, "PACS")
        assert assoc.is_established  # type: ignore[attr-defined]
        assert assoc.send_c_echo().Status == 0  # type: ignore[attr-defined]
        assoc.release()  # type: ignore[attr-defined]
    assert _association_requests_decoded()[0] > hits


def test_a_remembered_request_from_another_host_is_still_rejected(scp: StorageSCP) -> None:
    """The same request bytes from a host the node does not name: decoded already, but
    the host is checked for each association."""
    accepted = _associate(scp, "REMOTE", bind="127.0.0.2")
    assert accepted.is_established  # type: ignore[attr-defined]
    accepted.release()  # type: ignore[attr-defined]
    hits, _misses = _association_requests_decoded()
    refused = _associate(scp, "REMOTE", bind="127.0.0.1")
    assert refused.is_rejected  # type: ignore[attr-defined]
    assert _association_requests_decoded()[0] > hits


def test_a_pdu_handler_gets_pynetdicom_decoding(scp: StorageSCP) -> None:
    """Whoever binds a handler to received PDUs gets a PDU of its own, decoded anew."""
    assoc = _associate(scp, "PACS")
    assoc.release()  # type: ignore[attr-defined]
    seen: list[object] = []

    def on_pdu(event: evt.Event) -> None:
        seen.append(event.pdu)

    before = _association_requests_decoded()
    scp._servers[False].bind(evt.EVT_PDU_RECV, on_pdu)
    assoc = _associate(scp, "PACS")
    assert assoc.is_established  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    assert _association_requests_decoded() == before
    assert any(getattr(pdu, "pdu_type", None) == 0x01 for pdu in seen)


def test_removing_the_last_node_refuses_everyone_and_keeps_listening(
        scp: StorageSCP, sink: FolderSink) -> None:
    # pynetdicom 3.0.4 refused the NUL title that stood for "nobody" and the exception
    # ended `lightbox listen`.
    scp.update_allowed([])
    assoc = _associate(scp, "PACS")
    assert assoc.is_rejected  # type: ignore[attr-defined]
    assoc = _associate(scp, "NO-NODE-ALLOWED")  # the stand-in title admits no one
    assert assoc.is_rejected  # type: ignore[attr-defined]
    scp.update_allowed([PACS])
    assoc = _associate(scp, "PACS")
    assert assoc.is_established  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]


def test_an_scp_for_no_node_starts(tmp_path: Path, sink: FolderSink) -> None:
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    with StorageSCP(local, [], tmp_path / "incoming", sink, port=0) as server:
        assoc = _associate(server, "PACS")
        assert assoc.is_rejected  # type: ignore[attr-defined]


def test_connections_that_close_mid_request_hold_no_association_place(
        scp: StorageSCP, sink: FolderSink, caplog: pytest.LogCaptureFixture) -> None:
    # `echo | openssl s_client` sends "\n" and closes: each such connection started an
    # association that waited for the rest of its request, holding one of the eight
    # places for two minutes, until every node was refused "local limit exceeded".
    for start in (b"\n", b"\x01\x00\x00\x00"):
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", scp.port)) as sock:
                sock.sendall(start)
    assoc = None
    for _ in range(50):  # the closings are handled as they come; give them a moment
        assoc = _associate(scp, "PACS")
        if assoc.is_established:  # type: ignore[attr-defined]
            break
        threading.Event().wait(0.1)
    assert assoc is not None and assoc.is_established  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    assert "in the middle of a PDU" not in caplog.text
