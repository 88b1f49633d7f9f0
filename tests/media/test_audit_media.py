"""Import audit: zip members that cannot be extracted, non-DICOM files named among media,
DICOMDIRs under other names, sources inside sources, and backslashes in zip member names.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.media.conftest import build_fileset_medium, sop_uid
from tests.support.series import write_ct_series
from viewer.core.records import StudyFilter
from viewer.media import import_media
from viewer.store import StudyStore


@pytest.fixture
def slices(tmp_path: Path) -> list[Path]:
    """Three slices of one synthetic CT study."""
    return write_ct_series(tmp_path / "ct", slices=3, rows=16, cols=16)


def _encrypted_zip(archive: Path, member: Path) -> None:
    """``archive`` holding ``member`` (by its name) encrypted with a password, and nothing
    else: written by Info-ZIP's ``zip -P``, or where it is missing, with the encryption flag
    set in both headers (all zipfile looks at)."""
    if shutil.which("zip"):
        subprocess.run(["zip", "-q", "-P", "secret", str(archive), member.name],
                       cwd=member.parent, check=True)
        return
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(member, member.name)
    data = bytearray(archive.read_bytes())
    struct.pack_into("<H", data, 6, struct.unpack_from("<H", data, 6)[0] | 1)  # local header
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 1)
    archive.write_bytes(bytes(data))


def _damaged_deflate_zip(archive: Path, member: Path) -> None:
    """A deflated member whose compressed stream is garbage in the middle (zlib.error)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(member, member.name)
    data = bytearray(archive.read_bytes())
    start = 30 + len(member.name) + 10  # inside the member's compressed data
    for index in range(start, start + 40):
        data[index] ^= 0xFF
    archive.write_bytes(bytes(data))


