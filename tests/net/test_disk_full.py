"""A retrieve into a home whose disk fills up stops once, says so, and keeps a sound store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.peers import PeerProcess, study_uid
from tests.support.small_disk import grow, small_disk
from viewer.store import StudyStore

pytestmark = pytest.mark.peer

ROOT = Path(__file__).resolve().parents[2]


def _lightbox(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "viewer", "--home", str(home), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _sound(home: Path) -> int:
    """Rows in the store, after checking that each has its file and each file its row."""
    with StudyStore.open(home) as store:
        assert store.check() == []
    conn = sqlite3.connect(home / "studies.sqlite")
    try:
        rows = {str(p) for (p,) in conn.execute("SELECT file_path FROM instances")}
    finally:
        conn.close()
    files = {str(p.relative_to(home)) for p in (home / "files").rglob("*.dcm")}
    assert files == rows
    return len(rows)


@pytest.mark.parametrize("method", ["get", "move"])
def test_a_full_disk_stops_a_retrieve_and_a_retry_fetches_the_rest(
        orthanc: PeerProcess, move_port: int, tmp_path: Path, method: str) -> None:
    with small_disk(tmp_path / "disk", "400k") as disk:
        home = disk / "home"
        assert _lightbox(home, "node", "add", "pacs",
                         f"{orthanc.aet}@127.0.0.1:{orthanc.port}").returncode == 0
        assert _lightbox(home, "config", "set", "port", str(move_port)).returncode == 0
        # 212 instances, about 2 MB.
        done = _lightbox(home, "retrieve", "pacs", "--study", study_uid("yamada"),
                         "--method", method)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr.rstrip().endswith(
            "is full, so the retrieve stopped: what was stored is kept. Free space, then "
            "retrieve again to fetch the rest")
        # Said once, not for each of the instances the PACS kept sending.
        assert done.stderr.count("is full") == 2  # the log line and the message
        stored = _sound(home)
        assert stored < 212
        grow(disk, "16m")
        done = _lightbox(home, "retrieve", "pacs", "--study", study_uid("yamada"),
                         "--method", method)
        assert done.returncode == 0, done.stderr
        assert _sound(home) == 212


def test_a_listening_scp_that_filled_the_disk_stores_again_once_there_is_room(
        orthanc: PeerProcess, move_port: int, tmp_path: Path) -> None:
    # The always-on storage SCP outlives the retrieve that filled the disk: the next
    # retrieve, after space was freed, must not be stopped by that old failure.
    from tests.net.conftest import node_for
    from viewer.core.settings import NetworkSettings
    from viewer.net.retrieve import RetrieveRequest, retrieve
    from viewer.net.scp import StorageSCP
    from viewer.net.sinks import BatchSink

    local = NetworkSettings(ae_title="LIGHTBOX", port=move_port, bind_address="127.0.0.1")
    node = node_for(orthanc)
    request = RetrieveRequest(study_uid("yamada"))
    with small_disk(tmp_path / "disk", "400k") as disk:
        home = disk / "home"
        with StudyStore.open(home) as store:
            sink = BatchSink(store.add_received_files)
            with StorageSCP(local, [node], home / "incoming", sink) as scp:
                first = list(retrieve(node, local, request, sink, home / "incoming",
                                      method="move", scp=scp))[-1]
                assert not first.ok and "is full, so the retrieve stopped" in first.message
                grow(disk, "16m")
                second = list(retrieve(node, local, request, sink, home / "incoming",
                                       method="move", scp=scp,
                                       already_have=store.has_instances))[-1]
                assert second.ok, second.message
        assert _sound(home) == 212
