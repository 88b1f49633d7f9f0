"""ROI area is the area of the shape drawn; the statistics are over the pixels inside it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.render.measure import MeasureKind, roi_area, roi_mask, roi_stats

SPACING = (0.8, 0.8)  # mm, row \ column (PS3.3 10.7.1.3)


def test_a_20_pixel_square_reports_its_drawn_area_not_its_pixel_count() -> None:
    # 20 x 20 px at 0.8 mm is 16 mm square: 2.56 cm², not the 21 x 21 pixel centres
    # (2.82 cm²) it holds, boundary included.
    p0, p1 = (50.0, 60.0), (70.0, 80.0)
    values = np.zeros((128, 128), dtype=np.int16)
    mask = roi_mask(MeasureKind.RECTANGLE, p0, p1, values.shape)
    stats = roi_stats(values, mask, roi_area(MeasureKind.RECTANGLE, p0, p1, SPACING))
    assert stats is not None
    assert stats.area == pytest.approx(256.0)
    assert stats.pixels == 21 * 21


def test_the_ellipse_area_is_pi_a_b_in_mm() -> None:
    # Half-axes of 40 and 25 columns/rows, with rows twice as far apart as columns.
    area = roi_area(MeasureKind.ELLIPSE, (60, 75), (140, 125), (1.0, 0.5))
    assert area == pytest.approx(math.pi * (40 * 0.5) * (25 * 1.0))


def test_the_area_does_not_depend_on_which_corner_is_drawn_first() -> None:
    assert roi_area(MeasureKind.RECTANGLE, (70, 80), (50, 60), SPACING) == pytest.approx(256.0)
    assert roi_area(MeasureKind.RECTANGLE, (5, 5), (5, 9)) == 0.0
    with pytest.raises(ValueError):
        roi_area(MeasureKind.LENGTH, (0, 0), (1, 1))


def test_mean_and_sd_are_over_the_pixel_centres_inside() -> None:
    values = np.arange(36, dtype=np.float64).reshape(6, 6)
    p0, p1 = (1.0, 1.0), (3.0, 2.0)
    mask = roi_mask(MeasureKind.RECTANGLE, p0, p1, values.shape)
    stats = roi_stats(values, mask, roi_area(MeasureKind.RECTANGLE, p0, p1))
    inside = values[1:3, 1:4]
    assert stats is not None
    assert (stats.mean, stats.sd, stats.pixels) == (inside.mean(), inside.std(), 6)
    assert stats.area == pytest.approx(2.0)
