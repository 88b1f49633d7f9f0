"""Ctrl-C during ``lightbox import``: the first cancels (the report printed, exit status
130 as for every Ctrl-C), a second ends the command at once; the store stays sound and a
second import completes it.

A write transaction this test keeps open on the study database holds the import at its
first commit. The interrupts are sent once the first files are in the store (renamed into
place, their rows not yet committed): from then on the import cannot end before it has
committed those rows, so it cannot end before the interrupts arrive, however fast or busy
the computer is. Nothing is timed.
"""

from __future__ import annotations

import json
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.store.test_crash import _assert_sound
from tests.support.series import write_ct_series
from viewer.store import StudyStore

ROOT = Path(__file__).resolve().parents[2]
# Several batches of the store's import (64 files each): its committer thread, not the
# thread that handles Ctrl-C, is the one waiting for the database when the interrupts come.
SLICES = 200
# Only a guard against a hung test: no step waits for it in a passing run.
GUARD_S = 60


def _placed(home: Path) -> bool:
    """Whether a file is in place in the store (its temporary files are ``*.part``)."""
    return next((home / "files").rglob("*.dcm"), None) is not None


class _Import:
    """``lightbox import --json`` in a process of its own, its stderr read line by line."""

    def __init__(self, home: Path, medium: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "viewer", "--home", str(home), "import", "--json",
             str(medium)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put("")  # the end of stderr: the process ended

    def wait_for_line(self, *starts: str) -> str:
        """The next stderr line that starts with one of ``starts`` (after stripping)."""
        while True:
            line = self.lines.get(timeout=GUARD_S)
            assert line, f"the import ended first: {''.join(self.stderr)}"
            if line.strip().startswith(starts):
                return line

    def wait_until(self, ready: Callable[[], bool]) -> None:
        """Poll ``ready`` until it holds, while the import runs."""
        deadline = time.monotonic() + GUARD_S
        while not ready():
            assert self.proc.poll() is None, f"the import ended first: {''.join(self.stderr)}"
            assert time.monotonic() < deadline, "the import never got there"
            time.sleep(0.005)

    def finish(self) -> tuple[int, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        status = self.proc.wait(timeout=GUARD_S)
        self.reader.join(timeout=GUARD_S)
        return status, out


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of :data:`SLICES` small CT files; only read."""
    folder = tmp_path_factory.mktemp("medium")
    write_ct_series(folder, slices=SLICES, rows=8, cols=8)
    return folder


@pytest.fixture
def held(medium: Path, tmp_path: Path) -> Iterator[tuple[Path, Path, sqlite3.Connection]]:
    """(medium, home, a connection holding the home database's write lock)."""
    home = tmp_path / "home"
    with StudyStore.open(home):
        pass  # the database made (and migrated) before its lock is taken
    lock = sqlite3.connect(home / "studies.sqlite", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    yield medium, home, lock
    if lock.in_transaction:
        lock.execute("ROLLBACK")
    lock.close()


def _rerun_completes(home: Path, medium: Path) -> None:
    again = subprocess.run(
        [sys.executable, "-m", "viewer", "--home", str(home), "import", "--json", str(medium)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert _assert_sound(home) == SLICES


def test_ctrl_c_exits_130_with_the_report(
        held: tuple[Path, Path, sqlite3.Connection]) -> None:
    medium, home, lock = held
    running = _Import(home, medium)
    try:
        running.wait_until(lambda: _placed(home))
        running.proc.send_signal(signal.SIGINT)
        lock.execute("ROLLBACK")  # the import goes on, and finds itself cancelled
        status, out = running.finish()
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
    report = json.loads(out)  # the report is printed, valid JSON
    assert status == 130, "".join(running.stderr)
    assert report["cancelled"] is True and report["safe_to_eject"] is False
    assert "lightbox: interrupted\n" in running.stderr
    assert 0 < _assert_sound(home) == report["instances_stored"]  # what the report says
    _rerun_completes(home, medium)


def test_a_second_ctrl_c_ends_the_import_at_once(
        held: tuple[Path, Path, sqlite3.Connection]) -> None:
    medium, home, lock = held
    running = _Import(home, medium)
    try:
        running.wait_until(lambda: _placed(home))
        running.proc.send_signal(signal.SIGINT)
        # Its handler has run (two signals sent before it runs would count as one).
        running.wait_for_line("cancelling")
        running.proc.send_signal(signal.SIGINT)
        lock.execute("ROLLBACK")  # the batch under way may end; the import does not
        status, out = running.finish()
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
    assert status == 130, "".join(running.stderr)
    assert out == ""  # no report: stopped without waiting for one
    assert "lightbox: interrupted\n" in running.stderr
    assert not any("Traceback" in line for line in running.stderr)
    _assert_sound(home)  # as after a crash: every row with its file
    _rerun_completes(home, medium)
