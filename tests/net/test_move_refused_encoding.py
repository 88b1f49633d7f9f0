"""A C-MOVE whose PACS offers an object only in an encoding our storage SCP does not
accept is explained as that, not as a PACS that cannot reach us (PS3.8 9.3.3.2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000MCLossless, SecondaryCaptureImageStorage, generate_uid

from tests.net.conftest import FolderSink, node_for
from tests.support.peers import PeerProcess, free_port, start_orthanc, store_files
from viewer.core.settings import NetworkSettings
from viewer.net.retrieve import RetrieveRequest, retrieve


def _multicomponent(path: Path, study: str) -> Path:
    """A Secondary Capture object in JPEG 2000 Part 2 multi-component (PS3.5 A.4.4),
    which nothing here decodes, so our storage SCP does not accept it (the bytes need
    not decode)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEG2000MCLossless
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "PART2^TEST", "PART2-1", "OT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 16, 16, 3
    ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def part2_pacs(tmp_path: Path) -> Iterator[tuple[PeerProcess, int, str]]:
    port, study = free_port(), generate_uid()
    peer = start_orthanc(tmp_path / "orthanc", destinations={"LIGHTBOX": ("127.0.0.1", port)})
    try:
        store_files(peer, [_multicomponent(tmp_path / "part2.dcm", study)])
        yield peer, port, study
    finally:
        peer.stop()


@pytest.mark.peer
def test_an_encoding_we_refuse_is_named(part2_pacs: tuple[PeerProcess, int, str],
                                        sink: FolderSink, tmp_path: Path) -> None:
    peer, port, study = part2_pacs
    local = NetworkSettings(ae_title="LIGHTBOX", port=port, bind_address="127.0.0.1")
    last = list(retrieve(node_for(peer), local, RetrieveRequest(study), sink,
                         tmp_path / "incoming", method="move"))[-1]
    assert last.done and not last.ok and not sink.files
    assert last.message.startswith("the PACS connected back to AE LIGHTBOX but could not "
                                   "send some instances (0 instances arrived)")
    assert ("Secondary Capture Image Storage in JPEG 2000 Part 2 Multi-component Image "
            "Compression (Lossless Only)") in last.message
    assert "register" not in last.message and "firewall" not in last.message
