"""Sources at the edges: damaged zips, files that only look like a DICOMDIR by name,
symbolic links and loops, FIFOs and devices, empty mount points, file names that are not
UTF-8. Each is either imported, or named in the report with what is wrong with it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from tests.media.conftest import build_fileset_medium, sop_uid
from tests.support import testdata
from viewer.core.imports import FileProblem, ImportReport
from viewer.media import import_media
from viewer.store import StudyStore

CT = testdata.test_file("CT_small.dcm")
MR = testdata.test_file("MR_small.dcm")


def _good_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(CT, "CT_small.dcm")
        zf.write(MR, "MR_small.dcm")
    return path


def _reasons(problems: list[FileProblem]) -> dict[str, str]:
    return {p.path: p.reason for p in problems}


def test_a_damaged_zip_fails_and_the_rest_is_imported(tmp_path: Path, store: StudyStore) -> None:
    folder = tmp_path / "medium"
    folder.mkdir()
    shutil.copy(CT, folder / "CT_small.dcm")
    good = _good_zip(tmp_path / "good.zip").read_bytes()
    (folder / "trunc.zip").write_bytes(good[: len(good) // 2])  # no central directory
    (folder / "g.zip").write_bytes(b"PK\x03\x04garbage")
    (folder / "text.zip").write_text("not an archive at all")
    # Named on the command line, a zip is known by its signature whatever its name.
    direct = tmp_path / "export"
    direct.write_bytes(good[: len(good) // 2])
    empty = tmp_path / "empty-archive"
    empty.write_bytes(b"PK\x05\x06" + b"\x00" * 5)  # a damaged end-of-archive record

    report = import_media([folder, direct, empty], store, work_dir=tmp_path / "work")

    failed = _reasons(report.failed)
    expected = [folder / "trunc.zip", folder / "g.zip", folder / "text.zip", direct, empty]
    assert set(failed) == {str(p) for p in expected}
    assert all(r.startswith("zip archive cannot be read: ") for r in failed.values()), failed
    assert report.instance_uids == {sop_uid(CT)}
    assert store.has_instances({sop_uid(CT)}) == {sop_uid(CT)}
    assert not report.safe_to_eject and not report.ok
    assert report.no_dicom_found == []  # the zips failed: that is no empty medium


def test_a_dicom_file_whose_preamble_starts_like_a_zip_is_imported_as_dicom(
        tmp_path: Path, store: StudyStore) -> None:
    # PS3.10 7.1 leaves the preamble to the application: a file that is also another
    # format (the dual-format files of 7.5) may start with that format's signature. The
    # DICM prefix decides, as it does for every other file.
    ds = pydicom.dcmread(CT)
    ds.preamble = b"PK\x03\x04" + bytes(124)
    named = tmp_path / "download" / "export"
    named.parent.mkdir()
    ds.save_as(named)
    for source in (named, named.parent):
        report = import_media([source], store)
        assert report.failed == [] and report.skipped == []
        assert len(report.instance_uids) == 1 and report.safe_to_eject


@pytest.mark.parametrize("name", ["dicomdir_export_patient1.dcm", "DICOMDIR-empty.dcm",
                                  "DicomDir.bak"])
def test_a_file_named_like_a_dicomdir_is_imported_on_its_own(
    name: str, tmp_path: Path, store: StudyStore
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(CT, folder / name)
    shutil.copy(MR, folder / "other.dcm")
    report = import_media([folder / name], store)
    assert report.instance_uids == {sop_uid(CT)}
    assert store.counts()["instances"] == 1


def test_pydicoms_empty_dicomdir_stands_for_its_folder(
    tmp_path: Path, store: StudyStore
) -> None:
    # A DICOMDIR is known by its SOP Class, whatever its name: named directly, it stands
    # for its medium as DICOMDIR does (an image named like one does not: see above).
    folder = tmp_path / "export"
    folder.mkdir()
    empty = testdata.test_file("DICOMDIR-empty.dcm")
    shutil.copy(empty, folder / empty.name)
    shutil.copy(MR, folder / "other.dcm")
    report = import_media([folder / empty.name], store)
    assert report.instance_uids == {sop_uid(MR)} and store.counts()["instances"] == 1
    assert report.skipped == [] and report.sources == [str(folder / empty.name)]
    assert report.notes == [f"{folder / empty.name}: DICOMDIR lists no records"]


@pytest.mark.parametrize("name", ["dicomdir", "DICOMDIR;1", "DICOMDIR.", "DICOMDIR.;1"])
def test_a_real_dicomdir_name_stands_for_the_whole_medium(
    name: str, study_files: list[Path], tmp_path: Path, store: StudyStore
) -> None:
    root = tmp_path / "disc"
    placed = build_fileset_medium(root, study_files[:3])
    (root / "DICOMDIR").rename(root / name)
    report = import_media([root / name], store)
    assert report.instance_uids == set(placed)
    assert report.ok and report.safe_to_eject


def test_links_to_folders_are_followed_once(tmp_path: Path, store: StudyStore) -> None:
    medium = tmp_path / "medium"
    (medium / "real").mkdir(parents=True)
    shutil.copy(CT, medium / "real" / "CT_small.dcm")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(MR, outside / "MR_small.dcm")
    (medium / "alias").symlink_to("real")  # a working link into the medium
    (medium / "real" / "up").symlink_to("..")  # a loop
    (medium / "out").symlink_to(outside)  # a folder off the medium: not followed
    (outside / "back").symlink_to(medium)  # a loop through it, never reached
    (medium / "file-link.dcm").symlink_to(medium / "real" / "CT_small.dcm")
    (medium / "broken").symlink_to("nowhere")
    (medium / "self").symlink_to("self")

    report = import_media([medium], store)

    assert _reasons(report.failed) == {
        str(medium / "broken"): "broken link",
        str(medium / "self"): "broken link (Too many levels of symbolic links)",
    }
    assert _reasons(report.skipped) == {
        str(medium / "alias"): "link to a folder already read",
        str(medium / "real" / "up"): "link to a folder already read",
        str(medium / "out"): f"a link to outside the medium: {outside}",  # not on the medium
    }
    assert report.instance_uids == {sop_uid(CT)}
    assert store.counts()["instances"] == 1


def test_without_links_the_walk_is_unchanged(study_files: list[Path], tmp_path: Path,
                                             store: StudyStore) -> None:
    root = tmp_path / "disc"
    placed = build_fileset_medium(root, study_files[:4])
    report = import_media([root], store)
    assert report.instance_uids == set(placed)
    assert report.failed == [] and report.skipped == [] and report.safe_to_eject


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO named like a zip; if the import ever opens it, a writer unblocks it after a
    while (the test then fails instead of hanging)."""
    path = tmp_path / "medium" / "pipe.zip"
    path.parent.mkdir()
    os.mkfifo(path)
    done = threading.Event()
    opened = threading.Event()

    def watchdog() -> None:
        if done.wait(20):
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # nobody reading it
            return
        opened.set()
        os.close(fd)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    yield path
    done.set()
    thread.join()
    assert not opened.is_set(), "the import opened the FIFO"


