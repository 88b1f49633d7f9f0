"""``lightbox import/studies/series/delete``: reports, JSON keyed by DICOM keywords,
non-Latin names found, exit statuses 0/1/2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support import testdata
from tests.support.series import write_ct_series
from viewer.cli import main

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
