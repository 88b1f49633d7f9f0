"""Per-frame decoding: every transfer syntax, masking, 1-bit and 32-bit data (spec §1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

from tests.support.testdata import test_file as data_file
from viewer.core.errors import InputFileError
from viewer.dicom.frames import FrameSource, mask_stored

RAW = [0x0000, 0x0FFF, 0x0800, 0x07FF, 0xF800, 0xA123, 0x1001]

# One file per transfer syntax; expected = pydicom's own full decode of the same file.
PER_SYNTAX = [
    "MR_small_implicit.dcm",  # implicit VR LE
    "MR_small.dcm",  # explicit VR LE
    "MR_small_bigendian.dcm",  # explicit VR BE
    "image_dfl.dcm",  # deflated
    "MR_small_RLE.dcm",  # RLE
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "JPGExtended.dcm",  # JPEG extended 12-bit
    "JPGLosslessP14SV1_1s_1f_8b.dcm",  # JPEG lossless SV1
    "JPEG-LL.dcm",  # JPEG lossless process 14
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
    "JPEGLSNearLossless_16.dcm",  # JPEG-LS near lossless
    "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
    "MR2_J2KI.dcm",  # JPEG 2000
    "liver.dcm",  # 1-bit, frames not byte aligned
    "rtdose.dcm",  # 32-bit
    "emri_small_big_endian.dcm",  # 12 of 16 bits, big endian, multi-frame
]


@pytest.mark.parametrize("name", PER_SYNTAX)
def test_last_frame_equals_pydicom(name: str) -> None:
    path = data_file(name)
    source = FrameSource(path)
    last = source.number_of_frames - 1
    ref = pydicom.dcmread(path).pixel_array
    if source.number_of_frames > 1:
        ref = ref[last]
    assert np.array_equal(source.frame(last), ref)


def test_spec_masking_vectors() -> None:
    words = np.array(RAW, dtype=np.uint16)
    assert mask_stored(words, 12, False).tolist() == [0, 4095, 2048, 2047, 2048, 291, 1]
    signed = mask_stored(words.view(np.int16), 12, True)
    assert signed.tolist() == [0, -1, -2048, 2047, -2048, 291, 1]


def _write(path: Path, ds: Dataset, ts: str = ExplicitVRLittleEndian) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def _mono(rows: int, cols: int, frames: int, words: np.ndarray, signed: bool) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = int(signed)
    ds.PixelData = words.astype("<u2").tobytes()
    return ds


@pytest.mark.parametrize("signed", [False, True])
def test_garbage_high_bits_are_masked_but_kept_in_raw_words(tmp_path: Path, signed: bool) -> None:
    words = np.array([*RAW, 0], dtype=np.uint16)
    path = _write(tmp_path / "m.dcm", _mono(2, 4, 1, words, signed))
    source = FrameSource(path)
    expected = [0, -1, -2048, 2047, -2048, 291, 1, 0] if signed else \
        [0, 4095, 2048, 2047, 2048, 291, 1, 0]
    assert source.frame(0).ravel().tolist() == expected
    assert source.raw_words(0).ravel().tolist() == words.tolist()


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("high_bit", [15, 13, 12])
def test_the_value_is_read_below_high_bit(tmp_path: Path, signed: bool, high_bit: int,
                                          ts: str) -> None:
    # PS3.5 8.1.1: the value is bits High Bit - Bits Stored + 1 .. High Bit of its cell;
    # older native files put a 12-bit value in the top of the word. Read from bit 0, as
    # pydicom reads it, the image was noise.
    values = np.array([0, 1, 2047, -2048 if signed else 2048, -1 if signed else 4095, 291,
                       -300 if signed else 300, 5])
    low = high_bit - 11
    garbage = np.arange(8) % (1 << low) if low else np.zeros(8, dtype=int)
    words = ((values & 0xFFF) << low) | garbage | (0x4000 if high_bit == 13 else 0)
    ds = _mono(2, 4, 1, words, signed)
    ds.HighBit = high_bit
    source = FrameSource(_write(tmp_path / "m.dcm", ds, ts))
    assert source.layout.low_bit == low
    assert source.frame(0).ravel().tolist() == values.tolist()
    out = np.empty((2, 4), dtype=np.int16 if signed else np.uint16)
    source.frame_into(0, out)  # the volume's path: read into place, then shifted
    assert out.ravel().tolist() == values.tolist()


def test_a_high_bit_that_cannot_hold_bits_stored_is_taken_as_bits_stored_minus_1(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = _mono(2, 4, 1, np.arange(8), False)
    ds.HighBit = 9  # below Bits Stored - 1
    source = FrameSource(_write(tmp_path / "m.dcm", ds))
    assert source.layout.low_bit == 0 and "High Bit 9 does not fit" in caplog.text
    assert source.frame(0).ravel().tolist() == list(range(8))


@pytest.mark.parametrize(("rows", "cols", "frames"), [(7, 13, 3), (2, 3, 7), (11, 1, 9)])
def test_one_bit_frames_that_do_not_start_on_a_byte(tmp_path: Path, rows: int, cols: int,
                                                    frames: int) -> None:
    # PS3.5 8.1.1: 1-bit frames follow one another bit after bit; pydicom 3.0 read frame
    # 2 of a 2 x 3 image from the wrong bytes ("cannot reshape array of size 2").
    bits = np.random.default_rng(rows * cols).integers(0, 2, size=(frames, rows, cols))
    packed = np.packbits(bits.astype(np.uint8).ravel(), bitorder="little").tobytes()
    ds = Dataset()
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.PixelData = packed + b"\0" * (len(packed) % 2)
    source = FrameSource(_write(tmp_path / "bits.dcm", ds))
    for index in range(frames):
        assert source.frame(index).tolist() == bits[index].tolist(), index


def test_one_frame_decodes_without_the_others(tmp_path: Path) -> None:
    # frame 1 is complete, the file is cut inside frame 2: only frame 2 fails
    words = np.arange(3 * 8, dtype=np.uint16)
    path = _write(tmp_path / "cut.dcm", _mono(2, 4, 3, words, False))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 2 * 8 - 4])
    source = FrameSource(path)
    assert source.frame(0).ravel().tolist() == list(range(8))
    with pytest.raises(InputFileError, match="frame 3"):
        source.frame(2)


def test_frame_out_of_range_names_the_count() -> None:
    source = FrameSource(data_file("emri_small.dcm"))
    with pytest.raises(InputFileError, match="frame 11 asked for, the file has 10 frames"):
        source.frame(10)


def test_opening_reads_no_pixel_data(tmp_path: Path) -> None:
    # Pixel Data claims 10 frames but the file holds none: opening still succeeds
    words = np.zeros(8, dtype=np.uint16)
    path = _write(tmp_path / "short.dcm", _mono(2, 4, 10, words, False))
    source = FrameSource(path)
    assert source.number_of_frames == 10 and source.layout.rows == 2


def test_float_pixel_data(tmp_path: Path) -> None:
    ds = Dataset()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 2, 2, 1
    ds.PhotometricInterpretation, ds.BitsAllocated = "MONOCHROME2", 32
    values = np.array([[-1.5, 0.0], [2.25, 1e6]], dtype="<f4")
    ds.FloatPixelData = values.tobytes()
    source = FrameSource(_write(tmp_path / "f.dcm", ds))
    assert source.layout.is_float
    assert np.array_equal(source.frame(0), values)


def test_missing_photometric_and_bits_stored_default(tmp_path: Path) -> None:
    ds = _mono(2, 4, 1, np.arange(8, dtype=np.uint16), False)
    del ds.PhotometricInterpretation, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel
    source = FrameSource(_write(tmp_path / "acr.dcm", ds))
    assert source.layout.photometric == "MONOCHROME2" and source.layout.bits_stored == 16
    assert source.frame(0).ravel().tolist() == list(range(8))


def test_a_video_is_named_as_a_video(tmp_path: Path) -> None:
    # PS3.5 A.4.5-A.4.8: stored (import, the storage SCP), not decoded; the reason says so.
    from pydicom.uid import HEVCMP51, generate_uid

    from tests.support.video import write_video
    from viewer.core.errors import InputFileError

    path = write_video(tmp_path / "video.dcm", HEVCMP51, generate_uid())
    with pytest.raises(InputFileError, match=r"a video \(HEVC/H.265 Main Profile / Level 5.1\), "
                       r"which Lightbox stores but does not play"):
        FrameSource(path)


def test_a_truncated_native_frame_is_worded_alike_on_both_paths(tmp_path: Path) -> None:
    ds = pydicom.dcmread(data_file("emri_small.dcm"))  # 10 frames of 64x64, 16 bits
    frame_bytes = ds.Rows * ds.Columns * 2
    ds.PixelData = ds.PixelData[:frame_bytes * 3 + frame_bytes // 2]
    path = tmp_path / "cut.dcm"
    ds.save_as(path)
    size = path.stat().st_size
    source = FrameSource(path)
    expected = (rf"cut\.dcm.*is truncated: frame 4 has {frame_bytes // 2} of its "
                rf"{frame_bytes} bytes \(the file ends at byte {size}\)")
    with pytest.raises(InputFileError, match=expected):
        source.frame(3)
    out = np.empty((ds.Rows, ds.Columns), source.frame(0).dtype)
    with pytest.raises(InputFileError, match=expected):  # the series loader's path
        source.frame_into(3, out)  # it said "the file has 4096" of a 29 kB file


def test_an_encapsulated_file_short_of_its_frames_names_the_frame(tmp_path: Path) -> None:
    ds = pydicom.dcmread(data_file("emri_small_RLE.dcm"))
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=10))
    ds.PixelData = pydicom.encaps.encapsulate(frames[:9])  # offsets for 9 of 10
    path = tmp_path / "nine.dcm"
    ds.save_as(path)
    source = FrameSource(path)
    assert np.array_equal(source.frame(8), pydicom.dcmread(data_file("emri_small_RLE.dcm"))
                          .pixel_array[8])
    with pytest.raises(InputFileError,
                       match=r"nine\.dcm.*frame 10 cannot be found in its encapsulated"):
        source.frame(9)
    out = np.empty(*source.frame_geometry())  # type: ignore[misc]
    with pytest.raises(InputFileError, match="frame 10 cannot be found"):
        source.frame_into(9, out)


@pytest.mark.parametrize("planar", [0, 1])
def test_ybr_full_with_16_bits_is_converted_by_the_standards_formula(
        tmp_path: Path, planar: int) -> None:
    # pydicom converts 8-bit YCbCr only: the frame was refused as undecodable.
    rng = np.random.default_rng(9)
    ybr = rng.integers(0, 4096, (8, 6, 3), dtype=np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PlanarConfiguration = 8, 6, 3, planar
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    cells = ybr | np.uint16(0xA000)  # bits above Bits Stored are not the value's
    ds.PixelData = (cells.transpose(2, 0, 1) if planar else cells).astype("<u2").tobytes()
    path = tmp_path / "ybr16.dcm"
    ds.save_as(path, enforce_file_format=True)
    y, cb, cr = (ybr[..., i].astype(float) for i in range(3))
    cb, cr = cb - 2048, cr - 2048
    expected = np.clip(np.floor(np.stack(
        [y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1) + 0.5),
        0, 4095)
    got = FrameSource(path).frame(0)
    assert got.shape == (8, 6, 3)
    np.testing.assert_allclose(got, expected, atol=1)  # PS3.3 C.7.6.3.1.2, T.871
