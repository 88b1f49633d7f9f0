"""``lightbox open ... --screenshot``: the real program, in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.gui


def _lightbox(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIBGL_ALWAYS_SOFTWARE": "1", "QT_QPA_PLATFORM": "xcb"}
    return subprocess.run([sys.executable, "-m", "viewer", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_screenshot_of_files_in_a_layout(home: Path, phantom, tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    result = _lightbox(home, "open", str(phantom.folder), "--layout", "1x2",
                       "--window", "-600", "1500", "--screenshot", str(out))
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (1000, 1600, 3)
    # Both halves of the viewer show an image (one series: two levels of the stack).
    left, right = image[200:900, 150:850], image[200:900, 900:1550]
    assert left.max() > 200 and right.max() > 200
    from viewer.store.study_store import StudyStore

    with StudyStore.open(home) as store:  # opening files shows them, it imports nothing
        assert store.study_count() == 0


def test_open_reports_a_missing_path_in_one_line(home: Path, tmp_path: Path) -> None:
    result = _lightbox(home, "open", str(tmp_path / "nothing"), "--screenshot",
                       str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "nothing" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_open_refuses_paths_with_demo(home: Path, tmp_path: Path) -> None:
    result = _lightbox(home, "open", "--demo", str(tmp_path))
    assert result.returncode == 2 and "not several" in result.stderr


def test_screenshot_of_a_stored_study(home: Path, phantom, tmp_path: Path) -> None:
    assert _lightbox(home, "import", str(phantom.folder)).returncode == 0
    out = tmp_path / "study.png"
    result = _lightbox(home, "open", "--study", phantom.study_uid, "--screenshot", str(out))
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image[200:900, 150:1550].max() > 200  # the phantom is on screen
    missing = _lightbox(home, "open", "--study", "1.2.3.4", "--screenshot", str(out))
    assert missing.returncode == 2 and "1.2.3.4" in missing.stderr


def test_without_a_display_the_viewer_says_so(home: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "viewer", "--home", str(home)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2 and "no display" in result.stderr
