"""A C-MOVE whose PACS reached our storage SCP but sent nothing is explained as that, not
as a PACS that cannot reach us (PS3.4 C.4.2.3, PS3.8 9.3.3.2).

The PACS is pynetdicom inside the test: its storage SCU proposes each storage class in
the default uncompressed transfer syntaxes only and does not convert, so it can send
none of an RLE Lossless study, fails every sub-operation and answers 0xA702.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.uid import JPEG2000MCLossless, MRImageStorage
from pynetdicom.presentation import build_context

from tests.net.conftest import OUR_AET, FolderSink, node_of
from tests.support.peers import PynetdicomPeer, study_uid
from viewer.core.settings import NetworkSettings
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest, retrieve

pytestmark = pytest.mark.peer


@pytest.fixture
def rle_pacs(peer_files: dict[str, Path], move_port: int) -> Iterator[PynetdicomPeer]:
    """A PACS offering C-MOVE only, holding the RLE Lossless MR study ``mueller``."""
    mueller = sorted(p for p in peer_files.values() if p.name.startswith("mueller_"))
    peer = PynetdicomPeer(mueller, offer_get=False,
                          destinations={OUR_AET: ("127.0.0.1", move_port)})
    try:
        yield peer
    finally:
        peer.stop()


def _move(peer: PynetdicomPeer, local: NetworkSettings, sink: FolderSink, tmp_path: Path
          ) -> RetrieveProgress:
    steps = list(retrieve(node_of(peer), local, RetrieveRequest(study_uid("mueller")), sink,
                          tmp_path / "incoming", method="move"))
    return steps[-1]


def test_a_pacs_that_reached_us_but_sent_nothing_is_not_told_to_check_the_firewall(
        rle_pacs: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path, move_port: int) -> None:
    last = _move(rle_pacs, local, sink, tmp_path)
    assert last.done and not last.ok and not sink.files
    assert last.status == 0xA702 and last.completed == 0
    assert last.message.startswith(
        f"the PACS reached Lightbox's storage SCP (AE LIGHTBOX at 127.0.0.1:{move_port}) "
        "but could not send the instances (12 instances failed, status 0xA702): check which "
        "SOP classes and transfer syntaxes its storage SCU proposes"), last.message
    assert "lightbox conformance" in last.message and "--method get" in last.message
    assert "firewall" not in last.message and "register" not in last.message.lower()


def test_a_pacs_proposing_only_what_we_refuse_is_told_what_it_offered(
        rle_pacs: PynetdicomPeer, local: NetworkSettings, sink: FolderSink,
        tmp_path: Path) -> None:
    # Its storage SCU now proposes a single context, in an encoding our SCP refuses.
    rle_pacs.server.ae.requested_contexts = [
        build_context(MRImageStorage, [JPEG2000MCLossless])]
    last = _move(rle_pacs, local, sink, tmp_path)
    assert last.done and not last.ok and not sink.files
    assert last.message.startswith(
        "the PACS connected back to AE LIGHTBOX but could not send some instances "
        "(0 instances arrived): it offered MR Image Storage in JPEG 2000 Part 2 "
        "Multi-component Image Compression (Lossless Only)"), last.message
    assert "firewall" not in last.message and "register" not in last.message.lower()
