"""Media that lose images unless read with care: zip members that share one name, zips
named as an ISO 9660 mount shows them, symbolic links that lead off the medium, and zip
members that expand far beyond any image. Every image on the medium arrives once, and
what is not imported is named in the report."""

from __future__ import annotations

import os
import shutil
import unicodedata
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.media.conftest import build_fileset_medium, sop_uid
from tests.support.series import write_ct_series, write_mr_series
from tests.support.small_disk import small_disk
from viewer.core.imports import FileProblem
from viewer.media import import_media
from viewer.media.scan import walk
from viewer.media.zip_extract import extract_zip
from viewer.store import StudyStore

MiB = 1 << 20
OUTSIDE = "a link to outside the medium"  # the reason docs/import.md gives
BOMB = 102 * MiB  # past 100 MB, and deflated about 1000:1


@pytest.fixture
def slices(tmp_path: Path) -> list[Path]:
    """Four slices of one synthetic CT study, small enough to import at once."""
    return write_ct_series(tmp_path / "ct", slices=4, rows=16, cols=16)


def _reasons(problems: list[FileProblem]) -> dict[str, str]:
    return {p.path: p.reason for p in problems}


def _write(archive: Path, members: list[tuple[str, bytes | Path]]) -> Path:
    """A zip holding ``members`` in order, names as given (repeats included)."""
    with warnings.catch_warnings(), zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": the point of these archives
        for name, data in members:
            if isinstance(data, Path):
                zf.write(data, name)
            else:
                zf.writestr(name, data)
    return archive


