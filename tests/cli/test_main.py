"""The top-level command: version, help, exit status 2 for bad arguments, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from viewer import __version__, cli
from viewer.__main__ import main


@pytest.fixture(autouse=True)
def _umask_kept() -> Iterator[None]:
    """``main`` masks group and others' bits for the whole process, as it should for the
    ``lightbox`` process: here it runs inside the test session, whose later tests write
    media that an unprivileged user must read."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def test_main_makes_what_the_process_creates_private() -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    current = os.umask(0o022)
    os.umask(current)
    assert current & 0o077 == 0o077


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"lightbox {__version__}"


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_dash_m_viewer_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "viewer", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"lightbox {__version__}"


def test_ctrl_c_while_the_commands_load_is_a_quiet_cancel(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading the sub-commands (numpy, pydicom, pynetdicom) takes about half a second after
    # the command is typed: a Ctrl-C there ends it as one later does, without a traceback.
    def interrupted(name: str) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    try:
        status = cli.main(["studies"])
    except KeyboardInterrupt:  # not let through: it would end this test session
        pytest.fail("the Ctrl-C escaped main() as a KeyboardInterrupt")
    assert status == 130
    assert capsys.readouterr().err == "lightbox: interrupted\n"


def test_an_overlong_study_filter_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # SQLite refuses a LIKE pattern over 50,000 characters: a traceback before.
    from viewer.store import StudyStore

    home = tmp_path / "home"
    StudyStore.open(home).close()
    code = cli.main(["--home", str(home), "studies", "--patient", "A" * 50_001])
    assert code == 2
    err = capsys.readouterr().err
    assert "--patient: 50001 characters; a filter has at most 1024" in err
    assert "Traceback" not in err
    assert cli.main(["--home", str(home), "studies", "--patient", "A" * 1024]) == 0


def test_a_study_uid_pasted_with_spaces_is_found(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pydicom

    from tests.support.series import write_ct_series

    paths = write_ct_series(tmp_path / "ct", slices=2, rows=8, cols=8)
    uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
    home = str(tmp_path / "home")
    assert cli.main(["--home", home, "import", str(tmp_path / "ct")]) == 0
    assert cli.main(["--home", home, "series", f" {uid}\t"]) == 0
    assert cli.main(["--home", home, "delete", f"{uid} "]) == 0
    assert f"Deleted study {uid} (2 instances)" in capsys.readouterr().out
