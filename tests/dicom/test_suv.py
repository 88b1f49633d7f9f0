"""SUVbw of a PET image (PS3.3 C.8.9.1, C.8.9.2; QIBA FDG-PET SUV computation)."""

from __future__ import annotations

import math

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from viewer.dicom.suv import suv_factor

F18_HALF_LIFE = 6586.2  # s


def _pet(**changes: object) -> Dataset:
    ds = Dataset()
    ds.Modality, ds.Units = "PT", "BQML"
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT"]
    ds.DecayCorrection = "START"
    ds.PatientWeight = 70
    ds.SeriesDate, ds.SeriesTime = "20261129", "110000"
    drug = Dataset()
    drug.RadionuclideTotalDose = 3.7e8
    drug.RadionuclideHalfLife = F18_HALF_LIFE
    drug.RadiopharmaceuticalStartTime = "100000"
    ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
    for keyword, value in changes.items():
        if keyword.startswith("Radio"):
            setattr(drug, keyword, value)
        elif value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def _expected(weight_kg: float, dose: float, elapsed_s: float) -> float:
    return weight_kg * 1000.0 / (dose * 2.0 ** (-elapsed_s / F18_HALF_LIFE))


def test_an_hour_after_injection() -> None:
    suv = suv_factor(_pet())
    assert suv.usable and suv.factor == pytest.approx(_expected(70, 3.7e8, 3600), rel=1e-12)
    assert 10000 * suv.factor == pytest.approx(2.7634, abs=1e-4)  # 10 kBq/ml


def test_values_corrected_to_the_injection_need_no_decay() -> None:
    suv = suv_factor(_pet(DecayCorrection="ADMIN"))
    assert suv.factor == pytest.approx(70000 / 3.7e8, rel=1e-12)


def test_a_scan_past_midnight_decays_from_the_evening_before() -> None:
    suv = suv_factor(_pet(SeriesTime="003000", RadiopharmaceuticalStartTime="233000"))
    assert suv.factor == pytest.approx(_expected(70, 3.7e8, 3600), rel=1e-12)


def test_the_injection_date_and_time_win_over_the_time_alone() -> None:
    suv = suv_factor(_pet(RadiopharmaceuticalStartDateTime="20261129103000",
                          RadiopharmaceuticalStartTime="090000"))
    assert suv.factor == pytest.approx(_expected(70, 3.7e8, 1800), rel=1e-12)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"Units": "CNTS"}, "values are in CNTS, not Bq/ml"),
    ({"CorrectedImage": ["ATTN"]}, "not attenuation and decay corrected (Corrected Image)"),
    ({"PatientWeight": None}, "no Patient's Weight"),
    ({"PatientWeight": 0}, "no Patient's Weight"),
    ({"RadionuclideTotalDose": None}, "no Radionuclide Total Dose"),
    ({"DecayCorrection": "NONE"}, "Decay Correction NONE"),
    ({"RadiopharmaceuticalStartDateTime": "20261129113000"},
     "injected after the series started"),
    ({"SeriesTime": None}, "no Series Date and Time"),
])
def test_why_there_is_no_suv(changes: dict[str, object], problem: str) -> None:
    if changes.get("RadionuclideTotalDose", 1) is None:
        ds = _pet()
        del ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose
    else:
        ds = _pet(**changes)
    suv = suv_factor(ds)
    assert not suv.usable and suv.problem == problem and math.isnan(suv.factor)
