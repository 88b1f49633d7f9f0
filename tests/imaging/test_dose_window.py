"""The automatic window of an RT Dose is in dose units (PS3.3 C.8.8.3, C.11.2.1.2.1)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from tests.support.testdata import test_file as data_file
from viewer.dicom.frames import FrameSource
from viewer.dicom.params import read_grayscale_params
from viewer.imaging.pipeline import ViewState, build_display_lut, frame_stats, resolve_voi
from viewer.imaging.voi import VoiFunction, WindowParams


@pytest.mark.parametrize("frame", [0, 7, 14])
def test_min_max_window_spans_the_frames_doses(frame: int) -> None:
    path = data_file("rtdose.dcm")
    # the oracle: pydicom's own decode, scaled by the file's factor (PS3.3 Table C.8-39)
    reference = pydicom.dcmread(path)
    scaling = float(reference.DoseGridScaling)
    doses = reference.pixel_array[frame].astype(np.float64) * scaling

    source = FrameSource(path)
    params = read_grayscale_params(source.dataset, frame)
    stored = source.frame(frame)
    stats = frame_stats(params, stored)
    assert (stats.mv_min, stats.mv_max) == pytest.approx((doses.min(), doses.max()))
    # Without stats the range is that of every value 32 bits can hold, in dose units too.
    assert params.modality_range() == pytest.approx((0.0, (2**32 - 1) * scaling))

    # No window in the file: the default is the min-max window. Doses are not integers:
    # LINEAR_EXACT, whose bounds c -/+ w / 2 (PS3.3 C.11.2.1.3.2) fall on the lowest and
    # highest dose (the integer convention's +1 would read "W 1.456" for 0.80-1.25).
    for view in (ViewState(), ViewState(min_max=True)):
        window = resolve_voi(params, view, stats)
        assert isinstance(window, WindowParams)
        assert window.function is VoiFunction.LINEAR_EXACT
        low = window.center - window.width / 2.0
        high = window.center + window.width / 2.0
        assert (low, high) == pytest.approx((doses.min(), doses.max()))

    shown = build_display_lut(params, ViewState(), stats).apply(stored)
    if doses.max() > doses.min():
        assert (int(shown.min()), int(shown.max())) == (0, 255)
