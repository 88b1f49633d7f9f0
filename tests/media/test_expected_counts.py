"""A study imported short of what its DICOMDIR lists is marked incomplete in the store."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from tests.media.conftest import build_dcmmkdir_medium, build_fileset_medium
from tests.support.series import write_ct_series
from viewer.core.imports import ImportProgress
from viewer.media import dicomdir, import_media
from viewer.media.dicomdir import read_dicomdir
from viewer.store import StudyStore
from viewer.store.queries import StudyFilter

BUILDERS: dict[str, Callable[[Path, list[Path]], dict[str, Path]]] = {
    "dcmmkdir": build_dcmmkdir_medium,
    "fileset": build_fileset_medium,
}


def _dicomdir(root: Path) -> Path:
    return next(p for p in root.iterdir() if p.name.upper().startswith("DICOMDIR"))


@pytest.mark.parametrize("reader", ["fileset", "offsets"])
@pytest.mark.parametrize("offsets", ["consistent", "broken"])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_each_dicomdir_entry_knows_its_study(
        builder: str, offsets: str, reader: str, study_files: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if reader == "offsets":  # as for a DICOMDIR too large for pydicom's FileSet
        monkeypatch.setattr(dicomdir, "MOST_FILESET_RECORDS", 0)
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files)
    if offsets == "broken":  # PS3.3 F.3.2.1: FileSet fails, the sequence order serves
        ds = pydicom.dcmread(_dicomdir(root))
        ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity += 2
        ds.save_as(_dicomdir(root))
    contents = read_dicomdir(_dicomdir(root))
    assert len(contents.entries) == len(placed)
    for entry in contents.entries:
        own = pydicom.dcmread(placed[entry.sop_instance_uid], stop_before_pixels=True)
        assert entry.study_uid == own.StudyInstanceUID


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_studies_short_of_their_dicomdir_are_incomplete(
        builder: str, study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files)
    study_of = {uid: str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID)
                for uid, p in placed.items()}
    gone = sorted(placed)[::7]
    for uid in gone:
        placed[uid].unlink()
    import_media([root], store)
    missing = Counter(study_of[uid] for uid in gone)
    listed = Counter(study_of.values())
    studies = store.studies(StudyFilter())
    assert len(studies) == len(listed)
    for study in studies:
        assert study.expected_instances == listed[study.study_uid]
        assert study.missing_instances == missing.get(study.study_uid, 0)


def test_a_cancelled_import_leaves_its_study_incomplete_until_it_is_finished(
        tmp_path: Path, store: StudyStore) -> None:
    root = tmp_path / "disc"
    # 150 slices: three batches of the importer, cancelled after the first.
    build_dcmmkdir_medium(root, write_ct_series(tmp_path / "ct", slices=150))
    state: list[ImportProgress] = []
    report = import_media([root], store, progress=state.append,
                          cancel=lambda: any(p.phase == "import" and p.files_done for p in state))
    assert report.cancelled
    (study,) = store.studies(StudyFilter())
    assert study.expected_instances == 150
    assert 0 < study.number_of_instances < 150
    assert study.missing_instances == 150 - study.number_of_instances
    assert import_media([root], store).ok
    (study,) = store.studies(StudyFilter())
    assert study.missing_instances == 0 and study.number_of_instances == 150


def _another_instance(source: Path, target: Path) -> str:
    """A copy of ``source`` as a new instance of the same series; its SOP Instance UID."""
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)
    return str(ds.SOPInstanceUID)


def test_other_images_of_a_study_do_not_make_up_for_those_its_dicomdir_lacks(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # Four instances named, two of them gone; two more of the same study that the DICOMDIR
    # does not name: four stored, as many as it names, and two of those it names missing.
    root = tmp_path / "disc"
    placed = build_dcmmkdir_medium(root, study_files[:4])
    gone = sorted(placed)[:2]
    for uid in gone:
        placed[uid].unlink()
    for n in range(2):
        _another_instance(study_files[0], root / "EXTRA" / f"IM{n}")
    report = import_media([root], store)
    assert sorted(report.missing) == sorted(str(placed[uid]) for uid in gone)
    (study,) = store.studies(StudyFilter())
    assert study.number_of_instances == 4
    assert study.expected_instances == 6 and study.missing_instances == 2


def test_a_later_disc_naming_fewer_images_keeps_the_study_incomplete(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    first = tmp_path / "first"
    placed = build_dcmmkdir_medium(first, study_files[:4])
    placed[sorted(placed)[0]].unlink()
    import_media([first], store)
    (study,) = store.studies(StudyFilter())
    assert study.missing_instances == 1
    # A second disc with two of the images already here names nothing that is missing,
    # and does not say the study has only two.
    present = [p for uid, p in placed.items() if uid != sorted(placed)[0]]
    build_dcmmkdir_medium(tmp_path / "second", present[:2])
    assert import_media([tmp_path / "second"], store).ok
    (study,) = store.studies(StudyFilter())
    assert study.number_of_instances == 3
    assert study.expected_instances == 4 and study.missing_instances == 1
    # The disc with the missing image completes it.
    build_dcmmkdir_medium(tmp_path / "third", study_files[:4])
    assert import_media([tmp_path / "third"], store).ok
    (study,) = store.studies(StudyFilter())
    assert study.number_of_instances == 4 and study.missing_instances == 0


def test_a_file_two_dicomdirs_name_is_missing_once(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # A disc with a DICOMDIR at its root and another in a patient's folder, both naming
    # that folder's files (as some writers leave one per patient).
    root = tmp_path / "disc"
    placed = build_dcmmkdir_medium(root, study_files[:4])
    folder = root / "IMAGES" / "P00"
    subprocess.run(["dcmmkdir", "+r", "-Pgp", "+id", str(folder), "+D",
                    str(folder / "DICOMDIR"), *sorted(p.name for p in folder.iterdir())],
                   check=True, capture_output=True, cwd=folder)
    gone = placed[sorted(placed)[0]]
    gone.unlink()
    report = import_media([root], store)
    assert report.missing == [str(gone)]
    assert report.instances_added == 3


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_dicomdir_of_another_patient_does_not_mark_a_stored_study_incomplete(
        builder: str, study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # A medium holding only a DICOMDIR whose records name five images under a stored
    # study's UID, with another patient: the stored study stayed INCOMPLETE for good.
    own = study_files[:4]  # one study: two series of two slices
    assert import_media(own[:3], store).ok
    (stored,) = store.studies(StudyFilter())

    def study() -> object:
        (found,) = store.studies(StudyFilter())
        return found

    foreign = write_ct_series(tmp_path / "foreign", slices=5, study_uid=stored.study_uid,
                              patient_id="X9", patient_name="OTHER^PERSON")
    root = tmp_path / "disc"
    for path in BUILDERS[builder](root, foreign).values():
        path.unlink()
    report = import_media([root], store)
    assert len(report.missing) == 5 and not report.safe_to_eject
    assert study().number_of_instances == 3 and study().missing_instances == 0
    # the study's own DICOMDIR, lacking its fourth image: incomplete, as before
    disc = tmp_path / "own"
    placed = BUILDERS[builder](disc, own)
    placed[pydicom.dcmread(own[3]).SOPInstanceUID].unlink()
    import_media([disc], store)
    assert study().number_of_instances == 3 and study().missing_instances == 1
