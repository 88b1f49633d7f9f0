"""VOI functions against the spec §3 test vectors (PS3.3 C.11.2.1.2, C.11.2.1.3)."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.imaging.modality import LutParams
from viewer.imaging.voi import (
    VoiFunction,
    WindowParams,
    apply_window,
    min_max_window,
    voi_lut_unit,
)

X = [-1000, -160, -159, 0, 40, 239, 240, 1000]
LINEAR = [0, 0, 0.6391, 102.2556, 127.8195, 255, 255, 255]
LINEAR_EXACT = [0, 0, 0.6375, 102.0, 127.5, 254.3625, 255, 255]
SIGMOID = [0.0078, 30.3967, 30.6655, 102.3346, 127.5, 224.3345, 224.6033, 254.9827]


@pytest.mark.parametrize(("function", "expected"), [
    (VoiFunction.LINEAR, LINEAR),
    (VoiFunction.LINEAR_EXACT, LINEAR_EXACT),
    (VoiFunction.SIGMOID, SIGMOID),
])
def test_ct_vectors(function: VoiFunction, expected: list[float]) -> None:
    out = apply_window(X, WindowParams(40, 400, function))
    assert np.allclose(out, expected, atol=1e-4)


def test_dcmtk_truncation_column_within_one() -> None:
    dcmtk = [0, 0, 0, 102, 127, 255, 255, 255]
    out = apply_window(X, WindowParams(40, 400))
    assert np.all(np.abs(np.rint(out) - dcmtk) <= 1)


def test_8bit_identity_window() -> None:
    x = np.arange(256)
    assert np.allclose(apply_window(x, WindowParams(128, 256)), x)


def test_12bit_full_window() -> None:
    out = apply_window([0, 1, 2047, 2048, 4095], WindowParams(2048, 4096))
    assert np.allclose(out, [0, 0.0623, 127.4689, 127.5311, 255], atol=1e-4)


def test_width_one_is_threshold() -> None:
    assert apply_window([99, 99.5, 100], WindowParams(100, 1)).tolist() == [0, 0, 255]


def test_invalid_widths_raise() -> None:
    with pytest.raises(ValueError):
        apply_window([0], WindowParams(0, 0.5))
    with pytest.raises(ValueError):
        apply_window([0], WindowParams(0, 0, VoiFunction.SIGMOID))


def test_min_max_window_maps_range_onto_output() -> None:
    out = apply_window([-20, -20.5, 80, 30], min_max_window(-20, 80))
    assert out[0] == 0 and out[1] == 0 and out[2] == 255 and 0 < out[3] < 255


def test_voi_lut_scales_by_descriptor_bits_and_clamps() -> None:
    lut = LutParams(0, 16, np.array([0, 32768, 65535], dtype=np.int64))
    assert np.allclose(voi_lut_unit([-4, 0, 1, 2, 9], lut), [0, 0, 32768 / 65535, 1, 1])


def test_function_names() -> None:
    assert VoiFunction.parse("linear_exact ") is VoiFunction.LINEAR_EXACT
    assert VoiFunction.parse(None) is VoiFunction.LINEAR
    assert VoiFunction.parse("BOGUS") is VoiFunction.LINEAR
