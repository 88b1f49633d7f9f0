"""Peers for the net tests: Orthanc and dcmqrscp loaded with generated studies, on loopback.

Both are session-scoped (started once, stopped by PID at the end). C-MOVE destinations
point at ``LIGHTBOX`` on ``move_port``, where the tests run our storage SCP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pydicom
import pytest

from tests.support.peers import (
    PeerProcess,
    PynetdicomPeer,
    free_port,
    start_dcmqrscp,
    start_orthanc,
    store_files,
    study_uid,
    write_peer_studies,
)
from viewer.core.settings import NetworkSettings
from viewer.net.nodes import NodeRecord
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest, retrieve
from viewer.net.scp import StorageSCP
from viewer.net.sinks import ReceivedInstance

OUR_AET = "LIGHTBOX"


@pytest.fixture(scope="session")
def peer_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{SOP Instance UID: file}`` of every generated test instance."""
    return write_peer_studies(tmp_path_factory.mktemp("peer-files"))


@pytest.fixture(scope="session")
def move_port() -> int:
    """The port our storage SCP uses as C-MOVE destination ``LIGHTBOX``."""
    return free_port()


def _loaded_peer(start: Callable[..., PeerProcess], folder: Path, files: dict[str, Path],
                 move_port: int) -> Iterator[PeerProcess]:
    """Start a peer that knows our C-MOVE destination, load ``files``, stop it by PID after."""
    peer = start(folder, destinations={OUR_AET: ("127.0.0.1", move_port)})
    try:
        store_files(peer, sorted(files.values()))
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, peer_files: dict[str, Path],
            move_port: int) -> Iterator[PeerProcess]:
    yield from _loaded_peer(start_orthanc, tmp_path_factory.mktemp("orthanc"), peer_files,
                            move_port)


@pytest.fixture(scope="session")
def dcmqrscp(tmp_path_factory: pytest.TempPathFactory, peer_files: dict[str, Path],
             move_port: int) -> Iterator[PeerProcess]:
    yield from _loaded_peer(start_dcmqrscp, tmp_path_factory.mktemp("dcmqrscp"), peer_files,
                            move_port)


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def peer(request: pytest.FixtureRequest) -> PeerProcess:
    """Each real peer in turn."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def node_for(peer: PeerProcess, **changes: object) -> NodeRecord:
    """A node record pointing at ``peer`` with short timeouts."""
    fields: dict[str, object] = {
        "name": peer.kind, "called_aet": peer.aet, "host": "127.0.0.1", "port": peer.port,
        "connect_timeout": 5.0, "acse_timeout": 10.0, "dimse_timeout": 30.0,
    }
    fields.update(changes)
    return NodeRecord(**fields)  # type: ignore[arg-type]


def node_of(peer: PynetdicomPeer, **changes: object) -> NodeRecord:
    """A node record for a PACS inside the test, on loopback, with short timeouts."""
    fields: dict[str, object] = {"name": "py", "called_aet": peer.aet, "host": "127.0.0.1",
                                 "port": peer.port, "acse_timeout": 5.0, "dimse_timeout": 10.0}
    fields.update(changes)
    return NodeRecord(**fields)  # type: ignore[arg-type]


def doe_slices(peer_files: dict[str, Path]) -> dict[str, Path]:
    """The first ten slices of the generated study ``doe`` (implicit VR CT)."""
    return {uid: p for uid, p in peer_files.items() if p.name.startswith("doe_0_000")}


@pytest.fixture
def local(move_port: int) -> NetworkSettings:
    """Our AE: LIGHTBOX on the C-MOVE destination port, on loopback."""
    return NetworkSettings(ae_title=OUR_AET, port=move_port, bind_address="127.0.0.1")


class FolderSink:
    """Collects received files the way the store would: one file per SOP Instance UID.

    ``deliveries`` counts how often each UID arrived, to prove retries fetch no duplicate.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, Path] = {}
        self.deliveries: dict[str, int] = {}
        self.lock = threading.Lock()
        self.hooks: list[object] = []

    def __call__(self, item: ReceivedInstance) -> None:
        target = self.folder / f"{item.sop_instance_uid}.dcm"
        item.path.replace(target)
        with self.lock:
            self.files[item.sop_instance_uid] = target
            self.deliveries[item.sop_instance_uid] = (
                self.deliveries.get(item.sop_instance_uid, 0) + 1)
            count = len(self.files)
        for hook in list(self.hooks):
            hook(count)  # type: ignore[operator]

    def have(self, uids: object) -> set[str]:
        with self.lock:
            return {u for u in uids if u in self.files}  # type: ignore[attr-defined]


