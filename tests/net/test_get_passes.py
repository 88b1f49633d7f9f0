"""C-GET passes: what each association proposes, and a study whose classes the PACS won't say."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pynetdicom.presentation import PresentationContext

from tests.net.conftest import FolderSink, node_for
from tests.support.peers import StudySpec, start_dcmqrscp, store_files, study_uid
from tests.support.peers import write_peer_studies as write_studies
from viewer.core.settings import NetworkSettings
from viewer.net.plan import InventoryItem, other_storage_classes, storage_contexts
from viewer.net.policy import COMMON_STORAGE_CLASSES, EXPLICIT_VR_LE
from viewer.net.retrieve import RetrieveRequest, _get_contexts, retrieve

KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"  # not in the common set
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def _uncompressed(contexts: list[PresentationContext]) -> set[str]:
    return {str(c.abstract_syntax) for c in contexts if EXPLICIT_VR_LE in c.transfer_syntax}


def _classes(contexts: list[PresentationContext]) -> set[str]:
    return {str(c.abstract_syntax) for c in contexts}


def test_a_class_proposed_before_gets_compressed_contexts_alone() -> None:
    contexts = storage_contexts([CT_IMAGE, KEY_OBJECT_SELECTION], again=[CT_IMAGE])
    assert _uncompressed(contexts) == {KEY_OBJECT_SELECTION}
    assert _classes(contexts) == {CT_IMAGE, KEY_OBJECT_SELECTION}
    assert len(contexts) <= 127


def test_the_second_pass_offers_a_class_the_first_did_not_uncompressed() -> None:
    # The study-level answer named no classes (the common set went first); the
    # image-level list names one outside it.
    first = _get_contexts("first", None, set(), set())
    assert _uncompressed(first) == set(COMMON_STORAGE_CLASSES)
    left = [InventoryItem("1.2.3", "1.2.3.4", KEY_OBJECT_SELECTION),
            InventoryItem("1.2.3", "1.2.3.5", CT_IMAGE)]
    second = _get_contexts("alternate", left, set(), _uncompressed(first))
    assert _uncompressed(second) == {KEY_OBJECT_SELECTION}
    assert CT_IMAGE in _classes(second)
    # Known classes leave nothing for a pass over the other classes.
    assert _get_contexts("other classes", left, set(), _uncompressed(first)) == []


def test_the_other_classes_pass_proposes_every_class_not_yet_proposed() -> None:
    first = set(COMMON_STORAGE_CLASSES)
    left = [InventoryItem("1.2.3", "1.2.3.4", "")]  # a PACS that does not say
    third = _get_contexts("other classes", left, set(), first)
    assert KEY_OBJECT_SELECTION in _uncompressed(third)
    assert not _classes(third) & first
    assert 0 < len(third) <= 127
    # What one association could not carry goes in the next.
    fourth = other_storage_classes(first | _classes(third))
    assert fourth and not set(fourth) & (first | _classes(third))


@pytest.mark.peer
def test_get_from_a_pacs_that_does_not_say_the_classes_fetches_them_all(
        tmp_path: Path) -> None:
    # dcmqrscp answers neither SOP Classes in Study nor SOP Class UID: the first C-GET
    # proposes the common classes, which leave out Key Object Selection.
    spec = StudySpec("passes", "PASSES^TEST", "LBX-P1", "", "20240301", "ACCP1", "PASSES",
                     (("CT", 3, 32, "explicit"), ("CT", 2, 32, "rle"),
                      ("CT", 2, 32, "explicit")))
    files = write_studies(tmp_path / "source", [spec])
    for path in files.values():
        if path.name.startswith("passes_2_"):
            ds = pydicom.dcmread(path)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = KEY_OBJECT_SELECTION
            ds.save_as(path)
    peer = start_dcmqrscp(tmp_path / "dcmqrscp")
    try:
        store_files(peer, sorted(files.values()))
        sink = FolderSink(tmp_path / "received")
        local = NetworkSettings(ae_title="LIGHTBOX", port=0, bind_address="127.0.0.1")
        steps = list(retrieve(node_for(peer), local, RetrieveRequest(study_uid("passes")),
                              sink, tmp_path / "incoming", method="get"))
    finally:
        peer.stop()
    last = steps[-1]
    assert last.ok and last.method == "get", last.message
    assert set(sink.files) == set(files)
    assert all(n == 1 for n in sink.deliveries.values())
    for uid, path in sink.files.items():
        got, original = pydicom.dcmread(path), pydicom.dcmread(files[uid])
        assert got.SOPClassUID == original.SOPClassUID
        assert got.PixelData == original.PixelData, uid
