"""``lightbox listen`` taking the same instance from two configured nodes (storescu).

The receiver writes the sender's AE title into each file's File Meta Information (0002,0016
Source Application Entity Title), so the second copy differs from the stored one there and
only there (PS3.10 7.1: group 0002 is the file's). It was refused as "already stored with
different content" and left in incoming/, though storescu had been told it was stored.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.support.listening import lightbox_listening
from tests.support.peers import PEER_ENV
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


def _listen_to(home: Path, sends: list[tuple[str, Path]]) -> tuple[int, str, str]:
    """Run ``lightbox listen`` while storescu sends each (AE title, file); its exit
    status, output and log."""
    with lightbox_listening(home) as run:
        for aet, path in sends:
            _send(aet, run.port, path)
    assert run.returncode is not None
    return run.returncode, run.out, run.err


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
    returncode, out, err = _listen_to(home, [("LOCPACS", path), ("ORTHANC", path)])
    assert returncode == 0, err
    assert "not imported" not in err
    assert "received 1 instance from LOCPACS" in out
    assert "received 1 instance from ORTHANC" in out
    assert not list((home / "incoming").glob("*.dcm"))  # nothing left behind
    with StudyStore.open(home) as store:
        assert store.counts()["instances"] == 1


def test_two_refused_data_sets_with_one_uid_are_both_kept(tmp_path: Path) -> None:
    """Each conflicting copy was answered Success and said to be kept: the second one
    replaced the first in incoming/, and one patient's image was gone."""
    home = tmp_path / "home"
    assert _lightbox(home, "node", "add", "loc", "LOCPACS@127.0.0.1:104") == 0
    assert _lightbox(home, "config", "set", "bind-address", "127.0.0.1") == 0
    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16)
    assert _lightbox(home, "import", str(path)) == 0
    conflicting = []
    for name in ("OTHER^TWO", "OTHER^THREE"):
        ds = pydicom.dcmread(path)
        ds.PatientName = name
        conflicting.append(tmp_path / f"{name}.dcm")
        ds.save_as(conflicting[-1])
    # The first one twice.
    returncode, _out, err = _listen_to(
        home, [("LOCPACS", sent) for sent in (*conflicting, conflicting[0])])
    assert returncode == 1, err
    kept = sorted((home / "incoming").glob("*.dcm"))
    names = sorted(str(pydicom.dcmread(k, stop_before_pixels=True).PatientName) for k in kept)
    assert names == ["OTHER^THREE", "OTHER^TWO"], (kept, err)
    for k in kept:
        assert f"kept as {k}" in err