@pytest.fixture
def sink(tmp_path: Path) -> FolderSink:
    return FolderSink(tmp_path / "received")


@pytest.fixture
def modality_scp(tmp_path: Path, sink: FolderSink) -> Iterator[StorageSCP]:
    """Our storage SCP on a free port, accepting the node MODALITY from loopback."""
    local = NetworkSettings(ae_title=OUR_AET, bind_address="127.0.0.1")
    modality = NodeRecord("modality", "MODALITY", "127.0.0.1", 104)
    with StorageSCP(local, [modality], tmp_path / "incoming", sink, port=0) as server:
        yield server


def get_from_a_pynetdicom_peer(files: Sequence[Path], local: NetworkSettings,
                               sink: FolderSink, incoming: Path) -> RetrieveProgress:
    """C-GET the study of ``files`` from a PACS inside the test that holds them; the last
    progress. The peer sends each instance only on a context of its own transfer syntax
    (pynetdicom does not transcode) and answers no SOP Classes in Study."""
    peer = PynetdicomPeer(files)
    try:
        study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
        steps = list(retrieve(node_of(peer), local, RetrieveRequest(study), sink, incoming,
                              method="get"))
    finally:
        peer.stop()
    return steps[-1]


def assert_received_as_sent(sink: FolderSink, sent: Sequence[Path]) -> None:
    """``sink`` holds exactly the instances of ``sent``: compressed ones in their own
    transfer syntax, and every one with its pixel data byte for byte."""
    assert len(sink.files) == len(sent)
    for path in sent:
        original = pydicom.dcmread(path)
        got = pydicom.dcmread(sink.files[original.SOPInstanceUID])
        syntax = original.file_meta.TransferSyntaxUID
        if syntax.is_compressed:
            assert got.file_meta.TransferSyntaxUID == syntax
        else:  # a PACS may send uncompressed data in either little endian syntax
            assert not got.file_meta.TransferSyntaxUID.is_compressed
        assert got.PixelData == original.PixelData


def move_from_another_address(orthanc: PeerProcess, local: NetworkSettings,
                              sink: FolderSink, incoming: Path) -> str:
    """A C-MOVE from Orthanc reached at 127.0.0.2, which connects back from 127.0.0.1 (a
    multi-homed PACS, or one behind NAT): refused, and the advice names the address the
    node can be given. The retrieve's message."""
    node = node_for(orthanc, host="127.0.0.2")
    last = list(retrieve(node, local, RetrieveRequest(study_uid("doe")), sink, incoming,
                         method="move"))[-1]
    assert not last.ok and not sink.files
    assert last.message.startswith(
        "the PACS connected back from 127.0.0.1, but node orthanc is at 127.0.0.2, so it "
        "was refused: give the node the address the PACS sends from (Edit... in the "
        "Query/Retrieve tab, or lightbox node edit orthanc --address "
        f"{orthanc.aet}@127.0.0.1:{orthanc.port})")
    return last.message


def record_passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The C-GET and C-MOVE passes a retrieve runs, in order (``run_get``, ``run_move``)."""
    from viewer.net import retrieve as retrieve_module

    passes: list[str] = []
    for name in ("run_get", "run_move"):
        original = getattr(retrieve_module, name)

        def counted(*args: Any, _original: Any = original, _name: str = name, **kw: Any
                    ) -> Any:
            passes.append(_name)
            return (yield from _original(*args, **kw))

        monkeypatch.setattr(retrieve_module, name, counted)
    return passes
