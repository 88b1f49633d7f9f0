"""An encapsulated frame is checked against its header before a decoder allocates for it.

Decoders allocate what the codestream declares. Before this check, a 10 KB file whose
codestream claimed 60000 x 60000 pixels took 21 GB (JPEG 2000), 24 GB and the process
was killed (JPEG), or 6 GB and two minutes without an end (JPEG-LS). The damaged frames
here claim 12000 x 12000: enough to show the check, small enough that a regression fails
the test without exhausting the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import RLELossless

from tests.support import testdata
from viewer.core.errors import InputFileError
from viewer.dicom.codestream import MOST_DECODED_BYTES, frame_problem, j2k_size, jpeg_size
from viewer.dicom.frames import FrameSource

# Marker, and the offset of (rows, columns) from it, in each codestream's header.
_DIMENSIONS = {
    "SC_rgb_jpeg_dcmtk.dcm": (b"\xff\xc0", 5, 2),  # ISO/IEC 10918-1 B.2.2 SOF0
    "JPEGLSNearLossless_16.dcm": (b"\xff\xf7", 5, 2),  # ISO/IEC 14495-1 SOF55
    "JPEG2000.dcm": (b"\xff\x51", 6, 4),  # ISO/IEC 15444-1 A.5.1 SIZ: Xsiz, Ysiz
}


def _resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def _claiming(name: str, size: int, folder: Path) -> Path:
    """The test file with its codestream claiming ``size`` x ``size`` pixels."""
    ds = pydicom.dcmread(testdata.test_file(name))
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    marker, offset, width = _DIMENSIONS[name]
    at = frame.index(marker) + offset
    if width == 2:
        frame[at:at + 4] = size.to_bytes(2, "big") * 2
    else:  # J2K: Xsiz then Ysiz, the offsets (XOsiz, YOsiz) stay 0
        frame[at:at + 8] = size.to_bytes(4, "big") * 2
    ds.PixelData = encapsulate([bytes(frame)])
    path = folder / name
    ds.save_as(path)
    return path


def test_codestream_sizes_agree_with_the_headers_of_real_files() -> None:
    checked = 0
    for path in testdata.all_test_files():
        try:
            ds = pydicom.dcmread(path)
            syntax = ds.file_meta.TransferSyntaxUID
            if not syntax.is_compressed or syntax == RLELossless or "PixelData" not in ds:
                continue
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            frame = next(generate_frames(ds.PixelData, number_of_frames=frames))
        except Exception:  # pydicom's deliberately broken files
            continue
        size = jpeg_size(frame) if frame[:2] == b"\xff\xd8" else j2k_size(frame)
        if size is not None and path.name != "JPEG2000-embedded-sequence-delimiter.dcm":
            assert size == (ds.Rows, ds.Columns), path.name
            checked += 1
    assert checked >= 40  # JPEG baseline, extended and lossless, JPEG-LS, JPEG 2000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.parametrize("name", sorted(_DIMENSIONS))
def test_a_codestream_larger_than_its_header_is_refused_before_decoding(
        name: str, tmp_path: Path) -> None:
    source = FrameSource(_claiming(name, 12000, tmp_path))
    before = _resident()
    with pytest.raises(InputFileError, match="codestream is 12000x12000 pixels, the header"):
        source.frame(0)
    assert _resident() - before < 64 * 1024 * 1024


def test_an_rle_frame_too_short_for_its_header_is_refused(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata.test_file("MR_small_RLE.dcm"))
    ds.Rows = ds.Columns = 4000  # PackBits cannot make 32 MB of its few kilobytes
    ds.save_as(tmp_path / "rle.dcm")
    with pytest.raises(InputFileError, match="bytes of RLE, which cannot decode to"):
        FrameSource(tmp_path / "rle.dcm").frame(0)


def test_a_frame_beyond_any_image_is_refused_and_real_ones_are_not() -> None:
    assert "would decode to" in frame_problem("1.2.840.10008.1.2.4.50", b"\xff\xd8",
                                              40000, 40000, MOST_DECODED_BYTES + 1)
    mammogram = 4096 * 5120 * 2  # the largest single frames in practice
    assert frame_problem("1.2.840.10008.1.2.4.70", b"", 5120, 4096, mammogram) == ""


def test_real_encapsulated_frames_still_decode() -> None:
    for name in sorted(_DIMENSIONS):
        arr = FrameSource(testdata.test_file(name)).frame(0)
        ds = pydicom.dcmread(testdata.test_file(name), stop_before_pixels=True)
        assert arr.shape[:2] == (ds.Rows, ds.Columns) and np.any(arr)


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "JPEGLSNearLossless_16.dcm",
                                  "JPEG-LL.dcm"])
@pytest.mark.parametrize("keep", [0.97, 0.8])
def test_a_jpeg_file_cut_short_is_refused_not_filled_in(
        name: str, keep: float, tmp_path: Path) -> None:
    """An interrupted copy: the decoders made up the missing rows without a word."""
    data = testdata.test_file(name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[:int(len(data) * keep)])
    source = FrameSource(cut)
    with pytest.raises(InputFileError, match=r"frame 1 is cut short: its JPEG codestream"):
        source.frame(0)
    out = np.empty(*source.frame_geometry()) if source.frame_geometry() else None
    if out is not None:  # the series loader's fast path refuses it too
        with pytest.raises(InputFileError, match="is cut short"):
            source.frame_into(0, out)


def test_a_jpeg_codestream_cut_inside_whole_items_is_refused(tmp_path: Path) -> None:
    ds = pydicom.dcmread(testdata.test_file("JPEG-LL.dcm"))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[:len(frame) * 9 // 10]])  # the items' lengths agree
    ds.save_as(tmp_path / "cut.dcm")
    with pytest.raises(InputFileError, match="cut short"):
        FrameSource(tmp_path / "cut.dcm").frame(0)


def test_a_whole_jpeg_frame_padded_after_its_end_marker_still_decodes(tmp_path: Path) -> None:
    # Some writers pad a frame's last fragment (NULs to a block, FF fill bytes): the
    # frame is whole, and must not be taken for one cut short.
    ds = pydicom.dcmread(testdata.test_file("JPEG-LL.dcm"))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    expected = FrameSource(testdata.test_file("JPEG-LL.dcm")).frame(0)
    for padding in (b"\0" * 32, b"\xff\xff\0\0"):
        ds.PixelData = encapsulate([frame + padding])
        ds.save_as(tmp_path / "padded.dcm")
        np.testing.assert_array_equal(FrameSource(tmp_path / "padded.dcm").frame(0), expected)


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "JPEGLSNearLossless_16.dcm",
                                  "JPGLosslessP14SV1_1s_1f_8b.dcm"])
def test_a_codestream_too_small_for_its_size_is_refused_before_decoding(
        tmp_path: Path, name: str) -> None:
    # A few hundred bytes whose frame header claims 18000 x 18000: the decoders fill in
    # what is missing, and rendering it (a thumbnail too) took 4.5 GB and a minute.
    import struct

    ds = pydicom.dcmread(testdata.test_file(name))
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    sof = next(i for i in range(2, len(frame) - 9) if frame[i] == 0xFF
               and frame[i + 1] in (0xC0, 0xC1, 0xC3, 0xF7))
    grown = bytearray(frame)
    grown[sof + 5:sof + 9] = struct.pack(">HH", 18000, 18000)
    ds.PixelData = encapsulate([bytes(grown)])
    ds.Rows = ds.Columns = 18000
    path = tmp_path / "claims.dcm"
    ds.save_as(path)
    with pytest.raises(InputFileError, match="fewer than any 18000x18000 frame takes"):
        FrameSource(path).frame(0)
    # the real frames, each at its own size, are well above the bound
    assert frame_problem(ds.file_meta.TransferSyntaxUID, frame,
                         *pydicom.dcmread(testdata.test_file(name)).pixel_array.shape[:2],
                         1) == ""
