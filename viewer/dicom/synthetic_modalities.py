"""Synthetic MR and digital radiography images for the demo study and the tests.

The MR series is a T1-weighted head (unsigned 12-bit, no rescale, MONOCHROME2); the
radiograph is a PA chest in MONOCHROME1 with Imager Pixel Spacing and an INVERSE
Presentation LUT Shape, the combination that most often trips viewers up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.uid import (
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    MRImageStorage,
)

from viewer.dicom.synthetic import (
    SliceWriter,
    StudyIdentity,
    _ds_list,
    _ds_number,
    _set_pixel_module,
    base_dataset,
    set_windows,
)
from viewer.dicom.synthetic_phantom import (
    MR_T1,
    Canvas,
    HeadPhantom,
    partial_volume,
    value_table,
)

MR_FOV_MM = 240.0


def mr_stored_slice(
    phantom: HeadPhantom, canvas: Canvas, z: float, *, seed: int
) -> npt.NDArray[np.uint16]:
    """Return the 12-bit T1 signal of the head slice at height ``z`` mm.

    Magnitude images carry Rician noise: the modulus of the signal plus complex
    Gaussian noise, so the background is not zero-mean.
    """
    phantom.paint(canvas, z)
    signal = partial_volume(np.take(value_table(MR_T1), canvas.labels))
    # A gentle receive-coil shading, brighter at the back of the head.
    shade = np.float32(1.0) + np.float32(0.15 / 120.0) * canvas.ys[:, np.newaxis]
    signal *= shade
    rng = np.random.default_rng([seed, 0x4D52, round(z * 1000.0) & 0xFFFFFFFF])
    real = signal + rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(18.0)
    imag = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(18.0)
    magnitude: npt.NDArray[np.float32] = np.hypot(real, imag)
    np.clip(np.rint(magnitude, out=magnitude), 0, 4095, out=magnitude)
    return magnitude.astype(np.uint16)


def write_mr_series(
    folder: Path,
    study: StudyIdentity | None = None,
    *,
    slices: int = 24,
    rows: int = 256,
    cols: int = 256,
    slice_spacing: float = 6.0,
    slice_thickness: float = 5.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_number: int = 2,
    series_description: str = "T1 SE axial",
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    seed: int = 0,
    file_prefix: str = "MR",
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write a synthetic T1 spin echo axial head series (MR Image IOD, PS3.3 A.4).

    Stored values are unsigned 12-bit with no Modality LUT (PS3.3 C.8.3.1 has no rescale
    for MR Image); one window preset covers brain tissue.

    Returns
    -------
    list of Path
        The files from inferior to superior.
    """
    study = study or StudyIdentity()
    folder.mkdir(parents=True, exist_ok=True)
    spacing = MR_FOV_MM / max(rows, cols)
    ds = base_dataset(
        study,
        sop_class_uid=MRImageStorage,
        modality="MR",
        transfer_syntax=transfer_syntax,
        series_uid=series_uid or study.uid("series", str(series_number)),
        series_number=series_number,
        series_description=series_description,
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]  # PS3.3 C.8.3.1.1.1
    ds.BodyPartExamined = "HEAD"
    ds.ScanningSequence = "SE"  # PS3.3 C.8.3.1
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = "500"
    ds.EchoTime = "15"
    ds.EchoTrainLength = 1
    ds.MagneticFieldStrength = "1.5"
    ds.ImagedNucleus = "1H"
    ds.SliceThickness = _ds_number(slice_thickness)
    ds.SpacingBetweenSlices = _ds_number(slice_spacing)
    ds.PatientPosition = "HFS"
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = frame_of_reference_uid or study.uid("for", str(series_number))
    ds.PositionReferenceIndicator = ""
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = _ds_list([spacing, spacing])
    _set_pixel_module(ds, rows, cols, bits_stored=12, signed=False)
    set_windows(ds, (("T1 BRAIN", 800.0, 1400.0),))

    phantom = HeadPhantom(seed)
    canvas = Canvas(rows, cols, spacing)
    writer = SliceWriter(ds, transfer_syntax)
    first = 10.0 - (slices - 1) * slice_spacing / 2.0
    paths = []
    for i in range(slices):
        z = round(first + i * slice_spacing, 3)
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = _ds_list([canvas.x0, canvas.y0, z])
        ds.SliceLocation = _ds_number(z)
        uid = study.uid("series", str(series_number), "sop", str(i + 1))
        pixels = mr_stored_slice(phantom, canvas, z, seed=seed)
        paths.append(writer.write(folder / f"{file_prefix}{i + 1:04d}.dcm", uid, pixels))
        if progress is not None:
            progress(i + 1, slices)
    return paths


