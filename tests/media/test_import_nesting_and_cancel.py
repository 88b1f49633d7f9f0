"""Zips inside zips (bounded, reported), a DICOMDIR that names itself (read once), and a
zip named as an ISO 9660 disc shows it (``STUDY.ZIP;1``) given on the command line."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest

from tests.media.conftest import build_fileset_medium, sop_uid
from tests.support.series import write_ct_series
from viewer.cli import main
from viewer.media import import_media
from viewer.media.importer import MAX_ZIP_DEPTH
from viewer.store import StudyStore


def _nested_zip(image: Path, depth: int) -> bytes:
    """A zip ``depth`` zips deep (the outermost is the first) holding ``image`` innermost.

    Stored, not deflated: each level is the size of the one inside it plus its headers, so
    even hundreds of levels stay small.
    """
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.write(image, "IM000001.dcm")
    for level in range(depth - 1):
        outer = io.BytesIO()
        with zipfile.ZipFile(outer, "w") as zf:
            zf.writestr(f"LEVEL{level:03d}.ZIP", data.getvalue())
        data = outer
    return data.getvalue()


def _json_import(home: Path, capsys: pytest.CaptureFixture[str], *paths: Path
                 ) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    status = main(["--home", str(home), "import", "--json", *map(str, paths)])
    report = json.loads(capsys.readouterr().out)
    assert isinstance(report, dict)
    return status, report


def test_a_zip_nested_hundreds_deep_is_failed_and_the_study_beside_it_imported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """600 levels: the depth that ended the command with a RecursionError and no report
    (a zip that holds itself is the endless case of the same)."""
    medium = tmp_path / "medium"
    ordinary = write_ct_series(medium / "CT", slices=3, rows=8, cols=8, patient_id="BESIDE")
    (deep_image,) = write_ct_series(tmp_path / "deep", slices=1, rows=8, cols=8,
                                    patient_id="DEEP")
    (medium / "NESTED.ZIP").write_bytes(_nested_zip(deep_image, 600))
    home = tmp_path / "home"

    status, report = _json_import(home, capsys, medium)

    assert status == 1
    (failed,) = report["failed"]  # type: ignore[misc]
    assert failed["reason"] == f"zips nested more than {MAX_ZIP_DEPTH} deep"
    # Named as the report names every extracted file: outer.zip!/inner.zip!/...
    assert failed["path"].startswith(f"{medium / 'NESTED.ZIP'}!/LEVEL")
    assert failed["path"].count(".ZIP!/") == MAX_ZIP_DEPTH
    assert report["instances_added"] == len(ordinary)
    assert report["safe_to_eject"] is False
    with StudyStore.open(home) as store:
        assert store.has_instances({sop_uid(p) for p in ordinary}) == {
            sop_uid(p) for p in ordinary}
        assert not store.has_instances({sop_uid(deep_image)})
    assert list((home / "tmp").iterdir()) == []  # every level's extracted files removed


@pytest.mark.parametrize("depth", [MAX_ZIP_DEPTH, MAX_ZIP_DEPTH + 1])
def test_zips_are_opened_to_the_limit_and_not_past_it(
        depth: int, tmp_path: Path, store: StudyStore) -> None:
    (image,) = write_ct_series(tmp_path / "image", slices=1, rows=8, cols=8)
    archive = tmp_path / "nested.zip"
    archive.write_bytes(_nested_zip(image, depth))

    report = import_media([archive], store, work_dir=tmp_path / "work")

    if depth <= MAX_ZIP_DEPTH:
        assert report.failed == [] and report.instances_added == 1 and report.ok
    else:
        (failed,) = report.failed
        assert failed.reason == f"zips nested more than {MAX_ZIP_DEPTH} deep"
        assert failed.path.count(".ZIP") + failed.path.count(".zip") == depth
        assert report.instances_added == 0 and not report.safe_to_eject


def test_a_dicomdir_whose_record_names_itself_is_read_once(
        tmp_path: Path, store: StudyStore) -> None:
    """A writer's bug: one record names the DICOMDIR, another a file the disc lacks. The
    DICOMDIR, found again among the files its records name, was read a second time and
    every missing file and note counted twice."""
    files = write_ct_series(tmp_path / "ct", slices=3, rows=8, cols=8)
    root = tmp_path / "disc"
    placed = build_fileset_medium(root, files)
    directory = pydicom.dcmread(root / "DICOMDIR")
    images = [r for r in directory.DirectoryRecordSequence
              if r.DirectoryRecordType == "IMAGE"]
    images[0].ReferencedFileID = "DICOMDIR"
    lacking = [*images[1].ReferencedFileID[:-1], "IM999999"]
    images[1].ReferencedFileID = lacking
    images[1].ReferencedSOPInstanceUIDInFile = "1.2.826.0.1.3680043.99.424242"
    directory.save_as(root / "DICOMDIR")

    report = import_media([root], store)

    assert report.missing == [str(root.joinpath(*lacking))]
    assert report.notes  # the offsets no longer fit the records: said once
    assert len(report.notes) == len(set(report.notes))
    assert store.has_instances(set(placed)) == set(placed)
    assert report.instances_added == len(placed)
    listed = {p.path for p in (*report.failed, *report.skipped)}
    assert str(root / "DICOMDIR") not in listed
    assert report.safe_to_eject and not report.ok  # the file the DICOMDIR names is absent


def _zip_of(files: list[Path], prefix: bytes = b"") -> bytes:
    data = io.BytesIO()
    data.write(prefix)
    with zipfile.ZipFile(data, "a" if prefix else "w", zipfile.ZIP_DEFLATED) as zf:
        for n, path in enumerate(files):
            zf.write(path, f"IMAGES/IM{n:06d}")
    return data.getvalue()


@pytest.mark.parametrize("name", ["STUDY.ZIP;1", "study.zip.", "STUDY.ZIP"])
@pytest.mark.parametrize("prefix", [b"", b"MZ" + bytes(510)],
                         ids=["zip", "bytes-before-the-first-member"])
def test_a_zip_named_as_a_disc_shows_it_is_imported_from_the_command_line(
        name: str, prefix: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zip with bytes before its first member (as a self-extracting archive has) shows
    no zip signature at its start: only its name says zip."""
    files = write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8)
    archive = tmp_path / name
    archive.write_bytes(_zip_of(files, prefix))

    status, report = _json_import(tmp_path / "home", capsys, archive)

    assert (status, report["failed"], report["skipped"]) == (0, [], [])
    assert report["instances_added"] == len(files) and report["safe_to_eject"] is True


def test_a_damaged_zip_named_as_a_disc_shows_it_is_reported_as_a_zip(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "STUDY.ZIP;1"
    archive.write_bytes(bytes(range(256)) * 8)  # no signature, no central directory

    status, report = _json_import(tmp_path / "home", capsys, archive)

    assert status == 1
    (failed,) = report["failed"]  # type: ignore[misc]
    assert failed["path"] == str(archive)
    assert failed["reason"].startswith("zip archive cannot be read")
    assert report["no_dicom_found"] == [] and report["skipped"] == []
