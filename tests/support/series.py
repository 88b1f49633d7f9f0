"""Synthetic DICOM test data, written quickly into a test's temporary folder.

The pixels and headers come from :mod:`viewer.dicom.synthetic`. What the application does
not need itself, the transfer syntaxes that only dcmtk or GDCM can encode here (JPEG
Lossless SV1 always, JPEG-LS and JPEG 2000 when pydicom lacks an encoder), is done with
their command line tools in this module only.

Usage::

    from tests.support.series import (
        write_ct_series, write_dx_image, write_mr_series, write_study_set,
    )

    ct = write_ct_series(tmp_path / "ct", slices=5)          # list of Paths, slice order
    uid = pydicom.dcmread(ct[0]).StudyInstanceUID
    mr = write_mr_series(tmp_path / "mr", study_uid=uid)     # T1 head in the same study
    dx = write_dx_image(tmp_path / "dx", study_uid=uid)      # one MONOCHROME1 radiograph
    rle = write_ct_series(tmp_path / "rle", transfer_syntax=RLELossless)
    series = write_study_set(tmp_path / "set")  # 6 patients, 5 charsets, 4 compressed syntaxes

Defaults are small (64 x 64, a few slices) so tests stay fast; ask for 512 x 512 only
where the size is what is tested.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from viewer.core.identity import new_uid
from viewer.dicom import synthetic, synthetic_modalities
from viewer.dicom.synthetic import Anatomy, StudyIdentity

__all__ = [
    "ALL_SYNTAXES",
    "COMPRESSED_SYNTAXES",
    "ExternalEncoderMissingError",
    "WrittenSeries",
    "can_write",
    "write_ct_series",
    "write_dx_image",
    "write_mr_series",
    "write_negative_ct",
    "write_study_set",
]

COMPRESSED_SYNTAXES = (RLELossless, JPEGLSLossless, JPEG2000Lossless, JPEGLosslessSV1)
"""Lossless compressed syntaxes the helpers can write (pydicom, else dcmtk or GDCM)."""
ALL_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, *COMPRESSED_SYNTAXES)

# Command lines that recompress an explicit VR little endian file losslessly, in -> out.
_EXTERNAL: dict[str, tuple[tuple[str, ...], ...]] = {
    JPEGLosslessSV1: (("dcmcjpeg", "+e1"), ("gdcmconv", "--jpeg")),
    JPEGLSLossless: (("dcmcjpls", "+el"), ("gdcmconv", "--jpegls")),
    JPEG2000Lossless: (("gdcmconv", "--j2k"),),
    RLELossless: (("dcmcrle",), ("gdcmconv", "--rle")),
}


class ExternalEncoderMissingError(RuntimeError):
    """Neither pydicom nor dcmtk/GDCM can write the requested transfer syntax here."""


def _external_command(transfer_syntax: str) -> tuple[str, ...] | None:
    for command in _EXTERNAL.get(transfer_syntax, ()):
        if shutil.which(command[0]):
            return command
    return None


def can_write(transfer_syntax: str, rows: int = 64, cols: int = 64) -> bool:
    """Whether :func:`write_ct_series` can produce ``transfer_syntax`` on this machine."""
    if synthetic.can_encode(transfer_syntax, rows, cols):
        return True
    return _external_command(transfer_syntax) is not None


def _recompress(paths: Sequence[Path], transfer_syntax: str) -> None:
    command = _external_command(transfer_syntax)
    if command is None:
        raise ExternalEncoderMissingError(f"no encoder for {transfer_syntax} (install dcmtk)")
    for path in paths:
        tmp = path.with_suffix(".tmp")
        subprocess.run([*command, str(path), str(tmp)], check=True, capture_output=True)
        tmp.replace(path)


def write_ct_series(
    folder: Path,
    *,
    slices: int = 5,
    rows: int = 64,
    cols: int = 64,
    transfer_syntax: str = ExplicitVRLittleEndian,
    patient_name: str = "TEST^CT",
    patient_id: str = "LB-TEST-0001",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    study_description: str = "Synthetic test study",
    series_description: str | None = None,
    character_set: str | None = None,
    anatomy: Anatomy = "torso",
    slice_spacing: float = 2.5,
    bits_stored: int = 16,
    seed: int = 0,
    file_prefix: str = "CT",
    study_date: str = "20240102",
    accession_number: str = "LBACC0001",
) -> list[Path]:
    """Write a synthetic axial CT series and return its files in slice order.

    Parameters
    ----------
    folder : Path
        Created if missing; files are ``<file_prefix>0001.dcm`` ...
    transfer_syntax : str
        Any of :data:`ALL_SYNTAXES`. The pixels decode to exactly the uncompressed values.
    study_uid, series_uid : str, optional
        Fixed UIDs, e.g. to put several series in one study; random when ``None``.
    character_set : str, optional
        Specific Character Set; ``None`` picks ``ISO_IR 192`` for non-ASCII names.
    seed : int
        Same seed, same pixels (UIDs stay random unless given).

    Raises
    ------
    ExternalEncoderMissingError
        When the syntax needs dcmtk/GDCM and neither is installed.
    """
    study = StudyIdentity(
        patient_name=patient_name,
        patient_id=patient_id,
        character_set=character_set,
        study_uid=study_uid or new_uid(),
        study_description=study_description,
        study_date=study_date,
        accession_number=accession_number,
    )
    native = synthetic.can_encode(transfer_syntax, rows, cols)
    if not native and not can_write(transfer_syntax, rows, cols):
        raise ExternalEncoderMissingError(f"no encoder for {transfer_syntax} (install dcmtk)")
    paths = synthetic.write_ct_series(
        folder,
        study,
        anatomy=anatomy,
        slices=slices,
        rows=rows,
        cols=cols,
        slice_spacing=slice_spacing,
        bits_stored=bits_stored,
        transfer_syntax=transfer_syntax if native else ExplicitVRLittleEndian,
        series_number=series_number,
        series_description=series_description,
        series_uid=series_uid or new_uid(),
        seed=seed,
        file_prefix=file_prefix,
    )
    if not native:
        _recompress(paths, transfer_syntax)
    return paths


def _study(
    patient_name: str, patient_id: str, study_uid: str | None, character_set: str | None
) -> StudyIdentity:
    return StudyIdentity(
        patient_name=patient_name,
        patient_id=patient_id,
        character_set=character_set,
        study_uid=study_uid or new_uid(),
    )


def write_mr_series(
    folder: Path,
    *,
    slices: int = 3,
    rows: int = 64,
    cols: int = 64,
    patient_name: str = "TEST^MR",
    patient_id: str = "LB-TEST-0001",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 2,
    character_set: str | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write a T1 head MR series (unsigned 12-bit, no rescale) and return its files."""
    return synthetic_modalities.write_mr_series(
        folder,
        _study(patient_name, patient_id, study_uid, character_set),
        slices=slices,
        rows=rows,
        cols=cols,
        series_number=series_number,
        series_uid=series_uid or new_uid(),
        seed=seed,
    )