def _ellipsoid_path(
    out: npt.NDArray[np.float32],
    xs: npt.NDArray[np.float32],
    ys: npt.NDArray[np.float32],
    cx: float,
    cy: float,
    a: float,
    b: float,
    depth: float,
    mu: float,
) -> None:
    """Add ``mu`` times the beam's path length through an ellipsoid to ``out``.

    ``a``/``b`` are the semi-axes across the detector, ``depth`` the semi-axis along the
    beam: the chord at normalised radius r is ``2 * depth * sqrt(1 - r**2)``.
    """
    step = float(xs[1] - xs[0])
    c0 = max(math.floor((cx - a - float(xs[0])) / step), 0)
    c1 = min(math.ceil((cx + a - float(xs[0])) / step) + 1, xs.size)
    r0 = max(math.floor((cy - b - float(ys[0])) / step), 0)
    r1 = min(math.ceil((cy + b - float(ys[0])) / step) + 1, ys.size)
    if c0 >= c1 or r0 >= r1:
        return
    u = (xs[c0:c1][np.newaxis, :] - np.float32(cx)) * np.float32(1.0 / a)
    v = (ys[r0:r1][:, np.newaxis] - np.float32(cy)) * np.float32(1.0 / b)
    chord = np.float32(1.0) - u * u - v * v
    np.maximum(chord, 0.0, out=chord)
    np.sqrt(chord, out=chord)
    out[r0:r1, c0:c1] += chord * np.float32(2.0 * depth * mu)


def chest_radiograph(
    rows: int = 2000, cols: int = 1700, *, spacing: float = 0.2, seed: int = 0
) -> npt.NDArray[np.uint16]:
    """Return a PA chest radiograph as 12-bit values that rise with exposure.

    Attenuation is summed along the beam through ellipsoids (body, lungs, heart, spine,
    clavicles) and rib bands; the detector value is linear in log exposure
    (Pixel Intensity Relationship LOG, PS3.3 C.8.11.3), so higher values are darker
    once MONOCHROME1 is applied.
    """
    xs = ((np.arange(cols) - (cols - 1) / 2.0) * spacing).astype(np.float32)
    ys = ((np.arange(rows) - (rows - 1) / 2.0) * spacing).astype(np.float32)
    att = np.zeros((rows, cols), dtype=np.float32)
    soft, air, bone = 0.020, 0.0002, 0.050  # linear attenuation, 1/mm
    top = float(ys[0])
    _ellipsoid_path(att, xs, ys, 0.0, top + 360.0, 165.0, 330.0, 110.0, soft)  # trunk
    _ellipsoid_path(att, xs, ys, 0.0, top + 40.0, 55.0, 90.0, 50.0, soft)  # neck
    for side in (-1.0, 1.0):
        _ellipsoid_path(att, xs, ys, side * 150.0, top + 70.0, 70.0, 45.0, 55.0, soft)  # shoulder
        _ellipsoid_path(att, xs, ys, side * 72.0, top + 230.0, 62.0, 135.0, 70.0, air - soft)
        _ellipsoid_path(att, xs, ys, side * 70.0, top + 95.0, 75.0, 6.5, 6.5, bone)  # clavicle
    _ellipsoid_path(att, xs, ys, 18.0, top + 300.0, 68.0, 62.0, 55.0, soft - air)  # heart
    _ellipsoid_path(att, xs, ys, 0.0, top + 260.0, 17.0, 300.0, 18.0, bone)  # spine
    rng = np.random.default_rng([seed, 0x4358])
    _add_ribs(att, xs, ys, top, bone, rng)
    exposure_log = np.float32(3900.0) - att * np.float32(520.0)
    exposure_log += rng.standard_normal(att.shape, dtype=np.float32) * np.float32(12.0)
    np.clip(np.rint(exposure_log, out=exposure_log), 0, 4095, out=exposure_log)
    return exposure_log.astype(np.uint16)


