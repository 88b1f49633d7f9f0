"""Reading overlay groups 6000-601E: attributes, several groups, big endian, bad groups."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRBigEndian

from tests.imaging.dcmtk_pnm import dcmj2pnm, monochrome_dataset
from tests.support import testdata
from viewer.dicom.overlays import read_overlay_planes
from viewer.imaging.overlays import overlay_mask


def _overlay(
    ds: Dataset, group: int, rows: int, cols: int, data: bytes | None, **extra: tuple[str, object]
) -> None:
    ds.add_new(Tag(group, 0x0010), "US", rows)
    ds.add_new(Tag(group, 0x0011), "US", cols)
    ds.add_new(Tag(group, 0x0040), "CS", "G")
    ds.add_new(Tag(group, 0x0050), "SS", [1, 1])
    ds.add_new(Tag(group, 0x0100), "US", 1)
    ds.add_new(Tag(group, 0x0102), "US", 0)
    if data is not None:
        ds.add_new(Tag(group, 0x3000), "OW", data)
    for element, (vr, value) in extra.items():
        ds.add_new(Tag(group, int(element, 16)), vr, value)


def _bits(rows: int, cols: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((rows, cols)) < 0.3


def _packed(bits: np.ndarray) -> bytes:
    data = np.packbits(bits.reshape(-1).astype(np.uint8), bitorder="little").tobytes()
    return data + b"\0" * (len(data) % 2)


def test_real_file_attributes() -> None:
    ds = pydicom.dcmread(testdata.test_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    (plane,) = read_overlay_planes(ds)
    assert (plane.group, plane.rows, plane.cols) == (0x6000, 484, 484)
    assert (plane.origin, plane.n_frames, plane.image_frame_origin) == ((1, 1), 1, 1)
    assert plane.overlay_type == "G"
    assert plane.description == "Siemens MedCom Object Graphics"
    assert plane.bits is not None and plane.bits.shape == (1, 484, 484)
    assert not plane.embedded


def test_no_overlays() -> None:
    assert read_overlay_planes(pydicom.dcmread(testdata.test_file("CT_small.dcm"))) == []


def test_several_groups_in_order() -> None:
    ds = monochrome_dataset(np.zeros((6, 8), dtype=np.uint8))
    _overlay(ds, 0x6004, 6, 8, _packed(_bits(6, 8, 1)), **{"1500": ("LO", "second")})
    _overlay(ds, 0x6000, 3, 4, _packed(_bits(3, 4, 2)), **{"0051": ("US", 1)})
    _overlay(ds, 0x6001, 6, 8, _packed(_bits(6, 8, 3)))  # odd group: private, not an overlay
    planes = read_overlay_planes(ds)
    assert [p.group for p in planes] == [0x6000, 0x6004]
    assert planes[1].label == "second"
    assert np.array_equal(planes[1].bits[0], _bits(6, 8, 1))  # type: ignore[index]


def test_bad_groups_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    ds = monochrome_dataset(np.zeros((6, 8), dtype=np.uint16), bits_stored=12)
    _overlay(ds, 0x6000, 6, 8, b"\0\0")  # 48 bits needed, 16 given
    _overlay(ds, 0x6002, 6, 8, None)  # no data, Overlay Bits Allocated 1: nothing usable
    _overlay(ds, 0x6004, 6, 8, _packed(_bits(6, 8, 4)))
    with caplog.at_level(logging.WARNING):
        planes = read_overlay_planes(ds)
    assert [p.group for p in planes] == [0x6004]
    assert "6000" in caplog.text and "6002" in caplog.text


def test_big_endian_overlay_data(tmp_path: Path) -> None:
    rows, cols = 10, 13
    image = (np.arange(rows * cols) % 100).astype(">u2").reshape(rows, cols)
    bits = _bits(rows, cols, 9)
    ds = monochrome_dataset(np.zeros((rows, cols), dtype=np.uint16), bits_stored=12)
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.PixelData = image.tobytes()
    little = _packed(bits)
    # OW in big endian: each 16-bit word is byte-swapped in the file
    swapped = np.frombuffer(little, dtype="<u2").astype(">u2").tobytes()
    _overlay(ds, 0x6000, rows, cols, swapped)
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    read = pydicom.dcmread(path)
    (plane,) = read_overlay_planes(read)
    mask = overlay_mask(plane, 0, rows, cols)
    assert mask is not None
    assert np.array_equal(mask, bits)
    drawn = dcmj2pnm(path, tmp_path / "with.pgm", "+O", "0")
    plain = dcmj2pnm(path, tmp_path / "without.pgm", "-O")
    assert np.array_equal(drawn != plain, bits)
