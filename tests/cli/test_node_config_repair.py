"""Hand-edited ``nodes.toml`` and ``settings.toml`` put right from the command line:
entries Lightbox cannot read are named and kept, ``config set`` repairs the value it
sets, ``--timeout`` bounds every wait for a silent peer, and ``listen`` names each AE
title once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.peers import SilentPeer, free_port
from viewer.cli import main


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def _nodes(home: Path) -> dict[str, object]:
    with (home / "nodes.toml").open("rb") as f:
        return tomllib.load(f)


def test_a_node_without_its_header_is_listed_and_kept_by_the_next_add(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "nodes.toml").write_text('called_aet = "PACS"\nhost = "127.0.0.1"\n'
                                         "port = 104\n")
    assert _lightbox(tmp_path, "node", "list") == 0
    out = capsys.readouterr().out
    assert "no nodes yet" not in out
    assert f"called_aet       -{' ' * 40}INVALID: {tmp_path / 'nodes.toml'}: called_aet" in out
    assert "need a [NAME] line above them" in out
    assert _lightbox(tmp_path, "echo", "pacs") == 2
    assert "outside any node table" in capsys.readouterr().err
    assert _lightbox(tmp_path, "node", "add", "other", "X@127.0.0.1:105") == 0
    assert "outside any node table" in caplog.text  # said again, not dropped
    data = _nodes(tmp_path)
    assert (data["called_aet"], data["host"], data["port"]) == ("PACS", "127.0.0.1", 104)
    assert isinstance(data["other"], dict)


def test_an_unknown_key_sets_the_node_aside_with_a_hint_and_is_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nodes.toml").write_text('[pacs]\ncalled_AET = "Y"\nhost = "127.0.0.1"\n'
                                         'port = 104\n\n[ws]\ncalled_aet = "W"\n'
                                         'host = "127.0.0.1"\nport = 105\n'
                                         'calling-aet = "WS1"\nmethod = "GET"\n')
    assert _lightbox(tmp_path, "node", "list") == 0
    out = capsys.readouterr().out
    assert ("INVALID: node 'pacs': unknown key 'called_AET'; did you mean called_aet?"
            in out)
    # The settings file's "-" spelling, and GET as the DICOM service is written.
    assert "get, as WS1" in out
    assert _lightbox(tmp_path, "echo", "pacs") == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nodes.toml'}: node 'pacs': unknown key 'called_AET'" in err
    assert "correct the key in the file" in err
    assert _lightbox(tmp_path, "node", "add", "other", "X@127.0.0.1:106") == 0
    data = _nodes(tmp_path)
    assert data["pacs"] == {"called_AET": "Y", "host": "127.0.0.1", "port": 104}
    ws = data["ws"]
    assert isinstance(ws, dict)
    assert (ws["calling_aet"], ws["method"]) == ("WS1", "get")


def test_config_set_repairs_the_value_it_sets(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("[network]\nport = 70000\n")
    assert _lightbox(tmp_path, "config", "show") == 2
    err = capsys.readouterr().err
    assert "port 70000 is not a TCP port" in err
    assert "lightbox config set KEY VALUE, or edit the file" in err
    assert _lightbox(tmp_path, "config", "set", "port", "11112") == 0
    assert tomllib.loads(settings.read_text())["network"]["port"] == 11112
    # Another value still wrong: refused, naming it and the file, and nothing written.
    settings.write_text('[network]\nport = 70000\nae_title = "ABCDEFGHIJKLMNOPQ"\n')
    assert _lightbox(tmp_path, "config", "set", "port", "11112") == 2
    err = capsys.readouterr().err
    assert f"{settings}: [network] ae-title: AE title 'ABCDEFGHIJKLMNOPQ'" in err
    assert "still wrong after this change" in err
    assert tomllib.loads(settings.read_text())["network"]["port"] == 70000
    assert _lightbox(tmp_path, "config", "set", "port", "11112", "ae-title", "WS1") == 0
    # A wrong type can be replaced too, and a bad value given is still the command's.
    settings.write_text('[network]\nport = "abc"\n')
    assert _lightbox(tmp_path, "config", "set", "port", "0") == 2
    assert capsys.readouterr().err.startswith("lightbox: port 0 is not a TCP port")
    assert _lightbox(tmp_path, "config", "set", "port", "4006") == 0


def test_timeout_bounds_the_association_of_a_silent_peer(tmp_path: Path) -> None:
    assert _lightbox(tmp_path, "node", "add", "mute", "MUTE@127.0.0.1:104",
                     "--timeout", "2") == 0
    mute = _nodes(tmp_path)["mute"]
    assert isinstance(mute, dict)
    assert [mute[k] for k in ("connect_timeout", "acse_timeout", "dimse_timeout")] == [2.0] * 3
    silent = SilentPeer()
    try:
        assert _lightbox(tmp_path, "node", "edit", "mute", "--address",
                         f"MUTE@127.0.0.1:{silent.port}") == 0
        proc = subprocess.run([sys.executable, "-m", "viewer", "--home", str(tmp_path),
                               "echo", "mute"], capture_output=True, text=True,
                              timeout=20)  # far below the 30 s ACSE default
    finally:
        silent.close()
    assert proc.returncode == 1
    assert "within 2 s" in proc.stderr


def test_timeout_keeps_a_timeout_set_on_its_own(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nodes.toml").write_text('[p]\ncalled_aet = "P"\nhost = "127.0.0.1"\n'
                                         "port = 104\ntimeout = 5\nacse_timeout = 45\n")
    assert _lightbox(tmp_path, "node", "edit", "p", "--timeout", "8") == 0
    assert "acse_timeout stays 45 s" in capsys.readouterr().out
    p = _nodes(tmp_path)["p"]
    assert isinstance(p, dict)
    assert [p[k] for k in ("timeout", "connect_timeout", "acse_timeout", "dimse_timeout")
            ] == [8.0, 8.0, 45.0, 8.0]


def test_listen_names_a_shared_ae_title_once(tmp_path: Path) -> None:
    for name, port in (("a", 104), ("b", 105), ("c", 106)):
        aet = "SHARED" if name != "b" else "OTHER"
        assert _lightbox(tmp_path, "node", "add", name, f"{aet}@127.0.0.1:{port}") == 0
    assert _lightbox(tmp_path, "config", "set", "bind-address", "127.0.0.1") == 0
    proc = subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(tmp_path),
                             "listen", "--port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)
    assert "for SHARED, OTHER; Ctrl-C to stop" in first, first


def test_names_from_a_hand_edited_file_cannot_drive_the_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A quoted TOML key may hold any character: an ESC would retitle or clear the
    # terminal, a newline break the table.
    (tmp_path / "nodes.toml").write_text('"evil\\u001b]0;x\\u0007" = 1\n\n'
                                         '["bad\\nname"]\nport = "abc"\n')
    assert _lightbox(tmp_path, "node", "list") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;x\\x07" in out and "bad\\nname" in out
    assert len(out.splitlines()) == 2


def test_a_misspelt_setting_is_named_and_kept_by_config_set(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "settings.toml").write_text('[network]\nae_titel = "WS1"\nport = 11112\n')
    assert _lightbox(tmp_path, "config", "set", "port", "11113") == 0
    with (tmp_path / "settings.toml").open("rb") as f:
        network = tomllib.load(f)["network"]
    assert network["ae_titel"] == "WS1" and network["port"] == 11113
    (warning,) = {r.getMessage() for r in caplog.records if r.levelname == "WARNING"}
    assert warning == (f"{tmp_path / 'settings.toml'}: [network] unknown key 'ae_titel'; did you "
                       "mean ae_title?; ignored (kept in the file)")
