"""``lightbox listen`` with DICOM TLS, its listener record, and a ``lightbox retrieve
--method move`` of the same home that sends its C-MOVE to the running listener."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.net.conftest import move_port, orthanc, peer_files  # noqa: F401 (fixtures)
from tests.net.tls_peers import client_context
from tests.support.peers import (
    PEER_ENV,
    PeerProcess,
    free_port,
    study_uid,
    wait_for_port,
)
from tests.support.process_identity import needs_proc, start_ticks, this_boot
from viewer.cli import main
from viewer.net.listener import ListenerFile
from viewer.store.study_store import StudyStore


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])



def _listen(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(home), "listen",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    os.kill(proc.pid, signal.SIGINT)
    return proc.communicate(timeout=30)


def _wait_for_record(home: Path, proc: subprocess.Popen[str]) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        record = ListenerFile(home).read()
        if record is not None and record.pid == proc.pid:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("lightbox listen wrote no listener.json")


def test_config_set_tls_files_together_and_names_a_bad_file(
        tmp_path: Path, tls: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    h = tmp_path / "home"
    # One file alone is refused: certificate and key go together.
    assert _lightbox(h, "config", "set", "tls-cert", str(tls["server"])) == 2
    assert "needs its key" in capsys.readouterr().err
    assert _lightbox(h, "config", "set", "tls-cert", str(tls["server"]), "tls-key",
                     str(tls["rogue-key"]), "tls-ca", str(tls["ca"])) == 2
    assert f"{tls['rogue-key']}: not the private key of {tls['server']}" in (
        capsys.readouterr().err)
    assert _lightbox(h, "config", "set", "tls-cert", str(tls["server"]), "tls-key",
                     str(tls["server-key"]), "tls-ca", str(tmp_path / "nope.pem")) == 2
    assert f"{tmp_path / 'nope.pem'}: no such file (tls-ca)" in capsys.readouterr().err
    assert _lightbox(h, "config", "set", "tls-cert", str(tls["server"]), "tls-key",
                     str(tls["server-key"]), "tls-ca", str(tls["ca"]), "tls-port",
                     "11112") == 0
    capsys.readouterr()
    assert _lightbox(h, "config", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tls_cert"] == str(tls["server"]) and shown["tls_port"] == 11112
    assert _lightbox(h, "config", "set", "tls-ca", str(tls["server-key"])) == 2
    assert "not a PEM CA certificate (tls-ca)" in capsys.readouterr().err
    assert _lightbox(h, "config", "set", "tls-port") == 2  # a key without its value


def test_listen_serves_plain_and_tls_to_configured_nodes_and_records_itself(
        tmp_path: Path, tls: dict[str, Path], peer_files: dict[str, Path]) -> None:  # noqa: F811
    h = tmp_path / "home"
    port, tls_port = free_port(), free_port()
    assert _lightbox(h, "node", "add", "modality", "CTSCANNER@127.0.0.1:104") == 0
    assert _lightbox(h, "config", "set", "bind-address", "127.0.0.1", "port", str(port),
                     "tls-port", str(tls_port), "tls-cert", str(tls["client"]), "tls-key",
                     str(tls["client-key"]), "tls-ca", str(tls["ca"])) == 0
    files = sorted(p for p in peer_files.values() if p.name.startswith("doe_0_000"))[:5]
    proc = _listen(h)
    try:
        wait_for_port(tls_port, proc=proc)  # type: ignore[arg-type]
        _wait_for_record(h, proc)
        record = ListenerFile(h).live()
        assert record is not None and (record.port, record.tls_port) == (port, tls_port)
        plain = subprocess.run(["storescu", "-aet", "CTSCANNER", "-aec", "LIGHTBOX",
                                "127.0.0.1", str(port), str(files[0])],
                               env=PEER_ENV, capture_output=True, text=True)
        assert plain.returncode == 0, plain.stderr
        ae = AE(ae_title="CTSCANNER")
        ae.add_requested_context(CTImageStorage)
        good = client_context(tls["ca"], tls["server"], tls["server-key"])
        assoc = ae.associate("127.0.0.1", tls_port, ae_title="LIGHTBOX",
                             tls_args=(good, "127.0.0.1"))
        assert assoc.is_established
        for path in files[1:4]:
            assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
        assoc.release()
        rogue = client_context(tls["ca"], tls["rogue"], tls["rogue-key"])
        refused = ae.associate("127.0.0.1", tls_port, ae_title="LIGHTBOX",
                               tls_args=(rogue, "127.0.0.1"))
        assert not refused.is_established
        # A node added while it runs may send at once.
        assert _lightbox(h, "node", "add", "late", "LATECOMER@127.0.0.1:104") == 0
        end = time.monotonic() + 10
        while True:
            late = subprocess.run(["storescu", "-aet", "LATECOMER", "-aec", "LIGHTBOX",
                                   "127.0.0.1", str(port), str(files[4])],
                                  env=PEER_ENV, capture_output=True, text=True)
            if late.returncode == 0 or time.monotonic() > end:
                break
            time.sleep(0.3)
        assert late.returncode == 0, late.stderr
    finally:
        out, err = _stop(proc)
    assert proc.returncode == 0, err
    assert f"on port {port}, DICOM TLS port {tls_port}" in out
    assert "nodes changed; accepting LATECOMER, CTSCANNER" in out
    assert f"stopped; {len(files)} instances received" in out
    assert not (h / "listener.json").exists()
    with StudyStore.open(h) as store:
        assert store.has_instances(
            [pydicom.dcmread(p).SOPInstanceUID for p in files]) == {
                pydicom.dcmread(p).SOPInstanceUID for p in files}


@pytest.fixture
def listening_home(tmp_path: Path, orthanc: PeerProcess, move_port: int  # noqa: F811
                   ) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    h = tmp_path / "home"
    assert _lightbox(h, "node", "add", "pacs", f"ORTHANC@127.0.0.1:{orthanc.port}") == 0
    assert _lightbox(h, "config", "set", "bind-address", "127.0.0.1", "port",
                     str(move_port)) == 0
    proc = _listen(h)
    try:
        wait_for_port(move_port, proc=proc)  # type: ignore[arg-type]
        _wait_for_record(h, proc)
        yield h, proc
    finally:
        if proc.poll() is None:
            _stop(proc)


@pytest.mark.peer
def test_retrieve_by_move_goes_to_the_home_s_running_listener(
        listening_home: tuple[Path, subprocess.Popen[str]]) -> None:
    h, listen = listening_home
    # Another process of the same home: the C-MOVE port is taken by the listener.
    done = subprocess.run([sys.executable, "-m", "viewer", "--home", str(h), "retrieve",
                           "pacs", "--study", study_uid("doe"), "--method", "move", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["method"] == "move" and report["completed"] == 30
    assert report["failed"] == 0 and report["received"] == 30, report
    assert "cannot listen" not in done.stderr
    out, _ = _stop(listen)
    # The listener received them, and took them into the store in batches (a line each).
    batches = [int(n) for n in re.findall(r"received (\d+) instances? from ORTHANC", out)]
    assert sum(batches) == 30 and len(batches) < 30, out
    with StudyStore.open(h) as store:
        study = store.study(study_uid("doe"))
        assert study is not None and study.number_of_instances == 30


def test_a_dead_listener_record_is_ignored(tmp_path: Path) -> None:
    record = ListenerFile(tmp_path)
    record.path.write_text(json.dumps({"pid": 2**22 + 12345, "ae_title": "LIGHTBOX",
                                       "port": 11113, "tls_port": 0}))
    assert record.read() is not None and record.live() is None
    mine = record.write("LIGHTBOX", 11113, 2762)
    assert record.live() is None and record.live(exclude_self=False) == mine
    record.remove()
    assert not record.path.exists()


@needs_proc
def test_a_record_whose_pid_another_process_took_is_not_live(
        tmp_path: Path, unrelated: subprocess.Popen[bytes]) -> None:
    # A crashed listener's pid now run by another program: "another Lightbox process of
    # this home (pid N) is listening" named an editor or a shell.
    record = ListenerFile(tmp_path)
    writer = f"{this_boot()}.{start_ticks(unrelated.pid) - 1}"
    record.path.write_text(json.dumps({"pid": unrelated.pid, "ae_title": "LIGHTBOX",
                                       "port": 11113, "tls_port": 0, "start": writer}))
    assert record.live() is None
    record.path.write_text(json.dumps({"pid": unrelated.pid, "ae_title": "LIGHTBOX",
                                       "port": 11113, "tls_port": 0,
                                       "start": f"{this_boot()}.{start_ticks(unrelated.pid)}"}))
    assert record.live() is not None
    mine = record.write("LIGHTBOX", 11113, 0)
    assert mine.start.startswith(this_boot()) and record.live(exclude_self=False) == mine
    token = record.claim_port(11114)
    assert record.port_holder(11114) == os.getpid()
    record.release_port(11114, token)


def test_a_record_of_a_live_process_on_a_free_port_is_not_trusted(tmp_path: Path) -> None:
    from viewer.core.settings import NetworkSettings
    from viewer.net.nodes import NodeRecord
    from viewer.net.transfer import _shared_listener

    port = free_port()
    local = NetworkSettings(bind_address="127.0.0.1", port=port)
    node = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
    record = ListenerFile(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A live process (as after a process id was reused) but nothing on the port.
        record.path.write_text(json.dumps({"pid": other.pid, "ae_title": "LIGHTBOX",
                                           "port": port, "tls_port": 0}))
        assert record.live() is not None
        assert not _shared_listener(node, local, record)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen(1)
            assert _shared_listener(node, local, record)
    finally:
        other.kill()
        other.wait()
    assert not _shared_listener(node, local, record)  # its process is gone


@pytest.mark.parametrize("option, value", [("--port", "70000"), ("--port", "-1"),
                                           ("--port", "0"), ("--tls-port", "70000"),
                                           ("--tls-port", "-1")])
def test_listen_refuses_a_port_out_of_range(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str) -> None:
    h = tmp_path / "home"
    assert _lightbox(h, "node", "add", "modality", "CTSCANNER@127.0.0.1:104") == 0
    capsys.readouterr()
    assert _lightbox(h, "listen", option, value) == 2
    err = capsys.readouterr().err
    assert f"{option[2:]} {value} is not a TCP port (1-65535" in err
    assert not (h / "listener.json").exists()
