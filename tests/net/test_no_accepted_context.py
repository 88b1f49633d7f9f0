"""A PACS that accepts the association but none of the presentation contexts proposed
(PS3.8 9.3.3.2): said so, and the retrieve goes on with the service it does offer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom.presentation import build_context

from tests.net.conftest import OUR_AET, FolderSink, doe_slices, node_of
from tests.support.peers import PynetdicomPeer, study_uid
from viewer.core.errors import NoAcceptedContextError, PeerError, PeerUnreachableError
from viewer.core.settings import NetworkSettings
from viewer.net import explain
from viewer.net.connection import open_association
from viewer.net.policy import GET_MODELS, UNCOMPRESSED_SYNTAXES
from viewer.net.query import QuerySpec, find
from viewer.net.retrieve import RetrieveRequest, retrieve

pytestmark = pytest.mark.peer

GET = GET_MODELS["study"]


@pytest.fixture
def find_and_move_only(peer_files: dict[str, Path], move_port: int
                       ) -> Iterator[PynetdicomPeer]:
    """A Q/R AE offering FIND and MOVE: neither C-GET nor a storage context for it."""
    peer = PynetdicomPeer(sorted(doe_slices(peer_files).values()), offer_get=False,
                          offer_storage=False,
                          destinations={OUR_AET: ("127.0.0.1", move_port)})
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def patient_root_only(peer_files: dict[str, Path]) -> Iterator[PynetdicomPeer]:
    """A PACS whose C-FIND is in the Patient Root model only; C-GET as usual."""
    peer = PynetdicomPeer(sorted(doe_slices(peer_files).values()), offer_study_find=False)
    try:
        yield peer
    finally:
        peer.stop()


def test_an_association_without_an_accepted_context_is_told_from_a_dropped_one(
        find_and_move_only: PynetdicomPeer, local: NetworkSettings) -> None:
    contexts = [build_context(GET, list(UNCOMPRESSED_SYNTAXES)),
                build_context("1.2.840.10008.5.1.4.1.1.2", list(UNCOMPRESSED_SYNTAXES))]
    with pytest.raises(NoAcceptedContextError) as err:
        open_association(node_of(find_and_move_only), local, contexts)
    assert not isinstance(err.value, PeerUnreachableError)
    assert err.value.proposed == (GET, "1.2.840.10008.5.1.4.1.1.2")
    assert err.value.problem == (
        f"127.0.0.1:{find_and_move_only.port} accepted the association but refused every "
        "service proposed (Study Root Query/Retrieve Information Model - GET, CT Image "
        "Storage): it does not offer them (abstract syntax not supported)")


def test_auto_falls_back_to_move_when_nothing_of_a_get_is_accepted(
        find_and_move_only: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path, peer_files: dict[str, Path]) -> None:
    node = node_of(find_and_move_only)
    last = list(retrieve(node, local, RetrieveRequest(study_uid("doe")), sink,
                         tmp_path / "incoming", method="auto"))[-1]
    assert last.ok and last.method == "move", last.message
    assert set(sink.files) == set(doe_slices(peer_files))
    with pytest.raises(PeerError) as err:
        list(retrieve(node, local, RetrieveRequest(study_uid("doe")), sink,
                      tmp_path / "incoming", method="get"))
    assert err.value.problem == "the PACS does not offer C-GET: use --method move"


def test_a_query_in_a_model_the_pacs_lacks_says_so(patient_root_only: PynetdicomPeer,
                                                   local: NetworkSettings) -> None:
    with pytest.raises(PeerError) as err:
        list(find(node_of(patient_root_only), local, QuerySpec()))
    assert not isinstance(err.value, PeerUnreachableError)
    assert err.value.problem == (
        "the PACS does not offer C-FIND in the study root model; try --model patient or study")


def test_a_get_goes_on_when_its_planning_query_is_not_offered(
        patient_root_only: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path, peer_files: dict[str, Path]) -> None:
    # The Study Root C-FIND that plans a C-GET finds no context: the PACS is reachable,
    # so the C-GET is sent without its answer.
    last = list(retrieve(node_of(patient_root_only), local, RetrieveRequest(study_uid("doe")),
                         sink, tmp_path / "incoming", method="get"))[-1]
    assert last.ok and last.method == "get", last.message
    assert set(sink.files) == set(doe_slices(peer_files))


def test_the_explanation_names_the_services_and_why() -> None:
    w = explain.Where("PACS", "pacs.example", 104)
    many = ["Study Root Query/Retrieve Information Model - GET", "CT Image Storage",
            "MR Image Storage", "RT Plan Storage", "1.2.3.4"]
    assert explain.no_context_accepted(w, many[:2], [4, 4]) == (
        "pacs.example:104 accepted the association but refused every service proposed "
        "(Study Root Query/Retrieve Information Model - GET, CT Image Storage): it offers "
        "them in none of the transfer syntaxes proposed (transfer syntaxes not supported)")
    assert explain.no_context_accepted(w, many, [3, 4, None]).endswith(
        "(Study Root Query/Retrieve Information Model - GET, CT Image Storage, MR Image "
        "Storage and 2 more): it does not offer them, or not in the transfer syntaxes "
        "proposed")
