"""Real World Value Mapping arithmetic (PS3.3 C.7.6.16.2.11) and how UCUM units read."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.imaging.real_world import RealWorldMapping, ucum_text


def test_a_line_maps_the_stored_values_in_its_range_only() -> None:
    adc = RealWorldMapping(0, 4095, slope=1e-6, intercept=0.0, unit="mm²/s")
    values = adc.apply([850, 0, 4095, 4096, -1])
    assert values[:3] == pytest.approx([0.00085, 0.0, 0.004095])
    assert np.isnan(values[3:]).all()


def test_a_table_maps_from_its_first_value() -> None:
    table = RealWorldMapping(-2, 1, table=(10.0, 20.0, 30.0, 40.0))
    assert table.apply([-2, 0, 1]).tolist() == [10.0, 30.0, 40.0]
    assert np.isnan(table.apply([2])).all()


@pytest.mark.parametrize(("code", "meaning", "shown"), [
    ("mm2/s", "mm2/s", "mm²/s"),
    ("Bq/ml", "Becquerels/milliliter", "Bq/ml"),
    ("cm-1", "", "cm⁻¹"),
    ("1", "no units", ""),
    ("{SUVbw}g/ml", "Standardized Uptake Value body weight",
     "Standardized Uptake Value body weight"),
    ("ms", "milliseconds", "ms"),
])
def test_ucum_codes_read_as_units(code: str, meaning: str, shown: str) -> None:
    assert ucum_text(code, meaning) == shown
