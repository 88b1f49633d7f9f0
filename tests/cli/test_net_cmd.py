"""``lightbox node/echo/query/retrieve/config`` against Orthanc, into the real study store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from tests.net.conftest import move_port, orthanc, peer_files  # noqa: F401 (fixtures)
from tests.support.peers import (
    PEER_ENV,
    PeerProcess,
    free_port,
    make_tls_files,
    series_uid,
    study_uid,
    wait_for_port,
)
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
    assert nodes[0]["sending_aet"] == ""
    assert _lightbox(h, "node", "edit", "main", "--sending-aet", "PACS_STORE") == 0
    capsys.readouterr()
    assert _lightbox(h, "node", "list") == 0
    assert "sends as PACS_STORE" in capsys.readouterr().out
    assert _lightbox(h, "node", "edit", "main", "--sending-aet", "A" * 17) == 2
    assert "must be 1-16 characters" in capsys.readouterr().err
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


def test_a_listener_started_before_the_ae_title_changed_is_named(
        home: Path, capsys: pytest.CaptureFixture[str], move_port: int) -> None:  # noqa: F811
    # The C-MOVE goes to the home's running listener, which still answers as LIGHTBOX and
    # refuses a PACS that calls the new title: "the PACS never connected back, register
    # AE ..." sent the administrator to a PACS that had it right.
    proc = subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(home), "listen"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(move_port, proc=proc)  # type: ignore[arg-type]
        capsys.readouterr()
        assert _lightbox(home, "config", "set", "ae-title", "STRANGER") == 0
        assert (f"note: the storage SCP of this home (process {proc.pid}, AE LIGHTBOX, port "
                f"{move_port}) keeps its ae-title until it is restarted"
                ) in capsys.readouterr().err
        assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("doe"), "--method",
                         "move") == 1
        err = capsys.readouterr().err
        assert (f"lightbox: pacs: the storage SCP of this home (process {proc.pid}) still "
                "answers as AE LIGHTBOX, not as STRANGER") in err, err
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)


def _listen(h: Path) -> tuple[subprocess.Popen[str], int]:
    """``lightbox listen`` in a process of its own for node CTSCANNER, and its port."""
    port = free_port()
    assert _lightbox(h, "node", "add", "modality", "CTSCANNER@127.0.0.1:104") == 0
    assert _lightbox(h, "config", "set", "bind-address", "127.0.0.1") == 0
    proc = subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(h), "listen",
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, port


def test_listen_stores_from_configured_nodes_only(
        tmp_path: Path, peer_files: dict[str, Path]) -> None:  # noqa: F811
    h = tmp_path / "home"
    files = sorted(p for p in peer_files.values() if p.name.startswith("doe_0_000"))
    proc, port = _listen(h)
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


def test_listen_counts_what_it_answered_but_could_not_import(
        tmp_path: Path, peer_files: dict[str, Path]) -> None:  # noqa: F811
    # A modality may delete what we acknowledged; the C-STORE response goes before the
    # import, so an instance the store refuses must show in listen's own total.
    h = tmp_path / "home"
    good = sorted(p for p in peer_files.values() if p.name.startswith("doe_0_000"))[0]
    resent = pydicom.dcmread(good)  # the same instance, corrected: another patient
    resent.PatientID = "OTHER-ID"
    no_study = pydicom.dcmread(good)
    no_study.SOPInstanceUID = no_study.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    del no_study.StudyInstanceUID
    odd = [tmp_path / "resent.dcm", tmp_path / "nostudy.dcm"]
    resent.save_as(odd[0])
    no_study.save_as(odd[1])
    proc, port = _listen(h)
    try:
        wait_for_port(port, proc=proc)  # type: ignore[arg-type]
        for path in (good, *odd):  # one association each: the good one is stored first
            sent = subprocess.run(["storescu", "-aet", "CTSCANNER", "-aec", "LIGHTBOX",
                                   "127.0.0.1", str(port), str(path)],
                                  env=PEER_ENV, capture_output=True, text=True)
            assert sent.returncode == 0, sent.stderr
    finally:
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    # One line per batch the receiver imported: the two may have arrived in one.
    assert out.count("not imported: 1 instance from CTSCANNER") == 2 or (
        "not imported: 2 instances from CTSCANNER" in out), out
    assert (f"stopped; 1 instance received, 2 instances not imported (kept in "
            f"{h / 'incoming'}; the warnings above say why)") in out
    uid = str(resent.SOPInstanceUID)
    assert (f"not imported (kept as {h / 'incoming' / uid}.dcm): SOP Instance UID {uid} is "
            "already stored with different content") in err
    assert ".part" not in err and "OTHER-ID" not in err
    assert (h / "incoming" / f"{uid}.dcm").is_file()
    assert (h / "incoming" / "1.2.3.4.5.dcm").is_file()


def test_query_refuses_an_impossible_date_or_a_reversed_range(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(home, "query", "pacs", "--date", "20241301") == 2
    err = capsys.readouterr().err
    assert "--date 20241301: 20241301 is not a date" in err
    assert _lightbox(home, "query", "pacs", "--date", "20240131-20240101") == 2
    assert "ends (20240101) before it begins (20240131)" in capsys.readouterr().err
    # The range forms query took before still go to the PACS.
    for good in ("20240115", "20240101-", "-20240131", "20240101-20240131"):
        assert _lightbox(home, "query", "pacs", "--date", good, "--json") == 0, good
        assert study_uid("yamada") in capsys.readouterr().out, good


def test_query_refuses_keys_below_its_level(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Sent, Orthanc matched nothing and dcmqrscp ignored them and listed everything;
    # dropped at patient level, the query listed every patient for one accession number.
    doe = study_uid("doe")
    for args, message in [
        (("--series", series_uid("doe", 0)), "--series is a series key: query with --level "
         "series or image"),
        (("--level", "series", "--study", doe, "--instance", "1.2.3"),
         "--instance is an image key: query with --level image"),
        (("--level", "patient", "--model", "patient", "--accession", "ACC1", "--date",
          "20240101-"), "--date and --accession are study keys, which a patient-level "
         "query cannot match: query at study level (--level study)"),
        (("--level", "image"), "an image query needs exactly one study UID (--study)"),
        (("--level", "series", "--study", doe, "--patient", "DOE*"),
         "--patient cannot be matched in a series query, which takes only the UIDs of the "
         "levels above it")]:
        capsys.readouterr()
        assert _lightbox(home, "query", "pacs", *args) == 2, args
        assert f"lightbox: {message}" in capsys.readouterr().err, args


def test_a_query_without_matches_says_so(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(home, "query", "pacs", "--patient", "NOBODY^HERE") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "lightbox: pacs: no matches\n"
    assert _lightbox(home, "query", "pacs", "--patient", "NOBODY^HERE", "--json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and captured.err == ""
    assert _lightbox(home, "query", "pacs", "--patient", "*") == 0
    assert "no matches" not in capsys.readouterr().err


def test_retrieve_of_a_uid_the_pacs_does_not_have(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(home, "retrieve", "pacs", "--study", "1.2.3.4.5", "--method", "move",
                     "--json") == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["message"] == ("the PACS has nothing for study 1.2.3.4.5: check the UIDs "
                                 "with lightbox query")
    assert "never connected" not in captured.err


def test_counts_are_worded_and_an_unused_method_is_not_shown(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(home, "query", "pacs", "--level", "image", "--study", study_uid("doe"),
                     "--series", series_uid("doe", 0), "--json") == 0
    one = json.loads(capsys.readouterr().out)[0]["SOPInstanceUID"]
    args = ("retrieve", "pacs", "--study", study_uid("doe"), "--series",
            series_uid("doe", 0), "--instance", one)
    assert _lightbox(home, *args, "--method", "get") == 0
    captured = capsys.readouterr()
    assert "pacs: 1 instance retrieved by C-GET\n" in captured.out
    assert "(0 failed, 0 warnings)" in captured.err
    assert _lightbox(home, *args, "--method", "auto") == 0
    captured = capsys.readouterr()
    assert "pacs: 0 instances retrieved, 1 was already here\n" in captured.out
    assert "C-AUTO" not in captured.out + captured.err
    assert _lightbox(home, *args, "--json") == 0
    assert json.loads(capsys.readouterr().out)["method"] is None


def test_a_move_port_held_by_another_retrieve_of_the_home(
        home: Path, move_port: int, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from viewer.net import transfer
    from viewer.net.listener import ListenerFile

    monkeypatch.setattr(transfer, "PORT_WAIT_SECONDS", 0.5)
    records = ListenerFile(home)
    with socket.socket() as held:
        # As our storage SCP does: earlier connections to the port may be in TIME_WAIT.
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", move_port))
        held.listen(1)
        claim = records.claim_port(move_port)
        try:
            capsys.readouterr()
            # Not a bad argument: the same command works once the other retrieve ends.
            assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("doe"),
                             "--method", "move") == 1
        finally:
            records.release_port(move_port, claim)
    err = capsys.readouterr().err
    assert (f"another Lightbox retrieve of this home is using port {move_port} for C-MOVE"
            in err)
    assert "choose another port" not in err


def test_query_is_quiet_about_over_long_values_from_the_pacs(
        tmp_path: Path, peer_files: dict[str, Path]) -> None:  # noqa: F811
    from pydicom import config

    from tests.support.peers import start_orthanc, store_files

    # A PACS returns what it was sent: a name component and a description over 64 chars
    # made pydicom warn on stderr (logging and UserWarnings with site-packages paths).
    ds = pydicom.dcmread(sorted(p for p in peer_files.values()
                                if p.name.startswith("doe_0_"))[0])
    with config.disable_value_validation():
        ds.PatientName = "LONG" * 20 + "^NAME"
        ds.StudyDescription = "D" * 80
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.2"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = (
            "1.2.826.0.1.3680043.8.498.3")
        long_file = tmp_path / "long.dcm"
        ds.save_as(long_file)
    peer = start_orthanc(tmp_path / "orthanc")
    try:
        store_files(peer, [long_file])
        h = tmp_path / "home"
        assert _lightbox(h, "node", "add", "pacs", f"ORTHANC@127.0.0.1:{peer.port}") == 0
        for extra in ((), ("--json",)):
            done = subprocess.run([sys.executable, "-m", "viewer", "--home", str(h), "query",
                                   "pacs", *extra], capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0, done.stderr
            assert "D" * 80 in done.stdout
            assert done.stderr == ""
    finally:
        peer.stop()


def test_ctrl_c_during_a_retrieve_reports_what_was_stored(
        home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.net.test_retrieve import _after_instances

    # Ctrl-C as the 20th instance arrives: that one is still received and stored, while
    # the PACS's last count may not include it.
    previous = signal.getsignal(signal.SIGINT)
    _after_instances(monkeypatch, 20, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        code = _lightbox(home, "retrieve", "pacs", "--study", study_uid("yamada"),
                         "--method", "get")
    finally:
        signal.signal(signal.SIGINT, previous)
    captured = capsys.readouterr()
    with StudyStore.open(home) as store:
        stored = sum(len(store.instances(series_uid("yamada", n))) for n in (0, 1))
    assert code == 130 and 20 <= stored < 212  # cancelled, as Ctrl-C ends import and query
    assert f"pacs: {stored} instances retrieved by C-GET\n" in captured.out
    # The study is not shown as whole: the PACS said it has 212.
    assert _lightbox(home, "studies") == 0
    assert f"INCOMPLETE: {212 - stored} of 212 not here" in capsys.readouterr().out
    assert _lightbox(home, "retrieve", "pacs", "--study", study_uid("yamada")) == 0
    capsys.readouterr()
    assert _lightbox(home, "studies") == 0
    assert "INCOMPLETE" not in capsys.readouterr().out
    assert f"lightbox: pacs: cancelled after {stored} instances" in captured.err


def test_node_tls_files_are_checked_when_the_node_is_added(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A missing or unreadable CA was taken, and the first echo said "cannot load the TLS
    # files of this node: [Errno 2] No such file or directory", naming no file.
    h = tmp_path / "home"
    missing = tmp_path / "nowhere.pem"
    capsys.readouterr()
    assert _lightbox(h, "node", "add", "tls", "PACS@10.1.2.3:2762", "--tls-ca",
                     str(missing)) == 2
    assert capsys.readouterr().err.strip() == f"lightbox: {missing}: no such file (--tls-ca)"
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    assert _lightbox(h, "node", "add", "tls", "PACS@10.1.2.3:2762", "--tls-ca",
                     str(not_pem)) == 2
    assert f"cannot load its TLS CA file {not_pem}: " in capsys.readouterr().err
    tls = make_tls_files(tmp_path / "tls")
    assert _lightbox(h, "node", "add", "tls", "PACS@10.1.2.3:2762", "--tls-ca",
                     str(tls["ca"])) == 0
    assert _lightbox(h, "node", "edit", "tls", "--tls-ca", str(not_pem)) == 2
    capsys.readouterr()
    assert _lightbox(h, "node", "list", "--json") == 0
    (node,) = json.loads(capsys.readouterr().out)
    assert node["tls_ca"] == str(tls["ca"].resolve())  # the failed edit changed nothing
