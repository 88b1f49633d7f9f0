"""GUI test set-up: a virtual X display (started here when none is given) and helpers.

``make test`` runs pytest under ``xvfb-run``; when this folder is run on its own without
a display, an Xvfb server is started for the session and stopped by its PID at exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("LIBGL_ALWAYS_SOFTWARE", "1")


def _die_with_parent() -> None:
    # Linux: the server gets SIGTERM when this test process ends, after Qt has closed its
    # connection (an atexit kill would run while Qt still talks to the server).
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _start_xvfb() -> None:
    if os.environ.get("DISPLAY") or not shutil.which("Xvfb"):
        return
    for number in range(90, 140):
        if Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.environ["DISPLAY"] = f":{number}"
            return


_start_xvfb()
os.environ["QT_QPA_PLATFORM"] = "xcb" if os.environ.get("DISPLAY") else "offscreen"

from tests.ui.phantom import Phantom, write_phantom  # noqa: E402


@pytest.fixture(scope="session")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Phantom:
    """An 8-slice CT phantom with known HU, shared by the session (read-only)."""
    return write_phantom(tmp_path_factory.mktemp("phantom"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh Lightbox home."""
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def workstation(qapp: object, home: Path) -> Iterator[object]:
    """The whole application on a fresh home, not interactive (no modal message boxes)."""
    from viewer.app import build_workstation

    ws = build_workstation(home, interactive=False)
    ws.window.resize(1400, 900)
    ws.window.show()
    yield ws
    ws.close()
    _delete_now(ws.window)


def _delete_now(widget: object) -> None:
    """Delete a closed window now: left alive, each test's window kept its render windows
    and timers, and every later test's set-up took longer (4-9 s each by the end)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    widget.deleteLater()  # type: ignore[attr-defined]
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def wait_until(qtbot: object, condition: Callable[[], bool], timeout: int = 30000) -> None:
    """Process events until ``condition()`` holds."""
    qtbot.waitUntil(condition, timeout=timeout)  # type: ignore[attr-defined]


def delete_and_wait(qtbot: object, browser: Any, **options: Any) -> None:
    """The browser's delete of its selected studies, waited for when it started (it runs
    in the background)."""
    if browser.delete_selected(**options) is not None:
        wait_until(qtbot, lambda: not browser.deleting)


def render_cli(path: Path, out: Path, *extra: str) -> np.ndarray:
    """``lightbox render`` of a file, as an array (grey or RGB)."""
    from PIL import Image

    from viewer.cli import main

    status = main(["render", str(path), "-o", str(out), *extra])
    assert status == 0
    return np.asarray(Image.open(out))
