"""dcmtk's dcmj2pnm as an independent oracle: run it, read its PGM/PPM output, write test images."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tests.support.dcmtk import parse_pnm


def require_dcmtk(tool: str = "dcmj2pnm") -> str:
    """Return the path of a dcmtk tool, skipping the test where dcmtk is not installed."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"dcmtk's {tool} is not installed (make peers)")
    return path


def read_pnm(path: Path) -> npt.NDArray[np.uint16]:
    """Read a binary PGM (P5) or PPM (P6) file; returns rows x cols (x 3)."""
    return parse_pnm(path.read_bytes()).astype(np.uint16)


def dcmj2pnm(src: Path, out: Path, *options: str) -> npt.NDArray[np.uint16]:
    """Convert ``src`` with dcmj2pnm (8-bit binary PNM) and return the pixels."""
    tool = require_dcmtk("dcmj2pnm")
    subprocess.run([tool, "-q", *options, str(src), str(out)], check=True, timeout=60)
    return read_pnm(out)


def monochrome_dataset(pixels: npt.NDArray[np.integer], bits_stored: int | None = None) -> Dataset:
    """A minimal Secondary Capture MONOCHROME2 dataset holding ``pixels`` (2-D, 8 or 16 bit)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape[-2], pixels.shape[-1]
    allocated = 8 if pixels.dtype.itemsize == 1 else 16
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.PixelData = np.ascontiguousarray(pixels, dtype=f"<u{allocated // 8}").tobytes()
    return ds
