"""``lightbox listen`` taking the same instance from two configured nodes (storescu).

The receiver writes the sender's AE title into each file's File Meta Information (0002,0016
Source Application Entity Title), so the second copy differs from the stored one there and
only there (PS3.10 7.1: group 0002 is the file's). It was refused as "already stored with
different content" and left in incoming/, though storescu had been told it was stored.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.peers import PEER_ENV, free_port, wait_for_port
from tests.support.series import write_ct_series
from viewer.cli import main
from viewer.store.study_store import StudyStore

pytestmark = pytest.mark.skipif(shutil.which("storescu") is None, reason="needs dcmtk")


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def _send(aet: str, port: int, path: Path) -> None:
    sent = subprocess.run(["storescu", "-aet", aet, "-aec", "LIGHTBOX", "127.0.0.1",
                           str(port), str(path)], env=PEER_ENV, capture_output=True,
                          text=True)
    assert sent.returncode == 0, sent.stderr


def test_the_same_instance_from_two_nodes_is_stored_once_and_leaves_nothing_behind(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _lightbox(home, "node", "add", "loc", "LOCPACS@127.0.0.1:104") == 0
    assert _lightbox(home, "node", "add", "orth", "ORTHANC@127.0.0.1:104") == 0
    assert _lightbox(home, "config", "set", "bind-address", "127.0.0.1") == 0
    # A hand-edited node the listener cannot use must not stop it serving the others.
    with (home / "nodes.toml").open("a") as f:
        f.write('\n[bad]\ncalled_aet = "BAD"\nhost = "127.0.0.1"\nport = "abc"\n')
    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(home), "listen",
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc=proc)  # type: ignore[arg-type]
        _send("LOCPACS", port, path)
        _send("ORTHANC", port, path)
    finally:
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "not imported" not in err
    assert "received 1 instance from LOCPACS" in out
    assert "received 1 instance from ORTHANC" in out
    assert not list((home / "incoming").glob("*.dcm"))  # nothing left behind
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == 1
