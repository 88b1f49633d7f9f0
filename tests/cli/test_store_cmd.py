"""``lightbox import/studies/series/delete``: reports, JSON keyed by DICOM keywords,
non-Latin names found, exit statuses 0/1/2."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.fileset import FileSet

from tests.support import testdata
from tests.support.series import write_ct_series
from tests.support.unprivileged import run_unprivileged
from viewer.cli import main
from viewer.core.paths import HOME_ENV

CHARSET_FILES = {
    "chrH31.dcm": ("Yamada^Tarou=山田^太郎=やまだ^たろう", "山田"),
    "chrJapMulti.dcm": ("やまだ^たろう", "やまだ*"),
    "chrX1.dcm": ("Wang^XiaoDong=王^小東", "王*"),
    "chrArab.dcm": ("قباني^لنزار", "قباني"),
    "chrRuss.dcm": ("Люкceмбypг", "люк*"),
    "chrGreek.dcm": ("Διονυσιος", "διονυσιος"),
    "chrI2.dcm": ("Hong^Gildong=洪^吉洞=홍^길동", "홍^길동"),
    "chrHbrw.dcm": ("שרון^דבורה", "שרון"),
}


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def charset_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("charsets")
    for name in CHARSET_FILES:
        shutil.copy(testdata.charset_file(name), folder / name)
    home = tmp_path_factory.mktemp("home")
    assert main(["--home", str(home), "import", "--json", str(folder)]) == 0
    return home


@pytest.mark.parametrize("name", sorted(CHARSET_FILES))
def test_names_come_out_right_and_are_found(
    name: str, charset_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected, query = CHARSET_FILES[name]
    everything = _json(capsys, "--home", str(charset_home), "studies", "--json")
    assert isinstance(everything, list)
    assert expected in {s["PatientName"] for s in everything}
    found = _json(capsys, "--home", str(charset_home), "studies", "--json", "--patient", query)
    assert isinstance(found, list)
    assert expected in {s["PatientName"] for s in found}
    assert len(found) < len(everything)


def test_import_report_series_and_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_ct_series(tmp_path / "ct", slices=3, rows=8, cols=8, patient_id="PID7")
    home = str(tmp_path / "home")
    report = _json(capsys, "--home", home, "import", "--json", str(tmp_path / "ct"))
    assert isinstance(report, dict)
    assert report["instances_added"] == 3 and report["safe_to_eject"] is True
    (study,) = _json(capsys, "--home", home, "studies", "--json", "--patient-id", "PID7",
                     "--modality", "CT", "--date", "20240101-20241231")  # type: ignore[misc]
    assert study["NumberOfStudyRelatedSeries"] == 1
    assert study["NumberOfStudyRelatedInstances"] == 3
    assert study["ModalitiesInStudy"] == ["CT"]
    (series,) = _json(capsys, "--home", home, "series", "--json", study["StudyInstanceUID"])  # type: ignore[misc]
    assert series["Modality"] == "CT" and series["NumberOfSeriesRelatedInstances"] == 3
    assert _json(capsys, "--home", home, "studies", "--json", "--date", "19900101-19901231") == []
    assert main(["--home", home, "delete", study["StudyInstanceUID"]]) == 0
    assert _json(capsys, "--home", home, "studies", "--json") == []


def test_exit_status_one_names_the_failed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8)
    paths[0].write_bytes(paths[0].read_bytes()[:-10])
    assert main(["--home", str(tmp_path / "home"), "import", str(tmp_path / "ct")]) == 1
    out = capsys.readouterr().out
    assert str(paths[0]) in out and "truncated" in out and "keep the medium" in out


def test_bad_arguments_exit_two(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert main(["--home", home, "import", str(tmp_path / "nowhere")]) == 2
    assert main(["--home", home, "studies", "--date", "yesterday"]) == 2
    assert main(["--home", home, "series", "1.2.3.4"]) == 2
    assert main(["--home", home, "delete", "1.2.3.4"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["--home", home, "import"])
    assert exc.value.code == 2


def test_ctrl_c_cancels_cleanly_and_a_rerun_completes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.store.test_crash import ROOT, _assert_sound, _wait_for_instances

    paths = write_ct_series(tmp_path / "ct", slices=300, rows=128, cols=128)
    home = tmp_path / "home"
    command = [sys.executable, "-m", "viewer", "--home", str(home), "import", "--json"]
    proc = subprocess.Popen(
        [*command, str(tmp_path / "ct")], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    _wait_for_instances(home, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    report = json.loads(out)
    if not report["cancelled"]:
        pytest.skip("the import finished before the interrupt arrived")
    assert proc.returncode == 130 and report["safe_to_eject"] is False
    assert 0 < _assert_sound(home) < len(paths)
    rerun = subprocess.run(
        [*command, str(tmp_path / "ct")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0
    assert _assert_sound(home) == len(paths)


def test_files_not_in_the_dicomdir_are_named_in_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = write_ct_series(tmp_path / "ct", slices=24, rows=8, cols=8)
    disc = tmp_path / "disc"
    fileset = FileSet()
    fileset.add(written[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fileset.write(disc)
    (disc / "EXTRA").mkdir()
    extras = [disc / "EXTRA" / f"X{n:07d}" for n in range(len(written) - 1)]
    for source, extra in zip(written[1:], extras, strict=True):
        shutil.copyfile(source, extra)
    capsys.readouterr()
    assert main(["--home", str(tmp_path / "home"), "import", str(disc)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("On the medium but not in the DICOMDIR (imported): 23")
    listed = lines[start + 1:start + 21]
    assert len(set(listed)) == 20 and {line[2:] for line in listed} <= {str(p) for p in extras}
    assert lines[start + 21] == "  ... and 3 more"


@pytest.fixture
def medium() -> Iterator[Path]:
    """A world-traversable folder (outside pytest's private tmp) for an unprivileged user."""
    folder = Path(tempfile.mkdtemp(prefix="lightbox-medium-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _open_to_all(folder: Path) -> None:
    """``main`` masks the process's umask: files written after it are the owner's only."""
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def test_a_path_that_cannot_be_read_is_reported_and_the_others_imported(
    medium: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readable = write_ct_series(medium / "ok", slices=2, rows=8, cols=8)
    locked = write_ct_series(medium / "locked", slices=1, rows=8, cols=8,
                             patient_id="LOCKED")[0]
    _open_to_all(medium)
    os.chmod(medium / "locked", 0o700)  # root's: its files cannot even be stat'ed
    warm = medium / "warm-home"
    # Every module an import touches is loaded while still privileged: the unprivileged
    # child may not be allowed to read the interpreter's library folder.
    assert main(["--home", str(warm), "import", "--json", str(medium / "ok")]) == 0
    shutil.rmtree(warm)
    home = Path(tempfile.mkdtemp(prefix="lightbox-home-"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(home, nobody.pw_uid, nobody.pw_gid)

    def job() -> dict[str, object]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["--home", str(home), "import", "--json",
                           str(medium / "ok"), str(locked)])
        return {"status": status, "out": out.getvalue(), "err": err.getvalue()}

    capsys.readouterr()
    try:
        result = run_unprivileged(job)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert result["status"] == 1, result["err"]
    report = json.loads(str(result["out"]))
    assert [(p["path"], p["reason"].split(":")[0]) for p in report["failed"]] == [
        (str(locked), "cannot read")]
    assert "ermission" in report["failed"][0]["reason"]
    assert report["instances_added"] == len(readable) and report["safe_to_eject"] is False


def test_a_path_that_is_not_there_is_still_a_bad_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_ct_series(tmp_path / "ct", slices=1, rows=8, cols=8)
    one = next((tmp_path / "ct").iterdir())
    for absent in (tmp_path / "nowhere", one / "below-a-file"):
        capsys.readouterr()
        assert main(["--home", str(tmp_path / "home"), "import", str(tmp_path / "ct"),
                     str(absent)]) == 2
        assert "no such file or folder" in capsys.readouterr().err


def test_listing_a_home_that_is_not_there_says_so_and_makes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "hmoe"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "readme.txt").write_text("for the department\n")
    for home in (typo, shared):
        for command in (["studies"], ["studies", "--json"], ["series", "1.2.3"]):
            capsys.readouterr()
            assert main(["--home", str(home), *command]) == 2
            assert f"no Lightbox home at {home}" in capsys.readouterr().err
    monkeypatch.setenv(HOME_ENV, str(typo))
    assert main(["studies"]) == 2
    assert not typo.exists()
    assert [p.name for p in shared.iterdir()] == ["readme.txt"]


def test_a_shared_folder_as_home_keeps_its_mode_and_the_data_stays_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "readme.txt").write_text("for the whole department\n")
    os.chmod(shared, 0o755)
    assert main(["--home", str(shared), "import", str(tmp_path / "ct")]) == 0
    assert f"{shared} is open to other users (mode 755)" in caplog.text

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(shared) == 0o755
    assert mode(shared / "studies.sqlite") == 0o600
    stored = list((shared / "files").rglob("*.dcm"))
    assert len(stored) == 2 and all(mode(p) == 0o600 for p in stored)
    folders = [shared / "files", *(p for p in (shared / "files").rglob("*") if p.is_dir())]
    assert all(mode(p) == 0o700 for p in folders)
    # Holding the database does not change whose folder it is.
    assert main(["--home", str(shared), "studies"]) == 0
    assert mode(shared) == 0o755