def _add_ribs(
    att: npt.NDArray[np.float32],
    xs: npt.NDArray[np.float32],
    ys: npt.NDArray[np.float32],
    top: float,
    mu: float,
    rng: np.random.Generator,
) -> None:
    """Add twelve pairs of posterior rib arcs: bands that curve down from the spine."""
    step = float(xs[1] - xs[0])
    for k in range(12):
        y_spine = top + 120.0 + 22.0 * k
        for side in (-1.0, 1.0):
            x_end = side * (105.0 + 25.0 * math.sin(math.pi * k / 12.0))
            c_a = round((min(0.0, x_end) - float(xs[0])) / step)
            c_b = round((max(0.0, x_end) - float(xs[0])) / step)
            c0, c1 = max(min(c_a, c_b), 0), min(max(c_a, c_b) + 1, xs.size)
            x = xs[c0:c1]
            # The arc drops as it runs laterally, then turns down along the chest wall.
            centre = y_spine + 0.0035 * (x * x) + 0.8 * rng.standard_normal()
            r0 = max(math.floor((y_spine - 10.0 - float(ys[0])) / step), 0)
            r1 = min(math.ceil((float(centre.max()) + 10.0 - float(ys[0])) / step) + 1, ys.size)
            if r0 >= r1 or c0 >= c1:
                continue
            d = (ys[r0:r1][:, np.newaxis] - centre[np.newaxis, :]) * np.float32(1.0 / 6.0)
            band = np.float32(1.0) - d * d
            np.maximum(band, 0.0, out=band)
            np.sqrt(band, out=band)
            att[r0:r1, c0:c1] += band * np.float32(2.0 * 6.0 * mu)


def write_dx_image(
    folder: Path,
    study: StudyIdentity | None = None,
    *,
    rows: int = 2000,
    cols: int = 1700,
    spacing: float = 0.2,
    bits_stored: int = 12,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_number: int = 3,
    series_description: str = "Chest PA",
    series_uid: str | None = None,
    seed: int = 0,
    file_name: str = "DX0001.dcm",
) -> Path:
    """Write a synthetic PA chest radiograph (Digital X-Ray Image IOD for presentation).

    MONOCHROME1, unsigned, Imager Pixel Spacing at the detector (PS3.3 C.8.11.4) and
    Presentation LUT Shape INVERSE, as C.8.11.1.1.2 requires for MONOCHROME1. With
    ``bits_stored`` above 12 the 12-bit detector values are scaled up to fill the range.
    """
    if not 12 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must be 12 to 16, not {bits_stored}")
    scale = 1 << (bits_stored - 12)
    study = study or StudyIdentity()
    folder.mkdir(parents=True, exist_ok=True)
    ds = base_dataset(
        study,
        sop_class_uid=DigitalXRayImageStorageForPresentation,
        modality="DX",
        transfer_syntax=transfer_syntax,
        series_uid=series_uid or study.uid("series", str(series_number)),
        series_number=series_number,
        series_description=series_description,
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY"]  # PS3.3 C.8.11.1.1.1
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.ImageLaterality = "U"  # PS3.3 C.8.11.5: unpaired body part
    ds.PatientOrientation = ["L", "F"]  # PS3.3 C.7.6.1.1.1: rows to the left, columns down
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.DetectorType = "SCINTILLATOR"
    ds.KVP = "125"
    ds.DistanceSourceToDetector = "1800"
    ds.InstanceNumber = 1
    ds.ImagerPixelSpacing = _ds_list([spacing, spacing])  # PS3.3 C.8.11.4
    _set_pixel_module(ds, rows, cols, bits_stored=bits_stored, signed=False)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.PixelIntensityRelationship = "LOG"  # PS3.3 C.8.11.3
    ds.PixelIntensityRelationshipSign = 1  # higher values, more X-ray intensity
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    presets = (("STANDARD", 2200.0, 3200.0), ("CONTRAST", 2400.0, 1800.0))
    set_windows(ds, [(name, c * scale, w * scale) for name, c, w in presets])
    ds.PresentationLUTShape = "INVERSE"  # PS3.3 C.8.11.1.1.2: required for MONOCHROME1
    ds.LossyImageCompression = "00"
    writer = SliceWriter(ds, transfer_syntax)
    pixels = chest_radiograph(rows, cols, spacing=spacing, seed=seed)
    if scale > 1:
        pixels *= np.uint16(scale)
    uid = study.uid("series", str(series_number), "sop", "1")
    return writer.write(folder / file_name, uid, pixels)
