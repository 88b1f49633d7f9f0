"""A C-FIND that ends with a failure status: the cause said, a partial list said partial.

PS3.4 C.4.1.1.4: a failure status (Out of Resources 0xA700, Identifier Does Not Match SOP
Class 0xA900, Unable to Process 0xCxxx) ends the C-FIND. Some PACS answer 0xA700 to a
query with more matches than they will send, sometimes after sending some of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from viewer.core.errors import PeerError
from viewer.core.settings import NetworkSettings
from viewer.net import explain_dimse
from viewer.net.nodes import NodeRecord
from viewer.net.query import QuerySpec, TruncatedQueryError, find

pytestmark = pytest.mark.peer


class FailingFindPeer:
    """A Q/R SCP that sends ``matches`` study matches, then ``status``."""

    def __init__(self, matches: int, status: int, comment: str = "") -> None:
        self.matches, self.status, self.comment = matches, status, comment
        ae = AE(ae_title="FAILPACS")
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.server = ae.start_server(("127.0.0.1", 0), block=False,
                                      evt_handlers=[(evt.EVT_C_FIND, self._find)])
        self.port = int(self.server.server_address[1])

    def _find(self, event: object) -> Iterable[tuple[int | Dataset, Dataset | None]]:
        for n in range(self.matches):
            match = Dataset()
            match.QueryRetrieveLevel = "STUDY"
            match.StudyInstanceUID = f"1.2.826.0.1.3680043.10.1.{n + 1}"
            yield 0xFF00, match
        final = Dataset()
        final.Status = self.status
        if self.comment:
            final.ErrorComment = self.comment
        yield final, None

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def failing(request: pytest.FixtureRequest) -> Iterator[FailingFindPeer]:
    peer = FailingFindPeer(*request.param)
    try:
        yield peer
    finally:
        peer.stop()


def _node(peer: FailingFindPeer) -> NodeRecord:
    return NodeRecord("pacs", "FAILPACS", "127.0.0.1", peer.port, dimse_timeout=10.0)


LOCAL = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")


@pytest.mark.parametrize("failing", [(3, 0xA700)], indirect=True)
def test_out_of_resources_after_some_matches_is_an_incomplete_list(
        failing: FailingFindPeer) -> None:
    got: list[dict[str, object]] = []
    with pytest.raises(TruncatedQueryError) as err:
        for match in find(_node(failing), LOCAL, QuerySpec(patient_name="*")):
            got.append(match)
    assert len(got) == 3 and err.value.count == 3
    assert err.value.problem == (
        "the PACS ran out of resources (status 0xA700); it may limit how many matches a "
        "query may have: narrow the query (a date range, a patient ID, a modality); it "
        "stopped after 3 results: the list is incomplete")


@pytest.mark.parametrize("failing", [(0, 0xA700)], indirect=True)
def test_out_of_resources_before_any_match_asks_for_a_narrower_query(
        failing: FailingFindPeer) -> None:
    with pytest.raises(PeerError) as err:
        list(find(_node(failing), LOCAL, QuerySpec(patient_name="*")))
    assert not isinstance(err.value, TruncatedQueryError)
    assert "narrow the query" in err.value.problem
    assert "check the keys" not in err.value.problem


@pytest.mark.parametrize("failing", [(0, 0xC001, "index unavailable")], indirect=True)
def test_unable_to_process_is_said_with_the_pacs_comment(failing: FailingFindPeer) -> None:
    with pytest.raises(PeerError) as err:
        list(find(_node(failing), LOCAL, QuerySpec(patient_name="*")))
    assert err.value.problem == (
        "the PACS could not process the query (status 0xC001: index unavailable)")


def test_a_key_that_does_not_match_the_model_points_at_the_keys() -> None:
    text = explain_dimse.query_failed(0xA900, "", 0)
    assert "0xA900" in text and text.endswith("check the keys of this query level")
    assert explain_dimse.query_failed(0xA700, "", 1).endswith("stopped after 1 result: the list "
                                                        "is incomplete")
