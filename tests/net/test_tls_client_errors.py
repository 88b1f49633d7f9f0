"""Our TLS client's failures explained in words (PS3.15 B.9, BCP 195 RFC 9325).

Real TLS peers on loopback (a pynetdicom SCP with an ``ssl_context``) and certificates
made with openssl in the test: an encrypted key is refused and never prompts for its
passphrase, a PACS refusing our client certificate is named as such, and a silent TLS
port is explained from the first attempt, not by a second handshake.
"""

from __future__ import annotations

import logging
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.peers import (
    PynetdicomPeer,
    SilentPeer,
    make_tls_files,
    server_ssl_context,
)
from viewer.core.errors import CancelledError, PeerError, PeerUnreachableError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.net.connection import (
    CancelToken,
    diagnose_connect,
    where,
)
from viewer.net.echo import echo
from viewer.net.nodes import NodeRecord
from viewer.net.tls import client_ssl_context
from viewer.net.tls import server_ssl_context as our_server_context

LOCAL = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
GUARD = 60.0  # only tells a hang from an end


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    files = make_tls_files(folder)
    enc = folder / "client-enc.key"
    subprocess.run(["openssl", "pkey", "-in", str(files["client-key"]), "-aes256",
                    "-passout", "pass:secret", "-out", str(enc)], check=True,
                   capture_output=True)
    return files | {"client-enc-key": enc}


def _node(port: int, tls: dict[str, Path], **changes: object) -> NodeRecord:
    fields: dict[str, object] = {"name": "pacs", "called_aet": "PYPEER",
                                 "host": "127.0.0.1", "port": port,
                                 "tls_ca": str(tls["ca"]), "connect_timeout": 5.0,
                                 "acse_timeout": 5.0, "dimse_timeout": 5.0}
    fields.update(changes)
    return NodeRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def cert_pacs(tls: dict[str, Path]) -> Iterator[PynetdicomPeer]:
    """A PACS that requires a client certificate signed by our test CA."""
    peer = PynetdicomPeer(ssl_context=server_ssl_context(tls["server"], tls["server-key"],
                                                         tls["ca"]))
    yield peer
    peer.stop()


def _failure(node: NodeRecord) -> str:
    with pytest.raises(PeerUnreachableError) as info:
        echo(node, LOCAL)
    text = str(info.value)
    assert "_ssl.c" not in text, text
    return text


def _failure_from(ctx: ssl.SSLContext | None, tls: dict[str, Path], **changes: object) -> str:
    """The explanation of an echo to a PACS inside the test serving ``ctx`` (None: plain
    DICOM), by a node of our test CA with ``changes``."""
    peer = PynetdicomPeer(ssl_context=ctx)
    try:
        return _failure(_node(peer.port, tls, **changes))
    finally:
        peer.stop()


# M3 -----------------------------------------------------------------------------------

def test_an_encrypted_client_key_is_named_never_prompted(tls: dict[str, Path]) -> None:
    node = _node(104, tls, tls_cert=str(tls["client"]), tls_key=str(tls["client-enc-key"]))
    with pytest.raises(PeerError) as info:
        client_ssl_context(node)
    text = str(info.value)
    assert "encrypted" in text and str(tls["client-enc-key"]) in text, text
    assert "openssl pkey" in text


def test_an_encrypted_server_key_is_named_never_prompted(tls: dict[str, Path]) -> None:
    local = NetworkSettings(tls_cert=str(tls["server"]), tls_key=str(tls["client-enc-key"]),
                            tls_ca=str(tls["ca"]))
    with pytest.raises(UsageError, match=r"encrypted.*openssl pkey"):
        our_server_context(local)


# L2 + L4 ------------------------------------------------------------------------------

