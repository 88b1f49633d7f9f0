"""Fast lossless decoders: bit-identical to pylibjpeg, sign and precision handled like pydicom."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from tests.support.series import (
    COMPRESSED_SYNTAXES,
    can_write,
    write_ct_series,
    write_mr_series,
    write_negative_ct,
)
from tests.support.series import _recompress as recompress
from tests.support.testdata import test_file as data_file
from viewer.core.errors import InputFileError
from viewer.dicom import codecs
from viewer.dicom.frames import FrameSource, mask_stored, mask_stored_inplace

pytest.importorskip("imagecodecs")

# Lossless grayscale files of pydicom's test data: name, transfer syntax, Bits Stored, signed.
REFERENCE = [
    ("693_J2KR.dcm", JPEG2000Lossless, 16, True),
    ("J2K_pixelrep_mismatch.dcm", JPEG2000Lossless, 13, True),  # J2K unsigned, PR 1
    ("MR2_J2KR.dcm", JPEG2000Lossless, 12, False),
    ("RG1_J2KR.dcm", JPEG2000Lossless, 15, False),
    ("RG3_J2KR.dcm", JPEG2000Lossless, 10, False),
    ("MR_small_jp2klossless.dcm", JPEG2000Lossless, 16, True),
    ("emri_small_jpeg_2k_lossless.dcm", JPEG2000Lossless, 12, False),
    ("JPEG-LL.dcm", JPEGLosslessSV1, 16, True),
    ("bad_sequence.dcm", JPEGLosslessSV1, 12, False),
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", JPEGLosslessSV1, 8, False),
    ("MR_small_jpeg_ls_lossless.dcm", JPEGLSLossless, 16, True),
    ("emri_small_jpeg_ls_lossless.dcm", JPEGLSLossless, 12, False),
    ("MR_small_RLE.dcm", RLELossless, 16, True),
    ("emri_small_RLE.dcm", RLELossless, 12, False),
]


def _pylibjpeg(path: Path, index: int) -> np.ndarray:
    """The baseline: pydicom's pylibjpeg plugin, then the same Bits Stored masking."""
    ds = pydicom.dcmread(path)
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    arr, _ = decoder.as_array(ds, index=index, decoding_plugin="pylibjpeg")
    return mask_stored(arr, int(ds.BitsStored), int(ds.PixelRepresentation) == 1)


@pytest.mark.parametrize(("name", "syntax", "bits_stored", "signed"), REFERENCE)
def test_reference_files_equal_pylibjpeg(
    name: str, syntax: str, bits_stored: int, signed: bool
) -> None:
    source = FrameSource(data_file(name))
    assert source.transfer_syntax == syntax
    assert (source.layout.bits_stored, source.layout.signed) == (bits_stored, signed)
    assert source.decoder_name.startswith("imagecodecs")
    for index in range(source.number_of_frames):
        ours = source.frame(index)
        ref = _pylibjpeg(source.path, index)
        assert ours.dtype == ref.dtype
        assert np.array_equal(ours, ref), f"frame {index + 1}"
        into = np.full_like(ref, 0x5A)
        source.frame_into(index, into)
        assert np.array_equal(into, ref)


def _syntax_id(uid: str) -> str:
    return UID(uid).keyword or uid


@pytest.mark.parametrize("syntax", COMPRESSED_SYNTAXES, ids=_syntax_id)
@pytest.mark.parametrize("bits_stored", [16, 12])
def test_signed_ct_equals_pylibjpeg_and_the_original(
    tmp_path: Path, syntax: str, bits_stored: int
) -> None:
    if not can_write(syntax):
        pytest.skip(f"no encoder for {syntax} here")
    plain = write_negative_ct(tmp_path / "plain", bits_stored)
    packed = tmp_path / "packed.dcm"
    shutil.copy(plain, packed)
    recompress([packed], syntax)
    source = FrameSource(packed)
    assert source.transfer_syntax == syntax
    assert source.decoder_name.startswith("imagecodecs")
    ours = source.frame(0)
    assert ours.dtype == np.int16
    assert ours[0, :4].tolist() == [-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1, -1, 0]
    assert np.array_equal(ours, _pylibjpeg(packed, 0))
    assert np.array_equal(ours, FrameSource(plain).frame(0))


