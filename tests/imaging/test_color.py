"""Colour conversion and palettes against dcmj2pnm's PPM output and pydicom, on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from tests.imaging.dcmtk_pnm import dcmj2pnm, monochrome_dataset
from tests.support import testdata
from viewer.dicom.image import DicomImage
from viewer.dicom.palette import is_supplemental, read_palette
from viewer.imaging.color import (
    PaletteChannel,
    PaletteLut,
    apply_palette,
    apply_supplemental,
    expand_segmented,
    expand_ybr_422,
    interleave_planes,
    ybr_full_to_rgb,
    ybr_partial_to_rgb,
)


def _native_frame(ds: Dataset, frame: int) -> npt.NDArray[np.integer]:
    """Samples of one frame of an uncompressed colour file, read straight from Pixel Data."""
    ts = ds.file_meta.TransferSyntaxUID
    itemsize = ds.BitsAllocated // 8
    dtype = np.dtype(f"{'<' if ts.is_little_endian else '>'}u{itemsize}")
    per_sample = 2 if ds.PhotometricInterpretation == "YBR_FULL_422" else 3
    count = ds.Rows * ds.Columns * per_sample
    raw = np.frombuffer(ds.PixelData, dtype=dtype, count=count, offset=frame * count * itemsize)
    if ds.PhotometricInterpretation == "YBR_FULL_422":
        return expand_ybr_422(raw, ds.Rows, ds.Columns)
    if ds.get("PlanarConfiguration", 0) == 1:
        return interleave_planes(raw, ds.Rows, ds.Columns)
    return raw.reshape(ds.Rows, ds.Columns, 3)


def test_t871_vector() -> None:
    # rendering-pipeline.md §8: RGB (255,0,0) -> YBR (76, 85, 255) -> RGB (254, 0, 0)
    ybr = np.array([[76, 85, 255]], dtype=np.uint8)
    assert ybr_full_to_rgb(ybr).tolist() == [[254, 0, 0]]
    assert ybr_full_to_rgb(np.array([[128, 128, 128]], dtype=np.uint8)).tolist() == [[128] * 3]


def test_ybr_round_trip_within_one_level() -> None:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(500, 3))
    r, g, b = rgb.T.astype(float)
    ybr = np.stack(
        [
            0.299 * r + 0.587 * g + 0.114 * b,
            -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
            0.5 * r - 0.418688 * g - 0.081312 * b + 128,
        ],
        axis=-1,
    )
    ybr8 = np.clip(np.floor(ybr + 0.5), 0, 255).astype(np.uint8)
    back = ybr_full_to_rgb(ybr8).astype(int)
    assert np.max(np.abs(back - rgb)) <= 2  # two roundings of 8-bit YCbCr
    assert np.mean(np.abs(back - rgb)) < 0.6


def test_ybr_422_expansion_shares_chroma() -> None:
    samples = np.array([10, 20, 100, 200, 30, 40, 110, 210], dtype=np.uint8)
    out = expand_ybr_422(samples, 1, 4)
    assert out[0, :, 0].tolist() == [10, 20, 30, 40]
    assert out[0, :, 1].tolist() == [100, 100, 110, 110]
    assert out[0, :, 2].tolist() == [200, 200, 210, 210]
    with pytest.raises(ValueError, match="even"):
        expand_ybr_422(samples[:6], 1, 3)


COLOUR_FILES = [
    ("SC_rgb.dcm", 0),
    ("SC_rgb_expb.dcm", 0),
    ("SC_rgb_2frame.dcm", 1),
    ("SC_rgb_16bit.dcm", 0),
    ("SC_rgb_expb_16bit_2frame.dcm", 1),
    ("SC_rgb_small_odd.dcm", 0),
    ("color-pl.dcm", 0),  # Planar Configuration 1
    ("color-px.dcm", 0),
    ("US1_UNCR.dcm", 0),
    ("SC_ybr_full_uncompressed.dcm", 0),
    ("SC_ybr_full_422_uncompressed.dcm", 0),
]


@pytest.mark.parametrize(("name", "frame"), COLOUR_FILES)
def test_colour_file_matches_dcmtk_and_pydicom(tmp_path: Path, name: str, frame: int) -> None:
    path = testdata.test_file(name)
    ds = pydicom.dcmread(path)
    ours = DicomImage(path).render(frame)
    assert ours.shape == (ds.Rows, ds.Columns, 3)
    assert ours.dtype == np.uint8
    oracle = dcmj2pnm(path, tmp_path / "out.ppm", "+F", str(frame + 1))
    # dcmtk's own YCbCr conversion rounds differently from T.871 by up to 2 levels
    tolerance = 2 if ds.PhotometricInterpretation.startswith("YBR") else 1
    assert np.max(np.abs(ours.astype(int) - oracle)) <= tolerance
    # pydicom converts YBR to RGB with the same T.871 coefficients
    pyd = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1)) > 1:
        pyd = pyd[frame]
    expected = pyd.astype(np.int64) >> max(ds.BitsStored - 8, 0)
    assert np.max(np.abs(ours.astype(int) - expected)) <= 1


def test_32bit_rgb_against_pydicom() -> None:
    path = testdata.test_file("SC_rgb_32bit.dcm")  # dcmtk refuses 32-bit RGB
    ds = pydicom.dcmread(path)
    ours = DicomImage(path).render(0)
    assert np.array_equal(ours, (ds.pixel_array.astype(np.int64) >> 24).astype(np.uint8))


def test_partial_range_vector() -> None:
    # PS3.3 C.7.6.3.1.2 YBR_PARTIAL_422: RGB (255,0,0) -> Y 81, Cb 90, Cr 240 -> back within 1
    ybr = np.array([[81, 90, 240], [16, 128, 128], [235, 128, 128]], dtype=np.uint8)
    assert ybr_partial_to_rgb(ybr).tolist() == [[254, 0, 0], [0, 0, 0], [255, 255, 255]]
    wide = ybr.astype(np.uint16) << 4  # the same colours at 12 bits
    assert (ybr_partial_to_rgb(wide, 12) >> 4).tolist() == [[254, 0, 0], [0, 0, 0], [255] * 3]


def _as_partial_422(source: str, path: Path, bits: int) -> Dataset:
    """``source``'s first frame as native YBR_PARTIAL_422 samples of ``bits`` bits."""
    ds = pydicom.dcmread(testdata.test_file(source))
    rgb = ds.pixel_array.astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.2568 * r + 0.5041 * g + 0.0979 * b + 16
    cb = -0.1482 * r - 0.2910 * g + 0.4392 * b + 128
    cr = 0.4392 * r - 0.3678 * g - 0.0714 * b + 128
    scale = 1 << (bits - 8)
    quads = np.stack([y[:, 0::2], y[:, 1::2], (cb[:, 0::2] + cb[:, 1::2]) / 2,
                      (cr[:, 0::2] + cr[:, 1::2]) / 2], axis=-1)
    dtype = np.uint8 if bits == 8 else np.dtype("<u2")
    ds.PixelData = np.floor(quads * scale + 0.5).astype(dtype).tobytes()
    ds.PhotometricInterpretation = "YBR_PARTIAL_422"
    ds.BitsAllocated = ds.BitsStored = 8 if bits == 8 else 16
    ds.BitsStored, ds.HighBit = bits, bits - 1
    ds.save_as(path, enforce_file_format=True)
    return ds


