"""How ``lightbox echo/query/retrieve`` end: Ctrl-C, exit statuses, what is printed.

Ctrl-C during ``echo`` (or ``node test``) while the peer had not answered printed
"interrupted" and left the process running (pynetdicom's association threads kept
waiting); network failures ended with status 2, the bad-arguments status, and a retrieve
that failed printed no summary and no JSON report; pynetdicom's own ERROR lines came
next to Lightbox's explanation. The bounds on waits here only tell a hang from an end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.net.conftest import dcmqrscp, move_port, orthanc, peer_files  # noqa: F401 (fixtures)
from tests.support.peers import (
    PeerProcess,
    SilentPeer,
    free_port,
    start_orthanc,
    store_files,
    study_uid,
)
from viewer.cli import main
from viewer.store.study_store import StudyStore

HANG_BOUND = 10.0  # seconds for a process to end after Ctrl-C: a hang, not a speed test
STARTUP_BOUND = 60.0  # seconds for a fresh interpreter to import Lightbox and connect


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def _spawn(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "viewer", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=STARTUP_BOUND)


def _ctrl_c_once_connected(proc: subprocess.Popen[str], connected: Callable[[], bool]
                           ) -> str:
    """Send SIGINT once ``connected()``; return the stderr of the ended process."""
    end = time.monotonic() + STARTUP_BOUND
    while not connected():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the command never reached the peer"
        time.sleep(0.05)
    time.sleep(0.3)  # let it settle in its wait for the peer's answer
    os.kill(proc.pid, signal.SIGINT)
    try:
        return proc.communicate(timeout=HANG_BOUND)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        err = proc.communicate()[1]
        pytest.fail(f"still running {HANG_BOUND:.0f} s after Ctrl-C; stderr: {err}")


@pytest.mark.parametrize("command", [("echo", "hung"), ("node", "test", "hung")])
def test_ctrl_c_ends_an_echo_while_the_peer_is_silent(
        tmp_path: Path, silent: SilentPeer, command: tuple[str, ...]) -> None:
    home = tmp_path / "home"
    # The peer accepts TCP and never answers the A-ASSOCIATE-RQ (a hung PACS, or another
    # service on the port); its ACSE timeout (30 s) is longer than the bound.
    assert _lightbox(home, "node", "add", "hung", f"HUNG@127.0.0.1:{silent.port}") == 0
    proc = _spawn(home, *command)
    err = _ctrl_c_once_connected(proc, lambda: bool(silent.clients))
    assert proc.returncode == 130, err
    assert "lightbox: interrupted" in err
    assert "Traceback" not in err
    # Nor pynetdicom's "ACSE timeout reached" for the request the user gave up.
    assert "pynetdicom" not in err


class _MutePeer:
    """A pynetdicom SCP that accepts the association and never answers the C-ECHO."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        self.ae = AE(ae_title="MUTE")
        self.ae.add_supported_context(Verification)
        self.port = free_port()
        server = self.ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_C_ECHO, self._on_echo)])
        assert server is not None  # block=False returns the running server
        self.server = server

    def _on_echo(self, event: object) -> int:
        self.asked.set()
        self.release.wait(60)
        return 0x0000

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def test_ctrl_c_ends_an_echo_whose_response_does_not_come(tmp_path: Path) -> None:
    peer = _MutePeer()
    try:
        home = tmp_path / "home"
        assert _lightbox(home, "node", "add", "mute", f"MUTE@127.0.0.1:{peer.port}") == 0
        proc = _spawn(home, "echo", "mute")
        err = _ctrl_c_once_connected(proc, peer.asked.is_set)
    finally:
        peer.close()
    assert proc.returncode == 130, err
    assert "lightbox: interrupted" in err


@pytest.fixture
def closed(tmp_path: Path) -> Path:
    """A home whose node ``closed`` is a port where nothing listens."""
    home = tmp_path / "home"
    assert _lightbox(home, "node", "add", "closed", f"X@127.0.0.1:{free_port()}") == 0
    return home