def _zeros(archive: Path, name: str, size: int, *, image: Path | None = None) -> Path:
    """A zip of ``size`` bytes of zeros (deflated about 1000:1), after ``image`` if given."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        if image is not None:
            zf.write(image, "IMAGES/IM000001")
        with zf.open(name, "w", force_zip64=True) as out:
            for _ in range(size // MiB):
                out.write(bytes(MiB))
    return archive


# -- members that share a name ---------------------------------------------------------


def test_members_sharing_a_name_are_each_imported(
    slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    a, b, c, d = slices
    archive = _write(tmp_path / "dup.zip", [
        ("IMAGES/IM000001", a), ("IMAGES/IM000001", b),  # one name twice
        ("IMAGES\\IM000002", c), ("IMAGES/IM000002", d),  # one name once \ is a folder
    ])
    report = import_media([archive], store, work_dir=tmp_path / "work")
    assert report.instance_uids == {sop_uid(p) for p in slices}
    assert store.has_instances(report.instance_uids) == report.instance_uids
    assert report.failed == [] and report.skipped == []
    assert report.ok and report.safe_to_eject
    # The report says why two files carry names the archive did not give them.
    assert [n.split(": ")[0] for n in report.notes] == [
        f"{archive}!/IMAGES/IM000001", f"{archive}!/IMAGES/IM000002"]


def test_no_two_members_share_a_file_even_where_case_is_ignored(tmp_path: Path) -> None:
    names = [
        "IMAGES/IM000001", "images/im000001", "IMAGES/IM000001.", "IMAGES//IM000001",
        "IMAGES/./IM000001 ",  # Windows drops trailing dots and spaces; "." and "" are no folder
        "Caf\u00e9/IM1", "Cafe\u0301/IM1",  # one name to macOS (NFC and NFD)
        "REPORT", "report/IM1",  # a file named like a folder
        "IMAGES/IM000001 (1 of 5)",  # a member already named as a renamed one would be
        "IMAGES/IM000009",  # shares its name with nothing: keeps it
    ]
    archive = _write(tmp_path / "names.zip", [(n, f"member {i}".encode())
                                              for i, n in enumerate(names)])
    into = tmp_path / "into"
    into.mkdir()
    notes: list[str] = []

    assert extract_zip(archive, into, notes=notes) == []

    files = {p.relative_to(into).as_posix(): p.read_bytes()
             for p in into.rglob("*") if p.is_file()}
    assert sorted(files.values()) == sorted(f"member {i}".encode() for i in range(len(names)))
    # On a home that ignores case and normalisation, no two of them are one file either.
    folded = {unicodedata.normalize("NFD", name.casefold()).rstrip(". ") for name in files}
    assert len(folded) == len(files)
    assert files["IMAGES/IM000009"] == f"member {len(names) - 1}".encode()
    assert files["report/IM1"] == f"member {names.index('report/IM1')}".encode()
    assert len(notes) == 3  # the IM000001 group, the two IM1 in Café, REPORT
    assert f"{archive}!/IMAGES/IM000001: 5 members of the zip archive have this name" in notes[0]


def test_a_dicomdir_naming_one_of_two_members_sharing_a_name(
    slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    disc = tmp_path / "disc"
    placed = build_fileset_medium(disc, slices[:3])
    named = placed[sop_uid(slices[0])].relative_to(disc).as_posix()
    members: list[tuple[str, bytes | Path]] = [
        (p.relative_to(disc).as_posix(), p) for p in sorted(disc.rglob("*")) if p.is_file()]
    archive = _write(tmp_path / "disc.zip", [*members, (named, slices[3])])  # appended later

    report = import_media([archive], store, work_dir=tmp_path / "work")

    assert report.instance_uids == {sop_uid(p) for p in slices}
    # The record is matched by its SOP Instance UID: nothing is missing, nothing failed.
    assert report.missing == [] and report.failed == []
    assert report.ok and report.safe_to_eject


# -- zips named as ISO 9660 mounts show them --------------------------------------------


def test_zip_names_as_mounts_show_them(tmp_path: Path) -> None:
    zips = ["STUDY.ZIP;1", "STUDY1.ZIP.", "STUDY2.ZIP.;1", "study3.Zip"]
    others = ["STUDY.ZIPX", "ZIP", "STUDY.ZIP.BAK", "IM000001;1"]
    for name in zips + others:
        (tmp_path / name).write_bytes(b"")
    listing = walk(tmp_path)
    assert sorted(p.name for p in listing.zips) == sorted(zips)
    assert sorted(p.name for p in listing.files) == sorted(others)


@pytest.mark.parametrize("name", ["STUDY.ZIP;1", "STUDY.ZIP.", "STUDY.ZIP.;1"])
def test_a_zip_on_an_iso_9660_mount_is_imported(
    name: str, slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    medium = tmp_path / "cdrom"
    medium.mkdir()
    shutil.copy(slices[0], medium / "CT000001")  # the current study beside the zipped prior
    (medium / "README.TXT").write_text("The prior study is in STUDY.ZIP\n")
    _write(medium / name, [(f"IM{n}", p) for n, p in enumerate(slices[1:])])
    report = import_media([medium], store, work_dir=tmp_path / "work")
    assert report.instance_uids == {sop_uid(p) for p in slices}
    assert _reasons(report.skipped) == {str(medium / "README.TXT"): "not a DICOM file"}
    assert report.ok and report.safe_to_eject


def test_a_damaged_zip_named_as_a_mount_shows_it_is_still_a_zip(
    tmp_path: Path, store: StudyStore
) -> None:
    medium = tmp_path / "cdrom"
    medium.mkdir()
    damaged = medium / "STUDY.ZIP;1"
    damaged.write_text("the archive's first sector could not be read")
    report = import_media([medium], store, work_dir=tmp_path / "work")
    # a zip that cannot be read is a failure, never "not DICOM": the medium is not safe to eject
    assert list(_reasons(report.failed)) == [str(damaged)]
    assert "zip" in _reasons(report.failed)[str(damaged)].lower()
    assert report.skipped == [] and not report.safe_to_eject


# -- links that lead off the medium -----------------------------------------------------


def test_a_link_off_the_medium_is_skipped_not_followed(
    slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    medium = tmp_path / "medium"
    (medium / "real").mkdir(parents=True)
    shutil.copy(slices[0], medium / "real" / "CT000001")
    elsewhere = tmp_path / "another_patients_archive"
    other = write_mr_series(elsewhere, slices=2, rows=16, cols=16, patient_name="OTHER^PATIENT",
                            patient_id="OTHER-1")
    (medium / "LINK").symlink_to(elsewhere)  # another patient's folder on this computer
    (medium / "UP").symlink_to(tmp_path)  # a folder above the medium, as "/" is
    (medium / "OTHER.dcm").symlink_to(other[0])  # a file off the medium
    (medium / "GONE").symlink_to(tmp_path / "nowhere")  # off the medium, and absent
    (medium / "alias").symlink_to(medium / "real")  # inside, by its absolute path
    (medium / "real" / "CT-link").symlink_to("CT000001")  # a file inside

    report = import_media([medium], store, work_dir=tmp_path / "work")

    assert report.instance_uids == {sop_uid(slices[0])}
    assert _reasons(report.skipped) == {
        str(medium / "LINK"): f"{OUTSIDE}: {elsewhere}",
        str(medium / "UP"): f"{OUTSIDE}: {tmp_path}",
        str(medium / "OTHER.dcm"): f"{OUTSIDE}: {other[0]}",
        str(medium / "GONE"): f"{OUTSIDE}: {tmp_path / 'nowhere'}",
        str(medium / "alias"): "link to a folder already read",
    }
    assert report.failed == [] and store.counts()["instances"] == 1
    assert report.ok and report.safe_to_eject
    # The links inside the medium are followed as before.
    assert sorted(p.relative_to(medium).as_posix() for p in walk(medium).files) == [
        "real/CT-link", "real/CT000001"]


def test_a_medium_named_through_a_link_keeps_its_own_links(
    slices: list[Path], tmp_path: Path
) -> None:
    medium = tmp_path / "medium"
    (medium / "a").mkdir(parents=True)
    (medium / "b").mkdir()
    shutil.copy(slices[0], medium / "a" / "IM1")
    (medium / "b" / "to-a").symlink_to(medium / "a" / "IM1")
    (medium / "b" / "up").symlink_to(os.path.join("..", "a"))
    mount = tmp_path / "cdrom"
    mount.symlink_to(medium)  # the mount point is a link, as /media/cdrom often is

    listing = walk(mount)

    assert sorted(p.relative_to(mount).as_posix() for p in listing.files) == ["a/IM1", "b/to-a"]
    assert _reasons(listing.skipped) == {str(mount / "b" / "up"): "link to a folder already read"}
    assert listing.problems == []


# -- zip bombs and the space an archive needs -------------------------------------------


def test_a_member_expanding_beyond_any_image_is_refused(
    slices: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    archive = _zeros(tmp_path / "bomb.zip", "IMAGES/ZEROS.BIN", BOMB, image=slices[0])
    assert archive.stat().st_size < BOMB // 1000 + 64 * 1024
    into = tmp_path / "into"
    into.mkdir()

    (problem,) = extract_zip(archive, into)

    assert problem.path == f"{archive}!/IMAGES/ZEROS.BIN"
    assert problem.reason.startswith("not extracted: it would expand from ")
    assert "far more than any image compresses" in problem.reason
    assert [p.name for p in into.rglob("*") if p.is_file()] == ["IM000001"]
    report = import_media([archive], store, work_dir=tmp_path / "work")
    assert _reasons(report.failed) == {problem.path: problem.reason}
    assert report.instance_uids == {sop_uid(slices[0])} and not report.safe_to_eject


def test_ordinary_and_small_members_are_never_taken_for_bombs(tmp_path: Path) -> None:
    # Small, however well compressed (a blank image); and large at an image's ratio.
    blank = _zeros(tmp_path / "blank.zip", "BLANK", 8 * MiB)
    (info,) = zipfile.ZipFile(blank).infolist()
    assert info.file_size > 500 * info.compress_size  # as well compressed as a bomb
    into = tmp_path / "into"
    into.mkdir()
    assert extract_zip(blank, into) == []
    assert (into / "BLANK").stat().st_size == 8 * MiB


@pytest.fixture
def small_home_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system of 100 MiB for the extraction (a tmpfs; needs root)."""
    with small_disk(tmp_path / "disk", "100m") as mounted:
        yield mounted


def test_the_space_check_counts_the_stores_copy_and_a_margin(
    small_home_disk: Path, tmp_path: Path
) -> None:
    free = shutil.disk_usage(small_home_disk).free
    # Fits the free space once, and twice (its copy in the store) but for the margin.
    size = (free // 2 - 2 * MiB) // MiB * MiB
    assert size < free < 2 * size + 5 * MiB
    large = _zeros(tmp_path / "large.zip", "IMAGES/IM000001", size)
    into = small_home_disk / "zip-large"
    into.mkdir()

    (problem,) = extract_zip(large, into)

    assert problem.path == str(large)
    assert problem.reason.startswith(f"zip archive expands to {size / 1e6:.1f} MB, and needs ")
    assert "more than the" in problem.reason and "free some space" in problem.reason
    assert not any(into.iterdir())
    small = _zeros(tmp_path / "small.zip", "IMAGES/IM000001", MiB)  # 2 MiB + margin: fits
    into = small_home_disk / "zip-small"
    into.mkdir()
    assert extract_zip(small, into) == []
    assert (into / "IMAGES" / "IM000001").stat().st_size == MiB
