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
