"""``lightbox listen`` run in its own process for the length of a ``with`` block."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import free_port, wait_for_port


@dataclass
class ListenRun:
    """The listener's port, and once it has stopped its exit status, output and log."""

    port: int
    returncode: int | None = None
    out: str = ""
    err: str = ""


@contextlib.contextmanager
def lightbox_listening(home: Path) -> Iterator[ListenRun]:
    """Run ``lightbox listen`` for ``home`` on a free port; stop it with SIGINT (as
    Ctrl-C does) when the block ends, and fill in what it said."""
    run = ListenRun(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(home), "listen",
                             "--port", str(run.port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(run.port, proc=proc)  # type: ignore[arg-type]
        yield run
    finally:
        os.kill(proc.pid, signal.SIGINT)
        run.out, run.err = proc.communicate(timeout=30)
        run.returncode = proc.returncode
