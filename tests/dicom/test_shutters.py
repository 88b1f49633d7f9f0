"""Reading Display Shutter attributes: all shapes, enhanced functional groups, bad shapes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.imaging.dcmtk_pnm import monochrome_dataset
from tests.support import testdata
from viewer.dicom.shutters import read_shutter
from viewer.imaging.shutters import ShutterSpec, shutter_mask


def _image() -> Dataset:
    return monochrome_dataset(np.zeros((40, 50), dtype=np.uint8))


def _set_all(ds: Dataset) -> None:
    ds.ShutterShape = ["RECTANGULAR", "CIRCULAR", "POLYGONAL"]
    ds.ShutterLeftVerticalEdge = 5
    ds.ShutterRightVerticalEdge = 45
    ds.ShutterUpperHorizontalEdge = 3
    ds.ShutterLowerHorizontalEdge = 35
    ds.CenterOfCircularShutter = [20, 25]
    ds.RadiusOfCircularShutter = 17
    ds.VerticesOfThePolygonalShutter = [2, 2, 38, 10, 30, 48, 4, 40]
    ds.ShutterPresentationValue = 0xFFFF


def test_no_shutter() -> None:
    assert read_shutter(pydicom.dcmread(testdata.test_file("CT_small.dcm"))) is None
    assert read_shutter(_image()) is None


def test_all_shapes_round_trip_through_a_file(tmp_path: Path) -> None:
    ds = _image()
    _set_all(ds)
    path = tmp_path / "shutter.dcm"
    ds.save_as(path, enforce_file_format=True)
    spec = read_shutter(pydicom.dcmread(path))
    assert spec == ShutterSpec(
        rectangle=(5, 45, 3, 35),
        circle=(20, 25, 17),
        polygon=((2, 2), (38, 10), (30, 48), (4, 40)),
        presentation_value=0xFFFF,
    )
    mask = shutter_mask(spec, 40, 50)
    assert mask[0, 0] and not mask[19, 24]


def test_single_shape_and_missing_value() -> None:
    ds = _image()
    ds.ShutterShape = "CIRCULAR"
    ds.CenterOfCircularShutter = [10, 12]
    ds.RadiusOfCircularShutter = 8
    assert read_shutter(ds) == ShutterSpec(circle=(10, 12, 8))


def test_malformed_shape_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    ds = _image()
    _set_all(ds)
    del ds.ShutterLowerHorizontalEdge
    ds.VerticesOfThePolygonalShutter = [1, 2, 3, 4]
    with caplog.at_level(logging.WARNING):
        spec = read_shutter(ds)
    assert spec is not None
    assert spec.rectangle is None and spec.polygon is None
    assert spec.circle == (20, 25, 17)
    assert "rectangular" in caplog.text and "polygonal" in caplog.text


def test_enhanced_frame_display_shutter() -> None:
    ds = _image()
    shared = Dataset()
    shutter = Dataset()
    shutter.ShutterShape = "RECTANGULAR"
    shutter.ShutterLeftVerticalEdge = 2
    shutter.ShutterRightVerticalEdge = 9
    shutter.ShutterUpperHorizontalEdge = 3
    shutter.ShutterLowerHorizontalEdge = 8
    shutter.ShutterPresentationValue = 1000
    shared.FrameDisplayShutterSequence = [shutter]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = Dataset()
    other = Dataset()
    other.ShutterShape = "CIRCULAR"
    other.CenterOfCircularShutter = [5, 5]
    other.RadiusOfCircularShutter = 3
    per_frame.FrameDisplayShutterSequence = [other]
    ds.PerFrameFunctionalGroupsSequence = [Dataset(), per_frame]
    assert read_shutter(ds, 0) == ShutterSpec(rectangle=(2, 9, 3, 8), presentation_value=1000)
    assert read_shutter(ds, 1) == ShutterSpec(circle=(5, 5, 3))


@pytest.mark.parametrize(("value", "level"), [(None, 0), (0, 0), (0xFFFF, 255), (0x8000, 128),
                                               (0x7FFF, 127), (300, 1)])
def test_covered_pixels_show_the_presentation_value(tmp_path: Path, value: int | None,
                                                    level: int) -> None:
    # PS3.3 C.7.6.11.1: covered pixels take Shutter Presentation Value, a P-value 0..FFFFH
    # (black where absent); the rest of the frame is shown as without a shutter
    from viewer.dicom.image import DicomImage

    ds = monochrome_dataset(np.full((40, 50), 100, dtype=np.uint8))
    ds.ShutterShape = "RECTANGULAR"
    ds.ShutterLeftVerticalEdge, ds.ShutterRightVerticalEdge = 5, 45
    ds.ShutterUpperHorizontalEdge, ds.ShutterLowerHorizontalEdge = 3, 35
    if value is not None:
        ds.ShutterPresentationValue = value
    path = tmp_path / "shutter.dcm"
    ds.save_as(path, enforce_file_format=True)
    image = DicomImage(path)
    shown, bare = image.render(0), image.render(0, shutters=False)
    covered = shutter_mask(read_shutter(ds) or ShutterSpec(), 40, 50)
    assert covered.sum() == 40 * 50 - 41 * 33
    assert set(np.unique(shown[covered]).tolist()) == {level}
    assert np.array_equal(shown[~covered], bare[~covered])
