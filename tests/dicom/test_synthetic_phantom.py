"""The phantoms put each organ where the anatomy has it, slice by slice."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.dicom.synthetic_phantom import Canvas, HeadPhantom, Tissue, TorsoPhantom


def _tissues(phantom: TorsoPhantom | HeadPhantom, z: float, size: int = 256) -> set[Tissue]:
    canvas = Canvas(size, size, (400.0 if isinstance(phantom, TorsoPhantom) else 250.0) / size)
    phantom.paint(canvas, z)
    return {Tissue(v) for v in np.unique(canvas.labels)}


@pytest.mark.parametrize(
    ("z", "present", "absent"),
    [
        (-110.0, {Tissue.LIVER, Tissue.KIDNEY_CORTEX, Tissue.AORTA, Tissue.SPLEEN}, {Tissue.LUNG}),
        (60.0, {Tissue.LUNG, Tissue.LUNG_VESSEL, Tissue.BLOOD_POOL, Tissue.AORTA}, {Tissue.LIVER}),
        (150.0, {Tissue.LUNG, Tissue.CORTICAL_BONE}, {Tissue.KIDNEY_CORTEX, Tissue.MYOCARDIUM}),
    ],
)
def test_torso_organs_by_level(z: float, present: set[Tissue], absent: set[Tissue]) -> None:
    found = _tissues(TorsoPhantom(0), z)
    assert present <= found
    assert not absent & found
    assert {Tissue.SKIN, Tissue.FAT, Tissue.CANCELLOUS_BONE} <= found | {Tissue.DISC}


def test_lungs_lie_either_side_of_the_midline() -> None:
    canvas = Canvas(200, 200, 2.0)
    TorsoPhantom(0).paint(canvas, 80.0)
    cols = np.nonzero(canvas.labels == Tissue.LUNG)[1]
    left, right = cols[cols < 100], cols[cols >= 100]
    assert left.size > 500 and right.size > 500
    assert abs(left.size - right.size) < 0.3 * left.size


def test_head_has_cortex_white_matter_and_ventricles_at_mid_level() -> None:
    found = _tissues(HeadPhantom(0), 15.0)
    assert {Tissue.GREY_MATTER, Tissue.WHITE_MATTER, Tissue.CSF, Tissue.CORTICAL_BONE} <= found
    assert _tissues(HeadPhantom(0), 200.0) == {Tissue.AIR}


def test_seed_changes_details_not_anatomy() -> None:
    a, b = Canvas(128, 128, 3.0), Canvas(128, 128, 3.0)
    TorsoPhantom(1).paint(a, 80.0)
    TorsoPhantom(2).paint(b, 80.0)
    assert not np.array_equal(a.labels, b.labels)  # other vessel tracks
    lung_a = np.count_nonzero(np.isin(a.labels, [Tissue.LUNG, Tissue.LUNG_VESSEL]))
    lung_b = np.count_nonzero(np.isin(b.labels, [Tissue.LUNG, Tissue.LUNG_VESSEL]))
    assert lung_a == lung_b  # same lungs