def write_dx_image(
    folder: Path,
    *,
    rows: int = 250,
    cols: int = 200,
    spacing: float = 1.6,
    bits_stored: int = 12,
    patient_name: str = "TEST^DX",
    patient_id: str = "LB-TEST-0001",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 3,
    character_set: str | None = None,
    seed: int = 0,
) -> Path:
    """Write one MONOCHROME1 PA chest radiograph (DX for presentation) and return it."""
    return synthetic_modalities.write_dx_image(
        folder,
        _study(patient_name, patient_id, study_uid, character_set),
        rows=rows,
        cols=cols,
        spacing=spacing,
        bits_stored=bits_stored,
        series_number=series_number,
        series_uid=series_uid or new_uid(),
        seed=seed,
    )


@dataclass(frozen=True, slots=True)
class WrittenSeries:
    """One series that :func:`write_study_set` wrote, with the facts tests check against."""

    patient_name: str
    patient_id: str
    character_set: str | None
    study_uid: str
    series_uid: str
    modality: str
    transfer_syntax: str
    paths: list[Path] = field(default_factory=list)


# Patients of the default set: name, ID, Specific Character Set (PS3.3 C.12.1.1.2).
DEFAULT_PATIENTS: tuple[tuple[str, str, str | None], ...] = (
    ("DEMO^ALPHA", "LB-TEST-0101", None),
    ("Müller^Jürgen", "LB-TEST-0102", "ISO_IR 100"),
    ("Yamada^Tarou=山田^太郎=やまだ^たろう", "LB-TEST-0103", "ISO_IR 192"),
    ("Иванов^Иван", "LB-TEST-0104", "ISO_IR 144"),
    ("Παπαδόπουλος^Νίκος", "LB-TEST-0105", "ISO_IR 126"),
)


