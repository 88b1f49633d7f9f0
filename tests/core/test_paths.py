"""The Lightbox home folder: --home, LIGHTBOX_HOME or the platform default, private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from viewer.core.paths import HOME_ENV, resolve_home, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_explicit_home_wins_and_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "from-env"))
    home = resolve_home(tmp_path / "explicit" / "nested")
    assert home == tmp_path / "explicit" / "nested"
    assert home.is_dir()
    assert _mode(home) == 0o700


def test_environment_variable_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "from-env"))
    assert resolve_home() == tmp_path / "from-env"


def test_existing_world_readable_home_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    resolve_home(home)
    assert _mode(home) == 0o700


def test_platform_default_when_nothing_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    home = resolve_home()
    assert home == tmp_path / "xdg" / "lightbox"
    assert _mode(home) == 0o700


def test_private_files_are_replaced_whole_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "listener.json"
    target.write_text("old")
    target.chmod(0o644)
    write_private(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["listener.json"]  # no temporary left
