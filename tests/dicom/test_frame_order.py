"""The order frames of an enhanced multi-frame image are shown in (PS3.3 C.7.6.17, 7.5.2):
by the dimensions other than space, then along the slice normal."""

from __future__ import annotations

import logging

import pytest

from tests.support.enhanced import (
    EFFECTIVE_ECHO_TIME,
    IN_STACK_POSITION,
    STACK_ID,
    enhanced_dataset,
)
from viewer.dicom.frame_order import frame_display_order

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def test_frames_stored_out_of_order_are_shown_in_space_order() -> None:
    ds = enhanced_dataset([10.0, 0.0, 30.0, 20.0], index_values=[[1, 2], [1, 1], [1, 4], [1, 3]])
    assert frame_display_order(ds, 4) == [1, 0, 3, 2]


def test_a_stack_numbered_head_first_runs_like_a_series_of_slices() -> None:
    # In-Stack Position 1 is the top slice here; single-frame slices are sorted from the
    # feet up (viewer.dicom.geometry.sort_instances), and so are these frames: a prior
    # study of slices and this one scroll the same way side by side.
    ds = enhanced_dataset([30.0, 20.0, 10.0, 0.0], index_values=[[1, 1], [1, 2], [1, 3], [1, 4]])
    assert frame_display_order(ds, 4) == [3, 2, 1, 0]


def test_echoes_stored_slice_by_slice_are_shown_echo_by_echo() -> None:
    z = [0.0, 0.0, 5.0, 5.0, 10.0, 10.0]
    echo = [1, 2, 1, 2, 1, 2]
    ds = enhanced_dataset(
        z, index_values=[[1, k // 2 + 1, echo[k]] for k in range(6)],
        pointers=(STACK_ID, IN_STACK_POSITION, EFFECTIVE_ECHO_TIME),
        echo_times=[10.0 * e for e in echo])
    assert frame_display_order(ds, 6) == [0, 2, 4, 1, 3, 5]


def test_without_dimensions_repeated_positions_make_stacks_in_file_order() -> None:
    ds = enhanced_dataset([5.0, 0.0, 0.0, 5.0], index_values=None)
    assert frame_display_order(ds, 4) == [1, 0, 2, 3]


def test_stacks_of_other_planes_keep_their_in_stack_numbers() -> None:
    # A three-plane localizer in one file: locations along different normals do not
    # compare, the in-stack numbers do.
    ds = enhanced_dataset([0.0, 5.0, 0.0, 0.0],
                          index_values=[[2, 1], [1, 2], [1, 1], [2, 2]],
                          orientations=[SAGITTAL, AXIAL, AXIAL, SAGITTAL])
    assert frame_display_order(ds, 4) == [2, 1, 0, 3]


def test_index_values_that_do_not_match_the_dimensions_are_named_and_ignored(
        caplog: pytest.LogCaptureFixture) -> None:
    ds = enhanced_dataset([10.0, 0.0], index_values=[[1], [1]])
    with caplog.at_level(logging.WARNING, logger="viewer.dicom.frame_order"):
        assert frame_display_order(ds, 2) == [1, 0]
    assert "Dimension Index Values do not match" in caplog.text


def test_an_image_without_functional_groups_keeps_file_order() -> None:
    ds = enhanced_dataset([10.0, 0.0, 5.0], index_values=[[1, 2], [1, 1], [1, 3]])
    del ds.PerFrameFunctionalGroupsSequence
    assert frame_display_order(ds, 3) == [0, 1, 2]


def test_a_dimension_pointer_of_two_values_leaves_the_positions_to_order() -> None:
    ds = enhanced_dataset([10.0, 0.0], index_values=[[1, 2], [1, 1]])
    ds.DimensionIndexSequence[0].DimensionIndexPointer = [0x00209056, 0x00209057]
    assert frame_display_order(ds, 2) == [1, 0]
