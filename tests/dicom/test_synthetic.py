"""The synthetic generator writes valid, exact, reproducible DICOM files.

dcmtk's ``dcmdump`` is the independent reader: it must parse every file without error,
and its UTF-8 conversion must give back the names the helpers put in.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGLosslessSV1

from tests.support.series import (
    ALL_SYNTAXES,
    can_write,
    write_ct_series,
    write_dx_image,
    write_mr_series,
    write_study_set,
)
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.dicom import synthetic, synthetic_modalities
from viewer.dicom.synthetic import CT_FOV_MM, EncoderUnavailableError, StudyIdentity

UID_PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")  # PS3.5 9.1

DCMDUMP = shutil.which("dcmdump")
needs_dcmdump = pytest.mark.skipif(DCMDUMP is None, reason="dcmtk's dcmdump is not installed")


def _dcmdump(*args: str) -> subprocess.CompletedProcess[str]:
    assert DCMDUMP is not None
    return subprocess.run([DCMDUMP, *args], capture_output=True, text=True, timeout=60)


def _pixels(path: Path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


def test_ct_header_carries_rescale_windows_and_identity(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path, slices=3, patient_name="TEST^HEADER", patient_id="LB-T-1")
    ds = pydicom.dcmread(paths[1])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert ds.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 16, 15, 1)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert (float(ds.RescaleIntercept), float(ds.RescaleSlope), ds.RescaleType) == (
        -1024.0,
        1.0,
        "HU",
    )
    assert list(ds.WindowCenterWidthExplanation) == ["ABDOMEN", "LUNG", "BONE"]
    assert len(ds.WindowCenter) == len(ds.WindowWidth) == 3
    assert str(ds.PatientName) == "TEST^HEADER" and ds.PatientID == "LB-T-1"
    assert ds.pixel_array.dtype == np.int16
    for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
        assert len(uid) <= 64 and UID_PATTERN.match(uid)
    assert ds.FrameOfReferenceUID and UID_PATTERN.match(ds.FrameOfReferenceUID)


def test_ct_instances_share_series_and_differ_per_slice(tmp_path: Path) -> None:
    datasets = [pydicom.dcmread(p) for p in write_ct_series(tmp_path, slices=4)]
    assert [ds.InstanceNumber for ds in datasets] == [1, 2, 3, 4]
    assert len({ds.SOPInstanceUID for ds in datasets}) == 4
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert len({ds.FrameOfReferenceUID for ds in datasets}) == 1


@pytest.mark.parametrize(("anatomy", "rows", "cols"), [("torso", 64, 48), ("head", 40, 40)])
def test_ct_geometry_is_a_regular_axial_stack(
    tmp_path: Path, anatomy: synthetic.Anatomy, rows: int, cols: int
) -> None:
    spacing_z = 3.0
    paths = write_ct_series(
        tmp_path, slices=5, rows=rows, cols=cols, anatomy=anatomy, slice_spacing=spacing_z
    )
    datasets = [pydicom.dcmread(p) for p in paths]
    pixel = CT_FOV_MM[anatomy] / max(rows, cols)
    normal = np.cross([1, 0, 0], [0, 1, 0])
    heights = []
    for ds in datasets:
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx([pixel, pixel])
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        # The matrix is centred on the isocentre: first pixel at minus half the extent.
        assert x == pytest.approx(-(cols - 1) / 2 * pixel, abs=1e-4)
        assert y == pytest.approx(-(rows - 1) / 2 * pixel, abs=1e-4)
        assert float(ds.SliceLocation) == pytest.approx(z)
        assert float(ds.SliceThickness) == spacing_z
        heights.append(float(np.dot(normal, [x, y, z])))
    assert np.diff(heights) == pytest.approx([spacing_z] * 4)


@pytest.mark.parametrize("bits_stored", [12, 16])
def test_stored_values_fit_bits_stored(tmp_path: Path, bits_stored: int) -> None:
    paths = write_ct_series(
        tmp_path, slices=6, rows=48, cols=48, bits_stored=bits_stored, slice_spacing=20.0
    )
    for path in paths:
        ds = pydicom.dcmread(path)
        assert (ds.BitsStored, ds.HighBit) == (bits_stored, bits_stored - 1)
        arr = ds.pixel_array
        assert arr.min() >= -(1 << (bits_stored - 1))
        assert arr.max() <= (1 << (bits_stored - 1)) - 1
        raw = np.frombuffer(ds.PixelData, dtype="<i2")
        assert np.array_equal(raw.reshape(arr.shape), arr)


def test_twelve_bit_stored_values_clip_hounsfield_units_above_1023() -> None:
    volume = synthetic.ct_volume(slices=3, rows=64, cols=64, bits_stored=12)
    assert volume.max() <= 2047  # HU 1023
    assert volume.min() >= 0  # HU -1024, air is never below


@pytest.mark.parametrize("bits_stored", [12, 16])
@pytest.mark.parametrize("transfer_syntax", ALL_SYNTAXES)
def test_every_syntax_decodes_to_the_uncompressed_pixels(
    tmp_path: Path, transfer_syntax: str, bits_stored: int
) -> None:
    if not can_write(transfer_syntax):
        pytest.skip(f"no encoder for {transfer_syntax} on this machine")

    def write(folder: Path, syntax: str) -> list[Path]:
        return write_ct_series(
            folder,
            slices=2,
            rows=40,
            cols=56,
            bits_stored=bits_stored,
            seed=7,
            transfer_syntax=syntax,
        )

    reference = write(tmp_path / "ref", ExplicitVRLittleEndian)
    coded = write(tmp_path / "coded", transfer_syntax)
    for ref, path in zip(reference, coded, strict=True):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == transfer_syntax
        expected = _pixels(ref)
        assert np.ptp(expected) > 100  # the phantom is in the picture, not a blank frame
        assert np.array_equal(ds.pixel_array, expected)


def test_generator_refuses_a_syntax_it_cannot_encode(tmp_path: Path) -> None:
    # JPEG Lossless SV1 has no pydicom encoder; the application never needs one.
    assert not synthetic.can_encode(JPEGLosslessSV1)
    with pytest.raises(EncoderUnavailableError):
        synthetic.write_ct_series(
            tmp_path, slices=1, rows=16, cols=16, transfer_syntax=JPEGLosslessSV1
        )


@needs_dcmdump
@pytest.mark.parametrize("transfer_syntax", ALL_SYNTAXES)
def test_dcmdump_reads_every_syntax_without_complaint(tmp_path: Path, transfer_syntax: str) -> None:
    if not can_write(transfer_syntax):
        pytest.skip(f"no encoder for {transfer_syntax} on this machine")
    path = write_ct_series(tmp_path, slices=1, rows=32, cols=32, transfer_syntax=transfer_syntax)[0]
    result = _dcmdump("-dc", str(path))
    assert result.returncode == 0, result.stderr
    assert "E:" not in result.stderr and "W:" not in result.stderr, result.stderr


@needs_dcmdump
def test_mr_and_dx_are_valid_and_typed_as_specified(tmp_path: Path) -> None:
    mr = write_mr_series(tmp_path / "mr", slices=3, rows=64, cols=64, patient_name="MR^ONE")
    study_uid = pydicom.dcmread(mr[0]).StudyInstanceUID
    dx = write_dx_image(tmp_path / "dx", rows=300, cols=250, spacing=1.4, study_uid=study_uid)
    for path in [*mr, dx]:
        result = _dcmdump("-dc", str(path))
        assert result.returncode == 0 and "E:" not in result.stderr, result.stderr
    ds = pydicom.dcmread(mr[1])
    assert (ds.Modality, ds.PhotometricInterpretation, ds.PixelRepresentation) == (
        "MR",
        "MONOCHROME2",
        0,
    )
    assert "RescaleIntercept" not in ds and "RescaleSlope" not in ds
    assert ds.pixel_array.dtype == np.uint16 and ds.pixel_array.max() <= 4095
    ds = pydicom.dcmread(dx)
    assert ds.StudyInstanceUID == study_uid
    assert ds.SOPClassUID == pydicom.uid.DigitalXRayImageStorageForPresentation
    assert (ds.PhotometricInterpretation, ds.PresentationLUTShape) == ("MONOCHROME1", "INVERSE")
    assert (ds.BitsStored, ds.PixelRepresentation) == (12, 0)
    assert [float(v) for v in ds.ImagerPixelSpacing] == [1.4, 1.4]
    assert "PixelSpacing" not in ds
    arr = ds.pixel_array
    assert arr.max() <= 4095
    # Lungs (high exposure) must come out darker, i.e. higher in MONOCHROME1, than the spine.
    lung = arr[arr.shape[0] // 2, arr.shape[1] // 4]
    spine = arr[arr.shape[0] // 2, arr.shape[1] // 2]
    assert lung > spine


def test_same_seed_same_pixels_other_seed_other_pixels(tmp_path: Path) -> None:
    a = write_ct_series(tmp_path / "a", slices=2, seed=3)
    b = write_ct_series(tmp_path / "b", slices=2, seed=3)
    c = write_ct_series(tmp_path / "c", slices=2, seed=4)
    assert np.array_equal(_pixels(a[1]), _pixels(b[1]))
    assert not np.array_equal(_pixels(a[1]), _pixels(c[1]))


def test_uid_namespace_makes_uids_reproducible(tmp_path: Path) -> None:
    study = StudyIdentity(uid_namespace="test-namespace")
    first = synthetic.write_ct_series(tmp_path / "1", study, slices=2, rows=16, cols=16)
    second = synthetic.write_ct_series(tmp_path / "2", study, slices=2, rows=16, cols=16)
    for p, q in zip(first, second, strict=True):
        assert p.read_bytes() == q.read_bytes()


def test_a_slice_does_not_depend_on_the_others() -> None:
    # Slice k of a 5-slice volume equals the same slice generated alone.
    volume = synthetic.ct_volume(slices=5, rows=32, cols=32, slice_spacing=4.0)
    phantom = synthetic.make_phantom("torso", 0)
    canvas = synthetic_phantom_canvas(32)
    z = synthetic.slice_heights("torso", 5, 4.0)[3]
    alone = synthetic.ct_stored_slice(
        phantom, canvas, z, seed=0, noise_hu=synthetic.NOISE_HU["torso"]
    )
    assert np.array_equal(volume[3], alone)


def synthetic_phantom_canvas(size: int) -> synthetic.Canvas:
    return synthetic.Canvas(size, size, CT_FOV_MM["torso"] / size)


@needs_dcmdump
def test_study_set_names_round_trip_through_their_character_sets(tmp_path: Path) -> None:
    written = write_study_set(tmp_path, series_per_study=1, slices=1, rows=16, cols=16)
    seen_charsets = set()
    for series in written:
        ds = pydicom.dcmread(series.paths[0])
        assert str(ds.PatientName) == series.patient_name
        assert ds.get("SpecificCharacterSet") == series.character_set
        seen_charsets.add(series.character_set)
        # dcmtk decodes the bytes with the declared character set on its own.
        dump = _dcmdump("+U8", "+P", "PatientName", str(series.paths[0]))
        assert f"[{series.patient_name}]" in dump.stdout, dump.stdout + dump.stderr
        assert ds.file_meta.TransferSyntaxUID == series.transfer_syntax
    assert {"ISO_IR 100", "ISO_IR 192", "ISO_IR 144", "ISO_IR 126", None} <= seen_charsets
    patients = {s.patient_id for s in written}
    assert len(patients) == 6
    latin = next(s for s in written if s.character_set == "ISO_IR 100")
    raw = pydicom.dcmread(latin.paths[0]).get_item("PatientName").value
    assert raw.rstrip(b" ") == latin.patient_name.encode("latin-1")  # PS3.5 7.1.1: even length
    syntaxes = {s.transfer_syntax for s in written}
    assert ExplicitVRLittleEndian in syntaxes and len(syntaxes) >= 3


def test_series_written_with_one_identity_share_one_study(tmp_path: Path) -> None:
    study = StudyIdentity()  # no namespace, no UID: drawn once
    ct = synthetic.write_ct_series(tmp_path / "ct", study, slices=1, rows=16, cols=16)
    mr = synthetic_modalities.write_mr_series(tmp_path / "mr", study, slices=1, rows=16, cols=16)
    assert pydicom.dcmread(ct[0]).StudyInstanceUID == pydicom.dcmread(mr[0]).StudyInstanceUID
    assert StudyIdentity().study_uid != study.study_uid


@pytest.mark.skipif(shutil.which("gdcmconv") is None, reason="GDCM's gdcmconv is not installed")
def test_small_jpeg2000_goes_through_gdcm_and_stays_lossless(tmp_path: Path) -> None:
    # Below 32 pixels openjpeg cannot encode; the helper hands the file to gdcmconv.
    assert not synthetic.can_encode(pydicom.uid.JPEG2000Lossless, 16, 24)
    ref = write_ct_series(tmp_path / "ref", slices=1, rows=16, cols=24, seed=2)
    j2k = write_ct_series(
        tmp_path / "j2k",
        slices=1,
        rows=16,
        cols=24,
        seed=2,
        transfer_syntax=pydicom.uid.JPEG2000Lossless,
    )
    ds = pydicom.dcmread(j2k[0])
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
    assert np.array_equal(ds.pixel_array, _pixels(ref[0]))
