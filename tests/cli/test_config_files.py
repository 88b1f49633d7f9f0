"""Hand-edited nodes.toml and settings.toml, max-pdu bounds and IPv6 node addresses,
through the ``lightbox`` command line: a clear message naming the file, exit status 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.support.peers import free_port
from viewer.cli import main


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def _nodes(home: Path, bad: str, good_port: int = 4242) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "nodes.toml").write_text(
        f'[good]\ncalled_aet = "ECHOSCP"\nhost = "127.0.0.1"\nport = {good_port}\n\n'
        f"[bad]\n{bad}")
    return home / "nodes.toml"


@pytest.fixture
def echo_scp() -> Iterator[int]:
    """A Verification SCP (PS3.4 A.4) on loopback; yields its port."""
    ae = AE(ae_title="ECHOSCP")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    assert server is not None
    try:
        yield port
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [('called_aet = "X"\nhost = "h"\nport = "abc"\n',
      "node 'bad': port 'abc' is not a TCP port (1-65535)"),
     ('called_aet = "X"\nhost = "h"\n', "node 'bad': port is missing"),
     ('called_aet = 5\nhost = "h"\nport = 104\n', "node 'bad': called_aet 5 must be text"),
     ('called_aet = "X"\nhost = "h"\nport = 104\ndimse_timeout = "x"\n',
      "node 'bad': dimse_timeout 'x' is not a number of seconds"),
     ('called_aet = "X"\nhost = "h"\nport = 0\n',
      "node 'bad': port 0 is not a TCP port (1-65535)")],
)
def test_one_bad_node_leaves_the_others_usable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], echo_scp: int, bad: str,
        reason: str) -> None:
    home = tmp_path / "home"
    path = _nodes(home, bad, echo_scp)
    assert _lightbox(home, "echo", "bad") == 2
    err = capsys.readouterr().err
    assert f"lightbox: {path}: {reason}" in err and "Traceback" not in err
    assert _lightbox(home, "echo", "good") == 0
    assert "C-ECHO ok" in capsys.readouterr().out
    assert _lightbox(home, "node", "list") == 0
    assert "good" in capsys.readouterr().out
    assert _lightbox(home, "node", "edit", "good", "--method", "get") == 0
    assert "bad" in path.read_text()  # saving the good one keeps the bad one for the user
    assert _lightbox(home, "node", "remove", "bad") == 0
    capsys.readouterr()
    assert _lightbox(home, "echo", "bad") == 2
    assert "no node called 'bad'" in capsys.readouterr().err


def test_a_bad_node_is_put_right_with_edit_address(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    _nodes(home, 'called_aet = "X"\nhost = "h"\nport = 0\n')
    assert _lightbox(home, "node", "edit", "bad", "--address", "X@10.0.0.1:104") == 0
    assert "changed bad: X@10.0.0.1:104" in capsys.readouterr().out


def test_node_list_marks_a_bad_node_with_its_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    _nodes(home, 'called_aet = "X"\nhost = "h"\nport = "abc"\n')
    assert _lightbox(home, "node", "list") == 0
    out = capsys.readouterr().out
    assert "invalid" in out.lower() and "port 'abc' is not a TCP port" in out


@pytest.mark.parametrize(
    ("table", "message"),
    [('port = "abc"', "[network] port 'abc' is not a TCP port (1-65535)"),
     ("port = 0", "[network] port 0 is not a TCP port (1-65535)"),
     ("ae_title = 5", "[network] ae_title 5 must be text"),
     ('always_listen = "yes"', "[network] always_listen 'yes' must be true or false"),
     ("max_pdu = 1", "[network] max-pdu 1: must be 0 (unlimited) or 4096 to 16777216"),
     ('max_pdu = "4 MB"', "[network] max_pdu '4 MB' is not a number of bytes")],
)
def test_a_bad_settings_file_is_named_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
        ) -> None:
    home = tmp_path / "home"
    _nodes(home, 'called_aet = "X"\nhost = "h"\nport = 104\n')
    (home / "settings.toml").write_text(f"[network]\n{table}\n")
    for command in (("config", "show"), ("echo", "good"), ("listen",)):
        assert _lightbox(home, *command) == 2
        err = capsys.readouterr().err
        assert f"lightbox: {home / 'settings.toml'}: {message}" in err, err
        assert "Traceback" not in err


@pytest.mark.parametrize(("file", "commands"), [
    ("nodes.toml", [("node", "list"), ("echo", "good")]),
    ("settings.toml", [("config", "show"), ("echo", "good")])])
def test_a_file_saved_in_a_windows_code_page_is_named_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str,
        commands: list[tuple[str, ...]]) -> None:
    # Notepad's "ANSI": cp1252, a site name with an umlaut in a comment on line 2.
    home = tmp_path / "home"
    _nodes(home, 'called_aet = "X"\nhost = "h"\nport = 104\n')
    path = home / file
    old = path.read_bytes() if path.exists() else b"[network]\nport = 11112\n"
    path.write_bytes("\n# PACS M\u00fcller-Klinik\n".encode("cp1252") + old)
    for command in commands:
        assert _lightbox(home, *command) == 2
        err = capsys.readouterr().err
        assert (f"lightbox: {path}: not UTF-8 text (byte 0xfc on line 2), as TOML must be; "
                "save it as UTF-8") in err, err


def test_a_byte_order_mark_is_no_content(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Notepad's "UTF-8 with BOM": the mark is invisible, and tomllib calls line 1 invalid.
    home = tmp_path / "home"
    nodes = _nodes(home, 'called_aet = "X"\nhost = "h"\nport = 104\n')
    nodes.write_bytes(b"\xef\xbb\xbf" + nodes.read_bytes())
    (home / "settings.toml").write_bytes(b"\xef\xbb\xbf[network]\nae_title = \"READER\"\n")
    assert _lightbox(home, "node", "list") == 0
    assert "ECHOSCP@127.0.0.1:4242" in capsys.readouterr().out
    assert _lightbox(home, "config", "show") == 0
    assert "READER" in capsys.readouterr().out


def test_a_network_key_that_is_not_a_table(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.toml").write_text("network = 5\n")
    assert _lightbox(home, "config", "show") == 2
    assert "settings.toml: network = 5: must be the table [network]" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("value", ["1", "12", "4095", "16777217", "4294967295"])
def test_max_pdu_out_of_range_is_refused_with_the_range(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    # max-pdu 1 was taken; every association then failed after ~31 s with "no answer".
    home = tmp_path / "home"
    assert _lightbox(home, "config", "set", "max-pdu", value) == 2
    assert "must be 0 (unlimited) or 4096 to 16777216 bytes" in capsys.readouterr().err
    assert not (home / "settings.toml").exists()


@pytest.mark.parametrize("value", ["0", "4096", "16382", "4194304", "16777216"])
def test_max_pdu_in_range_is_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   value: str) -> None:
    home = tmp_path / "home"
    assert _lightbox(home, "config", "set", "max-pdu", value) == 0
    assert f"max-pdu = {value}" in capsys.readouterr().out


def test_an_ipv6_node_is_shown_as_it_is_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert _lightbox(home, "node", "add", "g", "ORTH@[::1]:104") == 0
    assert capsys.readouterr().out.strip() == "added g: ORTH@[::1]:104"
    assert _lightbox(home, "node", "list") == 0
    (line,) = capsys.readouterr().out.splitlines()
    shown = line.split()[1]
    assert shown == "ORTH@[::1]:104"
    # What Lightbox shows, Lightbox reads back.
    assert _lightbox(home, "node", "edit", "g", "--address", shown.replace("104", "4242")
                     ) == 0
    assert capsys.readouterr().out.strip() == "changed g: ORTH@[::1]:4242"
    # And so does every explanation: "::1:4242" reads as one address.
    port = free_port()
    assert _lightbox(home, "node", "edit", "g", "--address", f"ORTH@[::1]:{port}") == 0
    capsys.readouterr()
    assert _lightbox(home, "echo", "g") == 1
    err = capsys.readouterr().err
    assert f"[::1]:{port}" in err and f" ::1:{port}" not in err, err