@pytest.mark.parametrize("syntax", COMPRESSED_SYNTAXES, ids=_syntax_id)
def test_unsigned_mr_equals_pylibjpeg(tmp_path: Path, syntax: str) -> None:
    if not can_write(syntax):
        pytest.skip(f"no encoder for {syntax} here")
    (plain,) = write_mr_series(tmp_path / "plain", slices=1)
    (packed,) = write_mr_series(tmp_path / "packed", slices=1)
    recompress([packed], syntax)
    source = FrameSource(packed)
    assert source.transfer_syntax == syntax
    assert source.decoder_name.startswith("imagecodecs")
    assert not source.layout.signed
    assert np.array_equal(source.frame(0), _pylibjpeg(packed, 0))
    assert np.array_equal(source.frame(0), FrameSource(plain).frame(0))


@pytest.mark.skipif(shutil.which("dcmcjpeg") is None, reason="needs dcmtk's dcmcjpeg")
@pytest.mark.parametrize("selection", [2, 7])
def test_other_jpeg_lossless_predictors(tmp_path: Path, selection: int) -> None:
    # PS3.5 A.4.1: Process 14 with any predictor (1.2.840.10008.1.2.4.57)
    (plain,) = write_ct_series(tmp_path / "plain", slices=1, bits_stored=12)
    packed = tmp_path / "sv.dcm"
    subprocess.run(
        ["dcmcjpeg", "+el", "+sv", str(selection), str(plain), str(packed)],
        check=True,
        capture_output=True,
    )
    source = FrameSource(packed)
    assert source.transfer_syntax == JPEGLossless
    assert source.decoder_name.startswith("imagecodecs")
    assert np.array_equal(source.frame(0), _pylibjpeg(packed, 0))
    assert np.array_equal(source.frame(0), FrameSource(plain).frame(0))


def test_jpeg_precision_reads_the_frame_header() -> None:
    source = FrameSource(data_file("JPEG-LL.dcm"))
    ds = pydicom.dcmread(source.path)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    assert codecs.jpeg_precision(frame) == 16
    with pytest.raises(codecs.CodestreamError):
        codecs.jpeg_precision(b"\x00\x01garbage")
    with pytest.raises(codecs.CodestreamError):
        codecs.jpeg_precision(b"\xff\xd8\xff\xda\x00\x02")  # a scan with no frame header


def test_lossy_and_colour_frames_are_left_to_pydicom() -> None:
    assert (
        codecs.fast_decoder(
            JPEGBaseline8Bit, samples_per_pixel=1, photometric="MONOCHROME2", bits_allocated=8
        )
        is None
    )
    assert (
        codecs.fast_decoder(RLELossless, samples_per_pixel=3, photometric="RGB", bits_allocated=8)
        is None
    )
    assert (
        codecs.fast_decoder(
            RLELossless, samples_per_pixel=1, photometric="MONOCHROME2", bits_allocated=32
        )
        is None
    )
    colour = FrameSource(data_file("SC_rgb_rle.dcm"))
    assert colour.decoder_name.startswith("pydicom")
    assert np.array_equal(colour.frame(0), pydicom.dcmread(colour.path).pixel_array)


def test_pylibjpeg_is_asked_first_and_gdcm_never() -> None:
    for syntax in (JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, RLELossless):
        plugins = codecs.pydicom_plugins(UID(syntax))
        assert plugins[0] == "pylibjpeg"
        assert "gdcm" not in plugins
    assert codecs.pydicom_plugins(ExplicitVRLittleEndian) == ()
    names = codecs.decoder_names()
    assert set(names) == {UID(s).name for s in codecs._FAST}


def test_corrupt_rle_header_falls_back_and_names_the_file(tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path / "ct", slices=1, transfer_syntax=RLELossless)
    ds = pydicom.dcmread(path)
    frame = bytearray(next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)))
    # the second segment starts past the end: checked before imagecodecs sees it (it would
    # crash), then pydicom's plugins refuse it too
    frame[8:12] = (1 << 20).to_bytes(4, "little")
    ds.PixelData = pydicom.encaps.encapsulate([bytes(frame)])
    broken = tmp_path / "broken.dcm"
    ds.save_as(broken)
    source = FrameSource(broken)
    with pytest.raises(InputFileError, match=r"broken\.dcm.*frame 1 cannot be decoded"):
        source.frame(0)
    out = np.zeros((64, 64), np.int16)
    with pytest.raises(InputFileError, match=r"broken\.dcm"):
        source.frame_into(0, out)