@pytest.mark.parametrize("bits", [8, 12])
def test_native_partial_422_matches_dcmtk(tmp_path: Path, bits: int) -> None:
    # retired, but old ultrasound machines wrote it uncompressed; dcmtk shows it in colour
    path = tmp_path / "partial.dcm"
    _as_partial_422("SC_rgb.dcm", path, bits)
    ours = DicomImage(path).render(0)
    oracle = dcmj2pnm(path, tmp_path / "out.ppm")
    assert ours.shape == oracle.shape
    assert np.max(np.abs(ours.astype(int) - oracle)) <= 2
    source = pydicom.dcmread(testdata.test_file("SC_rgb.dcm")).pixel_array.astype(int)
    # SC_rgb's colour bars keep their colour through the 4:2:2 round trip
    assert np.max(np.abs(ours.astype(int) - source)) <= 2


PALETTE_FILES = [
    ("OBXXXX1A.dcm", 0),
    ("OBXXXX1A_2frame.dcm", 1),
    ("examples_palette.dcm", 0),
    ("OBXXXX1A_expb.dcm", 0),
]


@pytest.mark.parametrize(("name", "frame"), PALETTE_FILES)
def test_palette_colour_matches_dcmtk_and_pydicom(tmp_path: Path, name: str, frame: int) -> None:
    path = testdata.test_file(name)
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1)) > 1:
        stored = stored[frame]
    palette = read_palette(ds)
    assert palette is not None
    ours = apply_palette(stored, palette)
    oracle = dcmj2pnm(path, tmp_path / "out.ppm", "+F", str(frame + 1))
    assert np.max(np.abs(ours.astype(int) - oracle)) <= 1
    if ds.file_meta.TransferSyntaxUID.is_little_endian:
        # pydicom 3.0.2 reads big endian LUT data as little endian; dcmtk above covers that case
        pyd = apply_color_lut(stored, ds).astype(np.int64) >> 8
        assert np.array_equal(ours, pyd)


