"""A series stays in one study and a study with one patient (PS3.3 7.1).

Files that reuse a Series Instance UID in another study, or a Study Instance UID for
another Patient ID, were filed under whatever came first: one patient's image showed in
another patient's series, and deleting that study deleted it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from viewer.core.errors import InputFileError
from viewer.store import StudyStore


def _instance(folder: Path, name: str, *, patient_id: str, study: str, series: str,
              sop: str, patient_name: str = "") -> Path:
    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"))
    ds.PatientID, ds.PatientName = patient_id, patient_name or f"PATIENT^{patient_id}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name)
    return folder / name


def _consistent(store: StudyStore) -> None:
    """Every stored instance sits under the study and patient its own file names."""
    for study in store.studies():
        total = 0
        for series in store.series(study.study_uid):
            for instance in store.instances(series.series_uid):
                ds = pydicom.dcmread(instance.file_path, stop_before_pixels=True)
                assert ds.StudyInstanceUID == study.study_uid
                assert ds.SeriesInstanceUID == series.series_uid
                assert ds.PatientID == study.patient.patient_id
                total += 1
        assert total == study.number_of_instances


@pytest.fixture
def ann_and_bob(tmp_path: Path) -> tuple[Path, Path]:
    """Two patients' studies whose files share one Series Instance UID."""
    ann = _instance(tmp_path / "ann", "a.dcm", patient_id="PA", study="1.2.826.0.1.1",
                    series="1.2.826.0.1.1.1", sop="1.2.826.0.1.1.1.1")
    bob = _instance(tmp_path / "bob", "b.dcm", patient_id="PB", study="1.2.826.0.1.2",
                    series="1.2.826.0.1.1.1", sop="1.2.826.0.1.2.1.1")
    return ann, bob


def test_a_series_uid_of_another_study_is_refused_not_filed_there(
        store: StudyStore, ann_and_bob: tuple[Path, Path]) -> None:
    ann, bob = ann_and_bob
    assert store.import_files([ann]).instances_added == 1
    report = store.import_files([bob])
    assert report.instances_added == 0 and not report.safe_to_eject
    (problem,) = report.failed
    assert problem.path == str(bob)
    assert "Series Instance UID 1.2.826.0.1.1.1 already belongs to another study" in (
        problem.reason)
    assert [s.study_uid for s in store.studies()] == ["1.2.826.0.1.1"]
    _consistent(store)
    # Deleting the first patient's study takes only that patient's image.
    store.delete_study("1.2.826.0.1.1")
    assert store.studies() == [] and store.has_instances(["1.2.826.0.1.2.1.1"]) == set()


def test_the_same_conflict_within_one_import(store: StudyStore,
                                            ann_and_bob: tuple[Path, Path]) -> None:
    report = store.import_files(list(ann_and_bob))
    assert report.instances_added == 1 and len(report.failed) == 1
    assert "already belongs to another study" in report.failed[0].reason
    assert len(store.studies()) == 1
    _consistent(store)


def test_a_study_uid_of_another_patient_is_refused(store: StudyStore, tmp_path: Path) -> None:
    first = _instance(tmp_path / "a", "a.dcm", patient_id="PA", study="1.2.826.0.2.1",
                      series="1.2.826.0.2.1.1", sop="1.2.826.0.2.1.1.1")
    other = _instance(tmp_path / "b", "b.dcm", patient_id="PB", study="1.2.826.0.2.1",
                      series="1.2.826.0.2.1.2", sop="1.2.826.0.2.1.2.1")
    # The same patient under a name spelled differently is the same patient.
    renamed = _instance(tmp_path / "c", "c.dcm", patient_id="PA", study="1.2.826.0.2.1",
                        series="1.2.826.0.2.1.3", sop="1.2.826.0.2.1.3.1",
                        patient_name="PATIENT^PA^^^")
    report = store.import_files([first, other, renamed])
    assert report.instances_added == 2
    (problem,) = report.failed
    assert problem.path == str(other)
    assert "is already stored for another Patient ID" in problem.reason
    (study,) = store.studies()
    assert study.number_of_series == 2 and study.patient.patient_id == "PA"
    _consistent(store)


def test_a_received_file_that_would_cross_studies_is_left_where_it_is(
        store: StudyStore, ann_and_bob: tuple[Path, Path], tmp_path: Path) -> None:
    ann, bob = ann_and_bob
    store.import_files([ann])
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    arrived = Path(shutil.copy(bob, incoming / "b.dcm"))
    (result,) = store.add_received_files([arrived])
    assert isinstance(result, InputFileError)
    assert "already belongs to another study" in str(result)
    assert arrived.is_file()  # nothing lost: the file stays in incoming
    _consistent(store)
