"""A CT phantom with exactly known Hounsfield units, for viewer tests.

Air (-1000 HU) around a water cylinder (0 HU) that holds a +100 HU insert and a +1000 HU
bone rod, plus a ramp from -1000 to +1000 HU across the top rows (many distinct display
levels to compare) and a marker whose value is ``10 x slice index`` HU (so every slice
differs). No noise: an ROI inside the insert has mean exactly 100 and SD 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from viewer.dicom.synthetic import SliceWriter, StudyIdentity, base_dataset

ROWS = COLS = 256
SPACING = 0.8  # mm, square pixels
INSERT = (90, 128, 20)  # col, row, radius (pixels)
BONE = (170, 128, 15)
WATER = (128, 140, 100)
INSERT_HU, BONE_HU = 100, 1000
RAMP_ROWS = slice(8, 24)


@dataclass(frozen=True)
class Phantom:
    """Where the files are and what is in them."""

    folder: Path
    paths: list[Path]
    study_uid: str
    series_uid: str


def phantom_hu(index: int) -> np.ndarray:
    """HU of slice ``index`` (rows x cols, int)."""
    rr, cc = np.mgrid[0:ROWS, 0:COLS]
    hu = np.full((ROWS, COLS), -1000, dtype=np.int32)
    for (col, row, radius), value in ((WATER, 0), (INSERT, INSERT_HU), (BONE, BONE_HU)):
        hu[(cc - col) ** 2 + (rr - row) ** 2 <= radius**2] = value
    hu[RAMP_ROWS, :] = np.linspace(-1000, 1000, COLS).round().astype(np.int32)[None, :]
    hu[200:216, 120:136] = 10 * index
    return hu


def write_phantom(folder: Path, slices: int = 8, patient_name: str = "PHANTOM^HU",
                  patient_id: str = "LB-PH-0001", study_date: str = "20240201") -> Phantom:
    """Write the phantom as an axial CT series, one file per slice, slice 0 lowest."""
    folder.mkdir(parents=True, exist_ok=True)
    study = StudyIdentity(patient_name=patient_name, patient_id=patient_id,
                          study_description="HU phantom", study_date=study_date)
    series_uid = study.uid("series")
    ds = base_dataset(study, sop_class_uid=CTImageStorage, modality="CT",
                      transfer_syntax=ExplicitVRLittleEndian, series_uid=series_uid,
                      series_number=1, series_description="HU phantom axial")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.FrameOfReferenceUID = study.uid("for")
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [str(SPACING), str(SPACING)]
    ds.SliceThickness = "2"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLS
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1500"]
    ds.WindowCenterWidthExplanation = ["ABDOMEN", "LUNG"]
    writer = SliceWriter(ds, ExplicitVRLittleEndian)
    paths = []
    for i in range(slices):
        ds.InstanceNumber = i + 1
        z = -50.0 + 2.0 * i
        ds.ImagePositionPatient = ["-102.0", "-102.0", f"{z:g}"]
        ds.SliceLocation = f"{z:g}"
        stored = (phantom_hu(i) + 1024).astype(np.int16)
        paths.append(writer.write(folder / f"PH{i + 1:04d}.dcm", study.uid("sop", str(i)),
                                  stored))
    return Phantom(folder, paths, study.resolved_study_uid(), series_uid)
