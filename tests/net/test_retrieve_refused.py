"""A PACS that ends the association on our C-GET or C-MOVE request, as Orthanc does for a
C-GET it does not allow an AE title and for an AE title it does not know."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net.conftest import OUR_AET, FolderSink, doe_slices, node_for
from tests.support.peers import PeerProcess, start_orthanc, store_files, study_uid
from viewer.core.errors import PeerError
from viewer.core.settings import NetworkSettings
from viewer.net.retrieve import RetrieveRequest, retrieve

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def no_get_orthanc(tmp_path_factory: pytest.TempPathFactory, peer_files: dict[str, Path],
                   move_port: int) -> Iterator[PeerProcess]:
    """Orthanc that lets LIGHTBOX C-MOVE but not C-GET, and knows no other AE title."""
    peer = start_orthanc(tmp_path_factory.mktemp("orthanc-no-get"), settings={
        "DicomAlwaysAllowGet": False, "DicomAlwaysAllowMove": False,
        "DicomModalities": {"lightbox": {
            "AET": OUR_AET, "Host": "127.0.0.1", "Port": move_port, "AllowGet": False,
            "AllowMove": True, "AllowFind": True, "AllowEcho": True, "AllowStore": True}}})
    try:
        store_files(peer, sorted(doe_slices(peer_files).values()))
        yield peer
    finally:
        peer.stop()


def _retrieve(peer: PeerProcess, local: NetworkSettings, sink: FolderSink, tmp_path: Path,
              method: str) -> list[object]:
    return list(retrieve(node_for(peer), local, RetrieveRequest(study_uid("doe")), sink,
                         tmp_path / "incoming", method=method))


def test_auto_goes_on_with_c_move_when_the_c_get_is_refused(
        no_get_orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    # The default method said "the connection was lost ... run the same retrieve again",
    # which met the same refusal every time.
    steps = _retrieve(no_get_orthanc, local, sink, tmp_path, "auto")
    last = steps[-1]
    assert last.ok and last.method == "move", last.message  # type: ignore[attr-defined]
    assert len(sink.files) == 10


def test_a_refused_c_get_is_explained_as_a_refusal(
        no_get_orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    with pytest.raises(PeerError) as err:
        _retrieve(no_get_orthanc, local, sink, tmp_path, "get")
    text = str(err.value)
    assert "ended the association as soon as it received the C-GET request" in text
    assert f"may not allow C-GET for AE {OUR_AET}" in text and "--method move" in text
    assert "run the same retrieve again" not in text


def test_a_c_move_from_an_unknown_ae_title_names_the_registration(
        no_get_orthanc: PeerProcess, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    stranger = NetworkSettings(ae_title="NEWWS", port=local.port, bind_address="127.0.0.1")
    with pytest.raises(PeerError) as err:
        _retrieve(no_get_orthanc, stranger, sink, tmp_path, "move")
    text = str(err.value)
    assert "ended the association as soon as it received the C-MOVE request" in text
    assert "may not know AE NEWWS" in text and "Register AE NEWWS" in text
    assert not sink.files
