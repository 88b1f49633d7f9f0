"""The header every synthetic grey image of the tests starts from: File Meta, identity,
and the Image Pixel module of 16-bit MONOCHROME2 pixels (PS3.10 7.1, PS3.3 C.7.6.3)."""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def grey_image(sop_class_uid: str, modality: str, patient_id: str, *, rows: int,
               columns: int, frames: int = 0, bits_stored: int = 12) -> Dataset:
    """A header for an unsigned grey image of ``rows`` x ``columns`` (``frames`` > 0 adds
    Number of Frames), new UIDs, patient TEST^``modality``; Pixel Data is the caller's."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class_uid
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = modality, f"TEST^{modality}", patient_id
    ds.Rows, ds.Columns = rows, columns
    if frames:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored = 16, bits_stored
    ds.HighBit, ds.PixelRepresentation = bits_stored - 1, 0
    return ds
