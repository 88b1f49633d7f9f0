"""RT Dose: Dose Grid Scaling is the modality transform, in Dose Units (PS3.3 C.8.8.3)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from tests.support.testdata import test_file as data_file
from viewer.dicom.frames import FrameSource
from viewer.dicom.params import read_grayscale_params, read_modality
from viewer.imaging.modality import RescaleParams, apply_modality


def _rtdose() -> Dataset:
    return FrameSource(data_file("rtdose.dcm")).dataset


def test_dose_grid_scaling_is_the_slope_of_every_frame() -> None:
    ds = _rtdose()
    assert "RescaleSlope" not in ds and "ModalityLUTSequence" not in ds
    scaling = float(ds.DoseGridScaling)
    frames = int(ds.NumberOfFrames)
    assert frames > 1
    for index in (0, frames // 2, frames - 1):
        modality = read_grayscale_params(ds, index).modality
        assert isinstance(modality, RescaleParams)
        assert modality.slope == scaling and modality.intercept == 0.0
        assert modality.unit == "relative"  # the file's Dose Units is RELATIVE
    # dose = stored value x scaling, nothing added
    assert apply_modality(read_modality(ds), [795000, 1254000]).tolist() == pytest.approx(
        [795000 * scaling, 1254000 * scaling])


def test_dose_units_gy_and_unknown_terms() -> None:
    ds = _rtdose()
    ds.DoseUnits = "GY"
    gy = read_modality(ds)
    assert isinstance(gy, RescaleParams) and gy.unit == "Gy"
    ds.DoseUnits = "CGY"  # not a defined term: scaled, but no unit is claimed
    other = read_modality(ds)
    assert isinstance(other, RescaleParams) and other.unit == ""
    assert other.slope == float(ds.DoseGridScaling)


def test_a_scaling_of_one_still_says_the_values_are_doses() -> None:
    ds = _rtdose()
    ds.DoseGridScaling = "1.0"
    ds.DoseUnits = "GY"
    modality = read_modality(ds)
    assert isinstance(modality, RescaleParams) and modality.unit == "Gy"
    assert (modality.slope, modality.intercept) == (1.0, 0.0)


def test_scaling_only_without_a_transform_of_the_file_and_never_zero() -> None:
    ds = _rtdose()
    dose = read_modality(ds)
    assert isinstance(dose, RescaleParams) and dose.slope == float(ds.DoseGridScaling)
    # A Rescale Slope/Intercept in the file is its own modality transform (PS3.3 C.11.1):
    # Dose Grid Scaling is not applied on top of it.
    ds.RescaleSlope = "2"
    ds.RescaleIntercept = "0"
    rescale = read_modality(ds)
    assert isinstance(rescale, RescaleParams)
    assert (rescale.slope, rescale.intercept, rescale.unit) == (2.0, 0.0, "")
    # An identity rescale beside it (written by some planning systems) changes nothing.
    ds.RescaleSlope = "1"
    identity = read_modality(ds)
    assert isinstance(identity, RescaleParams) and identity.slope == float(ds.DoseGridScaling)
    del ds.RescaleSlope, ds.RescaleIntercept
    ds.DoseGridScaling = "0"
    assert read_modality(ds) is None


def test_ct_and_mr_are_unchanged_while_rt_dose_is_scaled() -> None:
    ct = read_modality(FrameSource(data_file("CT_small.dcm")).dataset)
    assert isinstance(ct, RescaleParams) and (ct.slope, ct.intercept) == (1.0, -1024.0)
    assert ct.unit == ""  # CT's unit stays the Rescale Type / HU rule of the viewer
    assert read_modality(FrameSource(data_file("MR_small.dcm")).dataset) is None
    dose = read_modality(_rtdose())
    assert isinstance(dose, RescaleParams) and dose.unit == "relative"
