"""Large DICOMDIRs: studies by the offsets without pydicom's FileSet, the import's cancel
looked at while one is parsed, and a bound on what one import parses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.media.conftest import build_dcmmkdir_medium
from tests.support.series import write_ct_series
from viewer.media import dicomdir, import_media
from viewer.media.dicomdir import read_dicomdir
from viewer.store import StudyStore
from viewer.store.queries import StudyFilter

_CT = "1.2.840.10008.5.1.4.1.1.2"


def _record(kind: str, **values: object) -> Dataset:
    record = Dataset()
    record.OffsetOfTheNextDirectoryRecord = 0
    record.RecordInUseFlag = 0xFFFF
    record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
    record.DirectoryRecordType = kind
    for keyword, value in values.items():
        setattr(record, keyword, value)
    return record


def _breadth_first_dicomdir(path: Path, studies: int, images: int) -> dict[str, str]:
    """A DICOMDIR of one patient whose records are written level by level: every STUDY
    record, then every SERIES record, then every IMAGE record (PS3.3 F.3.2.1 lets the
    offsets, not the sequence order, say which record is under which). Returns SOP
    Instance UID -> Study Instance UID."""
    patient = _record("PATIENT", PatientID="P1", PatientName="Test")
    study_records, series_records, image_groups = [], [], []
    study_of: dict[str, str] = {}
    for s in range(studies):
        study_uid = generate_uid()
        study_records.append(_record("STUDY", StudyInstanceUID=study_uid, StudyDate="20240101",
                                     StudyTime="120000", StudyID=str(s), AccessionNumber=""))
        series_records.append(_record("SERIES", Modality="CT", SeriesInstanceUID=generate_uid(),
                                      SeriesNumber=1))
        group = []
        for i in range(images):
            uid = generate_uid()
            study_of[uid] = study_uid
            group.append(_record("IMAGE", ReferencedFileID=["IMAGES", f"S{s}I{i}"],
                                 ReferencedSOPClassUIDInFile=_CT,
                                 ReferencedSOPInstanceUIDInFile=uid,
                                 ReferencedTransferSyntaxUIDInFile=ExplicitVRLittleEndian,
                                 InstanceNumber=i + 1))
        image_groups.append(group)
    ordered = [patient, *study_records, *series_records, *(r for g in image_groups for r in g)]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.FileSetID = "LEVELS"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    ds.DirectoryRecordSequence = ordered
    ds.save_as(path, enforce_file_format=True)
    # The offsets are 4-byte values: setting them moves no record.
    where = {id(r): t.seq_item_tell for r, t in
             zip(ordered, pydicom.dcmread(path).DirectoryRecordSequence, strict=True)}
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = where[id(patient)]
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = where[id(patient)]
    patient.OffsetOfReferencedLowerLevelDirectoryEntity = where[id(study_records[0])]
    for s, study in enumerate(study_records):
        if s + 1 < studies:
            study.OffsetOfTheNextDirectoryRecord = where[id(study_records[s + 1])]
        study.OffsetOfReferencedLowerLevelDirectoryEntity = where[id(series_records[s])]
        first_image = where[id(image_groups[s][0])]
        series_records[s].OffsetOfReferencedLowerLevelDirectoryEntity = first_image
        for a, b in zip(image_groups[s], image_groups[s][1:], strict=False):
            a.OffsetOfTheNextDirectoryRecord = where[id(b)]
    ds.save_as(path, enforce_file_format=True)
    return study_of


@pytest.mark.parametrize("reader", ["fileset", "offsets"])
def test_studies_follow_the_offsets_not_the_order_of_the_records(
        reader: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if reader == "offsets":  # as for a DICOMDIR too large for pydicom's FileSet
        monkeypatch.setattr(dicomdir, "MOST_FILESET_RECORDS", 0)
    study_of = _breadth_first_dicomdir(tmp_path / "DICOMDIR", studies=3, images=4)
    contents = read_dicomdir(tmp_path / "DICOMDIR")
    assert contents.notes == []
    assert {e.sop_instance_uid: e.study_uid for e in contents.entries} == study_of
    # In sequence order every image follows the last STUDY record.
    assert len(set(study_of.values())) == 3


def test_a_dicomdir_past_the_fileset_bound_is_read_by_its_offsets(tmp_path: Path) -> None:
    count = dicomdir.MOST_FILESET_RECORDS + 1
    study_of = _breadth_first_dicomdir(tmp_path / "DICOMDIR", studies=2, images=count // 2)
    contents = read_dicomdir(tmp_path / "DICOMDIR")
    assert contents.notes == []
    assert {e.sop_instance_uid: e.study_uid for e in contents.entries} == study_of
    assert all(e.path is None for e in contents.entries)  # no image files were written


@pytest.mark.parametrize("length", ["defined", "undefined"])
def test_the_parse_of_a_dicomdir_stops_at_a_cancel(length: str, tmp_path: Path) -> None:
    # 903 records: their resolving looks at the cancel twice (every 512 records), so
    # only the parse, which looks at it every few thousand reads, gets to a third look.
    path = tmp_path / "DICOMDIR"
    _breadth_first_dicomdir(path, studies=1, images=900)
    if length == "undefined":  # as dcmmkdir writes it; pydicom parses it in dcmread
        ds = pydicom.dcmread(path)
        ds["DirectoryRecordSequence"].is_undefined_length = True
        ds.save_as(path)
    assert len(read_dicomdir(path).entries) == 900
    polls: list[int] = []
    contents = read_dicomdir(path, cancel=lambda: polls.append(1) or len(polls) > 2)
    assert len(polls) == 3  # stopped at the first yes
    assert contents.entries == []
    assert contents.notes == [f"{path}: reading the DICOMDIR was cancelled"]
    assert not contents.readable


@pytest.mark.skipif(shutil.which("dcmmkdir") is None, reason="dcmtk's dcmmkdir is not installed")
def test_an_import_cancelled_while_its_dicomdir_is_read_stores_and_reports_nothing_missing(
        tmp_path: Path, store: StudyStore) -> None:
    root = tmp_path / "disc"
    build_dcmmkdir_medium(root, write_ct_series(tmp_path / "ct", slices=12))
    phases: list[str] = []
    # The user presses Cancel once the window says the DICOMDIR is being read.
    report = import_media([root], store, progress=lambda p: phases.append(p.phase),
                          cancel=lambda: "directory" in phases)
    assert "directory" in phases and "import" not in phases
    assert report.cancelled
    assert report.missing == [] and report.failed == [] and report.instances_added == 0
    assert store.studies(StudyFilter()) == []


def test_one_import_parses_a_bounded_amount_of_dicomdirs(
        tmp_path: Path, store: StudyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "disc"
    for name in ("A", "B"):
        (root / name).mkdir(parents=True)
        _breadth_first_dicomdir(root / name / "DICOMDIR", studies=1, images=3)
    size = (root / "A" / "DICOMDIR").stat().st_size
    monkeypatch.setattr(dicomdir, "MOST_DIRECTORY_BYTES_PER_IMPORT", size + size // 2)
    report = import_media([root], store)
    unread = [n for n in report.notes if "DICOMDIR not read" in n]
    assert len(unread) == 1
    assert "this import has parsed 0 MiB of DICOMDIRs, and at most 0 MiB" in unread[0]
    assert unread[0].endswith("(copies of a DICOMDIR?); medium scanned")
    # The DICOMDIR that was read names three images the medium lacks; the other none.
    assert len(report.missing) == 3
