"""``lightbox check [--repair] [--json] [--deep]``: exit statuses 0/1/2 (130 for Ctrl-C),
the JSON shape, the capped text report, and no patient names or IDs in either."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.series import write_ct_series
from viewer.cli import main, store_cmd
from viewer.store import Findings, RepairLog
from viewer.store.verify import KINDS

PATIENT = ("CHECK^PATIENT", "PID-CHECK-7")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home holding one CT series of 25 slices."""
    write_ct_series(tmp_path / "ct", slices=25, rows=8, cols=8, patient_name=PATIENT[0],
                    patient_id=PATIENT[1])
    home = tmp_path / "home"
    assert main(["--home", str(home), "import", "--json", str(tmp_path / "ct")]) == 0
    return home


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(list(argv))
    out = capsys.readouterr().out
    assert PATIENT[0] not in out and PATIENT[1] not in out and "CHECK" not in out
    return status, out


def _stored(home: Path) -> list[Path]:
    return sorted(p for p in (home / "files").rglob("*.dcm"))


def test_a_sound_home_exits_zero(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _run(capsys, "--home", str(home), "check")
    assert status == 0
    assert "1 study, 1 series, 25 instances, 25 files" in out
    assert "The home is sound" in out
    status, out = _run(capsys, "--home", str(home), "check", "--json", "--deep")
    assert status == 0
    report = json.loads(out)
    assert report["sound"] is True and report["deep"] is True
    assert report["headers_read"] == 25
    assert all(report[kind] == [] for kind in KINDS)


def test_problems_exit_one_and_repair_exits_zero(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gone = _stored(home)[0]
    gone.unlink()
    status, out = _run(capsys, "--home", str(home), "check", "--json")
    assert status == 1
    report = json.loads(out)
    assert report["sound"] is False
    assert set(KINDS) <= set(report) and all(isinstance(report[k], list) for k in KINDS)
    (missing,) = report["missing"]
    assert missing["path"] == str(gone.relative_to(home))
    assert set(missing) >= {"study_uid", "series_uid", "sop_uid", "recorded_size"}
    assert missing["sop_uid"] == gone.stem
    # The counts are right: the series holds what its rows say, a file is just gone.
    assert report["counts"] == [] and "repair" not in report

    status, out = _run(capsys, "--home", str(home), "check", "--repair", "--json")
    assert status == 0
    report = json.loads(out)
    assert len(report["missing"]) == 1  # what was found
    assert [a["action"] for a in report["repair"]["repaired"]] == ["removed_row"]
    assert report["repair"]["not_repaired"] == []
    assert report["repair"]["after"]["sound"] is True
    assert report["repair"]["after"]["instances"] == 24
    assert _run(capsys, "--home", str(home), "check")[0] == 0


def test_the_text_report_counts_each_kind_and_caps_the_lists(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in _stored(home)[:23]:
        path.unlink()
    (home / "files" / "notes.txt").write_text("not a DICOM file\n")
    status, out = _run(capsys, "--home", str(home), "check")
    assert status == 1
    assert "Problems: 24\n" in out
    assert "  rows whose file is missing: 23\n" in out
    assert "  files without a row: 1 (0 DICOM, 0 temporary, 1 other)\n" in out
    assert "  counts that disagree with the rows: 0\n" in out
    assert "  ... and 3 more\n" in out
    assert "files/notes.txt: not DICOM without a row" in out
    assert "check --repair" in out
    status, out = _run(capsys, "--home", str(home), "check", "--repair")
    assert status == 0
    assert "Repaired: 24\n" in out and "After the repair:\nThe home is sound" in out
    assert (home / "lost+found" / "files" / "notes.txt").exists()


def test_problems_that_remain_exit_one(home: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    database = home / "studies.sqlite"
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(database.read_bytes())
    data[4096:8192] = b"\xff" * 4096
    database.write_bytes(bytes(data))
    status, out = _run(capsys, "--home", str(home), "check", "--repair", "--json")
    assert status == 1
    report = json.loads(out)
    assert report["database"] and report["repair"]["repaired"] == []
    assert report["repair"]["after"]["sound"] is False


def test_usage_errors_exit_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert main(["--home", str(a_file), "check"]) == 2
    assert "cannot be used as the Lightbox home" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "check", "--no-such-option"])
    assert exit_info.value.code == 2


def test_an_empty_home_is_sound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "new").mkdir()
    status, out = _run(capsys, "--home", str(tmp_path / "new"), "check")
    assert status == 0 and "The home is sound" in out
    # A mistyped name is not a sound home: it was made, and said to be sound.
    status, out = _run(capsys, "--home", str(tmp_path / "mew"), "check")
    assert status == 2 and not (tmp_path / "mew").exists()


def _interrupt_repair(monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    """Ctrl-C ``times`` over, when the repair first asks whether it is cancelled: it is
    then under way (the store open, the files being taken in)."""
    real = store_cmd.repair_home

    def repair(home: Path, found: Findings, *, progress: Any = None,
               cancel: Callable[[], bool] | None = None) -> RepairLog:
        assert cancel is not None
        asked = []

        def cancelled() -> bool:
            if not asked:
                asked.append(True)
                for _ in range(times):
                    signal.raise_signal(signal.SIGINT)
            return cancel()

        return real(home, found, progress=progress, cancel=cancelled)

    monkeypatch.setattr(store_cmd, "repair_home", repair)


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_cancels_a_repair_with_status_130(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        times: int) -> None:
    (home / "studies.sqlite").unlink()  # rebuilt by the repair from the 25 files
    for extra in ("studies.sqlite-wal", "studies.sqlite-shm"):
        (home / extra).unlink(missing_ok=True)
    for path in _stored(home):  # files an hour old: not taken for an import's arrivals
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    _interrupt_repair(monkeypatch, times)
    status, out = _run(capsys, "--home", str(home), "check", "--repair", "--json")
    assert status == 130
    if times == 1:  # cancelled: the report says so, and what is left to do
        report = json.loads(out)
        assert report["repair"]["cancelled"] is True
        assert report["repair"]["after"]["sound"] is False
        assert report["repair"]["after"]["instances"] < 25
    else:  # the second Ctrl-C stops at once, without a report
        assert out == ""
    monkeypatch.undo()
    status, out = _run(capsys, "--home", str(home), "check", "--repair", "--json")
    assert status == 0, out
    report = json.loads(out)
    assert report["repair"]["cancelled"] is False
    assert report["repair"]["after"]["sound"] is True
    assert report["repair"]["after"]["instances"] == 25
