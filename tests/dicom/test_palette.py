"""Reading palette colour LUTs: pydicom's bundled palettes, real images and generated quirks."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from tests.support import testdata
from viewer.core.errors import InputFileError
from viewer.dicom.palette import is_supplemental, pixel_presentation, read_palette

BUNDLED = [
    "spring.dcm",
    "summer.dcm",
    "fall.dcm",
    "winter.dcm",  # segmented
    "hotiron.dcm",
    "pet.dcm",
    "hotmetalblue.dcm",
    "pet20step.dcm",
]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_palettes_match_pydicom(name: str) -> None:
    ds = pydicom.dcmread(testdata.palette_file(name))
    palette = read_palette(ds)
    assert palette is not None
    assert palette.uid == ds.PaletteColorLookupTableUID
    assert len(palette.red.entries) == 256 and palette.red.bits == 8
    expected = apply_color_lut(np.arange(256), ds)
    for k, channel in enumerate((palette.red, palette.green, palette.blue)):
        assert channel.first_mapped == 0
        assert channel.entries.tolist() == expected[:, k].tolist()


def test_segmented_palettes_are_segmented() -> None:
    ds = pydicom.dcmread(testdata.palette_file("spring.dcm"))
    assert "SegmentedRedPaletteColorLookupTableData" in ds
    palette = read_palette(ds)
    assert palette is not None
    assert palette.red.entries.tolist() == [255] * 256  # spring: red is full throughout
    assert palette.green.entries[[0, 255]].tolist() == [0, 255]


def test_monochrome_image_has_no_palette() -> None:
    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"))
    assert read_palette(ds) is None
    assert not is_supplemental(ds)


def _palette_ds(desc: list[int], data: bytes, pixel_rep: int = 0) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.PixelRepresentation = pixel_rep
    for colour in ("Red", "Green", "Blue"):
        ds[f"{colour}PaletteColorLookupTableDescriptor"] = pydicom.DataElement(
            pydicom.datadict.tag_for_keyword(f"{colour}PaletteColorLookupTableDescriptor"),
            "US",
            desc,
        )
        setattr(ds, f"{colour}PaletteColorLookupTableData", data)
    return ds


def test_signed_first_mapped_value() -> None:
    # Pixel Representation 1: the 2nd descriptor value is SS; -128 read as US is 65408.
    data = np.arange(256, dtype="<u2").tobytes()
    palette = read_palette(_palette_ds([256, 65408, 8], data, pixel_rep=1))
    assert palette is not None
    assert palette.first_mapped == -128
    assert palette.red.lookup(np.array([-200, -128, 0, 127, 300])).tolist() == [0, 0, 128, 255, 255]
    unsigned = read_palette(_palette_ds([256, 65408, 8], data, pixel_rep=0))
    assert unsigned is not None and unsigned.first_mapped == 65408


def test_zero_entries_means_65536() -> None:
    data = np.arange(65536, dtype="<u2").tobytes()
    palette = read_palette(_palette_ds([0, 0, 16], data))
    assert palette is not None
    assert len(palette.red.entries) == 65536
    assert palette.red.lookup8(np.array([0, 0x1234, 0xFFFF])).tolist() == [0, 0x12, 0xFF]


def test_eight_bit_entries_packed_and_one_per_word() -> None:
    values = np.array([0, 10, 20, 255], dtype=np.uint8)
    packed = read_palette(_palette_ds([4, 0, 8], values.tobytes()))
    per_word = read_palette(_palette_ds([4, 0, 8], values.astype("<u2").tobytes()))
    assert packed is not None and per_word is not None
    assert packed.red.entries.tolist() == per_word.red.entries.tolist() == [0, 10, 20, 255]
    # odd number of packed entries, padded to an even length
    odd = read_palette(_palette_ds([3, 0, 8], bytes([1, 2, 3, 0])))
    assert odd is not None and odd.red.entries.tolist() == [1, 2, 3]


def test_eight_bit_descriptor_with_sixteen_bit_data() -> None:
    data = np.array([0, 0x8000, 0xFF00], dtype="<u2").tobytes()
    palette = read_palette(_palette_ds([3, 0, 8], data))
    assert palette is not None
    assert palette.red.bits == 16
    assert palette.red.lookup8(np.array([0, 1, 2])).tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("desc", "data", "words"),
    [
        ([4, 0, 8], bytes(3), "holds 3 bytes"),
        ([4, 0, 12], bytes(8), "12 bits"),
        ([4, 0], bytes(8), "instead of 3"),
    ],
)
def test_malformed_palettes_name_the_file(desc: list[int], data: bytes, words: str) -> None:
    ds = _palette_ds(desc, data)
    ds.filename = "broken.dcm"
    with pytest.raises(InputFileError, match=words) as info:
        read_palette(ds)
    assert str(info.value).startswith("broken.dcm: ")


def test_missing_channel_is_an_error() -> None:
    ds = _palette_ds([4, 0, 8], bytes(8))
    del ds.BluePaletteColorLookupTableDescriptor
    with pytest.raises(InputFileError, match="some channels"):
        read_palette(ds)


def test_pixel_presentation_mixed_per_frame() -> None:
    ds = pydicom.dcmread(testdata.test_file("eCT_Supplemental.dcm"))
    assert pixel_presentation(ds) == "COLOR"
    ds.PixelPresentation = "MIXED"
    del ds.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence
    frames = []
    for value in ("MONOCHROME", "COLOR"):
        item = Dataset()
        frame_type = Dataset()
        frame_type.PixelPresentation = value
        item.CTImageFrameTypeSequence = [frame_type]
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = frames
    assert pixel_presentation(ds, 0) == "MONOCHROME"
    assert pixel_presentation(ds, 1) == "COLOR"
    assert not is_supplemental(ds, 0)
    assert is_supplemental(ds, 1)