def test_a_source_that_is_no_file_or_folder_fails_unopened(
    fifo: Path, store: StudyStore, tmp_path: Path
) -> None:
    report = import_media([fifo, Path(os.devnull)], store, work_dir=tmp_path / "work")
    assert _reasons(report.failed) == {
        str(fifo): "not a file or folder", os.devnull: "not a file or folder"}
    assert not report.safe_to_eject and not report.ok


def test_a_fifo_on_a_medium_is_skipped_unopened(fifo: Path, store: StudyStore) -> None:
    shutil.copy(CT, fifo.parent / "CT_small.dcm")
    report = import_media([fifo.parent], store)
    assert _reasons(report.skipped) == {str(fifo): "not a file or folder"}
    assert report.instance_uids == {sop_uid(CT)} and report.safe_to_eject


def test_a_source_without_dicom_files_is_not_safe_to_eject(
    tmp_path: Path, store: StudyStore
) -> None:
    empty = tmp_path / "cdrom"  # a mount point with no disc mounted
    empty.mkdir()
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "letter.txt").write_text("not DICOM")
    good = tmp_path / "good"
    good.mkdir()
    shutil.copy(CT, good / "CT_small.dcm")
    report = import_media([empty, documents, good], store)
    assert report.no_dicom_found == [str(empty), str(documents)]
    assert report.complete and not report.safe_to_eject and not report.ok
    assert report.to_dict()["no_dicom_found"] == [str(empty), str(documents)]
    assert report.to_dict()["safe_to_eject"] is False
    # Found again on a second import, the instances make the source non-empty.
    again = import_media([good], store)
    assert again.instances_present == 1 and again.no_dicom_found == []
    assert again.safe_to_eject


def test_names_that_are_not_utf8_come_out_as_valid_text(
    tmp_path: Path, store: StudyStore
) -> None:
    folder = tmp_path / "medium"
    folder.mkdir()
    data = CT.read_bytes()
    with open(os.fsencode(folder) + b"/trunc\xe9.dcm", "wb") as out:
        out.write(data[:-100])
    with open(os.fsencode(folder) + b"/notes\xff.txt", "wb") as out:
        out.write(b"a letter")
    report: ImportReport = import_media([folder], store)
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate left: the JSON is valid UTF-8
    loaded = json.loads(text)
    assert [p["path"] for p in loaded["failed"]] == [f"{folder}/trunc\\xe9.dcm"]
    assert [p["path"] for p in loaded["skipped"]] == [f"{folder}/notes\\xff.txt"]


def test_a_walk_cancelled_at_once_is_cancelled_not_empty(
    tmp_path: Path, store: StudyStore
) -> None:
    folder = tmp_path / "medium"
    folder.mkdir()
    shutil.copy(CT, folder / "CT_small.dcm")
    polls = itertools.count()
    # import_media's own check passes; the walk's first check stops it.
    report = import_media([folder], store, cancel=lambda: next(polls) >= 1)
    assert report.cancelled and report.no_dicom_found == [] and not report.safe_to_eject


def test_a_source_named_twice_is_read_once(tmp_path: Path, store: StudyStore) -> None:
    # Read twice, its files counted once as added and once as already present.
    folder = tmp_path / "disc"
    folder.mkdir()
    shutil.copy(testdata.test_file("CT_small.dcm"), folder / "ct.dcm")
    report = import_media([folder, tmp_path / "disc" / ".", str(folder)], store)
    assert report.sources == [str(folder)]
    assert (report.files_seen, report.instances_added, report.instances_present) == (1, 1, 0)
