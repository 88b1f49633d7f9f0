"""Presentation LUT and the polarity rule (spec §4; PS3.3 C.11.4, C.11.6)."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.imaging.modality import LutParams
from viewer.imaging.presentation import PresentationShape, is_inverted, presentation_unit


@pytest.mark.parametrize(("photometric", "shape", "inverted"), [
    ("MONOCHROME2", None, False),
    ("MONOCHROME1", None, True),
    ("MONOCHROME2", PresentationShape.INVERSE, True),
    ("MONOCHROME1", PresentationShape.INVERSE, True),  # not inverted twice
    ("MONOCHROME1", PresentationShape.IDENTITY, False),
])
def test_polarity_table_of_the_spec(photometric: str, shape: PresentationShape | None,
                                    inverted: bool) -> None:
    assert is_inverted(shape, photometric) is inverted


def test_inverse_is_pmax_minus_input_not_content_dependent() -> None:
    assert presentation_unit([0.0, 0.25, 0.5], invert=True).tolist() == [1.0, 0.75, 0.5]


def test_presentation_lut_sequence_scales_input_to_entries() -> None:
    lut = LutParams(0, 12, np.array([4095, 2048, 0, 0], dtype=np.int64))
    out = presentation_unit([0.0, 1 / 3, 1.0], invert=True, lut=lut)
    assert np.allclose(out, [1.0, 2048 / 4095, 0.0])


def test_shape_names() -> None:
    assert PresentationShape.parse("LIN OD") is PresentationShape.LIN_OD
    assert PresentationShape.parse("") is None