def test_segmented_16bit_palette_against_pydicom() -> None:
    # gdcm-US-ALOKA-16: 65536-entry segmented 16-bit palette (descriptor 0 = 65536);
    # dcmtk cannot read it ("empty LookupTableData"), so pydicom is the oracle.
    ds = pydicom.dcmread(testdata.test_file("gdcm-US-ALOKA-16.dcm"))
    palette = read_palette(ds)
    assert palette is not None
    assert len(palette.red.entries) == 65536 and palette.red.bits == 16
    stored = ds.pixel_array
    ours = apply_palette(stored, palette)
    pyd = apply_color_lut(stored, ds).astype(np.int64) >> 8
    assert np.array_equal(ours, pyd)


def test_expand_segmented_opcodes() -> None:
    # discrete 3 values, linear 4 steps to 40, indirect: replay 2 segments from byte offset 0
    words = [0, 3, 0, 10, 20, 1, 4, 40, 2, 2, 0, 0]
    out = expand_segmented(words, bytes_per_word=2)
    assert out.tolist() == [0, 10, 20, 25, 30, 35, 40, 0, 10, 20, 25, 30, 35, 40]
    # The same stream as 8-bit words: the offset is 4 bytes, low word first
    bytes_stream = [0, 3, 0, 10, 20, 1, 4, 40, 2, 2, 0, 0, 0, 0]
    assert expand_segmented(bytes_stream, bytes_per_word=1).tolist() == out.tolist()
    # a flat linear segment and a trailing pad word
    assert expand_segmented([0, 1, 7, 1, 3, 7, 0]).tolist() == [7, 7, 7, 7]


@pytest.mark.parametrize(
    ("words", "words_in_error"),
    [
        ([1, 4, 40], "first"),
        ([2, 1, 0, 0], "first"),
        ([5, 1, 0], "opcode"),
        ([0, 5, 1, 2], "past"),
        ([0, 1, 9, 2, 1, 40, 0], "earlier"),
    ],
)
def test_expand_segmented_errors(words: list[int], words_in_error: str) -> None:
    with pytest.raises(ValueError, match=words_in_error):
        expand_segmented(words)


