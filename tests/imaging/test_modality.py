"""Modality LUT stage against the vectors of the rendering spec §2 (PS3.3 C.11.1)."""

from __future__ import annotations

import numpy as np

from viewer.imaging.modality import LutParams, RescaleParams, apply_modality, modality_range


def test_rescale_ct_vector() -> None:
    out = apply_modality(RescaleParams(1.0, -1024.0, "HU"), [0, 1024, 2048, 4095])
    assert out.tolist() == [-1024, 0, 1024, 3071]


def test_rescale_range_swaps_for_negative_slope() -> None:
    assert modality_range(RescaleParams(-2.0, 10.0), 0, 100) == (-190.0, 10.0)


def test_lut_clamps_below_and_above() -> None:
    lut = LutParams(10, 16, np.array([100, 200, 300, 400], dtype=np.int64))
    out = apply_modality(lut, [0, 9, 10, 11, 13, 14, 100])
    assert out.tolist() == [100, 100, 100, 200, 400, 400, 400]


def test_signed_lut_vector() -> None:
    lut = LutParams(-2, 16, np.array([7, 8, 9], dtype=np.int64))
    assert apply_modality(lut, [-5, -2, -1, 0, 5]).tolist() == [7, 7, 8, 9, 9]


def test_no_modality_is_identity() -> None:
    assert apply_modality(None, [-3, 0, 7]).tolist() == [-3, 0, 7]
