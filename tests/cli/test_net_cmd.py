"""``lightbox node/echo/query/retrieve/config`` against Orthanc, into the real study store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.net.conftest import move_port, orthanc, peer_files  # noqa: F401 (fixtures)
from tests.support.peers import PeerProcess, series_uid, study_uid
from viewer.cli import main
from viewer.store.study_store import StudyStore


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


@pytest.fixture
def home(tmp_path: Path, orthanc: PeerProcess, move_port: int) -> Path:  # noqa: F811
    h = tmp_path / "home"
    assert _lightbox(h, "node", "add", "pacs", f"ORTHANC@127.0.0.1:{orthanc.port}") == 0
    assert _lightbox(h, "config", "set", "bind-address", "127.0.0.1") == 0
    assert _lightbox(h, "config", "set", "port", str(move_port)) == 0
    return h


def test_node_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = tmp_path / "home"
    assert _lightbox(h, "node", "add", "main", "PACS@10.1.2.3:104", "--method", "move",
                     "--calling-aet", "WS1") == 0
    assert _lightbox(h, "node", "edit", "main", "--address", "PACS2@10.1.2.4:4242") == 0
    capsys.readouterr()
    assert _lightbox(h, "node", "list", "--json") == 0
    nodes = json.loads(capsys.readouterr().out)
    assert nodes[0]["name"] == "main" and nodes[0]["called_aet"] == "PACS2"
    assert nodes[0]["port"] == 4242 and nodes[0]["method"] == "move"
    assert _lightbox(h, "node", "add", "main", "X@h:1") == 2
    assert "exists" in capsys.readouterr().err
    assert _lightbox(h, "node", "remove", "main") == 0
    assert _lightbox(h, "echo", "main") == 2
    assert "no node called 'main'" in capsys.readouterr().err


def test_config_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = tmp_path / "home"
    assert _lightbox(h, "config", "set", "ae-title", "READING1") == 0
    assert _lightbox(h, "config", "set", "port", "4104") == 0
    capsys.readouterr()
    assert _lightbox(h, "config", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ae_title"] == "READING1" and shown["port"] == 4104
    assert _lightbox(h, "config", "set", "port", "99999") == 2


def test_echo(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _lightbox(home, "echo", "pacs") == 0
    assert "C-ECHO ok, round trip" in capsys.readouterr().out


def test_query_json_is_keyed_by_keywords(home: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    capsys.readouterr()
    assert _lightbox(home, "query", "pacs", "--patient", "*山田*", "--json") == 0
    studies = json.loads(capsys.readouterr().out)
    assert [s["StudyInstanceUID"] for s in studies] == [study_uid("yamada")]
    assert studies[0]["PatientName"] == "Yamada^Tarou=山田^太郎"
    assert _lightbox(home, "query", "pacs", "--level", "series", "--study",
                     study_uid("yamada"), "--json") == 0
    series = json.loads(capsys.readouterr().out)
    assert {s["SeriesInstanceUID"] for s in series} == {series_uid("yamada", 0),
                                                        series_uid("yamada", 1)}


@pytest.mark.parametrize("method", ["get", "move"])
def test_retrieve_into_the_store_then_nothing_twice(
        home: Path, method: str, capsys: pytest.CaptureFixture[str],
        peer_files: dict[str, Path]) -> None:  # noqa: F811
    expected = {u for u, p in peer_files.items() if p.name.startswith("mueller_")}
    assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("mueller"),
                     "--method", method) == 0
    assert f"12 instances retrieved by C-{method.upper()}" in capsys.readouterr().out
    with StudyStore.open(home) as store:
        assert store.has_instances(expected) == expected
        assert len(store.instances(series_uid("mueller", 0))) == 12
    assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("mueller"), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["already_present"] == 12 and report["completed"] == 0
    assert not any((home / "incoming").iterdir())


def test_retrieve_explains_an_unknown_destination(
        home: Path, capsys: pytest.CaptureFixture[str], move_port: int) -> None:  # noqa: F811
    assert _lightbox(home, "config", "set", "ae-title", "STRANGER") == 0
    capsys.readouterr()
    assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("doe"), "--method",
                     "move") == 1
    err = capsys.readouterr().err
    assert f"Register AE STRANGER, host 127.0.0.1, port {move_port} on the PACS" in err


def test_listen_stores_from_configured_nodes_only(
        tmp_path: Path, peer_files: dict[str, Path]) -> None:  # noqa: F811
    import os
    import signal
    import subprocess
    import sys

    from tests.support.peers import PEER_ENV, free_port, wait_for_port

    h = tmp_path / "home"
    port = free_port()
    assert _lightbox(h, "node", "add", "modality", "CTSCANNER@127.0.0.1:104") == 0
    assert _lightbox(h, "config", "set", "bind-address", "127.0.0.1") == 0
    files = sorted(p for p in peer_files.values() if p.name.startswith("doe_0_000"))
    proc = subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(h), "listen",
                             "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc=proc)  # type: ignore[arg-type]
        sent = subprocess.run(["storescu", "-aet", "CTSCANNER", "-aec", "LIGHTBOX",
                               "127.0.0.1", str(port), *map(str, files)],
                              env=PEER_ENV, capture_output=True, text=True)
        assert sent.returncode == 0, sent.stderr
        refused = subprocess.run(["storescu", "-aet", "STRANGER", "-aec", "LIGHTBOX",
                                  "127.0.0.1", str(port), str(files[0])],
                                 env=PEER_ENV, capture_output=True, text=True)
        assert refused.returncode != 0
        assert "Calling AE Title Not Recognized" in refused.stderr
    finally:
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"stopped; {len(files)} instances received" in out
    with StudyStore.open(h) as store:
        assert len(store.instances(series_uid("doe", 0))) == len(files)
