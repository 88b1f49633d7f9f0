"""A deflated data set that inflates beyond reason is named, not inflated (PS3.5 A.5).

pydicom inflates a deflated data set whole, even to read only its header: a 2 MB file
holding 2 GiB of zeros took an import 4.3 GB. The file here inflates to 1.25 GiB, past
the bound, small enough that a regression fails the test without exhausting the machine.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

from tests.support import testdata
from viewer.core.errors import InputFileError
from viewer.dicom.frames import FrameSource
from viewer.dicom.header import read_header_bytes
from viewer.dicom.structure import MOST_INFLATED

ZEROS = 5 << 28  # 1.25 GiB of Pixel Data


def _resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = pydicom.dcmread(testdata.test_file("image_dfl.dcm"))
    header = source.copy()
    del header.PixelData
    header.Rows, header.Columns = 25600, 25600  # 16-bit: the 1.25 GiB below
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, header)
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    meta.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(meta, source.file_meta, enforce_standard=True)
    deflate = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [meta.getvalue(), deflate.compress(
        body.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, ZEROS))]
    zeros = bytes(64 << 20)
    parts += [deflate.compress(zeros) for _ in range(ZEROS // len(zeros))]
    parts.append(deflate.flush())
    path = tmp_path_factory.mktemp("deflate") / "bomb.dcm"
    path.write_bytes(b"".join(parts))
    assert ZEROS > MOST_INFLATED and path.stat().st_size < 8 << 20  # 6 MB
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_the_header_reader_names_it_without_inflating_it(bomb: Path) -> None:
    data = bomb.read_bytes()
    before = _resident()
    with pytest.raises(InputFileError, match="inflates to more than 1 GiB"):
        read_header_bytes(data, str(bomb))
    assert _resident() - before < 256 << 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_the_viewer_names_it_without_inflating_it(bomb: Path) -> None:
    before = _resident()
    with pytest.raises(InputFileError, match="inflates to more than 1 GiB"):
        FrameSource(bomb)
    assert _resident() - before < 256 << 20


def test_real_deflated_files_still_read() -> None:
    path = testdata.test_file("image_dfl.dcm")
    record = read_header_bytes(path.read_bytes(), str(path))
    frame = FrameSource(path).frame(0)
    assert frame.shape == (record.rows, record.columns)


def test_a_deflated_stream_followed_by_its_padding_byte_is_judged_at_once(
        tmp_path: Path) -> None:
    # PS3.5 A.5: an odd-length deflated stream is followed by one NUL. Inflated in pieces,
    # past 16 MiB, the check looped on that byte for ever (a conformant file hung import).
    import threading
    import zlib

    import numpy as np
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from viewer.dicom.structure import inflation_problem, read_meta

    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"))
    ds.Rows = ds.Columns = 3200
    for seed in range(20):
        pixels = np.zeros((3200, 3200), np.int16)
        pixels[0, :seed + 1] = np.arange(seed + 1)  # until the stream's length is odd
        ds.PixelData = pixels.tobytes()
        path = tmp_path / "deflated.dcm"
        ds.save_as(path, implicit_vr=False, little_endian=True)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(path)
        data = path.read_bytes()
        start, _ = read_meta(data)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflater.decompress(data[start:])
        if inflater.unused_data == b"\0":
            break
    else:
        pytest.skip("no odd-length stream in 20 tries")
    answer: list[str] = []
    worker = threading.Thread(target=lambda: answer.append(inflation_problem(data)),
                              daemon=True)
    worker.start()
    worker.join(60)
    assert answer == [""], "inflation_problem did not return"
