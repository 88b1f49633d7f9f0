"""``lightbox import``, ``studies`` and ``series`` at the edges: damaged zips, empty and
special paths, empty media, an unusable home, readers that stop reading, file names that
are not UTF-8, impossible dates, and the words of the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from viewer.cli import main
from viewer.core.imports import ImportReport
from viewer.ui.dialogs.import_dialog import report_html

ROOT = Path(__file__).resolve().parents[2]
CT = testdata.test_file("CT_small.dcm")
MR = testdata.test_file("MR_small.dcm")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_damaged_zip_makes_the_import_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(CT, "CT_small.dcm")
    truncated = tmp_path / "trunc.zip"
    truncated.write_bytes(archive.read_bytes()[:-30])
    status, out, _ = _run(capsys, "--home", str(tmp_path / "home"), "import", str(truncated),
                          str(MR))
    assert status == 1
    assert f"{truncated}: zip archive cannot be read: " in out
    assert "INCOMPLETE" in out and "safe to eject" not in out
    assert "Added: 1 study, 1 series, 1 instance\n" in out  # the other file was imported


def test_an_empty_path_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"  # what Path("") would have imported
    cwd.mkdir()
    shutil.copy(CT, cwd / "CT_small.dcm")
    monkeypatch.chdir(cwd)
    home = str(tmp_path / "home")
    for argv in (["import", ""], ["import", str(MR), ""], ["import", "--json", ""]):
        status, out, err = _run(capsys, "--home", home, *argv)
        assert status == 2 and out == ""
        assert err.startswith("lightbox: empty path")
    assert not Path(home).exists()  # nothing imported, no home made


def test_a_path_that_is_no_file_or_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would block the import
    for path in (os.devnull, str(fifo)):
        status, out, err = _run(capsys, "--home", str(tmp_path / "home"), "import", path)
        assert status == 2 and out == ""
        assert err == f"lightbox: {path}: not a file or folder\n"


def test_a_medium_without_dicom_files_is_not_safe_to_eject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mount_point = tmp_path / "cdrom"
    mount_point.mkdir()
    home = str(tmp_path / "home")
    status, out, _ = _run(capsys, "--home", home, "import", str(mount_point))
    assert status == 1
    assert f"No DICOM files found in {mount_point}\n" in out
    assert "safe to eject." not in out and "NOT safe to eject" in out
    status, out, _ = _run(capsys, "--home", home, "import", "--json", str(mount_point))
    report = json.loads(out)
    assert status == 1
    assert report["no_dicom_found"] == [str(mount_point)] and report["safe_to_eject"] is False


@pytest.mark.parametrize("command", [["studies"], ["import", "."], ["node", "list"],
                                     ["config", "show"]])
def test_an_unusable_home_is_named(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    for home, reason in ((in_the_way, "a file of that name is in the way"),
                         (in_the_way / "home", "a part of the path is a file")):
        status, out, err = _run(capsys, "--home", str(home), *command)
        assert status == 2 and out == ""
        assert err.startswith(f"lightbox: {home}: cannot be used as the Lightbox home ({reason}")
    status, _, err = _run(capsys, "--home", "", *command)
    assert status == 2 and "--home: empty path" in err


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    assert main(["--home", str(home), "import", str(CT), str(MR)]) == 0
    return home


def _into_closed_pipe(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``lightbox`` with stdout a pipe whose reader is gone (``| head`` that has
    exited): every write fails with EPIPE, deterministically."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "viewer", *argv], cwd=ROOT,
                              stdout=write_end, stderr=subprocess.PIPE, timeout=120,
                              check=False)
    finally:
        os.close(write_end)


def test_a_reader_that_stops_reading_ends_the_listing_quietly(two_studies: Path) -> None:
    home = str(two_studies)
    listed = subprocess.run([sys.executable, "-m", "viewer", "--home", home, "studies",
                             "--json"], cwd=ROOT, capture_output=True, check=True)
    study_uid = json.loads(listed.stdout)[0]["StudyInstanceUID"]
    for argv in (["studies", "--json"], ["studies"], ["series", study_uid, "--json"],
                 ["series", study_uid]):
        done = _into_closed_pipe("--home", home, *argv)
        assert done.stderr == b"", argv
        assert done.returncode == 141, argv


def test_names_that_are_not_utf8_are_written_as_valid_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "medium"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/trunc\xe9.dcm", "wb") as out:
        out.write(CT.read_bytes()[:-100])
    home = str(tmp_path / "home")
    status, out, _ = _run(capsys, "--home", home, "import", "--json", str(folder))
    assert status == 1
    out.encode("utf-8")  # raises on a lone surrogate: an undecodable byte written raw
    (failed,) = json.loads(out)["failed"]
    assert failed["path"] == f"{folder}/trunc\\xe9.dcm"
    status, out, _ = _run(capsys, "--home", home, "import", str(folder))
    out.encode("utf-8")
    assert f"  {folder}/trunc\\xe9.dcm: truncated" in out


@pytest.mark.parametrize(("date", "message"), [
    ("20201301", "--date 20201301: 20201301 is not a date (month must be in 1..12)"),
    ("20200230", "--date 20200230: 20200230 is not a date (day is out of range for month)"),
    ("20200101-20201232", "--date 20200101-20201232: 20201232 is not a date"),
    ("20030505-20010101",
     "--date 20030505-20010101: the range ends (20010101) before it begins (20030505)"),
])
def test_impossible_dates_are_refused(
    date: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "--home", str(tmp_path), "studies", "--date", date)
    assert status == 2 and out == ""
    assert err.startswith(f"lightbox: {message}")


def test_possible_dates_are_taken(two_studies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for date in ("20200229", "20040826", "20040826-20040826", "-20041231", "20040101-"):
        status, _, err = _run(capsys, "--home", str(two_studies), "studies", "--date", date)
        assert status == 0 and err in ("", "lightbox: no studies match\n"), date


def test_the_report_counts_in_words(two_studies: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--home", str(tmp_path / "home"), "import", str(CT))
    assert status == 0
    assert "Added: 1 study, 1 series, 1 instance\n" in out
    assert "Already present: 0 instances\n" in out
    assert "Found on the medium: 1 study, 1 instance; stored: 1\n" in out
    status, out, _ = _run(capsys, "--home", str(two_studies), "import", str(CT), str(MR))
    assert "Added: 0 studies, 0 series, 0 instances\n" in out
    assert "Already present: 2 instances\n" in out
    assert "Found on the medium: 2 studies, 2 instances; stored: 2\n" in out


def test_a_conflicting_copy_keeps_the_medium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The medium's version of an instance stored before with other content is in no
    # database: ejecting would lose it.
    home = str(tmp_path / "home")
    assert _run(capsys, "--home", home, "import", str(CT))[0] == 0
    ds = pydicom.dcmread(CT)
    ds.PatientName = "CORRECTED^NAME"
    medium = tmp_path / "medium"
    medium.mkdir()
    ds.save_as(medium / "ct.dcm")
    status, out, _ = _run(capsys, "--home", home, "import", "--json", str(medium))
    report = json.loads(out)
    assert status == 1 and len(report["conflicts"]) == 1
    assert report["complete"] and not report["safe_to_eject"]
    status, out, _ = _run(capsys, "--home", home, "import", str(medium))
    assert "INCOMPLETE" in out and "safe to eject" not in out


def test_the_import_dialog_says_when_nothing_was_found(tmp_path: Path) -> None:
    empty = ImportReport(sources=[str(tmp_path)], no_dicom_found=[str(tmp_path)])
    text = report_html(empty)
    assert "Not safe to eject" in text and f"no DICOM images were found in {tmp_path}" in text
    assert "could not be imported" not in text
