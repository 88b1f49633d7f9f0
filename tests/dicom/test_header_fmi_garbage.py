"""A ``DICM`` prefix followed by a damaged File Meta Information is named as such.

Reading the data set from where a damaged group 0002 seemed to end gave "no SOP Instance
UID; not a DICOM instance" or an element of garbage "truncated": true, but no help to
whoever holds the file. The group (PS3.10 7.1) is named, with the byte where it stops
making sense. A group that reads but precedes a data set without a SOP Instance UID, and
a file cut short, keep their messages.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pydicom
import pytest

from tests.support.series import write_ct_series
from viewer.cli import main
from viewer.core.errors import InputFileError
from viewer.core.records import InstanceRecord
from viewer.dicom.header import read_header_bytes

UNREADABLE = "File Meta Information unreadable at byte"


@pytest.fixture
def ct(tmp_path: Path) -> bytes:
    """A sound Explicit VR Little Endian file written by pydicom."""
    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16)
    data = path.read_bytes()
    assert data[128:132] == b"DICM" and data[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
    return data


def _group_end(data: bytes) -> int:
    """Where the group ends by its Group Length (0002,0000), whose value is at byte 140."""
    return 144 + int(struct.unpack_from("<I", data, 140)[0])


def _element(data: bytes, element: int, vr: bytes) -> int:
    return data.index(struct.pack("<HH", 0x0002, element) + vr)


def _problem(data: bytes, file_size: int | None = None) -> str:
    with pytest.raises(InputFileError) as caught:
        read_header_bytes(data, "damaged.dcm", file_size)
    return caught.value.problem


@pytest.mark.parametrize("garbage", [
    bytes(range(256)) * 4, b"\xde\xad\xbe\xef" * 300, b"\0" * 1000,
    b"these are not the bytes you are looking for " * 30,
])
def test_garbage_after_dicm(ct: bytes, garbage: bytes) -> None:
    tag = "({:04X},{:04X})".format(*struct.unpack_from("<HH", garbage))
    assert _problem(ct[:132] + garbage) == (
        f"{UNREADABLE} 132: it starts with {tag}, not a group 0002 element")


def test_garbage_after_the_group_length(ct: bytes) -> None:
    damaged = ct[:144] + b"\x9c\x33\x71\x10" * 300
    assert _problem(damaged) == (
        f"{UNREADABLE} 144: (339C,1071) is not a group 0002 element, but the Group Length "
        f"(0002,0000) says the group ends at byte {_group_end(ct)}")


def test_a_long_element_length_that_runs_past_the_group(ct: bytes) -> None:
    at = _element(ct, 0x0001, b"OB")  # File Meta Information Version: 4-byte length
    damaged = ct[:at + 8] + struct.pack("<I", 0x7FFFFFFF) + ct[at + 12:]
    assert _problem(damaged) == (
        f"{UNREADABLE} {at}: element (0002,0001) OB declares 2147483647 bytes, past the "
        f"group's end at byte {_group_end(ct)}")


def test_a_short_element_length_that_runs_past_the_group(ct: bytes) -> None:
    at = _element(ct, 0x0010, b"UI")  # Transfer Syntax UID: 2-byte length
    damaged = ct[:at + 6] + struct.pack("<H", 0xFFF0) + ct[at + 8:]
    assert _problem(damaged) == (
        f"{UNREADABLE} {at}: element (0002,0010) UI declares 65520 bytes, past the "
        f"group's end at byte {_group_end(ct)}")


def test_an_implicit_vr_element_in_the_group(ct: bytes) -> None:
    at = _element(ct, 0x0010, b"UI")
    (length,) = struct.unpack_from("<H", ct, at + 6)
    # PS3.5 7.1.3 encoding (tag, 4-byte length) where PS3.10 7.1 requires explicit VR.
    damaged = ct[:at + 4] + struct.pack("<I", length) + ct[at + 8:]
    assert _problem(damaged) == (
        f"{UNREADABLE} {at}: element (0002,0010) has no explicit VR (bytes {length:02x} 00)")


def test_a_large_file_is_named_from_its_first_bytes(tmp_path: Path) -> None:
    # An import reads a large file's beginning first (with the size of the whole).
    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=256, cols=256)
    data = path.read_bytes()
    at = _element(data, 0x0001, b"OB")
    damaged = data[:at + 8] + struct.pack("<I", 0x7FFFFFFF) + data[at + 12:]
    expected = (f"{UNREADABLE} {at}: element (0002,0001) OB declares 2147483647 bytes, "
                f"past the group's end at byte {_group_end(data)}")
    assert _problem(damaged[:65536], len(damaged)) == expected
    assert _problem(damaged) == expected


def test_a_wrong_group_length_alone_does_not_stop_a_readable_file(ct: bytes) -> None:
    for wrong in (_group_end(ct) - 144 - 10, _group_end(ct) - 144 + 10):
        damaged = ct[:140] + struct.pack("<I", wrong) + ct[144:]
        assert isinstance(read_header_bytes(damaged, "damaged.dcm"), InstanceRecord)


def test_a_file_cut_inside_the_group_is_truncated(ct: bytes) -> None:
    at = _element(ct, 0x0010, b"UI")
    for cut in (132, 134, 140, at + 5, at + 10):
        assert _problem(ct[:cut]) == "truncated inside the File Meta Information"


def test_a_file_cut_after_the_group_keeps_its_message(ct: bytes) -> None:
    assert _problem(ct[:-10]).startswith("truncated inside element (7FE0,0010)")


def test_a_readable_group_before_a_data_set_without_an_instance_uid(
        ct: bytes, tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(ct))
    del ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.UID("")
    ds.save_as(tmp_path / "no_uid.dcm", enforce_file_format=False)
    data = (tmp_path / "no_uid.dcm").read_bytes()
    assert data[128:132] == b"DICM"
    assert _problem(data) == "no SOP Instance UID; not a DICOM instance"


def test_the_import_report_names_the_file_meta_information(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    medium = tmp_path / "medium"
    garbled = write_ct_series(medium, slices=2, rows=16, cols=16)[1]  # the first is sound
    data = garbled.read_bytes()
    garbled.write_bytes(data[:132] + b"\xde\xad\xbe\xef" * 300)
    (large,) = write_ct_series(medium / "large", slices=1, rows=256, cols=256, file_prefix="L")
    data = large.read_bytes()
    at = _element(data, 0x0001, b"OB")
    large.write_bytes(data[:at + 8] + struct.pack("<I", 0x7FFFFFFF) + data[at + 12:])
    capsys.readouterr()
    status = main(["--home", str(tmp_path / "home"), "import", str(medium), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and report["instances_added"] == 1
    assert {f["path"]: f["reason"] for f in report["failed"]} == {
        str(garbled): f"{UNREADABLE} 132: it starts with (ADDE,EFBE), not a group 0002 element",
        str(large): f"{UNREADABLE} {at}: element (0002,0001) OB declares 2147483647 bytes, "
                    f"past the group's end at byte {_group_end(data)}",
    }


def test_a_wrong_group_length_does_not_take_the_blame_for_a_later_failure(ct: bytes) -> None:
    # The elements of group 0002 read by their own lengths and lead to the data set: what
    # failed is after them (here the pixel data, cut short), and is named as before.
    truncated = _problem(ct[:-10])
    for wrong in (_group_end(ct) - 144 - 10, _group_end(ct) - 144 + 10):
        damaged = ct[:140] + struct.pack("<I", wrong) + ct[144:-10]
        assert _problem(damaged) == truncated


def test_an_implicit_vr_data_set_after_a_wrong_group_length_is_no_meta_problem(
        tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    implicit = tmp_path / "implicit.dcm"
    ds.save_as(implicit, enforce_file_format=True)
    data = implicit.read_bytes()[:-10]  # its pixel data cut short
    expected = _problem(data)
    assert not expected.startswith(UNREADABLE)
    damaged = data[:140] + struct.pack("<I", _group_end(data) - 144 + 6) + data[144:]
    assert _problem(damaged) == expected
