"""The Lightbox home folder: --home, LIGHTBOX_HOME or the platform default, private."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from tests.support.unprivileged import run_unprivileged
from viewer.core.paths import HOME_ENV, HOME_MARKER, resolve_home, write_private


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


def test_an_empty_folder_given_as_home_is_made_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o755)  # made with mkdir for Lightbox, then named with --home
    resolve_home(home)
    assert _mode(home) == 0o700


def test_a_lightbox_home_opened_to_others_is_left_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / HOME_MARKER).write_bytes(b"")
    os.chmod(home, 0o750)  # the user's own choice: the files inside stay private
    resolve_home(home)
    assert _mode(home) == 0o750
    assert any("open to other users" in r.getMessage() for r in caplog.records)


def test_an_existing_folder_that_is_no_home_yet_keeps_its_mode_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "readme.txt").write_text("for the whole department\n")
    os.chmod(shared, 0o750)
    for _ in range(2):  # every command resolves the home; one warning is enough
        assert resolve_home(shared) == shared
    assert _mode(shared) == 0o750
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert str(shared) in warning.getMessage() and "750" in warning.getMessage()
    assert "open to other users" in warning.getMessage()


def test_an_existing_private_folder_gives_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    resolve_home(folder)
    assert _mode(folder) == 0o700 and not caplog.records


def test_a_file_in_place_of_the_home_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(FileExistsError):
        resolve_home(tmp_path / "taken")


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


def test_an_own_folder_that_cannot_be_listed_is_made_private_and_used() -> None:
    # 0300: its owner may enter but not list it. Root lists anything (CAP_DAC_OVERRIDE),
    # so the check runs as an unprivileged owner.
    base = Path(tempfile.mkdtemp(prefix="lightbox-home-"))
    try:
        os.chmod(base, 0o755)
        home = base / "home"
        home.mkdir()
        (home / "kept.txt").write_text("")
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(home, nobody.pw_uid, nobody.pw_gid)
        os.chmod(home, 0o300)

        def job() -> dict[str, object]:
            return {"home": str(resolve_home(home)), "mode": _mode(home)}

        assert run_unprivileged(job) == {"home": str(home), "mode": 0o700}
    finally:
        os.chmod(base / "home", 0o700)
        shutil.rmtree(base)
