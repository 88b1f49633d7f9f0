"""A peer that sends the same instance (one SOP Instance UID) twice: counted once.

A PACS may repeat a C-STORE sub-operation of a C-GET or C-MOVE, a modality may push an
instance again. The store keeps one copy; what Lightbox reports as received (the
retrieve's progress, ``lightbox retrieve``'s report, ``lightbox listen``'s total) counts
each instance once, while the PACS's own sub-operation counts (PS3.4 C.4.2.1.4,
C.4.3.1.3) are reported as the PACS sent them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.net.conftest import (
    OUR_AET,
    FolderSink,
    doe_slices,
    node_for,
    node_of,
    record_passes,
)
from tests.support.listening import lightbox_listening
from tests.support.peers import PeerProcess, PynetdicomPeer, study_uid
from viewer.cli import main
from viewer.core.settings import NetworkSettings
from viewer.net import sinks
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest, retrieve
from viewer.store.study_store import StudyStore

pytestmark = pytest.mark.peer


@pytest.fixture
def repeating_peer(peer_files: dict[str, Path], move_port: int) -> Iterator[PynetdicomPeer]:
    """A PACS that sends every instance of a C-GET or C-MOVE twice."""
    peer = PynetdicomPeer(sorted(doe_slices(peer_files).values()), send_twice=True,
                          destinations={OUR_AET: ("127.0.0.1", move_port)})
    try:
        yield peer
    finally:
        peer.stop()


def _retrieve(peer: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
              incoming: Path, method: str) -> list[RetrieveProgress]:
    return list(retrieve(node_of(peer), local, RetrieveRequest(study_uid("doe")), sink,
                         incoming, method=method))


def test_an_instance_sent_twice_in_a_get_is_received_once(
        repeating_peer: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path, peer_files: dict[str, Path]) -> None:
    expected = doe_slices(peer_files)
    snapshots = _retrieve(repeating_peer, local, sink, tmp_path / "incoming", "get")
    last = snapshots[-1]
    assert last.ok and last.method == "get", last.message
    assert set(sink.deliveries.values()) == {2}  # the PACS did send each one twice
    assert set(sink.files) == set(expected)
    # While it ran and at the end: never more received than the study holds.
    assert max(p.received for p in snapshots) == last.received == len(expected)
    # The PACS's own counts, as it sent them: one sub-operation per instance.
    assert (last.completed, last.failed, last.warning) == (len(expected), 0, 0)


def test_an_instance_sent_twice_in_a_move_is_received_once(
        repeating_peer: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path, peer_files: dict[str, Path]) -> None:
    expected = doe_slices(peer_files)
    snapshots = _retrieve(repeating_peer, local, sink, tmp_path / "incoming", "move")
    last = snapshots[-1]
    assert last.ok and last.method == "move", last.message
    assert set(sink.deliveries.values()) == {2}
    assert max(p.received for p in snapshots) == last.received == len(expected)
    # This PACS counts the repeats as sub-operations of their own: reported as it said.
    assert last.completed == 2 * len(expected)


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def test_the_retrieve_report_counts_an_instance_sent_twice_once(
        peer_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
        ) -> None:
    # The PACS sends every instance twice, then never its final response: the report
    # of a retrieve that failed counts what the store took.
    expected = doe_slices(peer_files)
    peer = PynetdicomPeer(sorted(expected.values()), send_twice=True,
                          hang_after=len(expected))
    home = tmp_path / "home"
    try:
        assert _lightbox(home, "node", "add", "py", f"{peer.aet}@127.0.0.1:{peer.port}",
                         "--timeout", "2") == 0
        capsys.readouterr()
        code = _lightbox(home, "retrieve", "py", "--study", study_uid("doe"),
                         "--method", "get", "--json")
    finally:
        peer.stop()
    report = json.loads(capsys.readouterr().out)
    assert code != 0 and report["message"], report
    assert report["received"] == len(expected), report
    assert report["completed"] == len(expected)
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == len(expected)


def test_listen_counts_an_instance_pushed_twice_once(
        peer_files: dict[str, Path], tmp_path: Path) -> None:
    path = next(iter(doe_slices(peer_files).values()))
    home = tmp_path / "home"
    assert _lightbox(home, "node", "add", "modality", "MODALITY@127.0.0.1:104") == 0
    assert _lightbox(home, "config", "set", "bind-address", "127.0.0.1") == 0
    with lightbox_listening(home) as run:
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(CTImageStorage)
        ds = pydicom.dcmread(path)
        for times in (2, 1):  # twice on one association, then again on another
            assoc = ae.associate("127.0.0.1", run.port, ae_title="LIGHTBOX")
            assert assoc.is_established
            try:
                for _ in range(times):
                    assert assoc.send_c_store(ds).Status == 0x0000
            finally:
                assoc.release()
    assert run.returncode == 0, run.err
    assert "stopped; 1 instance received" in run.out, run.out
    assert "received before" in run.out, run.out  # the repeats are said to be repeats
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == 1


def _item(uid: str) -> sinks.ReceivedInstance:
    return sinks.ReceivedInstance(Path(f"/nonexistent/{uid}.part"), uid,
                                  "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1", "PACS")


@pytest.mark.parametrize("keep_uids", [True, False])
def test_a_counting_sink_counts_each_instance_once(keep_uids: bool) -> None:
    taken: list[str] = []
    told: list[list[bool]] = []

    def sink(item: sinks.ReceivedInstance) -> None:
        taken.append(item.sop_instance_uid)

    counting = sinks.CountingSink(sink, keep_uids=keep_uids,
                                  on_taken=lambda items, firsts: told.append(firsts))
    for uid in ("1.2.1", "1.2.2", "1.2.1"):
        counting(_item(uid))
    assert taken == ["1.2.1", "1.2.2", "1.2.1"]  # the sink gets every copy
    assert counting.instances == 2 and counting.count == 3
    assert told == [[True], [True], [False]]


def test_a_uid_the_sink_refused_is_missing_again_but_not_new() -> None:
    # A retry must fetch it (not a member), and its second copy is not a second instance.
    recent = sinks.RecentUids(10)
    assert recent.add("1.2.1") is True
    recent.discard("1.2.1")
    assert "1.2.1" not in recent
    assert recent.add("1.2.1") is False
    assert "1.2.1" in recent


def test_an_instance_stored_when_sent_again_is_not_reported_as_not_imported(
        repeating_peer: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path, peer_files: dict[str, Path]) -> None:
    # The store refuses the first copy of one instance (a transient failure) and takes
    # the second: the instance is here, and the retrieve says nothing is missing.
    expected = doe_slices(peer_files)
    unlucky = sorted(expected)[0]
    refused: list[str] = []

    def flaky(item: sinks.ReceivedInstance) -> None:
        if item.sop_instance_uid == unlucky and not refused:
            refused.append(item.sop_instance_uid)
            raise OSError("database is locked")
        sink(item)

    last = list(retrieve(node_of(repeating_peer), local, RetrieveRequest(study_uid("doe")),
                         flaky, tmp_path / "incoming", method="get"))[-1]
    assert refused == [unlucky]
    assert set(sink.files) == set(expected)
    assert last.ok, last.message
    assert last.not_imported == 0 and last.failed_instances == []


@pytest.mark.parametrize("method", ["get", "move"])
def test_an_instance_the_store_refuses_is_not_asked_for_again(
        peer: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
        peer_files: dict[str, Path], method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A PACS whose copy of one instance carries a corrected Patient ID: the store refuses
    # it. The retrieve then ran two more C-GETs for it, both failing, and blamed the PACS
    # ("try --method move"); the report listed the instance twice.
    expected = {uid: p for uid, p in peer_files.items() if p.name.startswith("doe_")}
    refused_uid = sorted(expected)[0]
    passes = record_passes(monkeypatch)

    def store(item: sinks.ReceivedInstance) -> None:
        if item.sop_instance_uid == refused_uid:
            raise ValueError("study already stored for another Patient ID")
        sink(item)

    # A retry: one instance is here already, so the PACS lists what the study holds.
    held_uid = sorted(expected)[-1]
    sink.files[held_uid] = expected[held_uid]
    last = list(retrieve(node_for(peer), local, RetrieveRequest(study_uid("doe")), store,
                         tmp_path / "incoming", method=method, already_have=sink.have,
                         held=lambda study, series: len(sink.files)))[-1]
    assert passes == [f"run_{method}"]
    assert set(sink.files) == set(expected) - {refused_uid}
    assert last.expected == len(expected) and last.already_present == 1
    assert not last.ok and last.failed == 0
    assert last.message == "1 received instance could not be imported", last.message
    assert last.failed_instances == [refused_uid] and last.not_imported == 1
