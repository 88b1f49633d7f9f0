"""Whether a process runs: the probe behind stale temporary files and listener records."""

from __future__ import annotations

import os
import subprocess
import sys

from viewer.core.processes import pid_alive


def test_a_running_process_is_alive_and_a_finished_one_is_not() -> None:
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    assert not pid_alive(0) and not pid_alive(-1)


def test_asking_does_not_disturb_the_process() -> None:
    # On Windows os.kill(pid, 0) would terminate it; the probe must only ask.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for _ in range(3):
            assert pid_alive(child.pid)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
