"""The top-level command: version, help, exit status 2 for bad arguments, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from viewer import __version__
from viewer.__main__ import main


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
