"""``lightbox render`` on bad input: one line naming the file and the problem, status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.support.testdata import test_file as data_file
from viewer.cli import main as cli_main


def _image(rows: int = 4, cols: int = 4) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.arange(rows * cols, dtype="<u2").tobytes()
    return ds


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return path


def _truncated(tmp: Path) -> Path:
    path = _save(_image(), tmp / "trunc.dcm")
    path.write_bytes(path.read_bytes()[:-10])
    return path


def _no_pixels(tmp: Path) -> Path:
    ds = _image()
    del ds.PixelData
    return _save(ds, tmp / "nopix.dcm")


def _bits(tmp: Path) -> Path:
    ds = _image()
    ds.BitsStored = 17
    return _save(ds, tmp / "bits.dcm")


def _unknown_ts(tmp: Path) -> Path:
    ds = _image()
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"
    return _save(ds, tmp / "ts.dcm")


def _wrong_vr(tmp: Path) -> Path:
    ds = _image()
    ds.add_new(0x00280010, "LO", "four")  # Rows must be US
    return _save(ds, tmp / "vr.dcm")


def _not_dicom(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("this is not a DICOM file\n" * 20)
    return path


def _hsv(tmp: Path) -> Path:
    ds = _image()
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "HSV"  # retired: shown as RGB, red came out cyan
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = np.tile(np.array([0, 255, 255], np.uint8), 16).tobytes()
    return _save(ds, tmp / "hsv.dcm")


def _mislabelled(tmp: Path) -> Path:
    from pydicom.encaps import encapsulate

    ds = _image()
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(30) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    path = _save(ds, tmp / "mislabelled.dcm")  # a native syntax named for JPEG data
    # As an encapsulating writer leaves it: undefined length, a sequence delimiter.
    data = bytearray(path.read_bytes())
    at = data.rindex(b"\xe0\x7f\x10\x00OB\x00\x00") + 8
    data[at:at + 4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data) + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    return path


CASES = [
    (_truncated, "truncated"),
    (_no_pixels, "no Pixel Data"),
    (_bits, "Bits Stored 17"),
    (_unknown_ts, "transfer syntax 1.2.3.4.5.6.7"),
    (_wrong_vr, "Rows (0028,0010) has VR LO"),
    (_not_dicom, "not a DICOM file"),
    (_mislabelled, "its Pixel Data is encapsulated (compressed), but its transfer syntax "
                   "Explicit VR Little Endian is not"),
    (_hsv, "Photometric Interpretation HSV (retired, PS3.3 C.7.6.3.1.2) is not shown"),
]


@pytest.mark.parametrize(("make", "problem"), CASES, ids=[c[1] for c in CASES])
def test_bad_input_one_line_status_2(make, problem: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path)
    status = cli_main(["render", str(path), "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and str(path) in err and problem in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_frame_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_file("emri_small.dcm")
    status = cli_main(["render", str(path), "-o", str(tmp_path / "o.png"), "--frame", "11"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and str(path) in err and "frame 11 asked for, the file has 10" in err


def test_missing_window_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_file("MR_small.dcm")
    status = cli_main(["render", str(path), "-o", str(tmp_path / "o.png"), "--voi", "3"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and str(path) in err and "window 3 asked for" in err


@pytest.mark.parametrize("broken", ["truncated", "JPEG2000-embedded-sequence-delimiter.dcm"])
def test_subprocess_bad_input_has_no_traceback(tmp_path: Path, broken: str) -> None:
    path = _truncated(tmp_path) if broken == "truncated" else data_file(broken)
    result = subprocess.run([sys.executable, "-m", "viewer", "render", str(path), "-o",
                             str(tmp_path / "o.png")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_header_text_reaches_the_terminal_written_out(tmp_path: Path) -> None:
    # A Photometric Interpretation holding an OSC sequence retitled the terminal through
    # the warning and the error line; file names and header values are written out.
    import pydicom

    ds = pydicom.dcmread(data_file("SC_rgb.dcm"))
    ds.PhotometricInterpretation = "RGB\x1b]0;RETITLED\x07"
    path = tmp_path / "photo\x1b[2J.dcm"
    ds.save_as(path)
    result = subprocess.run([sys.executable, "-m", "viewer", "render", str(path), "-o",
                             str(tmp_path / "x.png"), "--window", "40", "400"],
                            capture_output=True, timeout=120)
    assert result.returncode == 2
    assert b"\x1b" not in result.stderr and b"\x07" not in result.stderr
    assert b"\\x1b]0;RETITLED\\x07" in result.stderr
    assert b"photo\\x1b[2J.dcm" in result.stderr