def test_network_failures_exit_with_1_and_bad_arguments_with_2(
        closed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(closed, "echo", "closed") == 1
    assert _lightbox(closed, "node", "test", "closed") == 1
    assert _lightbox(closed, "query", "closed") == 1
    assert "nothing accepts connections" in capsys.readouterr().err
    # Bad arguments still exit with 2.
    assert _lightbox(closed, "echo", "nowhere") == 2
    assert _lightbox(closed, "query", "closed", "--date", "20241301") == 2
    assert _lightbox(closed, "retrieve", "nowhere", "--study", "1.2.3") == 2
    assert _lightbox(closed, "retrieve", "closed", "--study", "1.2.x") == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no retrieve report for bad arguments


def test_a_retrieve_that_cannot_connect_reports_and_exits_with_1(
        closed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(closed, "retrieve", "closed", "--study", "1.2.3") == 1
    captured = capsys.readouterr()
    assert captured.out == "closed: 0 instances retrieved\n"
    assert "lightbox: closed: " in captured.err and "nothing accepts connections" in captured.err
    assert "nothing to fetch" not in captured.err
    assert _lightbox(closed, "retrieve", "closed", "--study", "1.2.3", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["received"] == 0 and "nothing accepts connections" in report["message"]


def test_a_retrieve_from_a_pacs_that_dies_reports_what_was_stored(
        tmp_path: Path, move_port: int, peer_files: dict[str, Path],  # noqa: F811
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.net.test_retrieve import _after_instances

    uids = [u for u, p in peer_files.items() if p.name.startswith("yamada_")]
    files = sorted(peer_files[u] for u in uids)
    peer = start_orthanc(tmp_path / "orthanc",
                         destinations={"LIGHTBOX": ("127.0.0.1", move_port)})
    try:
        store_files(peer, files)
        home = tmp_path / "home"
        assert _lightbox(home, "node", "add", "dying", peer.address) == 0
        # The PACS dies while the 41st instance arrives (that one is cut off).
        _after_instances(monkeypatch, 41, peer.kill)
        capsys.readouterr()
        code = _lightbox(home, "retrieve", "dying", "--study", study_uid("yamada"),
                         "--method", "get", "--json")
    finally:
        peer.stop()
    captured = capsys.readouterr()
    assert code == 1, captured.err
    report = json.loads(captured.out)
    with StudyStore.open(home) as store:
        stored = len(store.has_instances(uids))
    assert 40 <= stored < len(files)
    assert report["received"] == stored and not report["cancelled"]
    assert "was lost after" in report["message"]
    assert f"lightbox: dying: {report['message']}" in captured.err


def test_a_retrieve_with_a_wrong_called_ae_title_reports_and_exits_with_1(
        tmp_path: Path, dcmqrscp: PeerProcess,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    # dcmqrscp rejects an association that calls an AE title it does not have.
    assert _lightbox(home, "node", "add", "pacs", f"WRONG@127.0.0.1:{dcmqrscp.port}") == 0
    capsys.readouterr()
    assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("doe"), "--json") == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["received"] == 0
    assert "called AE title not recognised" in report["message"]
    assert f"lightbox: pacs: {report['message']}" in captured.err


def test_pynetdicom_errors_show_only_when_verbose(closed: Path) -> None:
    quiet = _run(closed, "echo", "closed")
    assert quiet.returncode == 1
    assert "lightbox: closed: " in quiet.stderr
    assert "pynetdicom" not in quiet.stderr
    verbose = _run(closed, "-v", "echo", "closed")
    assert "pynetdicom" in verbose.stderr


def test_no_nothing_to_fetch_line_for_a_study_the_pacs_does_not_have(
        tmp_path: Path, orthanc: PeerProcess, move_port: int,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert _lightbox(home, "node", "add", "pacs", orthanc.address) == 0
    assert _lightbox(home, "config", "set", "bind-address", "127.0.0.1") == 0
    assert _lightbox(home, "config", "set", "port", str(move_port)) == 0
    capsys.readouterr()
    assert _lightbox(home, "retrieve", "pacs", "--study", "1.2.3.4.5") == 1
    err = capsys.readouterr().err
    assert "lightbox: pacs: the PACS has nothing for study 1.2.3.4.5" in err
    assert "nothing to fetch" not in err  # it read as a success just before
    # Where everything is here already, the line still says so.
    assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("doe")) == 0
    assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("doe")) == 0
    assert "nothing to fetch: 30 already here" in capsys.readouterr().err


def test_a_query_cut_short_by_ctrl_c_is_no_success(
        closed: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from viewer.cli import net_query
    from viewer.net.connection import CancelToken

    def find(node: object, local: object, spec: object, token: CancelToken
             ) -> Iterator[dict[str, str]]:
        yield {"PatientID": "P1"}
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C; the handler sends the C-CANCEL
        assert token.cancelled

    monkeypatch.setattr(net_query, "find", find)
    previous = signal.getsignal(signal.SIGINT)
    capsys.readouterr()
    assert _lightbox(closed, "query", "closed", "--level", "patient", "--model",
                     "patient") == 130
    captured = capsys.readouterr()
    assert captured.out.startswith("P1")  # what arrived is printed
    assert "lightbox: interrupted" in captured.err
    assert signal.getsignal(signal.SIGINT) is previous  # the handler is put back