def test_rle_header_is_checked_before_decoding() -> None:
    spec = codecs.FrameSpec(4, 4, 16, 16, True)
    out = np.zeros((4, 4), np.int16)
    good = struct.pack("<16I", 2, 64, 70, *([0] * 13)) + bytes([15] + [0] * 16)
    for header, problem in [
        (struct.pack("<16I", 1, 64, *([0] * 14)), "1 RLE segments for 2 bytes"),
        (struct.pack("<16I", 2, 64, 1 << 20, *([0] * 13)), "out of order or range"),
        (struct.pack("<16I", 2, 70, 64, *([0] * 13)), "out of order or range"),
        (struct.pack("<16I", 2, 10, 70, *([0] * 13)), "out of order or range"),
    ]:
        with pytest.raises(codecs.CodestreamError, match=problem):
            codecs._FAST[RLELossless][1](header + good[64:], out, spec)
    with pytest.raises(codecs.CodestreamError, match="truncated"):
        codecs._FAST[RLELossless][1](good[:20], out, spec)


@pytest.mark.parametrize("bits", [1, 5, 8, 12, 15, 16])
@pytest.mark.parametrize("signed", [False, True])
def test_mask_in_place_equals_mask_stored(bits: int, signed: bool) -> None:
    rng = np.random.default_rng(bits)
    words = rng.integers(0, 1 << 16, size=(7, 9), dtype=np.uint16)
    arr = words.view(np.int16) if signed else words
    expected = mask_stored(arr.copy(), bits, signed)
    result = mask_stored_inplace(arr.copy(), bits, signed)
    assert result.dtype == expected.dtype
    assert np.array_equal(result, expected)


def test_an_rle_segment_short_of_the_frame_is_refused_not_left_as_memory(
        tmp_path: Path) -> None:
    """The fast decoder left the pixels a short segment did not reach as they were in
    memory: values that changed with every decode, shown without a word."""
    (path,) = write_ct_series(tmp_path / "ct", slices=1, transfer_syntax=RLELossless)
    ds = pydicom.dcmread(path)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    low = struct.unpack_from("<16I", frame)[2]
    literal = bytes([127]) + bytes(range(128))  # 128 bytes of the low segment, not 4096
    short = struct.pack("<16I", 2, 64, low, *([0] * 13)) + frame[64:low] + literal + b"\x80"
    spec = codecs.FrameSpec(ds.Rows, ds.Columns, 16, 16, True)
    with pytest.raises(codecs.CodestreamError, match="RLE segment 2 decodes to 128 bytes"):
        codecs._FAST[RLELossless][1](short, np.empty((ds.Rows, ds.Columns), np.int16), spec)
    ds.PixelData = pydicom.encaps.encapsulate([short])
    ds.save_as(tmp_path / "short.dcm")
    source = FrameSource(tmp_path / "short.dcm")
    out = np.empty((ds.Rows, ds.Columns), np.int16)
    with pytest.raises(InputFileError, match=r"short\.dcm.*frame 1"):
        source.frame_into(0, out)
    with pytest.raises(InputFileError, match=r"short\.dcm.*frame 1"):
        source.frame(0)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "emri_small_RLE.dcm"])
def test_rle_frames_decode_to_pydicoms_values(name: str) -> None:
    source = FrameSource(data_file(name))
    assert source.decoder_name.startswith("imagecodecs")
    expected = pydicom.dcmread(source.path).pixel_array.reshape(-1, *source.frame(0).shape)
    for index, values in enumerate(expected):
        out = np.empty(*source.frame_geometry())  # type: ignore[misc]
        source.frame_into(index, out)
        assert np.array_equal(out, values)


@pytest.mark.skipif(shutil.which("dcmdjpeg") is None, reason="needs dcmtk's dcmdjpeg")
def test_a_12_bit_jpeg_pylibjpeg_refuses_decodes_as_dcmtk_does(tmp_path: Path) -> None:
    """JPEG-lossy.dcm bends ISO/IEC 10918-1 B.2.3 (Ss/Se of a sequential scan): it was
    refused, though dcmtk shows it."""
    source = FrameSource(data_file("JPEG-lossy.dcm"))
    decoded = tmp_path / "plain.dcm"
    subprocess.run(["dcmdjpeg", str(source.path), str(decoded)], check=True,
                   capture_output=True)
    np.testing.assert_array_equal(source.frame(0), pydicom.dcmread(decoded).pixel_array)
