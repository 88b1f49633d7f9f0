"""Synthetic CT series written with pydicom: the data Lightbox demonstrates and tests on.

The pixels come from the phantoms of :mod:`viewer.dicom.synthetic_phantom`; this module
builds the DICOM header once per series and writes one file per slice, changing only the
per-instance attributes. Every choice that makes a file valid is cited to the standard.
No real patient data is involved: the names are obviously fictitious.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from viewer.core.identity import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    derived_uid,
    new_uid,
)
from viewer.dicom.synthetic_phantom import (
    CT_HU,
    Canvas,
    HeadPhantom,
    Tissue,
    TorsoPhantom,
    partial_volume,
    textured_noise,
    value_table,
)
from viewer.dicom.synthetic_writer import (
    COMPRESSED,
    UNCOMPRESSED,
    EncoderUnavailableError,
    SliceWriter,
    can_encode,
)

__all__ = [
    "COMPRESSED",
    "UNCOMPRESSED",
    "Anatomy",
    "EncoderUnavailableError",
    "SliceWriter",
    "StudyIdentity",
    "can_encode",
    "ct_stored_slice",
    "ct_volume",
    "write_ct_series",
]

GENERATOR_VERSION = "2"
"""Changes whenever the generator's output changes (the demo study is then rebuilt)."""

Anatomy = Literal["torso", "head"]

# PS3.3 C.8.2.1 and C.11.2: presets a reading radiologist expects, as center\width.
CT_WINDOWS: dict[Anatomy, tuple[tuple[str, float, float], ...]] = {
    "torso": (("ABDOMEN", 40.0, 400.0), ("LUNG", -600.0, 1500.0), ("BONE", 400.0, 1800.0)),
    "head": (("BRAIN", 40.0, 80.0), ("SUBDURAL", 75.0, 215.0), ("BONE", 600.0, 2800.0)),
}
CT_FOV_MM: dict[Anatomy, float] = {"torso": 400.0, "head": 250.0}
CT_CENTRE_Z: dict[Anatomy, float] = {"torso": -20.0, "head": 10.0}
RESCALE_INTERCEPT = -1024
NOISE_HU: dict[Anatomy, float] = {"torso": 9.0, "head": 3.0}


@dataclass(frozen=True, slots=True)
class StudyIdentity:
    """Patient and study attributes shared by every series of one synthetic study.

    Parameters
    ----------
    patient_name : str
        Person Name with ``^`` components and ``=`` groups (PS3.5 6.2.1.1).
    patient_id : str
        Patient ID (LO).
    character_set : str, optional
        Specific Character Set (PS3.3 C.12.1.1.2). ``None`` chooses ``ISO_IR 192`` when a
        text value is not ASCII, and leaves the attribute out otherwise.
    study_uid : str, optional
        Study Instance UID; when ``None``, derived from ``uid_namespace`` or drawn at random
        once, at construction.
    uid_namespace : str, optional
        When given, every UID that is not given explicitly is derived from it, so two
        generations give the same UIDs; otherwise UIDs are random.
    """

    patient_name: str = "DEMO^CT"
    patient_id: str = "LB-DEMO-0001"
    birth_date: str = "19700101"
    sex: str = "O"
    character_set: str | None = None
    study_uid: str | None = None
    uid_namespace: str | None = None
    study_id: str = "1"
    accession_number: str = "LBACC0001"
    study_description: str = "Synthetic demo study"
    study_date: str = "20240102"
    study_time: str = "093000"
    referring_physician: str = "REFERRER^DEMO"
    institution: str = "Lightbox Synthetic Hospital"

    def __post_init__(self) -> None:
        # Fixed once, so every series written with this identity lands in one study.
        if self.study_uid is None:
            object.__setattr__(self, "study_uid", self.uid("study"))

    def uid(self, *role: str) -> str:
        """Return the UID for ``role``: derived from the namespace, or new."""
        if self.uid_namespace is None:
            return new_uid()
        return derived_uid(self.uid_namespace, *role)

    def resolved_study_uid(self) -> str:
        """The Study Instance UID of this study (the same for every series written)."""
        assert self.study_uid is not None  # set by __post_init__
        return self.study_uid

    def resolved_character_set(self) -> str | None:
        """The Specific Character Set value this study's files carry, if any."""
        if self.character_set is not None:
            return self.character_set or None
        texts = (
            self.patient_name,
            self.patient_id,
            self.study_description,
            self.referring_physician,
            self.institution,
        )
        return None if all(t.isascii() for t in texts) else "ISO_IR 192"