def write_study_set(
    folder: Path,
    *,
    patients: Sequence[tuple[str, str, str | None]] = DEFAULT_PATIENTS,
    studies_per_patient: int = 1,
    series_per_study: int = 2,
    slices: int = 3,
    rows: int = 32,
    cols: int = 32,
    compressed: bool = True,
) -> list[WrittenSeries]:
    """Write several patients, studies and series into ``folder/<patient>/<study>/<series>``.

    The default set has five patients whose names need ASCII, Latin-1 (``ISO_IR 100``),
    UTF-8 (``ISO_IR 192``, with ideographic and phonetic groups), Cyrillic (``ISO_IR 144``)
    and Greek (``ISO_IR 126``). With ``compressed``, one more patient (``COMPRESSED^SET``)
    has one series in each syntax of :data:`COMPRESSED_SYNTAXES` that this machine can
    write.

    Returns
    -------
    list of WrittenSeries
        In writing order; each lists its files.
    """
    written: list[WrittenSeries] = []
    for p, (name, pid, charset) in enumerate(patients):
        for s in range(studies_per_patient):
            study_uid = new_uid()
            for n in range(series_per_study):
                series_uid = new_uid()
                paths = write_ct_series(
                    folder / f"P{p + 1:02d}" / f"ST{s + 1:02d}" / f"SE{n + 1:02d}",
                    slices=slices,
                    rows=rows,
                    cols=cols,
                    patient_name=name,
                    patient_id=pid,
                    character_set=charset,
                    study_uid=study_uid,
                    series_uid=series_uid,
                    series_number=n + 1,
                    study_date=f"2024{s + 1:02d}{p + 1:02d}",
                    accession_number=f"LBACC{p + 1:02d}{s + 1:02d}",
                    anatomy="head" if n % 2 else "torso",
                    seed=p * 100 + s * 10 + n,
                )
                written.append(
                    WrittenSeries(
                        name,
                        pid,
                        charset,
                        study_uid,
                        series_uid,
                        "CT",
                        ExplicitVRLittleEndian,
                        paths,
                    )
                )
    if compressed:
        name, pid, study_uid = "COMPRESSED^SET", "LB-TEST-0199", new_uid()
        syntaxes = [ts for ts in COMPRESSED_SYNTAXES if can_write(ts, rows, cols)]
        for n, ts in enumerate(syntaxes):
            series_uid = new_uid()
            paths = write_ct_series(
                folder / "PZZ" / "ST01" / f"SE{n + 1:02d}",
                slices=slices,
                rows=rows,
                cols=cols,
                transfer_syntax=ts,
                patient_name=name,
                patient_id=pid,
                study_uid=study_uid,
                series_uid=series_uid,
                series_number=n + 1,
                seed=900 + n,
            )
            written.append(WrittenSeries(name, pid, None, study_uid, series_uid, "CT", ts, paths))
    return written


def write_negative_ct(folder: Path, bits_stored: int) -> Path:
    """A signed CT slice whose stored values reach the bottom of the Bits Stored range."""
    (path,) = write_ct_series(folder, slices=1, bits_stored=bits_stored, seed=3)
    ds = pydicom.dcmread(path)
    low, high = -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    values = ds.pixel_array.astype(np.int32) * 3 - 2 * (1 << (bits_stored - 2))
    values[0, :4] = [low, high, -1, 0]
    ds.PixelData = np.clip(values, low, high).astype(np.int16).tobytes()
    ds.save_as(path)
    return path


def write_dx_with_presentation_lut(path: Path) -> Path:
    """A 256-pixel ramp DX whose Presentation LUT Sequence (PS3.3 C.11.4) is a square
    root: shown brighter than its window alone would give."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from tests.support.images import grey_image

    ds = grey_image("1.2.840.10008.5.1.4.1.1.1.1", "DX", "LB-TEST-0032", rows=16,
                    columns=256)
    ds.ImagerPixelSpacing = [0.1, 0.1]
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    curve = (np.sqrt(np.arange(4096) / 4095.0) * 4095).astype(np.uint16)
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 12]
    lut.LUTData = curve.tolist()
    ds.PresentationLUTSequence = DicomSequence([lut])
    ds["PresentationLUTSequence"][0]["LUTData"].VR = "US"
    ramp = np.tile(np.linspace(0, 4095, 256), (16, 1))
    ds.PixelData = ramp.astype("<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
