"""A C-MOVE whose PACS offers an object only in an encoding our storage SCP does not
accept is explained as that, not as a PACS that cannot reach us (PS3.8 9.3.3.2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG4HP41, SecondaryCaptureImageStorage, generate_uid

from tests.net.conftest import FolderSink, node_for
from tests.support.peers import PeerProcess, free_port, start_orthanc, store_files
from viewer.core.settings import NetworkSettings
from viewer.net.retrieve import RetrieveRequest, retrieve


def _video(path: Path, study: str) -> Path:
    """A Secondary Capture object in MPEG-4 AVC (the bytes need not play)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "VIDEO^TEST", "VIDEO-1", "OT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 16, 16, 3
    ds.PhotometricInterpretation, ds.PlanarConfiguration = "YBR_PARTIAL_420", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"\x00\x00\x00\x01" + bytes(60)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def video_pacs(tmp_path: Path) -> Iterator[tuple[PeerProcess, int, str]]:
    port, study = free_port(), generate_uid()
    peer = start_orthanc(tmp_path / "orthanc", destinations={"LIGHTBOX": ("127.0.0.1", port)})
    try:
        store_files(peer, [_video(tmp_path / "video.dcm", study)])
        yield peer, port, study
    finally:
        peer.stop()


@pytest.mark.peer
def test_an_encoding_we_refuse_is_named(video_pacs: tuple[PeerProcess, int, str],
                                        sink: FolderSink, tmp_path: Path) -> None:
    peer, port, study = video_pacs
    local = NetworkSettings(ae_title="LIGHTBOX", port=port, bind_address="127.0.0.1")
    last = list(retrieve(node_for(peer), local, RetrieveRequest(study), sink,
                         tmp_path / "incoming", method="move"))[-1]
    assert last.done and not last.ok and not sink.files
    assert last.message.startswith("the PACS connected back to AE LIGHTBOX but could not "
                                   "send some instances (0 instances arrived)")
    assert "Secondary Capture Image Storage in MPEG-4 AVC/H.264 High Profile" in last.message
    assert "register" not in last.message and "firewall" not in last.message
