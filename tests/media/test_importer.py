"""Import of DICOMDIR media as real discs deliver them: every instance present on the
medium ends up in the database exactly once, and the report names exactly what is
missing or not in the DICOMDIR."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from tests.media.conftest import (
    add_version_suffix,
    build_dcmmkdir_medium,
    build_fileset_medium,
    lower_case_names,
    sop_uid,
    zip_medium,
)
from viewer.core.imports import ImportProgress
from viewer.media import import_media
from viewer.media.dicomdir import read_dicomdir
from viewer.store import StudyStore

BUILDERS: dict[str, Callable[[Path, list[Path]], dict[str, Path]]] = {
    "dcmmkdir": build_dcmmkdir_medium,
    "fileset": build_fileset_medium,
}


def _find_dicomdir(root: Path) -> Path:
    return next(p for p in root.iterdir() if p.name.upper().startswith("DICOMDIR"))


def _assert_stored_once(store: StudyStore, uids: set[str]) -> None:
    assert store.has_instances(uids) == uids
    assert store.counts()["instances"] == len(uids)
    assert store.check() == []


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_clean_medium_imports_everything(
    builder: str, study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    placed = BUILDERS[builder](tmp_path / "disc", study_files)
    report = import_media([tmp_path / "disc"], store)
    _assert_stored_once(store, set(placed))
    assert report.instances_added == len(placed)
    assert report.studies_added == 10
    assert (report.failed, report.missing, report.not_in_dicomdir) == ([], [], [])
    assert report.ok and report.safe_to_eject


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize("damage", ["lower-case", "version-suffix", "both"])
def test_renamed_files_are_found(
    builder: str, damage: str, study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files)
    if damage in ("lower-case", "both"):
        lower_case_names(root)
    if damage in ("version-suffix", "both"):
        add_version_suffix(root)
    report = import_media([root], store)
    _assert_stored_once(store, set(placed))
    assert report.missing == []
    assert report.not_in_dicomdir == []  # the DICOMDIR still names every file
    assert report.ok


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_missing_files_are_reported_exactly(
    builder: str, study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files)
    gone = sorted(placed)[::7]
    deleted = []
    for uid in gone:
        deleted.append(placed.pop(uid))
        deleted[-1].unlink()
    report = import_media([root], store)
    _assert_stored_once(store, set(placed))
    assert not store.has_instances(gone)
    assert sorted(report.missing) == sorted(str(p) for p in deleted)
    assert report.failed == []
    assert not report.ok  # exit status 1: the DICOMDIR promised more
    assert report.safe_to_eject  # nothing readable was left on the medium


def test_missing_files_named_by_their_path(
    study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = build_dcmmkdir_medium(root, study_files)
    victim = placed[sorted(placed)[3]]
    victim.unlink()
    report = import_media([root], store)
    assert report.missing == [str(victim)]


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_files_not_in_dicomdir_are_imported_and_reported(
    builder: str, study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files[:30])
    extra_folder = root / "EXTRA"
    extra_folder.mkdir()
    extras = []
    for n, source in enumerate(study_files[30:]):
        extras.append(extra_folder / f"X{n:07d}")
        shutil.copyfile(source, extras[-1])
    (root / "README.TXT").write_text("not an image\n")
    report = import_media([root], store)
    _assert_stored_once(store, set(placed) | {sop_uid(p) for p in extras})
    assert sorted(report.not_in_dicomdir) == sorted(str(p) for p in extras)
    assert [p.path for p in report.skipped] == [str(root / "README.TXT")]
    assert report.ok


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize("damage", ["truncated", "removed", "bad-offsets", "garbage"])
def test_damaged_or_absent_dicomdir_loses_nothing(
    builder: str, damage: str, study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files)
    dicomdir = _find_dicomdir(root)
    data = dicomdir.read_bytes()
    if damage == "truncated":
        dicomdir.write_bytes(data[: len(data) // 2])
    elif damage == "removed":
        dicomdir.unlink()
    elif damage == "garbage":
        dicomdir.write_bytes(b"\x00" * 100)
    else:
        # PS3.3 F.3.2.1: move the root offset two bytes off its record (pydicom: KeyError).
        ds = pydicom.dcmread(dicomdir)
        ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity += 2
        ds.save_as(dicomdir)
    report = import_media([root], store)
    _assert_stored_once(store, set(placed))
    assert report.failed == []
    if damage == "truncated":
        assert any("DICOMDIR is damaged (truncated" in note for note in report.notes)
    if damage == "bad-offsets":
        assert any("inconsistent" in note for note in report.notes)
        assert report.missing == [] and report.not_in_dicomdir == []
    assert report.safe_to_eject


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_zipped_medium(
    builder: str, study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files)
    victim = placed.pop(sorted(placed)[0])
    victim.unlink()
    archive = tmp_path / "medium.zip"
    zip_medium(root, archive)
    shutil.rmtree(root)
    report = import_media([archive], store, work_dir=tmp_path / "work")
    _assert_stored_once(store, set(placed))
    assert len(report.missing) == 1 and report.missing[0].startswith(f"{archive}!/")
    assert report.missing[0].endswith(victim.name)
    assert list((tmp_path / "work").iterdir()) == []  # extracted files removed


def test_dicomdir_file_named_directly(
    study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = build_dcmmkdir_medium(root, study_files)
    report = import_media([root / "DICOMDIR"], store)
    _assert_stored_once(store, set(placed))
    assert report.ok


def test_reimport_adds_nothing(study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    root = tmp_path / "disc"
    placed = build_dcmmkdir_medium(root, study_files)
    import_media([root], store)
    again = import_media([root], store)
    assert again.instances_added == 0 and again.studies_added == 0
    assert again.instances_present == len(placed)
    assert store.counts()["instances"] == len(placed)
    assert again.ok


def test_progress_and_cancel(study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    root = tmp_path / "disc"
    build_dcmmkdir_medium(root, study_files)
    seen: list[ImportProgress] = []
    report = import_media([root], store, progress=lambda s: seen.append(replace(s)))
    phases = [s.phase for s in seen]
    assert phases[0] == "scan" and phases[-1] == "done" and "import" in phases
    assert seen[-1].files_done == report.files_seen
    assert seen[-1].studies_found == 10
    cancelled = import_media([root], StudyStore.open(tmp_path / "other"), cancel=lambda: True)
    assert cancelled.cancelled and not cancelled.safe_to_eject


def test_pydicom_dicomdir_test_set(store: StudyStore) -> None:
    root = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests"
    report = import_media([root], store)
    ds = pydicom.dcmread(root / "DICOMDIR")
    named = {
        str(r.ReferencedSOPInstanceUIDInFile)
        for r in ds.DirectoryRecordSequence
        if "ReferencedFileID" in r
    }
    assert store.has_instances(named) == named
    assert report.failed == [] and report.missing == []
    assert report.complete


def test_offset_corruption_really_breaks_fileset(study_files: list[Path], tmp_path: Path) -> None:
    """The damage above is the one real discs have: pydicom's FileSet cannot load it."""
    root = tmp_path / "disc"
    build_fileset_medium(root, study_files[:4])
    ds = pydicom.dcmread(root / "DICOMDIR")
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity += 2
    ds.save_as(root / "DICOMDIR")
    from pydicom.fileset import FileSet

    with pytest.raises(KeyError):
        FileSet(pydicom.dcmread(root / "DICOMDIR"))


