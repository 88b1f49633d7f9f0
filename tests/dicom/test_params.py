"""Dataset -> display parameters: functional groups, LUT descriptor quirks, the XA rule."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.support.testdata import test_file as data_file
from viewer.dicom.frames import FrameSource
from viewer.dicom.params import read_grayscale_params, read_lut, read_modality
from viewer.imaging.modality import LutParams, RescaleParams
from viewer.imaging.presentation import PresentationShape
from viewer.imaging.voi import VoiFunction


def _lut_item(desc: list[int], data: list[int] | bytes) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = desc
    item.LUTData = data
    return item


def test_descriptor_zero_means_65536_and_first_value_by_sign() -> None:
    lut = read_lut(_lut_item([0, 0xFFFE, 16], list(range(65536))), signed_first=True)
    assert lut is not None and lut.n_entries == 65536 and lut.first_mapped == -2
    unsigned = read_lut(_lut_item([3, 0xFFFE, 16], [1, 2, 3]), signed_first=False)
    assert unsigned is not None and unsigned.first_mapped == 65534


def test_8bit_entries_packed_two_per_word() -> None:
    lut = read_lut(_lut_item([4, 0, 8], [0x0201, 0x0403]), signed_first=False)
    assert lut is not None and lut.data.tolist() == [1, 2, 3, 4]


def test_entries_masked_to_bits() -> None:
    lut = read_lut(_lut_item([2, 0, 12], [0xF001, 0x0FFF]), signed_first=False)
    assert lut is not None and lut.data.tolist() == [1, 4095]


def test_modality_lut_file_and_xa_rule() -> None:
    ds = FrameSource(data_file("mlut_18.dcm")).dataset
    modality = read_modality(ds)
    assert isinstance(modality, LutParams) and modality.first_mapped == -2048
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"
    assert read_modality(ds) is None


def test_windows_with_explanations() -> None:
    ds = FrameSource(data_file("MR-SIEMENS-DICOM-WithOverlays.dcm")).dataset
    windows = read_grayscale_params(ds).windows
    assert [(w.center, w.width, w.explanation) for w in windows] == [
        (450.0, 790.0, "WINDOW1"), (200.0, 443.0, "WINDOW2")]


def test_voi_lut_sequence_file() -> None:
    params = read_grayscale_params(FrameSource(data_file("vlut_04.dcm")).dataset)
    assert len(params.voi_luts) == 1 and params.voi_luts[0].n_entries == 256


def test_functional_groups_per_frame_then_shared() -> None:
    ds = Dataset()
    ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = 16, 12, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PresentationLUTShape = "INVERSE"
    shared, frame0, frame1 = Dataset(), Dataset(), Dataset()
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = 2, -10, "US"
    shared.PixelValueTransformationSequence = Sequence([pvt])
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth, voi.VOILUTFunction = 100, 50, "SIGMOID"
    frame1.FrameVOILUTSequence = Sequence([voi])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence([frame0, frame1])
    p0, p1 = read_grayscale_params(ds, 0), read_grayscale_params(ds, 1)
    assert p0.modality == RescaleParams(2.0, -10.0, "US") == p1.modality
    assert p0.windows == ()
    assert p1.windows[0].center == 100 and p1.windows[0].function is VoiFunction.SIGMOID
    assert p1.presentation_shape is PresentationShape.INVERSE


def test_a_frame_window_without_a_function_is_linear_whatever_the_top_level_says() -> None:
    # PS3.3 C.7.6.16.2.10: the frame's function is in its Frame VOI LUT item; a stray
    # top-level SIGMOID made the frame 30 levels off.
    ds = Dataset()
    ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = 16, 12, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.VOILUTFunction = "SIGMOID"
    voi, frame = Dataset(), Dataset()
    voi.WindowCenter, voi.WindowWidth = 100, 50
    frame.FrameVOILUTSequence = Sequence([voi])
    ds.PerFrameFunctionalGroupsSequence = Sequence([frame])
    (window,) = read_grayscale_params(ds, 0).windows
    assert window.function is VoiFunction.LINEAR


def test_values_that_are_not_finite_numbers_are_ignored_in_place() -> None:
    # NaN or an overflow (1e400) in a window or rescale broke the render with "cannot
    # convert float NaN to integer", or made it black and white; dropping one value must
    # not pair the next center with the wrong width.
    ds = Dataset()
    ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = 16, 12, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.WindowCenter, ds.WindowWidth = ["nan", "40"], ["400", "80"]
    ds.RescaleSlope, ds.RescaleIntercept = "1e400", "-1024"
    params = read_grayscale_params(ds, 0)
    assert [(w.center, w.width) for w in params.windows] == [(40.0, 80.0)]
    assert params.modality is None  # no transform to trust: stored values as they are


def test_padding_range_in_stored_values() -> None:
    ds = Dataset()
    ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = 16, 16, 1
    ds.PixelPaddingValue = 0xF830  # read as US: -2000 as SS
    ds.PixelPaddingRangeLimit = 0xF82F
    assert read_grayscale_params(ds).padding == (-2001.0, -2000.0)
    assert np.isclose(read_grayscale_params(ds).stored_min, -32768)


def test_warnings_about_a_header_name_its_file(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    # "unknown VOI LUT Function 'LINEARX'" named the module; in the application's log,
    # after a series' worth of files, it said nothing of which one.
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40, 400, "LINEARX"
    ds.RescaleSlope = "nan"
    path = tmp_path / "odd.dcm"
    ds.save_as(path)
    with caplog.at_level(logging.WARNING):
        read_grayscale_params(FrameSource(path).dataset)
    messages = [r.getMessage() for r in caplog.records]
    assert f"{path}: unknown VOI LUT Function 'LINEARX', using LINEAR" in messages
    assert f"{path}: ignoring Rescale Slope nan: not a finite number" in messages
    caplog.clear()
    read_grayscale_params(Dataset())  # no file: no name, and none left from before
    assert all(not r.getMessage().startswith(str(path)) for r in caplog.records)