def base_dataset(
    study: StudyIdentity,
    *,
    sop_class_uid: str,
    modality: str,
    transfer_syntax: str,
    series_uid: str,
    series_number: int,
    series_description: str,
) -> Dataset:
    """Return the header every instance of one series shares (pixel module not included).

    Covers the File Meta Information (PS3.10 7.1), SOP Common (PS3.3 C.12.1), Patient
    (C.7.1.1), General Study (C.7.2.1), General Series (C.7.3.1) and General Equipment
    (C.7.5.1) modules.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)  # PS3.10 7.1
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME

    ds = Dataset()
    ds.file_meta = meta
    charset = study.resolved_character_set()
    if charset:
        ds.SpecificCharacterSet = charset  # PS3.3 C.12.1.1.2
    ds.SOPClassUID = sop_class_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study.study_date
    ds.StudyTime = study.study_time
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = _later(study.study_time, series_number)
    ds.AccessionNumber = study.accession_number
    ds.Modality = modality
    ds.Manufacturer = "Lightbox"
    ds.InstitutionName = study.institution
    ds.ReferringPhysicianName = study.referring_physician
    ds.StudyDescription = study.study_description
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = "Synthetic phantom"
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex
    ds.SoftwareVersions = f"lightbox-synthetic {GENERATOR_VERSION}"
    ds.StudyInstanceUID = study.resolved_study_uid()
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series_number
    ds.BurnedInAnnotation = "NO"
    return ds


def _later(hhmmss: str, minutes: int) -> str:
    t = _dt.datetime.strptime(hhmmss[:6], "%H%M%S") + _dt.timedelta(minutes=minutes)
    return t.strftime("%H%M%S")


def set_windows(ds: Dataset, presets: Sequence[tuple[str, float, float]]) -> None:
    """Store VOI window presets: center, width and their explanation (PS3.3 C.11.2.1.2)."""
    ds.WindowCenter = [_ds_number(c) for _, c, _ in presets]
    ds.WindowWidth = [_ds_number(w) for _, _, w in presets]
    ds.WindowCenterWidthExplanation = [name for name, _, _ in presets]


def _ds_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _ds_list(values: Sequence[float]) -> list[str]:
    return [f"{v:.6f}".rstrip("0").rstrip(".") or "0" for v in values]


def ct_stored_slice(
    phantom: TorsoPhantom | HeadPhantom,
    canvas: Canvas,
    z: float,
    *,
    seed: int,
    bits_stored: int = 16,
    noise_hu: float = 9.0,
) -> npt.NDArray[np.int16]:
    """Return the stored values (HU + 1024, int16) of the slice at height ``z`` mm.

    The noise depends only on ``seed`` and ``z``, so a slice is the same whichever others
    are generated. Values are clipped to what ``bits_stored`` can hold for signed data
    (PS3.5 8.1.1: two's complement in ``bits_stored`` bits).
    """
    phantom.paint(canvas, z)
    hu = partial_volume(np.take(value_table(CT_HU), canvas.labels))
    rng = np.random.default_rng([seed, round(z * 1000.0) & 0xFFFFFFFF])
    noise = textured_noise(rng, canvas.rows, canvas.cols)
    noise *= np.float32(noise_hu)
    # Air outside the body is quieter than tissue on a real scanner.
    noise[canvas.labels == Tissue.AIR] *= np.float32(0.3)
    hu += noise
    hu -= np.float32(RESCALE_INTERCEPT)
    low, high = -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    np.clip(np.rint(hu, out=hu), max(low, 0), high, out=hu)
    return hu.astype(np.int16)


def make_phantom(anatomy: Anatomy, seed: int) -> TorsoPhantom | HeadPhantom:
    """Return the phantom for ``anatomy``."""
    return TorsoPhantom(seed) if anatomy == "torso" else HeadPhantom(seed)


def slice_heights(anatomy: Anatomy, slices: int, spacing: float) -> list[float]:
    """Heights (mm, superior positive) of ``slices`` slices centred on the anatomy."""
    first = CT_CENTRE_Z[anatomy] - (slices - 1) * spacing / 2.0
    return [round(first + i * spacing, 3) for i in range(slices)]


def ct_volume(
    slices: int = 100,
    rows: int = 512,
    cols: int = 512,
    *,
    anatomy: Anatomy = "torso",
    slice_spacing: float = 2.5,
    seed: int = 0,
    bits_stored: int = 16,
) -> npt.NDArray[np.int16]:
    """Return the stored values of a whole synthetic CT volume, shape (slices, rows, cols)."""
    phantom = make_phantom(anatomy, seed)
    canvas = Canvas(rows, cols, CT_FOV_MM[anatomy] / max(rows, cols))
    out = np.empty((slices, rows, cols), dtype=np.int16)
    for i, z in enumerate(slice_heights(anatomy, slices, slice_spacing)):
        out[i] = ct_stored_slice(
            phantom, canvas, z, seed=seed, bits_stored=bits_stored, noise_hu=NOISE_HU[anatomy]
        )
    return out


def write_ct_series(
    folder: Path,
    study: StudyIdentity | None = None,
    *,
    anatomy: Anatomy = "torso",
    slices: int = 100,
    rows: int = 512,
    cols: int = 512,
    slice_spacing: float = 2.5,
    bits_stored: int = 16,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_number: int = 1,
    series_description: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    seed: int = 0,
    file_prefix: str = "CT",
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write a synthetic axial CT series (CT Image IOD, PS3.3 A.3), one file per slice.

    Slices are written from inferior to superior with Instance Numbers 1..n, the first
    pixel at the patient's right anterior corner (orientation ``1\\0\\0\\0\\1\\0``, head
    first supine). Stored values are HU + 1024 in signed 16-bit words.

    Parameters
    ----------
    folder : Path
        Created if missing; files are named ``<file_prefix><nnnn>.dcm``.
    study : StudyIdentity, optional
        Patient and study; the default is the ``DEMO^CT`` patient with random UIDs.
    anatomy : {"torso", "head"}
        Chest/abdomen with contrast, or head.
    bits_stored : {16, 12}
        Bits Stored (PS3.3 C.7.6.3.1.1); with 12 the values are clipped to 12 bits.
    transfer_syntax : str
        Explicit or implicit VR little endian, or a lossless syntax of :data:`COMPRESSED`.
    seed : int
        Chooses the phantom's details and noise; the same seed gives the same pixels.
    progress : callable, optional
        Called with (written, total) after each file.

    Returns
    -------
    list of Path
        The files in slice order.

    Raises
    ------
    EncoderUnavailableError
        When ``transfer_syntax`` cannot be encoded on this machine.
    """
    if bits_stored not in (12, 16):
        raise ValueError(f"bits_stored must be 12 or 16, not {bits_stored}")
    study = study or StudyIdentity()
    folder.mkdir(parents=True, exist_ok=True)
    spacing = CT_FOV_MM[anatomy] / max(rows, cols)
    series_uid = series_uid or study.uid("series", str(series_number))
    ds = base_dataset(
        study,
        sop_class_uid=CTImageStorage,
        modality="CT",
        transfer_syntax=transfer_syntax,
        series_uid=series_uid,
        series_number=series_number,
        series_description=series_description or f"Synthetic {anatomy} CT",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]  # PS3.3 C.8.2.1.1.1
    ds.BodyPartExamined = "CHEST" if anatomy == "torso" else "HEAD"
    ds.SliceThickness = _ds_number(slice_spacing)
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = frame_of_reference_uid or study.uid("for", str(series_number))
    ds.PositionReferenceIndicator = ""
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]  # PS3.3 C.7.6.2.1.1
    ds.PixelSpacing = _ds_list([spacing, spacing])  # row spacing \ column spacing
    _set_pixel_module(ds, rows, cols, bits_stored=bits_stored, signed=True)
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)  # PS3.3 C.11.1.1.2: HU = stored - 1024
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    set_windows(ds, CT_WINDOWS[anatomy])
    ds.LossyImageCompression = "00"

    phantom = make_phantom(anatomy, seed)
    canvas = Canvas(rows, cols, spacing)
    writer = SliceWriter(ds, transfer_syntax)
    x0, y0 = canvas.x0, canvas.y0
    heights = slice_heights(anatomy, slices, slice_spacing)
    paths = []
    for i, z in enumerate(heights):
        pixels = ct_stored_slice(
            phantom, canvas, z, seed=seed, bits_stored=bits_stored, noise_hu=NOISE_HU[anatomy]
        )
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = _ds_list([x0, y0, z])  # PS3.3 C.7.6.2.1.1
        ds.SliceLocation = _ds_number(z)
        uid = study.uid("series", str(series_number), "sop", str(i + 1))
        paths.append(writer.write(folder / f"{file_prefix}{i + 1:04d}.dcm", uid, pixels))
        if progress is not None:
            progress(i + 1, slices)
    return paths


def _set_pixel_module(ds: Dataset, rows: int, cols: int, *, bits_stored: int, signed: bool) -> None:
    """Image Pixel module for one grey sample (PS3.3 C.7.6.3)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1  # PS3.5 8.1.1: little endian, high bit one below stored
    ds.PixelRepresentation = 1 if signed else 0
