"""C-GET and C-MOVE from Orthanc and dcmqrscp: exactly the peer's instances, byte for byte."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pydicom
import pytest

from tests.net.conftest import (
    FolderSink,
    move_from_another_address,
    node_for,
    node_of,
    record_passes,
)
from tests.support.peers import PEER_ENV, PeerProcess, series_uid, study_uid
from viewer.core.errors import PeerError
from viewer.core.settings import NetworkSettings
from viewer.net import plan as plan_module
from viewer.net.connection import CancelToken
from viewer.net.nodes import NodeRecord
from viewer.net.receiver import Receiver
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest, retrieve, storage_contexts

pytestmark = pytest.mark.peer


def _run(peer: PeerProcess, local: NetworkSettings, request: RetrieveRequest, sink: FolderSink,
         tmp_path: Path, **kw: object) -> RetrieveProgress:
    progress = list(retrieve(node_for(peer), local, request, sink, tmp_path / "incoming",
                             **kw))  # type: ignore[arg-type]
    assert progress[0].phase == "plan" and all(not p.done for p in progress[:-1])
    return progress[-1]


def _expected(peer_files: dict[str, Path], prefix: str) -> dict[str, Path]:
    return {uid: p for uid, p in peer_files.items() if p.name.startswith(prefix)}


def _assert_same(sink: FolderSink, expected: dict[str, Path]) -> None:
    assert set(sink.files) == set(expected)
    assert all(n == 1 for n in sink.deliveries.values())
    for uid, path in sink.files.items():
        got = pydicom.dcmread(path)
        original = pydicom.dcmread(expected[uid])
        assert got.SOPInstanceUID == uid
        assert got.PixelData == original.PixelData, uid
        assert got.file_meta.TransferSyntaxUID.is_compressed == (
            original.file_meta.TransferSyntaxUID.is_compressed)


@pytest.mark.parametrize("method", ["get", "move"])
def test_study_retrieve(peer: PeerProcess, local: NetworkSettings, sink: FolderSink,
                        tmp_path: Path, peer_files: dict[str, Path], method: str) -> None:
    # A CT study mixing an uncompressed and an RLE series, and a non-Latin name.
    last = _run(peer, local, RetrieveRequest(study_uid("yamada")), sink, tmp_path,
                method=method)
    assert last.done and last.ok, last.message
    assert last.method == method
    assert last.expected == 212 and last.completed == 212 and last.failed == 0
    _assert_same(sink, _expected(peer_files, "yamada_"))


@pytest.mark.parametrize("method", ["get", "move"])
def test_series_retrieve(peer: PeerProcess, local: NetworkSettings, sink: FolderSink,
                         tmp_path: Path, peer_files: dict[str, Path], method: str) -> None:
    request = RetrieveRequest(study_uid("mueller"), series_uids=(series_uid("mueller", 0),))
    last = _run(peer, local, request, sink, tmp_path, method=method)
    assert last.ok, last.message
    _assert_same(sink, _expected(peer_files, "mueller_0_"))


def test_instances_retrieve(orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink,
                            tmp_path: Path, peer_files: dict[str, Path]) -> None:
    chosen = dict(sorted(_expected(peer_files, "doe_0_").items())[:3])
    request = RetrieveRequest(study_uid("doe"), series_uids=(series_uid("doe", 0),),
                              sop_uids=tuple(chosen))
    last = _run(orthanc, local, request, sink, tmp_path, method="get")
    assert last.ok, last.message
    _assert_same(sink, chosen)


def test_auto_uses_get_when_offered(orthanc: PeerProcess, local: NetworkSettings,
                                    sink: FolderSink, tmp_path: Path) -> None:
    last = _run(orthanc, local, RetrieveRequest(study_uid("doe")), sink, tmp_path,
                method="auto")
    assert last.ok and last.method == "get" and len(sink.files) == 30


def test_retry_fetches_only_what_is_missing(peer: PeerProcess, local: NetworkSettings,
                                            sink: FolderSink, tmp_path: Path,
                                            peer_files: dict[str, Path]) -> None:
    first = RetrieveRequest(study_uid("yamada"), series_uids=(series_uid("yamada", 1),))
    assert _run(peer, local, first, sink, tmp_path, method="get").ok
    progress: list[RetrieveProgress] = []
    for p in retrieve(node_for(peer), local, RetrieveRequest(study_uid("yamada")), sink,
                      tmp_path / "incoming", method="get", already_have=sink.have):
        progress.append(p)
    last = progress[-1]
    assert last.ok, last.message
    assert last.already_present == 12 and last.completed == 200
    _assert_same(sink, _expected(peer_files, "yamada_"))


@pytest.mark.parametrize("method", ["get", "move"])
def test_a_first_retrieve_does_not_list_every_instance_first(
        orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    # Nothing of the study is stored: one study-level answer plans a C-GET, and a C-MOVE
    # needs none (the PACS's pending responses give the count). Once some of the study
    # is here, the PACS lists the instances so that only the rest is fetched.
    listed: list[RetrieveRequest] = []
    summaries: list[int | None] = []
    original, original_summary = plan_module.inventory, plan_module.Plan.summarize

    def counted(node: NodeRecord, local: NetworkSettings, request: RetrieveRequest,
                cancel: Any = None, series_counts: Any = None) -> Any:
        listed.append(request)
        return original(node, local, request, cancel, series_counts)

    def summarized(plan: plan_module.Plan) -> int | None:
        summaries.append(original_summary(plan))
        return summaries[-1]

    monkeypatch.setattr(plan_module, "inventory", counted)
    monkeypatch.setattr(plan_module.Plan, "summarize", summarized)
    request = RetrieveRequest(study_uid("mueller"))

    def held(study: str, series: tuple[str, ...]) -> int:
        assert (study, series) == (request.study_uid, ())
        return len(sink.files)

    first = _run(orthanc, local, request, sink, tmp_path, already_have=sink.have, held=held,
                 method=method)
    assert first.ok and first.completed == 12 and first.expected == 12
    assert listed == []
    assert summaries == ([12] if method == "get" else [])
    again = _run(orthanc, local, request, sink, tmp_path, already_have=sink.have, held=held,
                 method=method)
    assert again.ok and again.already_present == 12 and again.completed == 0
    assert listed == [request]


def test_nothing_to_do_when_everything_is_here(orthanc: PeerProcess, local: NetworkSettings,
                                               sink: FolderSink, tmp_path: Path) -> None:
    request = RetrieveRequest(study_uid("mueller"))
    assert _run(orthanc, local, request, sink, tmp_path).ok
    last = _run(orthanc, local, request, sink, tmp_path, already_have=sink.have)
    assert last.ok and last.already_present == 12 and last.completed == 0
    assert all(n == 1 for n in sink.deliveries.values())


def test_move_destination_unknown_is_explained(peer: PeerProcess, move_port: int,
                                               sink: FolderSink, tmp_path: Path) -> None:
    stranger = NetworkSettings(ae_title="NOBODY", port=move_port, bind_address="127.0.0.1")
    last = _run(peer, stranger, RetrieveRequest(study_uid("doe")), sink, tmp_path,
                method="move")
    assert last.done and not last.ok and last.completed == 0 and not sink.files
    # dcmqrscp answers 0xA801; Orthanc 1.10 answers 0xC000 with an Error Comment.
    assert last.status in (0xA801, 0xC000)
    assert f"register ae nobody, host 127.0.0.1, port {move_port} on the pacs" in (
        last.message.lower())
    assert last.message.endswith("or use C-GET")
    if peer.kind == "dcmqrscp":
        assert last.message == (
            f"the PACS does not know AE NOBODY: register AE NOBODY, host 127.0.0.1, port "
            f"{move_port} on the PACS, or use C-GET")


def _after_instances(monkeypatch: pytest.MonkeyPatch, count: int, action: Any) -> None:
    """Run ``action`` when the ``count``-th data set begins to arrive; pace the rest.

    From then on each instance takes 20 ms, so that the study cannot all arrive before
    the action (a cancel, a crash) takes effect: a retrieve is faster than that.
    """
    begin = Receiver.begin_instance
    begun = [0]

    def paced(self: Receiver, *args: Any) -> Any:
        begun[0] += 1
        if begun[0] == count:
            action()
        elif begun[0] > count:
            time.sleep(0.02)
        return begin(self, *args)

    monkeypatch.setattr(Receiver, "begin_instance", paced)


@pytest.mark.parametrize("always_on", [False, True], ids=["own", "always-on-scp"])
@pytest.mark.parametrize("method", ["get", "move"])
def test_cancel_from_another_thread_keeps_what_arrived(
        peer: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        method: str, always_on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # The workstation passes its always-on storage SCP to every retrieve: a C-GET does
    # not use it, yet its cancel was then counted by the PACS's last response.
    from viewer.net.scp import StorageSCP

    token = CancelToken()
    _after_instances(monkeypatch, 20, lambda: threading.Thread(target=token.cancel).start())
    with contextlib.ExitStack() as stack:
        scp = (stack.enter_context(StorageSCP(local, [node_for(peer)], tmp_path / "listening",
                                              sink)) if always_on else None)
        last = _run(peer, local, RetrieveRequest(study_uid("yamada")), sink, tmp_path,
                    method=method, cancel=token, scp=scp)
    assert last.done and last.cancelled and not last.ok
    assert last.status == 0xFE00
    assert 20 <= len(sink.files) < 212
    # What was stored, not the PACS's last count, which may lag behind the instance
    # that was arriving when the C-CANCEL left.
    assert last.received == len(sink.files)
    assert last.message == f"cancelled after {len(sink.files)} instances; what arrived is kept"
    # Every file handed over is complete.
    for path in sink.files.values():
        assert pydicom.dcmread(path).SOPInstanceUID


def test_get_contexts_stay_within_128() -> None:
    contexts = storage_contexts(())
    assert 0 < len(contexts) <= 127
    many = [f"1.2.840.10008.5.1.4.1.1.{i}" for i in range(1, 200)]
    assert len(storage_contexts(many)) <= 127
    assert len({str(c.abstract_syntax) for c in storage_contexts(["1.2.3"])}) == 1
    assert len(storage_contexts(["1.2.3"])) == 13  # uncompressed + 12 compressed syntaxes


@pytest.mark.parametrize("method", ["get", "move"])
def test_peer_killed_mid_retrieve_then_retry_completes(
        tmp_path: Path, local: NetworkSettings, move_port: int, sink: FolderSink,
        peer_files: dict[str, Path], method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.peers import start_orthanc, store_files
    work = tmp_path / "orthanc"
    dest = {"LIGHTBOX": ("127.0.0.1", move_port)}
    expected = _expected(peer_files, "yamada_")
    peer = start_orthanc(work, destinations=dest)
    try:
        store_files(peer, sorted(expected.values()))
        with monkeypatch.context() as paced:
            # The PACS dies while the 41st instance arrives (that one is cut off).
            _after_instances(paced, 41, peer.kill)
            with pytest.raises(PeerError) as err:
                _run(peer, local, RetrieveRequest(study_uid("yamada")), sink, tmp_path,
                     method=method)
        assert "was lost after" in str(err.value)
        assert "run the same retrieve again to fetch only what is missing" in str(err.value)
        kept = set(sink.files)
        assert 40 <= len(kept) < len(expected)

        peer = start_orthanc(work, destinations=dest, port=peer.port)
        last = _run(peer, local, RetrieveRequest(study_uid("yamada")), sink, tmp_path,
                    method=method, already_have=sink.have)
        assert last.ok, last.message
        assert last.already_present == len(kept)
        assert last.completed == len(expected) - len(kept)
        _assert_same(sink, expected)  # every instance once: no duplicate delivery
    finally:
        peer.stop()


def test_auto_falls_back_to_move_when_get_is_not_offered(
        local: NetworkSettings, move_port: int, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path]) -> None:
    from tests.support.peers import PynetdicomPeer

    files = _expected(peer_files, "doe_0_000")  # ten implicit VR CT slices
    peer = PynetdicomPeer(sorted(files.values()), offer_get=False,
                          destinations={"LIGHTBOX": ("127.0.0.1", move_port)})
    try:
        node = node_of(peer)
        steps = list(retrieve(node, local, RetrieveRequest(study_uid("doe")), sink,
                              tmp_path / "incoming", method="auto"))
        assert steps[-1].ok and steps[-1].method == "move", steps[-1].message
        _assert_same(sink, files)
        with pytest.raises(PeerError, match="does not offer C-GET"):
            list(retrieve(node, local, RetrieveRequest(study_uid("doe")), sink,
                          tmp_path / "incoming", method="get"))
    finally:
        peer.stop()


def test_a_pacs_that_stops_answering_times_out(local: NetworkSettings, sink: FolderSink,
                                               tmp_path: Path) -> None:
    from tests.support.peers import PynetdicomPeer
    from viewer.net.query import QuerySpec, find

    peer = PynetdicomPeer(stall=3.0)
    try:
        node = node_of(peer, dimse_timeout=1.0)
        with pytest.raises(PeerError, match="no answer to the query within 1 s"):
            list(find(node, local, QuerySpec()))
    finally:
        peer.stop()


def test_a_pacs_that_stops_sending_mid_get_times_out_and_keeps_what_came(
        local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path]) -> None:
    from tests.support.peers import PynetdicomPeer

    files = _expected(peer_files, "doe_0_000")
    peer = PynetdicomPeer(sorted(files.values()), stall=4.0)
    try:
        node = node_of(peer, dimse_timeout=1.0)
        request = RetrieveRequest(study_uid("doe"), series_uids=(series_uid("doe", 0),),
                                  sop_uids=tuple(sorted(files)))
        with pytest.raises(PeerError, match="stopped answering the C-GET for 1 s"):
            list(retrieve(node, local, request, sink, tmp_path / "incoming", method="get"))
        assert len(sink.files) == 1
    finally:
        peer.stop()


@pytest.mark.parametrize("method", ["get", "move"])
def test_patient_root_retrieve(peer: PeerProcess, local: NetworkSettings, sink: FolderSink,
                               tmp_path: Path, peer_files: dict[str, Path],
                               method: str) -> None:
    request = RetrieveRequest(study_uid("mueller"), model="patient", patient_id="LBX-002")
    last = _run(peer, local, request, sink, tmp_path, method=method)
    assert last.ok, last.message
    _assert_same(sink, _expected(peer_files, "mueller_"))


@pytest.mark.parametrize("method", ["get", "move"])
def test_a_patient_root_retrieve_under_another_patients_id_finds_nothing(
        peer: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        method: str) -> None:
    # Orthanc moves a study by its UID alone: C-MOVE stored the study of LBX-002 for a
    # request that named patient LBX-001, while C-GET found nothing.
    request = RetrieveRequest(study_uid("mueller"), model="patient", patient_id="LBX-001")
    last = _run(peer, local, request, sink, tmp_path, method=method)
    assert last.done and not last.ok and not sink.files
    assert "the PACS has nothing for study" in last.message, last.message


def test_a_move_mixing_encodings_into_the_always_on_scp_completes(
        peer: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path]) -> None:
    # dcmqrscp sends every file of a SOP class on the one context it proposed: on the
    # uncompressed syntax the running SCP takes, it fails the RLE series. The second
    # pass, with compressed syntaxes preferred for this PACS's associations, fetches the
    # rest. The running SCP had no second pass: a retry failed the same way.
    from viewer.net.scp import StorageSCP

    with StorageSCP(local, [node_for(peer)], tmp_path / "listening", sink) as scp:
        last = _run(peer, local, RetrieveRequest(study_uid("yamada")), sink, tmp_path,
                    method="move", scp=scp)
        assert last.ok and last.completed + last.already_present >= 212, last.message
        assert last.received == 212
        _assert_same(sink, _expected(peer_files, "yamada_"))
        assert not scp._compressed_for  # the preference ended with the retrieve


def test_a_move_another_program_asks_for_reaches_the_storage_scp_uncompressed(
        dcmqrscp: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path]) -> None:
    # `lightbox listen` as the Move Destination of a C-MOVE that dcmtk's movescu asks
    # for: dcmqrscp proposes RLE with the uncompressed syntaxes, and the SCP took RLE,
    # which dcmqrscp cannot make of an uncompressed file: every instance failed.
    from viewer.net.scp import StorageSCP

    with StorageSCP(local, [node_for(dcmqrscp)], tmp_path / "listening", sink):
        done = subprocess.run(
            ["movescu", "-aet", "MOVER", "-aec", dcmqrscp.aet, "-aem", local.ae_title, "-S",
             "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid('doe')}",
             "127.0.0.1", str(dcmqrscp.port)],
            env=PEER_ENV, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    _assert_same(sink, _expected(peer_files, "doe_"))


def test_move_into_a_storage_scp_that_is_already_running(
        orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path]) -> None:
    from viewer.net.scp import StorageSCP

    node = node_for(orthanc)
    with StorageSCP(local, [node], tmp_path / "listening", sink) as scp:
        last = _run(orthanc, local, RetrieveRequest(study_uid("doe")), sink, tmp_path,
                    method="move", scp=scp)
        assert scp.running
        assert last.ok and last.completed == 30, last.message
        assert last.received == 30
        _assert_same(sink, _expected(peer_files, "doe_"))
        # The next retrieve through the same SCP counts what it received, not the SCP's
        # total since it started.
        steps = list(retrieve(node, local, RetrieveRequest(study_uid("mueller")), sink,
                              tmp_path / "incoming", method="move", scp=scp))
    assert steps[-1].ok and steps[-1].completed == 12, steps[-1].message
    assert max(s.received for s in steps) == steps[-1].received == 12


@pytest.mark.parametrize("method", ["get", "move", "auto"])
@pytest.mark.parametrize("what", ["study", "series"])
def test_a_uid_the_pacs_does_not_have_is_said_so(
        peer: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, method: str, what: str) -> None:

    # A study nobody has, or a real series asked for under another (real) study: Orthanc
    # answered 0xC000 to the C-GET with no message, blamed our AE title for the C-MOVE,
    # and moved the series of the other study; dcmqrscp said "0 retrieved", exit 0.
    if what == "study":
        request = RetrieveRequest("1.2.3.4.5")
        said = "study 1.2.3.4.5"
    else:
        request = RetrieveRequest(study_uid("doe"), series_uids=(series_uid("mueller", 0),))
        said = f"series {series_uid('mueller', 0)} of study {study_uid('doe')}"
    sent = record_passes(monkeypatch)
    last = _run(peer, local, request, sink, tmp_path, method=method)
    assert last.done and not last.ok and not last.cancelled
    assert last.message == f"the PACS has nothing for {said}: check the UIDs with lightbox query"
    assert not sink.files and last.received == 0 and last.failed == 0
    if method != "move" or what == "series":
        # The planning C-FIND found nothing: no C-GET or C-MOVE was sent.
        assert sent == []


def test_a_pacs_that_has_the_study_is_still_blamed_when_it_never_connects_back(
        orthanc: PeerProcess, move_port: int, sink: FolderSink, tmp_path: Path) -> None:
    # The check that tells a wrong UID from a PACS that cannot send finds the study here.
    stranger = NetworkSettings(ae_title="NOBODY", port=move_port, bind_address="127.0.0.1")
    last = _run(orthanc, stranger, RetrieveRequest(study_uid("doe")), sink, tmp_path,
                method="move")
    assert not last.ok and "has nothing" not in last.message
    assert "register AE NOBODY" in last.message or "Register AE NOBODY" in last.message


def test_a_pacs_that_sends_as_another_ae_title_is_named_and_then_accepted(
        orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path]) -> None:
    # Orthanc answers any called AE title and sends as its own (ORTHANC): a node that
    # calls it QRSCP sees its C-MOVE connect back as a stranger, refused by our SCP.
    node = node_for(orthanc, called_aet="QRSCP")
    request = RetrieveRequest(study_uid("doe"))
    last = list(retrieve(node, local, request, sink, tmp_path / "incoming",
                         method="move"))[-1]
    assert not last.ok and not sink.files
    assert last.message == (
        f"the PACS connected back as AE {orthanc.aet} from 127.0.0.1, but node orthanc is "
        f"AE QRSCP, so it was refused: if the PACS sends as {orthanc.aet}, give the node "
        "that sending AE title (Edit... in the Query/Retrieve tab, or lightbox node edit "
        f"orthanc --sending-aet {orthanc.aet})")
    node = node_for(orthanc, called_aet="QRSCP", sending_aet=orthanc.aet)
    last = list(retrieve(node, local, request, sink, tmp_path / "incoming",
                         method="move"))[-1]
    assert last.ok
    _assert_same(sink, _expected(peer_files, "doe_"))


def test_a_cancel_between_the_passes_of_a_move_is_reported_as_the_cancel(
        dcmqrscp: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # dcmqrscp sends this series' RLE files on the uncompressed context our SCP prefers,
    # cannot convert them and fails the first C-MOVE (0xA702, all sub-operations failed);
    # the retrieve then lists the instances for a second pass. Ctrl-C during that C-FIND
    # was reported as the PACS's failure, "check that the PACS can open a connection".
    token = CancelToken()
    original = plan_module.find_identifiers
    listed: list[int] = []

    def cancel_while_listing(*args: Any, **kw: Any) -> Any:
        for n, match in enumerate(original(*args, **kw)):
            if n == 0:
                listed.append(n)
                token.cancel()  # as the SIGINT handler does, on this thread
            yield match

    monkeypatch.setattr(plan_module, "find_identifiers", cancel_while_listing)
    request = RetrieveRequest(study_uid("yamada"), series_uids=(series_uid("yamada", 1),))
    last = _run(dcmqrscp, local, request, sink, tmp_path, method="move", cancel=token)
    assert listed, "the first C-MOVE did not fail: nothing to cancel between passes"
    assert last.done and last.cancelled and not last.ok
    assert last.status == 0xFE00
    assert last.message == (f"cancelled after {len(sink.files)} instances; what arrived "
                            "is kept")


def _hold_port(port: int) -> Any:
    import socket

    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As our storage SCP does: earlier tests' connections to the port may be in TIME_WAIT.
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", port))
    held.listen(1)
    return held


def test_a_move_waits_while_another_retrieve_of_the_home_holds_the_port(
        orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path]) -> None:
    from viewer.net.listener import ListenerFile

    # Another retrieve of the same home listens on the C-MOVE port for its own C-MOVE
    # (its claim in the home, its socket): this one waits, then listens itself.
    records = ListenerFile(tmp_path)
    held = _hold_port(local.port)
    claim = records.claim_port(local.port)
    phases = []
    try:
        for p in retrieve(node_for(orthanc), local, RetrieveRequest(study_uid("doe")), sink,
                          tmp_path / "incoming", method="move", listener=records):
            phases.append(p.phase)
            if p.phase == "wait" and held.fileno() != -1:
                held.close()  # the other retrieve ends
                records.release_port(local.port, claim)
    finally:
        held.close()
    assert "wait" in phases
    assert p.ok and p.completed == 30, p.message
    _assert_same(sink, _expected(peer_files, "doe_"))
    assert records.port_holder(local.port) is None  # our claim went with our SCP


def test_a_move_gives_up_waiting_for_the_port_and_says_why(
        orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from viewer.net import transfer
    from viewer.net.listener import ListenerFile

    monkeypatch.setattr(transfer, "PORT_WAIT_SECONDS", 0.5)
    records = ListenerFile(tmp_path)
    held = _hold_port(local.port)
    claim = records.claim_port(local.port)
    try:
        with pytest.raises(PeerError) as err:
            _run(orthanc, local, RetrieveRequest(study_uid("doe")), sink, tmp_path,
                 method="move", listener=records)
    finally:
        held.close()
        records.release_port(local.port, claim)
    assert (f"another Lightbox retrieve of this home is using port {local.port} for C-MOVE"
            in str(err.value))
    assert str(err.value).endswith("retry when it ends, or use --method get")
    assert not sink.files


def test_a_pacs_that_sends_from_another_address_is_named(
        orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    move_from_another_address(orthanc, local, sink, tmp_path / "incoming")
