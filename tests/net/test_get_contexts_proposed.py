"""A C-GET proposes storage contexts for the SOP classes the PACS said the study has.

PS3.4 C.6.1.1.2: SOP Classes in Study (0008,0062) is an optional study-level key; a PACS
that answers it lets a C-GET association propose those classes alone, each with the SCP
role selected (PS3.7 D.3.3.4), instead of a common set that may miss the study's own.
The PACS is pynetdicom inside the test; it records each A-ASSOCIATE-RQ it receives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage
from pynetdicom import evt
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

from tests.net.conftest import FolderSink, node_of
from tests.support.peers import PynetdicomPeer, study_uid
from viewer.core.settings import NetworkSettings
from viewer.net.retrieve import RetrieveRequest, retrieve

pytestmark = pytest.mark.peer


class _RecordingPacs(PynetdicomPeer):
    """A PACS that answers SOP Classes in Study and records what each association proposes:
    ``requests`` holds, per A-ASSOCIATE-RQ, its presentation contexts as (abstract syntax,
    transfer syntaxes) and its role selection items as {SOP class: (SCU role, SCP role)}."""

    def __init__(self, files: Iterable[Path]) -> None:
        super().__init__(sorted(files))
        self.classes = sorted({str(pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID)
                               for p in self.files})
        self.requests: list[tuple[list[tuple[str, tuple[str, ...]]],
                                  dict[str, tuple[bool, bool]]]] = []
        self.server.bind(evt.EVT_REQUESTED, self._record)

    def _record(self, event: Any) -> None:
        primitive = event.assoc.requestor.primitive
        contexts = [(str(cx.abstract_syntax), tuple(str(t) for t in cx.transfer_syntax))
                    for cx in primitive.presentation_context_definition_list]
        roles = {str(item.sop_class_uid): (bool(item.scu_role), bool(item.scp_role))
                 for item in primitive.user_information
                 if isinstance(item, SCP_SCU_RoleSelectionNegotiation)}
        self.requests.append((contexts, roles))

    def _find(self, event: object) -> Iterable[tuple[int, Dataset | None]]:
        query = event.identifier  # type: ignore[attr-defined]
        for status, answer in super()._find(event):
            if (answer is not None and query.QueryRetrieveLevel == "STUDY"
                    and "SOPClassesInStudy" in query):
                answer.SOPClassesInStudy = self.classes  # what a PACS computes (PS3.4 C.6.1.1.2)
            yield status, answer


@pytest.fixture
def mr_pacs(peer_files: dict[str, Path]) -> Iterator[_RecordingPacs]:
    """The MR study ``mueller`` (twelve RLE Lossless MR Image Storage instances)."""
    peer = _RecordingPacs(p for p in peer_files.values() if p.name.startswith("mueller_"))
    try:
        yield peer
    finally:
        peer.stop()


def test_a_get_proposes_the_study_classes_with_the_scp_role(
        mr_pacs: _RecordingPacs, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    assert mr_pacs.classes == [MRImageStorage]
    last = list(retrieve(node_of(mr_pacs), local, RetrieveRequest(study_uid("mueller")),
                         sink, tmp_path / "incoming", method="get"))[-1]
    assert last.ok and len(sink.files) == 12, last.message
    gets = [(contexts, roles) for contexts, roles in mr_pacs.requests
            if any(uid == StudyRootQueryRetrieveInformationModelGet for uid, _ in contexts)]
    assert len(gets) == 1  # one pass fetched everything
    contexts, roles = gets[0]
    storage = [(uid, syntaxes) for uid, syntaxes in contexts
               if uid != StudyRootQueryRetrieveInformationModelGet]
    assert storage and {uid for uid, _ in storage} == {MRImageStorage}
    # The study is RLE Lossless: a context in that syntax lets the PACS send it as stored.
    assert any(syntaxes == ("1.2.840.10008.1.2.5",) for _, syntaxes in storage)
    assert roles == {MRImageStorage: (False, True)}
