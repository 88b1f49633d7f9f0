"""A study imported short of what its DICOMDIR lists is marked incomplete in the store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from tests.media.conftest import build_dcmmkdir_medium, build_fileset_medium
from tests.support.series import write_ct_series
from viewer.core.imports import ImportProgress
from viewer.media import import_media
from viewer.media.dicomdir import read_dicomdir
from viewer.store import StudyStore
from viewer.store.queries import StudyFilter

BUILDERS: dict[str, Callable[[Path, list[Path]], dict[str, Path]]] = {
    "dcmmkdir": build_dcmmkdir_medium,
    "fileset": build_fileset_medium,
}


def _dicomdir(root: Path) -> Path:
    return next(p for p in root.iterdir() if p.name.upper().startswith("DICOMDIR"))


@pytest.mark.parametrize("offsets", ["consistent", "broken"])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_each_dicomdir_entry_knows_its_study(
        builder: str, offsets: str, study_files: list[Path], tmp_path: Path) -> None:
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
