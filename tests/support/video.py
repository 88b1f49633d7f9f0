"""A video instance for the tests (PS3.5 A.4.5-A.4.8): Lightbox stores videos, never plays them."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid
from pynetdicom.sop_class import VideoEndoscopicImageStorage


def write_video(path: Path, syntax: str, study_uid: str) -> Path:
    """A Video Endoscopic instance whose Pixel Data is one encapsulated bitstream (not a
    playable one: nothing on the way decodes it)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = VideoEndoscopicImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = VideoEndoscopicImageStorage
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "VIDEO^TEST", "LB-VIDEO", "ES"
    ds.SeriesNumber, ds.InstanceNumber = 9, 1
    ds.Rows, ds.Columns, ds.NumberOfFrames = 480, 640, 30
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([bytes(range(256)) * 40 + b"\x00\x00\x01\xb7"])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path
