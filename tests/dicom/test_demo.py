"""The demo study: complete, consistent, reproducible, and made only when needed."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.dicom.demo import (
    CT_SLICE_SPACING,
    CT_SLICES,
    DEMO_PATIENT_ID,
    DEMO_PATIENT_NAME,
    MARKER_NAME,
    MR_SLICES,
    STAGING_PREFIX,
    demo_is_current,
    ensure_demo_study,
)
from viewer.dicom.synthetic_phantom import CT_HU, Tissue


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_demo_study(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def ct(demo: Path) -> list[pydicom.Dataset]:
    datasets = [pydicom.dcmread(p) for p in sorted((demo / "CT").glob("*.dcm"))]
    return sorted(datasets, key=lambda ds: int(ds.InstanceNumber))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.dcm"))
    }


def test_demo_has_one_patient_one_study_three_series(demo: Path) -> None:
    files = sorted(demo.rglob("*.dcm"))
    assert len(list((demo / "CT").glob("*.dcm"))) == CT_SLICES >= 100
    assert len(list((demo / "MR").glob("*.dcm"))) == MR_SLICES
    assert len(list((demo / "DX").glob("*.dcm"))) == 1
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    assert {str(ds.PatientName) for ds in headers} == {DEMO_PATIENT_NAME}
    assert {ds.PatientID for ds in headers} == {DEMO_PATIENT_ID}
    assert len({ds.StudyInstanceUID for ds in headers}) == 1
    assert {ds.Modality for ds in headers} == {"CT", "MR", "DX"}
    assert len({ds.SeriesInstanceUID for ds in headers}) == 3
    assert len({ds.SOPInstanceUID for ds in headers}) == len(files)


def test_demo_ct_header_facts(ct: list[pydicom.Dataset]) -> None:
    for ds in ct:
        assert (ds.Rows, ds.Columns) == (512, 512)
        assert (ds.BitsAllocated, ds.PixelRepresentation) == (16, 1)
        assert float(ds.RescaleIntercept) == -1024.0 and float(ds.RescaleSlope) == 1.0
        assert "LUNG" in ds.WindowCenterWidthExplanation
    assert ct[0].pixel_array.dtype == np.int16


def test_demo_ct_positions_step_along_the_slice_normal(ct: list[pydicom.Dataset]) -> None:
    orientation = np.array([float(v) for v in ct[0].ImageOrientationPatient])
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in ct])
    along = positions @ normal
    assert np.allclose(np.diff(along), CT_SLICE_SPACING, atol=1e-3)
    # In-plane the stack does not move: every offset lies along the normal.
    offsets = positions - positions[0]
    assert np.allclose(offsets - np.outer(offsets @ normal, normal), 0.0, atol=1e-6)
    assert {ds.FrameOfReferenceUID for ds in ct} == {ct[0].FrameOfReferenceUID}
    assert all([float(v) for v in ds.ImageOrientationPatient] == list(orientation) for ds in ct)


def _hu_disc(ds: pydicom.Dataset, x_mm: float, y_mm: float, radius_px: int) -> np.ndarray:
    """Hounsfield units inside a disc centred at patient (x, y) of an axial slice."""
    x0, y0, _ = (float(v) for v in ds.ImagePositionPatient)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    col = round((x_mm - x0) / col_spacing)
    row = round((y_mm - y0) / row_spacing)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)  # PS3.3 C.11.1
    rr, cc = np.ogrid[: ds.Rows, : ds.Columns]
    return np.asarray(hu[(rr - row) ** 2 + (cc - col) ** 2 <= radius_px**2])


def _slice_at(ct: list[pydicom.Dataset], z: float) -> pydicom.Dataset:
    return min(ct, key=lambda ds: abs(float(ds.ImagePositionPatient[2]) - z))


def test_demo_ct_hounsfield_units_of_known_regions(ct: list[pydicom.Dataset]) -> None:
    abdomen = _slice_at(ct, -100.0)
    # The descending aorta is painted at (24, 14) mm with 12.5 mm radius.
    aorta = _hu_disc(abdomen, 24.0, 14.0, radius_px=10)
    assert abs(aorta.mean() - CT_HU[Tissue.AORTA]) < 5.0
    chest = _slice_at(ct, 80.0)
    air = _hu_disc(chest, -190.0, -190.0, radius_px=8)
    assert abs(np.median(air) - CT_HU[Tissue.AIR]) < 5.0
    lung = _hu_disc(chest, 80.0, 0.0, radius_px=6)  # left lung, away from the heart
    assert abs(np.median(lung) - CT_HU[Tissue.LUNG]) < 20.0


def test_demo_mr_and_dx_facts(demo: Path) -> None:
    mr = pydicom.dcmread(next((demo / "MR").glob("*.dcm")))
    assert (mr.Modality, mr.PixelRepresentation, mr.BitsStored) == ("MR", 0, 12)
    assert "RescaleSlope" not in mr
    dx = pydicom.dcmread(demo / "DX" / "DX0001.dcm")
    assert (dx.PhotometricInterpretation, dx.PresentationLUTShape) == ("MONOCHROME1", "INVERSE")
    assert "ImagerPixelSpacing" in dx


def test_second_call_reuses_the_study(demo: Path) -> None:
    marker = demo / MARKER_NAME
    before = {p: p.stat().st_mtime_ns for p in [marker, *demo.rglob("*.dcm")]}
    assert ensure_demo_study(demo.parent) == demo
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert [p.name for p in demo.parent.iterdir()] == ["demo"]  # no staging left behind


def test_generation_is_deterministic_and_an_old_or_partial_study_is_rebuilt(
    demo: Path, tmp_path: Path
) -> None:
    # A study left by an interrupted run (no marker) and one from another version.
    home = tmp_path / "home"
    partial = home / "demo"
    (partial / "CT").mkdir(parents=True)
    (partial / "CT" / "CT0001.dcm").write_bytes(b"truncated")
    abandoned = home / f"{STAGING_PREFIX}killed"  # a generation killed a day ago
    abandoned.mkdir()
    os.utime(abandoned, (time.time() - 86400, time.time() - 86400))
    assert not demo_is_current(partial)
    rebuilt = ensure_demo_study(home)
    assert demo_is_current(rebuilt)
    assert _digest(rebuilt) == _digest(demo)

    (rebuilt / MARKER_NAME).write_text("demo-0/generator-0\n")
    assert ensure_demo_study(home) == rebuilt and demo_is_current(rebuilt)
    assert sorted(p.name for p in home.iterdir()) == ["demo"]
