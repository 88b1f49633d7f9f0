"""The client certificate in our storage SCP's log lines about DICOM TLS associations.

Any certificate signed by ``tls-ca`` is admitted with a configured node's AE title and
address (PS3.15 B.9; certificates are bound to no node), so the lines that refuse an
association after a verified handshake, and the one that accepts it, name the
certificate the peer presented: its subject's CN and O, and its issuer's CN, escaped as
in an RFC 4514 DN string. Plain-port lines stay as they were.
"""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.net.conftest import FolderSink
from tests.net.tls_peers import client_context
from tests.support.logs import net_record
from tests.support.peers import free_port, make_tls_files
from viewer.core.settings import NetworkSettings
from viewer.net.nodes import NodeRecord
from viewer.net.scp import StorageSCP
from viewer.net.tls import peer_certificate, rfc4514_value, server_ssl_context

PATIENCE = 15.0
PACS = NodeRecord("pacs", "PACS", "127.0.0.1", 104)
ISSUER = "CN=Lightbox test ca"
# A subject with every character RFC 4514 2.4 escapes, and one that is not ASCII.
ODD_CN = '#PACS 1, "Radiology" <main>; a+b\\c '
ODD_O = "St. Mary's Hôpital, Inc."
ODD_SUBJECT = (r'CN=\#PACS 1\, \"Radiology\" \<main\>\; a\+b\\c\ ,'
               r"O=St. Mary's Hôpital\, Inc.")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    files = make_tls_files(folder)
    # A client certificate of the same CA, with the odd subject (no shell: the
    # arguments go to openssl as they are; -subj escapes "+" and "\" with "\").
    subject = "/O={}/CN={}".format(ODD_O.replace(",", "\\,"),
                                   ODD_CN.replace("\\", "\\\\").replace("+", "\\+"))
    for args in (
        ["req", "-newkey", "rsa:2048", "-nodes", "-utf8", "-subj", subject,
         "-keyout", "odd.key", "-out", "odd.csr"],
        ["x509", "-req", "-in", "odd.csr", "-CA", str(files["ca"]), "-CAkey",
         str(files["ca-key"]), "-CAcreateserial", "-days", "2", "-out", "odd.pem"],
    ):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    return files | {"odd": folder / "odd.pem", "odd-key": folder / "odd.key"}


@pytest.fixture
def scp(tls: dict[str, Path], tmp_path: Path, sink: FolderSink,
        caplog: pytest.LogCaptureFixture) -> Iterator[StorageSCP]:
    """Our SCP on a plain and a TLS port, for PACS at 127.0.0.1 (either port)."""
    caplog.set_level(logging.INFO, logger="viewer.net")
    local = NetworkSettings(
        ae_title="LIGHTBOX", bind_address="127.0.0.1", port=free_port(),
        tls_cert=str(tls["client"]), tls_key=str(tls["client-key"]), tls_ca=str(tls["ca"]),
        tls_port=free_port()).validated()
    with StorageSCP(local, [PACS], tmp_path / "incoming", sink, port=0, tls_port=0,
                    ssl_context=server_ssl_context(local)) as server:
        yield server


def _associate(port: int, calling: str, ctx: ssl.SSLContext | None = None,
               called: str = "LIGHTBOX") -> object:
    ae = AE(ae_title=calling)
    ae.acse_timeout = PATIENCE
    ae.add_requested_context(Verification)
    tls_args = (ctx, "127.0.0.1") if ctx is not None else None
    return ae.associate("127.0.0.1", port, ae_title=called,
                        tls_args=tls_args)  # type: ignore[arg-type]


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("viewer.net") and text in r.getMessage()]


def test_an_unknown_ae_title_over_tls_is_refused_naming_its_certificate(
        scp: StorageSCP, tls: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"])
    assoc = _associate(scp.tls_port or 0, "STRANGER", ctx)
    assert assoc.is_rejected  # type: ignore[attr-defined]
    record = net_record(caplog, "refused association from AE STRANGER", PATIENCE)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "refused association from AE STRANGER at 127.0.0.1: not a configured node "
        f"(over DICOM TLS, certificate CN=server issued by {ISSUER})")


def test_a_certificate_subject_is_escaped_as_rfc_4514_says(
        scp: StorageSCP, tls: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    ctx = client_context(tls["ca"], tls["odd"], tls["odd-key"])
    assoc = _associate(scp.tls_port or 0, "PACS", ctx, called="ELSEWHERE")
    assert assoc.is_rejected  # type: ignore[attr-defined]
    assert net_record(caplog, "it called AE ELSEWHERE", PATIENCE).getMessage() == (
        "refused association from AE PACS at 127.0.0.1: it called AE ELSEWHERE, this is "
        f"AE LIGHTBOX (over DICOM TLS, certificate {ODD_SUBJECT} issued by {ISSUER})")


def test_an_accepted_tls_association_is_logged_once_with_its_certificate(
        scp: StorageSCP, tls: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    ctx = client_context(tls["ca"], tls["server"], tls["server-key"])
    assoc = _associate(scp.tls_port or 0, "PACS", ctx)
    assert assoc.is_established  # type: ignore[attr-defined]
    assert assoc.send_c_echo().Status == 0  # type: ignore[attr-defined]
    assoc.release()  # type: ignore[attr-defined]
    record = net_record(caplog, "accepted association", PATIENCE)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "accepted association from AE PACS at 127.0.0.1 (over DICOM TLS, certificate "
        f"CN=server issued by {ISSUER})")
    assert len(_messages(caplog, "accepted association")) == 1


def test_plain_port_lines_name_no_certificate(
        scp: StorageSCP, caplog: pytest.LogCaptureFixture) -> None:
    plain = _associate(scp.port or 0, "PACS")
    assert plain.is_established  # type: ignore[attr-defined]
    plain.release()  # type: ignore[attr-defined]
    assert _associate(scp.port or 0, "STRANGER").is_rejected  # type: ignore[attr-defined]
    assert net_record(caplog, "refused association", PATIENCE).getMessage() == (
        "refused association from AE STRANGER at 127.0.0.1: not a configured node")
    assert _messages(caplog, "accepted association") == []
    assert _messages(caplog, "certificate") == []


@pytest.mark.parametrize(("value", "escaped"), [
    ("PACS1", "PACS1"),
    ('a,b+c"d\\e<f>g;h', 'a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h'),
    ("#lead and trail ", "\\#lead and trail\\ "),
    (" ", "\\ "),
    ("x=y#z", "x=y#z"),
    ("Zürich", "Zürich"),
    # Not printable: a forged second log line, a right-to-left override.
    ("PACS\nWARNING forged", "PACS\\0AWARNING forged"),
    ("abc\u202edef", "abc\\E2\\80\\AEdef"),
], ids=["plain", "specials", "ends", "space", "inner", "unicode", "newline", "bidi"])
def test_rfc4514_escaping(value: str, escaped: str) -> None:
    assert rfc4514_value(value) == escaped


def test_a_socket_without_tls_has_no_certificate() -> None:
    assert peer_certificate(None) is None
    with socket.socket() as plain:
        assert peer_certificate(plain) is None
