"""TLS files at ``node add/edit`` and ``config set``: refused or warned about at once.

Certificates are made with openssl in the test. An encrypted key is refused with the
way to write an unencrypted copy (never a passphrase prompt); a key others can read, a
certificate about to expire and a tls-ca that is no CA are warned about (RFC 5280,
PS3.15 B.9); the hostname check can be turned back on and is shown when off.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.peers import make_tls_files
from viewer.cli import main


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    files = make_tls_files(folder)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("pkey", "-in", "client.key", "-aes256", "-passout", "pass:secret", "-out",
        "client-enc.key")
    # make_tls_files' certificates last 2 days: within the 30-day warning.
    for path in folder.glob("*.key"):
        path.chmod(0o600)
    return files | {"client-enc-key": folder / "client-enc.key"}


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def test_node_add_refuses_an_encrypted_key(tmp_path: Path, tls: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status = _lightbox(tmp_path, "node", "add", "enc", "PACS@127.0.0.1:104", "--tls-ca",
                       str(tls["ca"]), "--tls-cert", str(tls["client"]), "--tls-key",
                       str(tls["client-enc-key"]))
    err = capsys.readouterr().err
    assert status == 2, err
    assert "encrypted" in err and "openssl pkey" in err and "client-enc.key" in err, err


def test_config_set_refuses_an_encrypted_key(tmp_path: Path, tls: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    status = _lightbox(tmp_path, "config", "set", "tls-cert", str(tls["server"]),
                       "tls-key", str(tls["client-enc-key"]), "tls-ca", str(tls["ca"]))
    err = capsys.readouterr().err
    assert status == 2, err
    assert "encrypted" in err and "openssl pkey" in err and "not the private key" not in err


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_readable_key_and_an_expiring_certificate_are_warned_about(
        tmp_path: Path, tls: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    key = tmp_path / "shared.key"
    key.write_bytes(tls["server-key"].read_bytes())
    key.chmod(0o644)
    caplog.set_level(logging.WARNING)
    assert _lightbox(tmp_path / "home", "config", "set", "tls-cert", str(tls["server"]),
                     "tls-key", str(key), "tls-ca", str(tls["client"])) == 0
    text = caplog.text
    assert f"{key}: private key readable by other users (mode 0644" in text, text
    assert "expires in" in text, text
    assert "holds no CA certificate" in text, text  # a leaf certificate as tls-ca
    assert oct(key.stat().st_mode & 0o777) == "0o644"  # warned, not changed


def test_tls_ca_is_loaded_without_a_certificate(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "hostname"
    garbage.write_text("workstation\n")
    assert _lightbox(tmp_path / "home", "config", "set", "tls-ca", str(garbage)) == 2
    assert "not a PEM CA certificate" in capsys.readouterr().err


def test_a_certificate_without_its_key_is_named_first(
        tmp_path: Path, tls: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    status = _lightbox(tmp_path, "node", "add", "a", "PACS@127.0.0.1:104", "--tls-ca",
                       str(tls["ca"]), "--tls-cert", str(tls["client"]))
    err = capsys.readouterr().err
    assert status == 2 and "needs its key" in err, err


def test_a_non_pem_certificate_is_named(tmp_path: Path, tls: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    status = _lightbox(tmp_path, "node", "add", "a", "PACS@127.0.0.1:104", "--tls-ca",
                       str(tls["ca"]), "--tls-cert", str(garbage), "--tls-key",
                       str(tls["client-key"]))
    err = capsys.readouterr().err
    assert status == 2 and f"{garbage}: not a PEM certificate" in err, err


def test_hostname_check_can_be_turned_back_on_and_is_listed(
        tmp_path: Path, tls: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert _lightbox(tmp_path, "node", "add", "a", "PACS@127.0.0.1:104", "--tls-ca",
                     str(tls["ca"]), "--no-hostname-check") == 0
    capsys.readouterr()
    assert _lightbox(tmp_path, "node", "list") == 0
    assert "TLS, no hostname check" in capsys.readouterr().out
    assert _lightbox(tmp_path, "node", "edit", "a", "--hostname-check") == 0
    capsys.readouterr()
    assert _lightbox(tmp_path, "node", "list") == 0
    out = capsys.readouterr().out
    assert "TLS" in out and "no hostname check" not in out, out
    assert _lightbox(tmp_path, "node", "edit", "a", "--tls-ca", "") == 0
    assert "TLS turned off" in capsys.readouterr().out