def test_palette_clamps_outside_the_table() -> None:
    channel = PaletteChannel(10, np.array([0, 0x8000, 0xFFFF]), 16)
    palette = PaletteLut(channel, channel, channel)
    out = apply_palette(np.array([[0, 10, 11, 12, 500]]), palette)
    assert out[0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_supplemental_palette_ect() -> None:
    # eCT_Supplemental.dcm: MONOCHROME2 + palette from 1024 (100 entries), Pixel Presentation
    # COLOR in the shared functional groups. pydicom refuses it and dcmtk ignores the palette,
    # so the oracle is pydicom's plain palette lookup on a copy stripped of Pixel Presentation.
    ds = pydicom.dcmread(testdata.test_file("eCT_Supplemental.dcm"))
    assert is_supplemental(ds, 0)
    palette = read_palette(ds)
    assert palette is not None and palette.first_mapped == 1024
    stored = ds.pixel_array[0]
    # grayscale stand-in: any 8-bit rendering works, the test only checks where each comes from
    gray = (stored.astype(np.int64) * 255 // max(int(stored.max()), 1)).astype(np.uint8)
    out = apply_supplemental(stored, gray, palette)
    coloured = stored >= 1024
    assert 0 < coloured.sum() < stored.size
    assert np.array_equal(out[~coloured], np.repeat(gray[~coloured, None], 3, axis=-1))
    plain = pydicom.dcmread(testdata.test_file("eCT_Supplemental.dcm"))
    del plain.PixelPresentation
    expected = apply_color_lut(stored, plain).astype(np.int64) >> 8
    assert np.array_equal(out[coloured], expected[coloured])
    # an RGB grayscale input works the same
    rgb_gray = np.repeat(gray[..., None], 3, axis=-1)
    assert np.array_equal(apply_supplemental(stored, rgb_gray, palette), out)


def _palette_image(tmp_path: Path, desc: list[int], lut: bytes, stored: np.ndarray) -> Path:
    ds = monochrome_dataset(stored, bits_stored=12 if stored.dtype.itemsize == 2 else None)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    for colour, shift in (("Red", 0), ("Green", 1), ("Blue", 2)):
        ds.add_new(
            pydicom.datadict.tag_for_keyword(f"{colour}PaletteColorLookupTableDescriptor"),
            "US",
            desc,
        )
        data = np.roll(np.frombuffer(lut, dtype=np.uint8), shift * 2).tobytes()
        ds.add_new(
            pydicom.datadict.tag_for_keyword(f"{colour}PaletteColorLookupTableData"), "OW", data
        )
    path = tmp_path / "palette.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("desc", "entry_dtype", "entries"),
    [
        ([300, 100, 16], "<u2", np.linspace(0, 65535, 300).astype(np.uint16)),
        ([300, 100, 8], "<u2", np.linspace(0, 255, 300).astype(np.uint16)),  # one per word
        ([256, 0, 8], "u1", np.arange(256, dtype=np.uint8)[::-1]),  # two per word
    ],
    ids=["16-bit", "8-bit one per word", "8-bit packed"],
)
def test_generated_palette_images_match_dcmtk(
    tmp_path: Path, desc: list[int], entry_dtype: str, entries: np.ndarray
) -> None:
    # 12-bit stored values 0..4095: below the first mapped value and beyond the last entry
    stored = (np.arange(64 * 64) % 4096).astype(np.uint16).reshape(64, 64)
    if desc[1] == 0:
        stored = (stored % 256).astype(np.uint8)
    path = _palette_image(tmp_path, desc, entries.astype(entry_dtype).tobytes(), stored)
    ds = pydicom.dcmread(path)
    palette = read_palette(ds)
    assert palette is not None
    assert len(palette.red.entries) == desc[0]
    ours = apply_palette(ds.pixel_array, palette)
    oracle = dcmj2pnm(path, tmp_path / "out.ppm")
    assert np.array_equal(ours, oracle)
