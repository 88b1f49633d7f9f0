"""Zip archives that are too large to extract, and cancelling while one is extracted."""

from __future__ import annotations

import shutil
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest

import viewer.media.zip_extract as zip_extract
from viewer.media import import_media
from viewer.store import StudyStore


def _zip(files: list[Path], archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, path in enumerate(files):
            zf.write(path, f"IMAGES/IM{n:06d}")
    return archive


def test_an_archive_larger_than_the_free_space_is_refused_and_the_rest_imported(
        study_files: list[Path], tmp_path: Path, store: StudyStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip(study_files[:4], tmp_path / "medium.zip")
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in study_files[4:6]:
        shutil.copy(path, folder)
    # A disk with 1,000 bytes free cannot be made here; the store's own check of free space can.
    usage = namedtuple("usage", "total used free")
    real = shutil.disk_usage

    def nearly_full(path: str | Path) -> object:
        found = real(path)
        return usage(found.total, found.total - 1_000, 1_000)

    monkeypatch.setattr(zip_extract.shutil, "disk_usage", nearly_full)
    expanded = sum(p.stat().st_size for p in study_files[:4])
    assert expanded > 1_000
    report = import_media([archive, folder], store, work_dir=tmp_path / "work")
    (problem,) = report.failed
    assert problem.path == str(archive)
    assert "expands to" in problem.reason and "1,000 bytes free" in problem.reason
    assert report.instances_added == 2  # the folder after it
    assert not any((tmp_path / "work").iterdir())  # nothing left extracted


def test_cancel_stops_the_extraction_and_leaves_nothing(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    archive = _zip(study_files[:20], tmp_path / "medium.zip")
    work = tmp_path / "work"

    def extracted_one() -> bool:
        return work.exists() and any(p.is_file() for p in work.rglob("IM*"))

    report = import_media([archive], store, cancel=extracted_one, work_dir=work)
    assert report.cancelled
    assert report.instances_added == 0
    assert not any(work.iterdir())


def test_a_damaged_member_is_reported_once_and_the_others_imported(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # A member whose stored bytes were damaged fails its CRC check: what was extracted
    # before the check was left behind and reported a second time, as "not DICOM".
    archive = tmp_path / "medium.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for n, path in enumerate(study_files[:3]):
            zf.write(path, f"IMAGES/IM{n:06d}")
    data = bytearray(archive.read_bytes())
    data[data.find(b"IMAGES/IM000001") + 15 + 1000] ^= 0xFF  # inside that member's data
    archive.write_bytes(bytes(data))
    report = import_media([archive], store)
    assert [(p.path, p.reason.split(":")[0]) for p in report.failed] == [
        (f"{archive}!/IMAGES/IM000001", "cannot extract")]
    assert report.skipped == []
    assert report.instances_added == 2 and not report.safe_to_eject


def test_directory_entries_sharing_one_member_s_data_are_extracted_once(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # APPNOTE 4.3.6: every member has its own local header; entries pointing at one member's
    # repeat its data without storing it (a few kilobytes naming gigabytes)
    archive = tmp_path / "medium.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(study_files[0], "IMAGES/IM000000")
        zf.write(study_files[1], "IMAGES/IM000001")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.write(study_files[0], "IMAGES/IM000000")
    data = bytearray(archive.read_bytes())
    entries = [i for i in range(len(data)) if data[i:i + 4] == b"PK\x01\x02"]
    first_offset = data[entries[0] + 42:entries[0] + 46]
    data[entries[2] + 42:entries[2] + 46] = first_offset  # the third entry: the first's data
    archive.write_bytes(bytes(data))
    report = import_media([archive], store, work_dir=tmp_path / "work")
    assert report.instances_added == 2
    (problem,) = report.failed
    assert problem.path.startswith(f"{archive}!/IMAGES/IM000000")
    assert "overlapping entries" in problem.reason


def test_a_member_name_deeper_than_any_file_system_is_refused_by_name(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    archive = tmp_path / "medium.zip"
    deep = "a/" * 5000 + "IM000000"  # the folders of such a name took memory squared
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(study_files[0], deep)
        zf.write(study_files[1], "IMAGES/IM000001")
    report = import_media([archive], store, work_dir=tmp_path / "work")
    assert report.instances_added == 1
    (problem,) = report.failed
    assert problem.path == f"{archive}!/{deep[:117]}..."
    assert "10,008 characters, 5,000 folders deep" in problem.reason


def _nested_bomb(archive: Path, fanout: int, leaf: bytes) -> Path:
    """A zip of ``fanout`` zips of ``fanout`` copies of ``leaf``: each level multiplies
    what the one inside it holds, a few kilobytes for all of it."""
    inner = tmp = archive.with_suffix(".inner")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(fanout):
            zf.writestr(f"LEAF{n:03d}.DCM", leaf)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(fanout):
            zf.write(inner, f"PART{n:03d}.ZIP")
    inner.unlink()
    return archive


def test_nested_zips_share_one_budget_and_the_images_beside_them_import(
        study_files: list[Path], tmp_path: Path, store: StudyStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Per member and per archive, each limit held while nesting multiplied the writes: a
    # 28 KB zip wrote 2.7 GB. The budget is scaled down here (1 GiB beyond 100 times the
    # zips' size in use) so that a test can reach it.
    import viewer.media.zip_budget as zip_budget

    monkeypatch.setattr(zip_budget, "BUDGET_FLOOR", 1_000_000)
    medium = tmp_path / "medium"
    medium.mkdir()
    bomb = _nested_bomb(medium / "BOMB.ZIP", fanout=8, leaf=bytes(100_000))
    assert bomb.stat().st_size < 5_000  # 6.4 MB inside
    for n, path in enumerate(study_files[:3]):
        shutil.copy(path, medium / f"IM{n}.DCM")
    report = import_media([medium], store, work_dir=tmp_path / "work")
    assert report.instances_added == 3
    refused = [p for p in report.failed if "this import may still extract from zips" in p.reason]
    extracted = [p for p in report.skipped if "!/LEAF" in p.path]
    # The first inner zip (0.8 MB) fits the budget (1 MB + 100 x the outer zip's 2 KB);
    # the other seven are refused whole, each named, none half-extracted.
    assert len(extracted) == 8 and all("PART000.ZIP!/" in p.path for p in extracted)
    assert sorted(p.path for p in refused) == [f"{bomb}!/PART{n:03d}.ZIP" for n in range(1, 8)]
    assert "extract the zip with another tool" in refused[0].reason