def test_named_file_that_is_not_dicom_is_broken(
    study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = build_dcmmkdir_medium(root, study_files)
    victim_uid = sorted(placed)[5]
    victim = placed.pop(victim_uid)
    victim.write_bytes(b"\x00" * 64)  # the burn failed for this file
    report = import_media([root], store)
    _assert_stored_once(store, set(placed))
    assert [p.path for p in report.failed] == [str(victim)]
    assert "named in the DICOMDIR" in report.failed[0].reason
    assert not report.safe_to_eject


def test_folder_scan_finds_dicom_by_content_not_name(tmp_path: Path, store: StudyStore) -> None:
    from tests.support import testdata

    folder = tmp_path / "folder" / "deep" / "er"
    folder.mkdir(parents=True)
    shutil.copy(testdata.test_file("ExplVR_LitEndNoMeta.dcm"), folder / "NOPREAMBLE")
    shutil.copy(testdata.test_file("CT_small.dcm"), folder / "scan.txt")
    shutil.copy(testdata.test_file("MR_small_implicit.dcm"), folder / "image.JPG")
    (folder / "movie.avi").write_bytes(b"RIFF" + b"\x00" * 10_000)
    report = import_media([tmp_path / "folder"], store)
    assert report.instances_added == 3
    assert [p.path for p in report.skipped] == [str(folder / "movie.avi")]
    assert report.ok


def test_dicomdir_with_iso_2022_names(tmp_path: Path, store: StudyStore) -> None:
    """media-dicomdir.md test 7: chrH31 (ISO 2022 IR 87) on a dcmmkdir disc (``+I``)."""
    import subprocess

    from tests.support import testdata

    root = tmp_path / "disc"
    (root / "IMAGES").mkdir(parents=True)
    for n, name in enumerate(("chrH31.dcm", "chrX1.dcm", "chrGreek.dcm")):
        shutil.copy(testdata.charset_file(name), root / "IMAGES" / f"IM{n:06d}")
    if shutil.which("dcmmkdir") is None:
        pytest.skip("dcmtk's dcmmkdir is not installed")
    subprocess.run(
        ["dcmmkdir", "+r", "-Pgp", "+I", "+id", str(root), "+D", str(root / "DICOMDIR"),
         "IMAGES"],
        check=True, capture_output=True, cwd=root,
    )
    lower_case_names(root)
    report = import_media([root], store)
    assert report.ok and report.instances_added == 3
    names = {s.patient.patient_name for s in store.studies()}
    assert names == {"Yamada^Tarou=山田^太郎=やまだ^たろう", "Wang^XiaoDong=王^小東", "Διονυσιος"}


def test_a_big_endian_dicomdir_is_not_called_damaged(tmp_path: Path) -> None:
    # pydicom's DICOMDIR-bigEnd (Explicit VR Big Endian, PS3.5 A.3) was walked as little
    # endian and noted as "truncated inside element (4955,3000)".
    source = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests"
    medium = tmp_path / "medium"
    medium.mkdir()
    shutil.copy(source / "DICOMDIR-bigEnd", medium / "DICOMDIR")
    contents = read_dicomdir(medium / "DICOMDIR")
    assert contents.entries and not [n for n in contents.notes if "damaged" in n]
    # A really truncated one still is.
    data = (source / "DICOMDIR").read_bytes()
    (medium / "DICOMDIR").write_bytes(data[: len(data) // 2])
    assert [n for n in read_dicomdir(medium / "DICOMDIR").notes if "damaged" in n]


def test_a_file_renamed_on_the_medium_is_not_missing(
    study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    # The DICOMDIR's record names the instance it meant: found under another name, the
    # image is on the medium and in the store, so nothing is missing.
    root = tmp_path / "disc"
    placed = build_dcmmkdir_medium(root, study_files)
    uid = sorted(placed)[2]
    moved = placed[uid].rename(root / "RENAMED.DCM")
    report = import_media([root], store)
    assert report.missing == [] and report.ok and report.safe_to_eject
    assert store.has_instances([uid]) == {uid}
    assert str(moved) in report.not_in_dicomdir
    assert any("found under another name" in note for note in report.notes)


def test_files_named_one_by_one_are_read_as_one_medium(
    study_files: list[Path], tmp_path: Path, store: StudyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `lightbox import ~/Downloads/*`: taken one source at a time, every file had an
    # import of its own, with its own flush of the disk and commit.
    imports: list[int] = []
    real = store.import_files

    def counted(paths: list[Path], **kwargs: object) -> object:
        imports.append(len(paths))
        return real(paths, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "import_files", counted)
    readme = tmp_path / "README.TXT"
    readme.write_text("not an image\n")
    given = [*study_files[:20], readme, *study_files[20:]]
    report = import_media(given, store)
    assert imports == [len(given)]
    _assert_stored_once(store, {sop_uid(p) for p in study_files})
    assert report.instances_added == len(study_files) and report.studies_added == 10
    assert sorted(report.sources) == sorted(map(str, given))
    assert [p.path for p in report.skipped] == [str(readme)]
    assert report.no_dicom_found == [] and report.failed == []
    assert report.ok and report.safe_to_eject


def test_files_named_one_by_one_without_dicom_are_each_named(
    tmp_path: Path, store: StudyStore
) -> None:
    given = [tmp_path / "AUTORUN.INF", tmp_path / "README.TXT"]
    for path in given:
        path.write_text("not an image\n")
    report = import_media(given, store)
    assert report.no_dicom_found == [str(p) for p in given]
    assert not report.safe_to_eject
