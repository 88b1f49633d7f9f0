"""The composed stored-value -> DDL table (spec §0, §6; PS3.3 C.11, PS3.14)."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.errors import UsageError
from viewer.imaging.display import gsdf_ddl_table, model_curve
from viewer.imaging.modality import LutParams, RescaleParams
from viewer.imaging.pipeline import (
    DisplayCalibration,
    GrayscaleParams,
    ViewState,
    build_display_lut,
    frame_stats,
)
from viewer.imaging.presentation import PresentationShape
from viewer.imaging.voi import VoiFunction, WindowParams, apply_window

CT = GrayscaleParams(bits_allocated=16, bits_stored=12, signed=False,
                     modality=RescaleParams(1.0, -1024.0, "HU"),
                     windows=(WindowParams(40, 400, explanation="BRAIN"),
                              WindowParams(-600, 1500, explanation="LUNG")))


def _sv(hu: list[int]) -> np.ndarray:
    return np.array([h + 1024 for h in hu], dtype=np.uint16)


def test_table_equals_stage_by_stage_math() -> None:
    sv = np.arange(4096, dtype=np.uint16)
    lut = build_display_lut(CT, ViewState())
    expected = np.rint(apply_window(sv.astype(float) - 1024, CT.windows[0]))
    assert np.array_equal(lut.apply(sv), expected.astype(np.uint8))


def test_spec_polarity_vectors_monochrome1() -> None:
    mono1 = GrayscaleParams(**{**CT.__dict__, "photometric": "MONOCHROME1"})
    out = build_display_lut(mono1, ViewState()).apply(_sv([-159, 0, 40]))
    assert np.all(np.abs(out.astype(int) - [254, 152, 127]) <= 1)
    ident = build_display_lut(mono1, ViewState(presentation=PresentationShape.IDENTITY))
    assert np.all(np.abs(ident.apply(_sv([-159, 0, 40])).astype(int) - [0, 102, 127]) <= 1)


def test_window_index_and_function_override() -> None:
    lung = build_display_lut(CT, ViewState(window_index=1)).apply(_sv([-600]))
    assert abs(int(lung[0]) - 128) <= 1
    sig = build_display_lut(CT, ViewState(voi_function=VoiFunction.SIGMOID)).apply(_sv([-160]))
    assert int(sig[0]) == 30


def test_missing_window_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="window 3"):
        build_display_lut(CT, ViewState(window_index=2))


def test_signed_data_uses_the_bit_pattern_table() -> None:
    params = GrayscaleParams(bits_allocated=16, bits_stored=16, signed=True)
    sv = np.array([-32768, -1, 0, 32767], dtype=np.int16)
    lut = build_display_lut(params, ViewState(window=WindowParams(0, 65536)))
    assert lut.wrap
    assert lut.apply(sv).tolist() == [0, 127, 128, 255]  # -1 -> 127.498, 0 -> 127.502
    table, first = lut.ascending()
    assert first == -32768 and table[0] == 0 and table[-1] == 255


def test_padding_is_background_and_left_out_of_min_max() -> None:
    params = GrayscaleParams(bits_allocated=16, bits_stored=16, signed=True, padding=(-2000, -2000))
    frame = np.array([[-2000, 0], [100, 200]], dtype=np.int16)
    stats = frame_stats(params, frame)
    assert (stats.sv_min, stats.sv_max) == (0, 200)
    out = build_display_lut(params, ViewState(min_max=True), stats).apply(frame)
    assert out.tolist() == [[0, 0], [128, 255]]


def test_default_falls_back_to_voi_lut_then_min_max() -> None:
    lut = LutParams(0, 8, np.arange(256, dtype=np.int64)[::-1].copy())
    params = GrayscaleParams(bits_allocated=8, bits_stored=8, voi_luts=(lut,))
    assert build_display_lut(params, ViewState()).apply(np.array([0, 255], np.uint8)).tolist() \
        == [255, 0]
    bare = GrayscaleParams(bits_allocated=8, bits_stored=8)
    stats = frame_stats(bare, np.array([10, 20], np.uint8))
    assert build_display_lut(bare, ViewState(), stats).apply(
        np.array([10, 15, 20], np.uint8)).tolist() == [0, 128, 255]


def test_float_data_evaluates_the_chain() -> None:
    params = GrayscaleParams(bits_allocated=32, bits_stored=32, is_float=True)
    frame = np.array([0.5, 1.0, 1.5], dtype=np.float32)
    lut = build_display_lut(params, ViewState(min_max=True), frame_stats(params, frame))
    assert lut.table is None
    assert lut.apply(frame).tolist() == [0, 128, 255]


def test_gsdf_calibration_is_the_last_stage() -> None:
    curve = model_curve(0.5, 250.0)
    table = gsdf_ddl_table(curve, 256)
    params = GrayscaleParams(bits_allocated=8, bits_stored=8)
    view = ViewState(window=WindowParams(128, 256), display=DisplayCalibration(table, 255))
    ramp = np.arange(256, dtype=np.uint8)
    assert np.array_equal(build_display_lut(params, view).apply(ramp), table.astype(np.uint8))


def test_overlay_and_shutter_values_follow_the_display() -> None:
    lut = build_display_lut(CT, ViewState())
    assert (lut.background, lut.overlay_value) == (0, 255)
    assert lut.ddl_for_pvalue(0xFFFF) == 255 and lut.ddl_for_pvalue(0x8000) == 128


@pytest.mark.parametrize(("signed", "bits"), [(False, 12), (True, 12), (False, 16), (True, 16)])
def test_any_cell_pattern_maps_like_the_clamped_value(signed: bool, bits: int) -> None:
    # data that bypassed masking (or another cell size) still lands on the nearest valid value
    params = GrayscaleParams(bits_allocated=16, bits_stored=bits, signed=signed)
    lut = build_display_lut(params, ViewState(window=WindowParams(0, 1 << bits)))
    lo, hi = params.stored_min, params.stored_max
    values = np.array([lo, lo + 1, -1 if signed else 1, 0, hi - 1, hi], dtype=np.int64)
    expected = lut.apply(values.astype(np.int16 if signed else np.uint16))
    assert np.array_equal(lut.apply(values), expected)  # int64 input, generic path
    table, first = lut.ascending()
    assert np.array_equal(table[values - first], expected)
    if bits < 16 and signed:
        out_of_range = np.array([hi + 5, lo - 5], dtype=np.int16)
        assert lut.apply(out_of_range).tolist() == [expected[-1], expected[0]]


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("slope", [1.0, 0.5, -2.0])
@pytest.mark.parametrize("function", [VoiFunction.LINEAR, VoiFunction.LINEAR_EXACT])
@pytest.mark.parametrize(("center", "width"), [(40, 400), (-600, 1500), (100, 1), (9000, 10),
                                               (-40000, 50), (0.5, 2.0)])
def test_window_only_table_equals_full_evaluation(
    signed: bool, slope: float, function: VoiFunction, center: float, width: float
) -> None:
    """Evaluating only the stored values inside the window gives the same table as all 65536."""
    params = GrayscaleParams(bits_allocated=16, bits_stored=16, signed=signed,
                             modality=RescaleParams(slope, -1024.0, "HU"),
                             padding=(-2000.0, -1990.0) if signed else (5.0, 9.0))
    window = WindowParams(center, width, function)
    lut = build_display_lut(params, ViewState(window=window))
    sv = np.arange(-32768, 32768) if signed else np.arange(65536)
    stored = sv.astype(np.int16 if signed else np.uint16)
    expected = np.rint(apply_window(sv * slope - 1024.0, window)).astype(np.uint8)
    pad = (sv >= params.padding[0]) & (sv <= params.padding[1])  # type: ignore[index]
    expected[pad] = lut.background
    assert np.array_equal(lut.apply(stored), expected)


def test_large_frames_are_mapped_in_chunks_identically() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 4096, size=(1500, 1250), dtype=np.uint16)
    lut = build_display_lut(CT, ViewState())
    assert lut.table is not None
    assert np.array_equal(lut.apply(frame), lut.table[frame])
