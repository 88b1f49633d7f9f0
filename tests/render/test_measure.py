"""Measurement math: distances in PS3.3 10.7.1.3 order, true angles, ROI statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.render.measure import (
    MeasureKind,
    angle,
    ellipse_outline,
    length,
    nice_length,
    roi_area,
    roi_mask,
    roi_stats,
)


def test_length_uses_row_spacing_vertically_and_column_spacing_horizontally() -> None:
    spacing = (0.30, 0.25)  # row spacing \ column spacing
    assert length((0, 0), (10, 0), spacing) == pytest.approx(2.5)
    assert length((0, 0), (0, 10), spacing) == pytest.approx(3.0)
    assert length((0, 0), (3, 4)) == pytest.approx(5.0)


def test_angle_is_measured_in_the_patient_plane() -> None:
    assert angle((0, 0), (1, 0), (0, 1)) == pytest.approx(90.0)
    assert angle((0, 0), (1, 0), (-1, 0)) == pytest.approx(180.0)
    # Diagonal on a grid with rows twice as far apart as columns: atan(2) from horizontal.
    assert angle((0, 0), (1, 0), (1, 1), (2.0, 1.0)) == pytest.approx(math.degrees(math.atan(2)))
    assert angle((0, 0), (0, 0), (1, 1)) == 0.0


def test_rectangle_mask_takes_pixels_whose_centres_are_inside() -> None:
    mask = roi_mask(MeasureKind.RECTANGLE, (1.5, 2.0), (4.2, 3.0), (6, 8))
    assert mask.sum() == 3 * 2  # columns 2..4, rows 2..3
    assert mask[2, 2] and mask[3, 4] and not mask[2, 1] and not mask[4, 2]


def test_ellipse_mask_area_approaches_pi_a_b() -> None:
    mask = roi_mask(MeasureKind.ELLIPSE, (100 - 40, 100 - 25), (100 + 40, 100 + 25), (200, 200))
    assert mask.sum() == pytest.approx(math.pi * 40 * 25, rel=0.01)
    assert mask[100, 100] and not mask[100, 141]
    with pytest.raises(ValueError):
        roi_mask(MeasureKind.LENGTH, (0, 0), (1, 1), (2, 2))


def test_roi_statistics_and_area_in_mm() -> None:
    values = np.arange(16, dtype=np.int16).reshape(4, 4) - 1024
    mask = roi_mask(MeasureKind.RECTANGLE, (0, 0), (1, 1), values.shape)
    stats = roi_stats(values, mask, roi_area(MeasureKind.RECTANGLE, (0, 0), (1, 1), (0.5, 0.25)))
    assert stats is not None
    inside = np.array([0, 1, 4, 5]) - 1024
    assert stats.mean == pytest.approx(inside.mean())
    assert stats.sd == pytest.approx(inside.std())
    assert (stats.minimum, stats.maximum) == (-1024, -1019)
    # The drawn box is one column by one row across; its four pixel centres are measured.
    assert stats.area == pytest.approx(1 * 0.5 * 1 * 0.25) and stats.pixels == 4
    assert roi_stats(values, np.zeros((4, 4), dtype=bool), 0.0) is None


def test_outline_and_nice_lengths() -> None:
    outline = ellipse_outline((0, 0), (10, 4), segments=4)
    assert outline[0] == pytest.approx((10.0, 2.0)) and outline[-1] == pytest.approx(outline[0])
    assert [nice_length(v) for v in (0.9, 1, 3, 7.5, 49, 120)] == [0.5, 1, 2, 5, 20, 100]
