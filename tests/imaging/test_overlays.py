"""Overlay bit planes: unpacking, placement, frames; checked with pydicom and dcmj2pnm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from tests.imaging.dcmtk_pnm import dcmj2pnm, monochrome_dataset
from tests.support import testdata
from viewer.dicom.overlays import read_overlay_planes
from viewer.imaging.overlays import OverlayPlane, overlay_mask, unpack_bits


def _dcmtk_overlay_mask(tmp_path: Path, path: Path, frame: int) -> npt.NDArray[np.bool_]:
    """Pixels dcmj2pnm draws as overlay (all overlays, "Replace" mode, full foreground).

    Rendered with and without overlays and no windowing, the image stays below the maximum
    output level (the test images are built that way), so overlay pixels are the ones that change.
    """
    drawn = dcmj2pnm(path, tmp_path / "with.pgm", "+F", str(frame + 1), "+O", "0")
    plain = dcmj2pnm(path, tmp_path / "without.pgm", "+F", str(frame + 1), "-O")
    assert plain.max() < 255
    changed = drawn != plain
    assert np.all(drawn[changed] == 255)
    return changed


def _pack(bits: npt.NDArray[np.bool_]) -> bytes:
    packed = np.packbits(bits.reshape(-1).astype(np.uint8), bitorder="little").tobytes()
    return packed + b"\0" * (len(packed) % 2)


def _add_overlay(ds: Dataset, group: int, **values: object) -> None:
    vrs = {
        0x0010: "US",
        0x0011: "US",
        0x0015: "IS",
        0x0022: "LO",
        0x0040: "CS",
        0x0050: "SS",
        0x0051: "US",
        0x0100: "US",
        0x0102: "US",
        0x1500: "LO",
        0x3000: "OW",
    }
    names = {
        "rows": 0x0010,
        "cols": 0x0011,
        "frames": 0x0015,
        "description": 0x0022,
        "type": 0x0040,
        "origin": 0x0050,
        "frame_origin": 0x0051,
        "allocated": 0x0100,
        "position": 0x0102,
        "label": 0x1500,
        "data": 0x3000,
    }
    for name, value in values.items():
        element = names[name]
        ds.add_new(Tag(group, element), vrs[element], value)


def _reference_place(
    bits: npt.NDArray[np.bool_], origin: tuple[int, int], rows: int, cols: int
) -> npt.NDArray[np.bool_]:
    """Pixel-by-pixel placement, written independently of the module."""
    out = np.zeros((rows, cols), dtype=bool)
    for r in range(bits.shape[0]):
        for c in range(bits.shape[1]):
            y, x = r + origin[0] - 1, c + origin[1] - 1
            if 0 <= y < rows and 0 <= x < cols and bits[r, c]:
                out[y, x] = True
    return out


def test_unpack_bits_lsb_first_and_unaligned() -> None:
    data = bytes([0b00000101, 0b10000000])
    assert unpack_bits(data, 8).tolist() == [True, False, True] + [False] * 5
    assert unpack_bits(data, 2, bit_offset=14).tolist() == [False, True]
    with pytest.raises(ValueError, match="16"):
        unpack_bits(data, 9, bit_offset=8)


def test_unpack_against_numpy_for_odd_frame_sizes() -> None:
    rng = np.random.default_rng(3)
    bits = rng.random(3 * 5 * 7) < 0.4  # 35 bits per frame: frames 2 and 3 start mid-byte
    data = _pack(bits)
    for k in range(3):
        assert np.array_equal(unpack_bits(data, 35, bit_offset=35 * k), bits[35 * k : 35 * (k + 1)])


@pytest.mark.parametrize("origin", [(1, 1), (3, 4), (-2, 0), (0, -3), (5, 9), (20, 1), (1, 30)])
def test_placement_and_clipping(origin: tuple[int, int]) -> None:
    rng = np.random.default_rng(5)
    bits = rng.random((6, 10)) < 0.5
    plane = OverlayPlane(0x6000, 6, 10, origin=origin, bits=bits[np.newaxis])
    mask = overlay_mask(plane, 0, 8, 12)
    assert mask is not None
    assert np.array_equal(mask, _reference_place(bits, origin, 8, 12))


def test_frame_coverage() -> None:
    bits = np.zeros((2, 2, 2), dtype=bool)
    bits[0, 0, 0] = True
    bits[1, 1, 1] = True
    plane = OverlayPlane(0x6000, 2, 2, n_frames=2, image_frame_origin=3, bits=bits)
    assert overlay_mask(plane, 0, 2, 2) is None
    assert overlay_mask(plane, 1, 2, 2) is None
    assert overlay_mask(plane, 2, 2, 2).tolist() == [[True, False], [False, False]]  # type: ignore[union-attr]
    assert overlay_mask(plane, 3, 2, 2).tolist() == [[False, False], [False, True]]  # type: ignore[union-attr]
    assert overlay_mask(plane, 4, 2, 2) is None


def test_embedded_needs_pixel_words() -> None:
    plane = OverlayPlane(0x6000, 2, 2, bit_position=15)
    with pytest.raises(ValueError, match="embedded"):
        overlay_mask(plane, 0, 2, 2)
    words = np.array([[0x8000, 0x0FFF], [0xFFFF, 0x7FFF]], dtype=np.uint16)
    assert overlay_mask(plane, 0, 2, 2, words).tolist() == [[True, False], [True, False]]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "set_pixels"),
    [("examples_overlay.dcm", 222), ("MR-SIEMENS-DICOM-WithOverlays.dcm", None)],
)
def test_real_overlays_match_pydicom_and_dcmtk(
    tmp_path: Path, name: str, set_pixels: int | None
) -> None:
    path = testdata.test_file(name)
    ds = pydicom.dcmread(path)
    (plane,) = read_overlay_planes(ds)
    mask = overlay_mask(plane, 0, ds.Rows, ds.Columns)
    assert mask is not None
    expected = ds.overlay_array(0x6000).astype(bool)
    assert np.array_equal(mask, expected)
    if set_pixels is not None:
        assert int(mask.sum()) == set_pixels
    assert np.array_equal(mask, _dcmtk_overlay_mask(tmp_path, path, 0))


def _embedded_file(tmp_path: Path) -> tuple[Path, npt.NDArray[np.bool_]]:
    rows, cols = 24, 32
    rng = np.random.default_rng(11)
    image = rng.integers(0, 4000, size=(rows, cols), dtype=np.uint16)
    bits = np.zeros((rows, cols), dtype=bool)
    bits[4:10, 5:20] = True
    bits[np.arange(rows), np.arange(rows)] = True
    words = image | (bits.astype(np.uint16) << 15)
    ds = monochrome_dataset(words, bits_stored=12)
    _add_overlay(
        ds, 0x6002, rows=rows, cols=cols, type="G", origin=[1, 1], allocated=16, position=15
    )
    path = tmp_path / "embedded.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, bits


def test_embedded_overlay_matches_dcmtk(tmp_path: Path) -> None:
    path, bits = _embedded_file(tmp_path)
    ds = pydicom.dcmread(path)
    (plane,) = read_overlay_planes(ds)
    assert plane.embedded and plane.bit_position == 15 and plane.group == 0x6002
    words = np.frombuffer(ds.PixelData, dtype="<u2").reshape(ds.Rows, ds.Columns)
    mask = overlay_mask(plane, 0, ds.Rows, ds.Columns, words)
    assert mask is not None
    assert np.array_equal(mask, bits)
    assert np.array_equal(mask, _dcmtk_overlay_mask(tmp_path, path, 0))


@pytest.mark.parametrize(("high_bit", "position", "usable"), [
    (15, 0, True),  # ACR-NEMA: the value in bits 4-15, the overlay below it
    (15, 12, False),  # a bit of the value, not an overlay
    (11, 15, True), (11, 4, False)])
def test_an_embedded_overlay_is_any_bit_the_value_leaves(
        high_bit: int, position: int, usable: bool) -> None:
    # PS3.5 8.1.1-8.1.2: the value is bits High Bit - Bits Stored + 1 .. High Bit; the
    # overlay bit was taken only above Bits Stored, wherever the value was.
    ds = monochrome_dataset(np.zeros((4, 4), dtype=np.uint16), bits_stored=12)
    ds.HighBit = high_bit
    _add_overlay(ds, 0x6000, rows=4, cols=4, type="G", origin=[1, 1], allocated=16,
                 position=position)
    planes = read_overlay_planes(ds)
    assert [p.bit_position for p in planes] == ([position] if usable else [])


def _multiframe_file(tmp_path: Path) -> tuple[Path, npt.NDArray[np.bool_], tuple[int, int]]:
    frames, rows, cols = 4, 9, 11
    image = (np.arange(frames * rows * cols) % 200).astype(np.uint8).reshape(frames, rows, cols)
    rng = np.random.default_rng(13)
    bits = rng.random((2, 5, 7)) < 0.5  # 35 bits per overlay frame: not byte aligned
    origin = (0, 6)  # first overlay row falls above the image, the right edge is clipped
    ds = monochrome_dataset(image)
    _add_overlay(
        ds,
        0x6000,
        rows=5,
        cols=7,
        frames=2,
        frame_origin=2,
        type="G",
        origin=list(origin),
        allocated=1,
        position=0,
        data=_pack(bits),
        label="ROI 1",
        description="generated",
    )
    path = tmp_path / "multiframe.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, bits, origin


def test_multiframe_overlay_matches_dcmtk(tmp_path: Path) -> None:
    path, bits, origin = _multiframe_file(tmp_path)
    ds = pydicom.dcmread(path)
    (plane,) = read_overlay_planes(ds)
    assert (plane.n_frames, plane.image_frame_origin, plane.origin) == (2, 2, origin)
    assert plane.label == "ROI 1" and plane.description == "generated"
    for frame in range(4):
        mask = overlay_mask(plane, frame, ds.Rows, ds.Columns)
        k = frame - 1
        if 0 <= k < 2:
            assert mask is not None
            assert np.array_equal(mask, _reference_place(bits[k], origin, ds.Rows, ds.Columns))
            assert np.array_equal(mask, _dcmtk_overlay_mask(tmp_path, path, frame))
        else:
            assert mask is None
            assert not _dcmtk_overlay_mask(tmp_path, path, frame).any()
