"""One instance in two files that differ only in their File Meta Information.

Group 0002 belongs to the file, not to the instance (PS3.10 7.1): our receiver writes the
sender's AE title there (Source Application Entity Title), and every writer its own
Implementation Class UID and Version Name. Two copies whose data sets are byte for byte
the same are one instance, already present; a difference in the data set stays a conflict.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, RLELossless

from tests.support.series import write_ct_series
from viewer.core.errors import InputFileError
from viewer.core.records import InstanceRecord
from viewer.dicom.structure import read_meta, split_file_meta
from viewer.net.file_meta import file_meta_bytes
from viewer.store import StudyStore
from viewer.store.same_instance import same_data_set

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"


def _data_set(path: Path) -> tuple[str, str, bytes]:
    """SOP Class UID, SOP Instance UID and the data set bytes after the meta group."""
    data = path.read_bytes()
    start, meta = read_meta(data)
    uid = meta[0x00020003].rstrip(b"\x00").decode()
    sop_class = meta[0x00020002].rstrip(b"\x00").decode()
    return sop_class, uid, data[start:]


def _as_received(source: Path, target: Path, sender: str, syntax: str = EXPLICIT_LE
                 ) -> Path:
    """``source``'s data set as the receiver writes it when ``sender`` stores it."""
    sop_class, uid, data_set = _data_set(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(file_meta_bytes(sop_class, uid, syntax, sender) + data_set)
    return target


def _slice(tmp_path: Path, size: int = 16) -> Path:
    (path,) = write_ct_series(tmp_path / "made", slices=1, rows=size, cols=size)
    return path


def _incoming(tmp_path: Path, name: str) -> Path:
    return tmp_path / "home" / "incoming" / name


def test_the_same_instance_from_another_ae_title_is_already_present(
        store: StudyStore, tmp_path: Path) -> None:
    # storescu -aet LOCPACS, then the same file with -aet ORTHANC: the same length, the
    # bytes of (0002,0016) differ. It was refused as "already stored with different
    # content" and left in incoming/ although the sender had been told it was stored.
    made = _slice(tmp_path)
    first = _as_received(made, _incoming(tmp_path, "first.dcm"), "LOCPACS")
    again = _as_received(made, _incoming(tmp_path, "again.dcm"), "ORTHANC")
    assert first.stat().st_size == again.stat().st_size
    assert first.read_bytes() != again.read_bytes()
    (stored,) = store.add_received_files([first])
    assert isinstance(stored, InstanceRecord)
    kept = Path(stored.file_path).read_bytes()
    (result,) = store.add_received_files([again])
    assert isinstance(result, InstanceRecord), result
    assert result.file_path == stored.file_path
    assert not again.exists()  # taken as present: nothing is left in incoming/
    assert Path(stored.file_path).read_bytes() == kept  # the first copy stays as it was
    assert store.counts()["instances"] == 1


def test_a_sender_title_of_another_length_and_twice_in_one_batch(
        store: StudyStore, tmp_path: Path) -> None:
    made = _slice(tmp_path)
    short = _as_received(made, _incoming(tmp_path, "short.dcm"), "CT")
    long = _as_received(made, _incoming(tmp_path, "long.dcm"), "MODALITY_ROOM_07")
    none = _as_received(made, _incoming(tmp_path, "none.dcm"), "")  # no (0002,0016)
    assert len({p.stat().st_size for p in (short, long, none)}) == 3
    results = store.add_received_files([short, long, none])
    assert all(isinstance(r, InstanceRecord) for r in results), results
    assert len({r.file_path for r in results if isinstance(r, InstanceRecord)}) == 1
    assert not any(p.exists() for p in (short, long, none))
    assert store.counts()["instances"] == 1


def test_a_different_data_set_from_another_ae_title_stays_a_conflict(
        store: StudyStore, tmp_path: Path) -> None:
    made = _slice(tmp_path)
    first = _as_received(made, _incoming(tmp_path, "first.dcm"), "LOCPACS")
    changed = pydicom.dcmread(made)
    changed.PatientName = "OTHER^PATIENT"
    changed.save_as(tmp_path / "changed.dcm")
    other = _as_received(tmp_path / "changed.dcm", _incoming(tmp_path, "other.dcm"), "ORTHANC")
    (stored,) = store.add_received_files([first])
    assert isinstance(stored, InstanceRecord)
    (result,) = store.add_received_files([other])
    assert isinstance(result, InputFileError) and "different content" in str(result)
    assert other.exists()


def test_the_same_bytes_under_another_transfer_syntax_are_compared_decoded(
        store: StudyStore, tmp_path: Path) -> None:
    # (0002,0010) says how the data set is encoded: under another syntax the bytes are
    # not compared as they are, but decoded; pydicom reads this mislabelled file by what
    # its bytes are, which is what the viewer shows too, so it is the same instance.
    made = _slice(tmp_path)
    first = _as_received(made, _incoming(tmp_path, "first.dcm"), "LOCPACS")
    other = _as_received(made, tmp_path / "other.dcm", "LOCPACS", syntax=IMPLICIT_LE)
    assert same_data_set(first, other)
    (stored,) = store.add_received_files([first])
    assert isinstance(stored, InstanceRecord)


@pytest.mark.parametrize("syntax", [RLELossless, DeflatedExplicitVRLittleEndian])
def test_the_same_instance_encoded_otherwise_is_already_present(
        store: StudyStore, tmp_path: Path, syntax: str) -> None:
    # A PACS sending a study again compressed (PS3.5 10: a transfer syntax is an
    # encoding): every instance was a conflict, set aside in incoming/.
    made = _slice(tmp_path)
    (stored,) = store.add_received_files([_as_received(made, _incoming(tmp_path, "a.dcm"),
                                                       "LOCPACS")])
    assert isinstance(stored, InstanceRecord)
    ds = pydicom.dcmread(made)
    if syntax == RLELossless:
        ds.compress(RLELossless, generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = syntax
    again = _incoming(tmp_path, "b.dcm")
    ds.save_as(again, enforce_file_format=True)
    assert same_data_set(made, again)
    (result,) = store.add_received_files([again])
    assert isinstance(result, InstanceRecord), result
    assert result.file_path == stored.file_path  # the first copy stays


def test_another_encoding_with_other_values_stays_a_conflict(
        store: StudyStore, tmp_path: Path) -> None:
    made = _slice(tmp_path)
    ds = pydicom.dcmread(made)
    pixels = ds.pixel_array.copy()
    pixels[0, 0] += 1  # what a lossy round trip does
    ds.compress(RLELossless, pixels, generate_instance_uid=False)
    other = tmp_path / "other.dcm"
    ds.save_as(other, enforce_file_format=True)
    assert not same_data_set(made, other)
    ds = pydicom.dcmread(made)
    ds.PatientName = "OTHER^NAME"  # the same pixels, an attribute changed
    ds.compress(RLELossless, generate_instance_uid=False)
    renamed = tmp_path / "renamed.dcm"
    ds.save_as(renamed, enforce_file_format=True)
    assert not same_data_set(made, renamed)


def _pydicom_copy(source: Path, target: Path, version: str) -> Path:
    """``source`` written again by another implementation, with Private Information."""
    ds = pydicom.dcmread(source)
    ds.file_meta.ImplementationVersionName = version
    ds.file_meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.9.7433.1.99")
    ds.file_meta.SourceApplicationEntityTitle = "WORKSTATION"
    ds.file_meta.PrivateInformationCreatorUID = UID("1.2.826.0.1.3680043.9.7433.1.98")
    ds.file_meta.PrivateInformation = b"written elsewhere"
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def test_a_media_import_of_a_copy_written_by_another_implementation(
        store: StudyStore, tmp_path: Path) -> None:
    made = write_ct_series(tmp_path / "disc1", slices=2, rows=16, cols=16)
    copies = [_pydicom_copy(p, tmp_path / "disc2" / p.name, "OTHERWRITER_9") for p in made]
    assert [_data_set(p)[2] for p in made] == [_data_set(p)[2] for p in copies]
    assert all(p.read_bytes() != c.read_bytes() for p, c in zip(made, copies, strict=True))
    first = store.import_files(made)
    assert first.instances_added == 2
    again = store.import_files(copies)
    assert again.conflicts == []
    assert again.instances_present == 2 and again.instances_added == 0
    # Both copies in one import: one instance, and an identical copy, not a conflict.
    twice = write_ct_series(tmp_path / "disc3", slices=1, rows=16, cols=16)
    _pydicom_copy(twice[0], tmp_path / "disc3" / "copy.dcm", "OTHERWRITER_9")
    both = store.import_files(sorted((tmp_path / "disc3").iterdir()))
    assert both.conflicts == []
    assert both.instances_added == 1 and both.copies == 1


def test_a_large_file_copied_file_to_file_is_compared_after_its_meta(
        store: StudyStore, tmp_path: Path) -> None:
    # Over 256 KiB the importer does not hold the file in memory (filecmp, then the
    # data sets read in pieces).
    made = _slice(tmp_path, size=400)
    assert made.stat().st_size > 256 << 10
    copy = _pydicom_copy(made, tmp_path / "again" / made.name, "OTHERWRITER_9")
    assert store.import_files([made]).instances_added == 1
    again = store.import_files([copy])
    assert again.conflicts == [] and again.instances_present == 1
    changed = pydicom.dcmread(copy)
    changed.PixelData = bytes(len(changed.PixelData))
    (tmp_path / "zero").mkdir()
    changed.save_as(tmp_path / "zero" / made.name)
    report = store.import_files([tmp_path / "zero" / made.name])
    assert len(report.conflicts) == 1


def test_a_file_without_meta_is_compared_whole(store: StudyStore, tmp_path: Path) -> None:
    # No preamble, no DICM, no group 0002 (an old writer's bare data set): there is no
    # meta group to set aside, so only the same bytes are the same file.
    made = _slice(tmp_path)
    _, _, data_set = _data_set(made)
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(data_set)
    assert split_file_meta(data_set) is None
    assert same_data_set(bare, bare)
    assert not same_data_set(made, bare)
    assert store.import_files([bare]).instances_added == 1
    report = store.import_files([made])
    assert len(report.conflicts) == 1  # a different file; the stored one was kept


def test_a_group_length_that_disagrees_is_not_trusted(tmp_path: Path) -> None:
    # A length that skipped into the data set would compare less than the data set: the
    # files are then compared whole (and differ), never taken as one instance.
    made = _slice(tmp_path)
    data = made.read_bytes()
    start, _ = read_meta(data)
    assert split_file_meta(data) == (start, EXPLICIT_LE.encode())
    (length,) = struct.unpack_from("<I", data, 140)
    assert 144 + length == start
    lying = bytearray(data)
    struct.pack_into("<I", lying, 140, length + 10)
    assert split_file_meta(bytes(lying)) is None
    (tmp_path / "lying.dcm").write_bytes(bytes(lying))
    assert not same_data_set(made, tmp_path / "lying.dcm")


@pytest.mark.parametrize("cut", [132, 150, 200])
def test_a_head_that_ends_inside_the_meta_group_gives_no_offset(tmp_path: Path, cut: int
                                                                ) -> None:
    data = _slice(tmp_path).read_bytes()
    assert split_file_meta(data[:cut]) is None
