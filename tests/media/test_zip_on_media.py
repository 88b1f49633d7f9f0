"""Zips found on a medium: known by their signature whatever their name, reported in the
progress while they are extracted, and counted with the medium around them."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from tests.media.conftest import build_fileset_medium, sop_uid
from viewer.core.imports import ImportProgress
from viewer.media import import_media
from viewer.media.scan import is_zip_application
from viewer.store import StudyStore


def _zip(files: list[Path], archive: Path, folder: str = "DISC") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, path in enumerate(files):
            zf.write(path, f"{folder}/IM{n:06d}")
    return archive


def _uids(files: list[Path]) -> set[str]:
    return {sop_uid(p) for p in files}


def test_a_zip_saved_without_a_zip_name_is_imported(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # A PACS portal's download saved as "download", beside a few images on the medium.
    medium = tmp_path / "medium"
    (medium / "dicom").mkdir(parents=True)
    for n, path in enumerate(study_files[:3]):
        shutil.copy(path, medium / "dicom" / f"IM{n:06d}")
    _zip(study_files[3:10], medium / "download")
    report = import_media([medium], store, work_dir=tmp_path / "work")
    assert store.has_instances(_uids(study_files[:10])) == _uids(study_files[:10])
    assert report.instances_added == 10
    assert report.skipped == [] and report.failed == []
    assert report.ok and report.safe_to_eject
    assert not any((tmp_path / "work").iterdir())


def test_a_zip_without_a_zip_name_inside_a_zip_is_imported(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    inner = _zip(study_files[:4], tmp_path / "series")
    outer = tmp_path / "medium.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "EXPORT/series")
    report = import_media([outer], store, work_dir=tmp_path / "work")
    assert store.has_instances(_uids(study_files[:4])) == _uids(study_files[:4])
    assert report.skipped == [] and report.safe_to_eject


def test_a_zip_without_a_zip_name_beside_a_dicomdir_is_not_called_unnamed(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    medium = tmp_path / "medium"
    build_fileset_medium(medium, study_files[:4])
    _zip(study_files[4:8], medium / "download")
    report = import_media([medium], store, work_dir=tmp_path / "work")
    assert store.has_instances(_uids(study_files[:8])) == _uids(study_files[:8])
    # The zip is no DICOM file that the DICOMDIR forgot: its images are the zip's own.
    assert report.not_in_dicomdir == [] and report.missing == []
    assert report.ok and report.safe_to_eject


@pytest.mark.parametrize("name", ["viewer.jar", "MANUAL.DOCX;1", "App.apk"])
def test_software_and_documents_built_on_zip_stay_skipped(
        name: str, study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # A viewer's own software on the disc: a zip inside, whatever files it carries.
    medium = tmp_path / "medium"
    medium.mkdir()
    shutil.copy(study_files[0], medium / "IM000001")
    _zip(study_files[1:3], medium / name)
    report = import_media([medium], store, work_dir=tmp_path / "work")
    assert [p.path for p in report.skipped] == [str(medium / name)]
    assert report.instances_added == 1 and report.safe_to_eject


def test_application_formats_are_known_as_any_mount_spells_them() -> None:
    assert is_zip_application("VIEWER.JAR;1") and is_zip_application("Report.xlsx")
    assert not is_zip_application("download") and not is_zip_application("STUDY.ZIP;1")
    assert not is_zip_application("jar")  # a file named only "jar" has no extension


def test_extraction_is_reported_as_scanning_the_archive(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    archive = _zip(study_files[:12], tmp_path / "medium.zip")
    seen: list[ImportProgress] = []
    import_media([archive], store, progress=lambda s: seen.append(replace(s)),
                 work_dir=tmp_path / "work")
    first_import = next(i for i, s in enumerate(seen) if s.phase == "import")
    extracting = [s for s in seen[:first_import]
                  if s.phase == "scan" and s.current == str(archive)]
    # Members counted as they are written, all before the archive's files are imported.
    assert extracting[0].files_done == 0
    assert set(range(13)) <= {s.files_done for s in extracting}
    written = [s.bytes_done for s in extracting]
    assert written == sorted(written)
    assert written[-1] == sum(p.stat().st_size for p in study_files[:12])


def test_a_zip_beside_the_same_files_counts_them_as_copies(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # The same images as a folder and as a zip on one medium: counted as copies on the
    # medium, as two copies within one folder are, not as "already present".
    files = study_files[:6]
    medium = tmp_path / "medium"
    build_fileset_medium(medium / "disc", files)
    _zip(files, medium / "images.zip")
    _zip(files, medium / "again.zip", folder="AGAIN")
    first = import_media([medium], store, work_dir=tmp_path / "work")
    assert (first.instances_added, first.instances_present, first.copies) == (6, 0, 12)
    assert first.ok and first.safe_to_eject
    # Imported again: the folder's images are present; the zips' are still its copies,
    # as the second of two copies in one folder is.
    again = import_media([medium], store, work_dir=tmp_path / "work")
    assert (again.instances_added, again.instances_present, again.copies) == (0, 6, 12)
    assert again.ok


def test_a_zip_given_beside_the_folder_of_the_same_files_still_finds_them_present(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # Two media named on one command are two media: what the first stored is present
    # for the second, as before.
    files = study_files[:4]
    folder = tmp_path / "folder"
    folder.mkdir()
    for n, path in enumerate(files):
        shutil.copy(path, folder / f"IM{n:06d}")
    archive = _zip(files, tmp_path / "images.zip")
    report = import_media([folder, archive], store, work_dir=tmp_path / "work")
    assert (report.instances_added, report.instances_present, report.copies) == (4, 4, 0)
