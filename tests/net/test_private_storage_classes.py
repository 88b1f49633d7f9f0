"""Objects of storage SOP classes pynetdicom does not know (private, or newer than it) are
received like any other: a whole Siemens MR study holds CSA Non-Image objects
(1.3.12.2.1107.5.9.1), and refusing their context made the PACS fail the whole C-MOVE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE

from tests.net.conftest import FolderSink
from viewer.core.settings import NetworkSettings
from viewer.net.nodes import NodeRecord
from viewer.net.scp import StorageSCP

CSA_NON_IMAGE = "1.3.12.2.1107.5.9.1"
QUERY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Q/R FIND: not a storage class


@pytest.fixture
def scp(tmp_path: Path, sink: FolderSink) -> Iterator[StorageSCP]:
    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    modality = NodeRecord("modality", "MODALITY", "127.0.0.1", 104)
    with StorageSCP(local, [modality], tmp_path / "incoming", sink, port=0) as server:
        yield server


def _as_class(source: Path, target: Path, sop_class: str) -> Path:
    ds = pydicom.dcmread(source)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(target, enforce_file_format=True)
    return target


def test_a_private_storage_class_is_received(scp: StorageSCP, sink: FolderSink,
                                             peer_files: dict[str, Path],
                                             tmp_path: Path) -> None:
    source = sorted(peer_files.values())[0]
    private = _as_class(source, tmp_path / "csa.dcm", CSA_NON_IMAGE)
    ae = AE(ae_title="MODALITY")
    for ds in (pydicom.dcmread(private), pydicom.dcmread(source)):
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assert assoc.is_established
    try:
        for path in (private, source):
            assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
    finally:
        assoc.release()
    scp.receiver.drain()
    uid = str(pydicom.dcmread(private).SOPInstanceUID)
    assert uid in sink.files and len(sink.files) == 2
    got = pydicom.dcmread(sink.files[uid])
    assert got.SOPClassUID == CSA_NON_IMAGE
    assert got.PixelData == pydicom.dcmread(private).PixelData


@pytest.mark.parametrize("other", [
    QUERY_FIND,
    "1.2.840.10008.5.1.4.31",  # Modality Worklist FIND: accepted, then failed 0xC311
    "1.2.840.10008.5.1.4.39.2",  # Color Palette Q/R FIND
    "1.2.840.10008.1.20.1",  # Storage Commitment Push Model
])
def test_a_class_of_another_service_is_not_taken_for_storage(scp: StorageSCP,
                                                             other: str) -> None:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(other)
    ae.add_requested_context(CSA_NON_IMAGE)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    try:
        assert assoc.is_established
        accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        assert accepted == {CSA_NON_IMAGE}
    finally:
        assoc.release()
