"""Everything in the Lightbox home is private to the user, whatever the umask (PS3.15).

Found by an audit: with the usual umask 022 the database, which holds every patient's
name, was 0644, and with 000 the folders of images and the thumbnail cache were 0777;
a world-writable nodes file, which decides who may send to this workstation, was used
without a word.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.testdata import test_file
from viewer.core.paths import keep_private
from viewer.store import StudyStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _lightbox(home: Path, *args: str, umask: int = 0o000) -> subprocess.CompletedProcess[str]:
    """Run the ``lightbox`` process as a user with ``umask`` would."""
    return subprocess.run([sys.executable, "-m", "viewer", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(umask))


def _shared(home: Path) -> list[str]:
    """Everything under ``home`` that its group or others may access, with its mode."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{mode:03o} {path.relative_to(home)}")
    return found


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_an_import_and_a_check_leave_nothing_others_may_read(tmp_path: Path, umask: int) -> None:
    home = tmp_path / "home"
    done = _lightbox(home, "import", str(test_file("CT_small.dcm")), str(test_file("MR_small.dcm")),
                     umask=umask)
    assert done.returncode == 0, done.stderr
    assert _lightbox(home, "check", umask=umask).returncode == 0
    assert (home / "studies.sqlite").exists() and list((home / "files").rglob("*.dcm"))
    assert _shared(home) == []


def test_a_store_opened_under_a_permissive_umask_is_private(tmp_path: Path) -> None:
    # The library too, for whoever opens a store without the command (the GUI's workers,
    # the tests): the database, its WAL and the folders of files.
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    old = os.umask(0)
    try:
        with StudyStore.open(home) as store:
            report = store.import_files([test_file("CT_small.dcm")])
            assert report.instances_added == 1
            assert (home / "studies.sqlite-wal").exists()
            assert _shared(home) == []
    finally:
        os.umask(old)


def test_a_settings_or_nodes_file_others_could_write_is_made_private_and_said(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _lightbox(home, "node", "add", "pacs", "PACS@127.0.0.1:11112").returncode == 0
    assert _lightbox(home, "config", "set", "ae-title", "READING1").returncode == 0
    for name in ("nodes.toml", "settings.toml"):
        os.chmod(home / name, 0o666)
    listed = _lightbox(home, "node", "list")
    assert listed.returncode == 0 and "PACS" in listed.stdout
    assert "nodes.toml was writable by other users" in listed.stderr
    shown = _lightbox(home, "config", "show")
    assert shown.returncode == 0 and "READING1" in shown.stdout
    assert "settings.toml was writable by other users" in shown.stderr
    assert _shared(home) == []


def test_a_file_only_others_could_read_is_made_private_quietly(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[network]\n")
    os.chmod(path, 0o644)
    keep_private(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not caplog.records  # readable only: nobody could have changed it