def _deflate64_zip(archive: Path, member: Path) -> None:
    """A member whose headers say compression method 9 (Deflate64), which zipfile lacks."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.write(member, member.name)
    data = bytearray(archive.read_bytes())
    struct.pack_into("<H", data, 8, 9)
    struct.pack_into("<H", data, data.find(b"PK\x01\x02") + 10, 9)
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize(("make", "reason"), [
    (_encrypted_zip, "cannot extract: encrypted (password-protected) zip member; "),
    (_damaged_deflate_zip, "cannot extract: damaged zip member (Error -3 while decompressing"),
    (_deflate64_zip, "cannot extract: zip compression method 9 not supported; "),
])
def test_a_member_that_cannot_be_extracted_is_reported_and_the_rest_imported(
    make: object, reason: str, slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    medium = tmp_path / "medium"
    medium.mkdir()
    shutil.copy(slices[0], medium / "CT0001.dcm")
    archive = medium / "bad.zip"
    assert callable(make)
    make(archive, slices[1])
    later = tmp_path / "later"  # a source after the bad zip: read too
    later.mkdir()
    shutil.copy(slices[2], later / "CT0003.dcm")
    report = import_media([medium, later], store)
    assert [(p.path, p.reason[:len(reason)]) for p in report.failed] == [
        (f"{archive}!/{slices[1].name}", reason)]
    assert report.instance_uids == {sop_uid(slices[0]), sop_uid(slices[2])}
    assert report.sources == [str(medium), str(later)]
    assert not report.safe_to_eject and not report.ok
    assert not any((tmp_path / "home").glob("tmp/*/*"))  # nothing extracted is left


def test_a_non_dicom_file_named_among_media_is_only_skipped(
    slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    # import disc/*: the images and a README.TXT, each its own source.
    disc = tmp_path / "disc"
    disc.mkdir()
    for path in slices:
        shutil.copy(path, disc / path.name)
    (disc / "README.TXT").write_text("viewer readme\n")
    (disc / "autorun.inf").write_text("[autorun]\n")
    report = import_media(sorted(disc.iterdir()), store)
    assert report.no_dicom_found == []
    assert sorted((p.path, p.reason) for p in report.skipped) == [
        (str(disc / "README.TXT"), "not a DICOM file"),
        (str(disc / "autorun.inf"), "not a DICOM file")]
    assert len(report.instance_uids) == 3 and report.safe_to_eject and report.ok


def test_without_dicom_in_any_source_a_plain_file_is_still_no_dicom_found(
    tmp_path: Path, store: StudyStore
) -> None:
    readme = tmp_path / "README.TXT"
    readme.write_text("viewer readme\n")
    empty = tmp_path / "cdrom"
    empty.mkdir()
    report = import_media([readme, empty], store)
    assert report.no_dicom_found == [str(readme), str(empty)]
    assert not report.safe_to_eject and not report.ok


def _medium_without_one_file(root: Path, files: list[Path], name: str) -> Path:
    """A file-set of ``files`` whose DICOMDIR is called ``name``, its last image gone."""
    placed = build_fileset_medium(root, files)
    (root / "DICOMDIR").rename(root / name)
    gone = placed[sop_uid(files[-1])]
    gone.unlink()
    return gone


@pytest.mark.parametrize("name", ["DICOMDIR.DCM", "dicomdir.dcm", "INDEX"])
@pytest.mark.parametrize("given", ["folder", "file"])
def test_a_dicomdir_under_another_name_is_the_mediums_dicomdir(
    name: str, given: str, slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    gone = _medium_without_one_file(root, slices, name)
    report = import_media([root if given == "folder" else root / name], store)
    assert report.missing == [str(gone)]
    assert report.skipped == [] and report.failed == [] and report.not_in_dicomdir == []
    assert report.instance_uids == {sop_uid(p) for p in slices[:2]}
    (study,) = store.studies(StudyFilter())
    assert (study.expected_instances, study.missing_instances) == (3, 1)


@pytest.mark.parametrize("inner", ["CT0001.dcm", "DICOMDIR", "DICOMDIR.DCM"])
def test_a_source_inside_another_source_is_read_with_it(
    inner: str, slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    folder = tmp_path / "disc"
    if inner == "CT0001.dcm":
        shutil.copytree(slices[0].parent, folder)
    else:
        build_fileset_medium(folder, slices)
        (folder / "DICOMDIR").rename(folder / inner)
    report = import_media([folder, folder / inner], store)
    assert report.sources == [str(folder)]
    examined = 4 if inner == "DICOMDIR.DCM" else 3  # read to learn it is a DICOMDIR
    assert (report.files_seen, report.instances_added, report.instances_present) == (
        examined, 3, 0)
    assert report.ok and report.safe_to_eject


def test_a_folder_inside_a_dicomdirs_medium_is_read_with_it(
    slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    # import disc/*: the folders beside the DICOMDIR belong to its medium.
    disc = tmp_path / "disc"
    placed = build_fileset_medium(disc, slices)
    first_folder = disc / placed[sop_uid(slices[0])].relative_to(disc).parts[0]
    report = import_media([first_folder, disc / "DICOMDIR"], store)
    assert report.sources == [str(disc / "DICOMDIR")]
    assert (report.files_seen, report.instances_added, report.instances_present) == (3, 3, 0)
    assert report.ok and report.not_in_dicomdir == []


def test_backslashes_in_zip_member_names_are_folders(
    slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    disc = tmp_path / "disc"
    build_fileset_medium(disc, slices)
    archive = tmp_path / "windows.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # as .NET 4.5's ZipFile writes them
        for path in sorted(disc.rglob("*")):
            if path.is_file():
                zf.write(path, "\\".join(path.relative_to(disc).parts))
    report = import_media([archive], store)
    assert report.missing == [] and report.not_in_dicomdir == [] and report.notes == []
    assert report.instance_uids == {sop_uid(p) for p in slices}
    assert report.ok and report.safe_to_eject


@pytest.mark.parametrize("member", ["..\\outside.dcm", "IMAGES\\..\\..\\outside.dcm",
                                    "\\outside.dcm", "C:\\outside.dcm", "c:outside.dcm"])
def test_unsafe_backslash_names_are_still_refused(
    member: str, slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    archive = tmp_path / "unsafe.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(slices[0], "IMAGES\\IM000001")
        zf.write(slices[1], member)
    work = tmp_path / "work"
    report = import_media([archive], store, work_dir=work)
    assert [(p.path, p.reason) for p in report.failed] == [
        (f"{archive}!/{member}", "unsafe name")]
    assert report.instance_uids == {sop_uid(slices[0])}
    assert not (tmp_path / "outside.dcm").exists() and not (work / "outside.dcm").exists()