def test_a_pacs_requiring_a_client_certificate_says_so(
        tls: dict[str, Path], cert_pacs: PynetdicomPeer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    text = _failure(_node(cert_pacs.port, tls))
    assert "requires a client certificate" in text and "--tls-cert" in text, text
    # The explanation is the whole story: no stray "middle of a PDU" ERROR line.
    assert not [r for r in caplog.records if r.name.startswith("viewer")], caplog.text


def test_a_refused_client_certificate_says_why(
        tls: dict[str, Path], cert_pacs: PynetdicomPeer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    text = _failure(_node(cert_pacs.port, tls, tls_cert=str(tls["rogue"]),
                          tls_key=str(tls["rogue-key"])))
    assert "refused our client certificate" in text and "does not trust" in text, text
    assert not [r for r in caplog.records if r.name.startswith("viewer")
                and r.levelno >= logging.WARNING], caplog.text
    # pynetdicom's own log of the failure keeps no traceback (echo -v).
    assert not [r for r in caplog.records if r.name == "pynetdicom.transport"
                and r.exc_info], caplog.text


def test_a_pacs_speaking_old_tls_is_told_apart(tls: dict[str, Path]) -> None:
    ctx = server_ssl_context(tls["server"], tls["server-key"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    text = _failure_from(ctx, tls)
    assert "older than 1.2" in text, text


def test_no_common_cipher_suite_is_told_apart(tls: dict[str, Path]) -> None:
    ctx = server_ssl_context(tls["server"], tls["server-key"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-SHA")  # RSA key exchange, CBC: outside RFC 9325 4.2
    text = _failure_from(ctx, tls)
    assert "no BCP 195 cipher suite in common" in text, text


def test_a_plain_dicom_port_is_told_apart(tls: dict[str, Path]) -> None:
    text = _failure_from(None, tls)
    assert "does not speak TLS" in text, text


def test_without_hostname_check_the_host_name_is_not_asked_for(
        tls: dict[str, Path]) -> None:
    text = _failure_from(server_ssl_context(tls["rogue"], tls["rogue-key"]), tls,
                         tls_check_hostname=False)
    assert "was refused" in text and str(tls["ca"]) in text, text
    assert "name 127.0.0.1" not in text, text


# M4 -----------------------------------------------------------------------------------

def test_a_silent_tls_port_is_explained_from_the_first_attempt(
        tls: dict[str, Path], silent: SilentPeer) -> None:
    node = _node(silent.port, tls, connect_timeout=1.0, acse_timeout=5.0)
    text = _failure(node)
    assert "did not answer the TLS handshake within 1 s" in text, text
    # No second connection (it redid the handshake for the ACSE timeout, uncancellable).
    assert len(silent.clients) == 1


def test_the_connection_diagnosis_is_cancellable(
        tls: dict[str, Path], silent: SilentPeer) -> None:
    node = _node(silent.port, tls, connect_timeout=GUARD, acse_timeout=GUARD)
    token = CancelToken()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(diagnose_connect(node, where(node, LOCAL), token))
        except Exception as exc:  # the test looks at what came out
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    for _ in range(200):  # wait for the diagnosis to reach the silent peer
        if silent.clients:
            break
        worker.join(0.05)
    token.cancel()
    worker.join(GUARD)
    assert not worker.is_alive()
    assert outcome and isinstance(outcome[0], CancelledError), outcome


def test_the_dh_group_lets_a_dhe_only_peer_in(tls: dict[str, Path]) -> None:
    """L3: the DHE-RSA suites of the profile negotiate (RFC 7919 ffdhe2048)."""
    local = NetworkSettings(tls_cert=str(tls["server"]), tls_key=str(tls["server-key"]),
                            tls_ca=str(tls["ca"]))
    server = our_server_context(local)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers("DHE-RSA-AES128-GCM-SHA256")
    client.load_verify_locations(cafile=str(tls["ca"]))
    client.load_cert_chain(str(tls["client"]), str(tls["client-key"]))
    bios = [ssl.MemoryBIO() for _ in range(4)]
    c = client.wrap_bio(bios[0], bios[1], server_hostname="127.0.0.1")
    s = server.wrap_bio(bios[2], bios[3], server_side=True)
    done: set[str] = set()
    for _ in range(10):
        for name, side, incoming, outgoing in (("c", c, bios[0], bios[3]),
                                               ("s", s, bios[2], bios[1])):
            try:
                side.do_handshake()
                done.add(name)
            except ssl.SSLWantReadError:
                pass
            incoming.write(outgoing.read())
        if len(done) == 2:
            break
    assert c.cipher() is not None and c.cipher()[0] == "DHE-RSA-AES128-GCM-SHA256"


