"""TLS for DICOM associations (PS3.15 B.9, the BCP 195 profiles): the contexts of our
requestors and of our storage SCP, the sockets that keep why a connection failed, and
the name of the certificate a peer presented, for the storage SCP's log lines.

pynetdicom logs a failed TCP connect or TLS handshake and drops the exception; the
sockets here keep it in a :class:`ConnectionRecord`, so that
:mod:`viewer.net.connection` explains the first attempt's own error instead of trying
again.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any, cast

from viewer.core.errors import PeerError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.core.tls_files import load_key_pair, ssl_reason
from viewer.net.nodes import NodeRecord
from viewer.net.policy import TLS_PROFILE


class _NoTlsTraceback(logging.Filter):
    """Drop the traceback pynetdicom's transport logs for a failed TLS connect.

    ``AssociationSocket.connect`` logs every ``ssl.SSLError`` with ``LOGGER.exception``:
    with ``-v`` an ordinary refused certificate printed a Python traceback. The message
    (the SSL reason) is kept; Lightbox explains the failure itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ssl.SSLError):
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("pynetdicom.transport").addFilter(_NoTlsTraceback())


def _profile_context(protocol: ssl._SSLMethod) -> ssl.SSLContext:
    """A context with :data:`TLS_PROFILE`: version floor, cipher suites, peer verification.

    PS3.15 B.9 BCP 195 profiles: TLS 1.2 or later, the RFC 9325 4.2 suites, and the
    peer authenticated (a server must present a client certificate, so a PACS without
    one is refused at the handshake, before any DICOM is exchanged).
    """
    ctx = ssl.SSLContext(protocol)
    ctx.minimum_version = ssl.TLSVersion[TLS_PROFILE.minimum_version.replace(".", "_")]
    ctx.set_ciphers(TLS_PROFILE.ciphers)
    if TLS_PROFILE.verify_peer:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ssl_context(node: NodeRecord) -> ssl.SSLContext:
    """Return the TLS context for associations to ``node`` (PS3.15 B.9, BCP 195).

    The peer's certificate is verified against ``node.tls_ca``; our certificate is
    presented when the node has one.
    """
    ctx = _profile_context(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = node.tls_check_hostname
    try:
        ctx.load_verify_locations(cafile=node.tls_ca)
    except (OSError, ssl.SSLError) as exc:
        raise PeerError(node.name, f"cannot load its TLS CA file {node.tls_ca}: "
                        f"{ssl_reason(exc)}") from None
    if node.tls_cert:
        try:
            # Never a passphrase prompt (an encrypted key is named instead), and the
            # file at fault is named: a non-PEM certificate said only "PEM lib".
            load_key_pair(ctx, node.tls_cert, node.tls_key, "--tls-cert", "--tls-key")
        except UsageError as exc:
            raise PeerError(node.name, f"cannot use its TLS certificate: {exc}") from None
    return ctx


# RFC 7919 Appendix A.1 ffdhe2048, the group ``openssl genpkey -genparam -algorithm DH
# -pkeyopt group:ffdhe2048`` writes. Without DH parameters a server cannot negotiate
# the DHE-RSA suites of the profile (RFC 9325 4.2), and a TLS 1.2 peer offering only
# those could not connect. A named group, so nobody has to trust generated primes.
FFDHE2048_PEM = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def _load_ffdhe2048(ctx: ssl.SSLContext) -> None:
    """Load :data:`FFDHE2048_PEM` into ``ctx`` (``load_dh_params`` reads only files)."""
    fd, path = tempfile.mkstemp(prefix="lightbox-ffdhe", suffix=".pem")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(FFDHE2048_PEM)
        ctx.load_dh_params(path)
    finally:
        os.unlink(path)


def server_ssl_context(local: NetworkSettings) -> ssl.SSLContext:
    """Return the TLS context of our storage SCP (PS3.15 B.9, BCP 195).

    The same profile as :func:`client_ssl_context` (TLS 1.2 or later, the RFC 9325
    cipher suites), with our server certificate; the peer must present a client
    certificate signed by ``local.tls_ca`` (``CERT_REQUIRED``), so a PACS without one is
    refused at the handshake, before any DICOM is exchanged.

    The DHE-RSA suites get the RFC 7919 ffdhe2048 group. An encrypted key is refused
    with a message naming it, never with a passphrase prompt.

    Raises
    ------
    UsageError
        TLS is not configured, or one of its files is missing or does not load (the
        message names the file and the setting).
    """
    if not local.tls_configured:
        raise UsageError(
            "our storage SCP has no TLS certificate: lightbox config set tls-cert F "
            "tls-key F tls-ca F (tls-ca signs the PACS client certificates), and a "
            "tls-port other than 0")
    ctx = _profile_context(ssl.PROTOCOL_TLS_SERVER)
    _load_ffdhe2048(ctx)
    local.checked_tls_files(ctx)  # each file loaded once, a bad one named
    local.warn_about_tls_files()  # a key others can read, an expired certificate ...
    return ctx


@dataclass
class ConnectionRecord:
    """What became of an association's connection, which pynetdicom logs and drops.

    Attributes
    ----------
    error : OSError or None
        Why the TCP connect or the TLS handshake failed.
    handshaking : bool
        TCP was connected and the TLS handshake had begun when ``error`` came.
    alert : ssl.SSLError or None
        A TLS alert that ended the connection after the handshake: under TLS 1.3 a PACS
        refuses our client certificate only then (RFC 8446 4.4.2.4).
    not_dicom : bytes
        The first bytes of an answer to our association request that is no PDU (PS3.8
        9.3.1): another service on the port, such as the PACS's web server.
    """

    error: OSError | None = None
    handshaking: bool = False
    alert: ssl.SSLError | None = None
    not_dicom: bytes = b""


class RecordingSocket(socket.socket):
    """A plain TCP socket that keeps the error of its connect."""

    record: ConnectionRecord

    def connect(self, address: Any) -> None:
        try:
            super().connect(address)
        except OSError as exc:
            self.record.error = exc
            raise


# Not errors: a non-blocking read with nothing yet, and the peer's close_notify.
_TLS_NOT_FAILURES = (ssl.SSLWantReadError, ssl.SSLWantWriteError, ssl.SSLZeroReturnError)


def recording_ssl_socket(record: ConnectionRecord) -> type[ssl.SSLSocket]:
    """An SSLSocket class that keeps its connect/handshake error and a later TLS alert."""

    class RecordingSSLSocket(ssl.SSLSocket):
        def connect(self, addr: Any) -> None:
            try:
                super().connect(addr)
            except OSError as exc:
                record.error = exc
                raise

        def do_handshake(self, block: bool = False) -> None:
            record.handshaking = True
            super().do_handshake(block)

        def read(self, len: int = 1024, buffer: Any = None) -> Any:
            try:
                return super().read(len, buffer)
            except ssl.SSLError as exc:
                if not isinstance(exc, _TLS_NOT_FAILURES) and record.alert is None:
                    record.alert = exc
                raise

    return RecordingSSLSocket


def tls_reason(exc: ssl.SSLError) -> str:
    """The OpenSSL reason (``TLSV1_ALERT_UNKNOWN_CA``), without ``_ssl.c:NNN``."""
    return str(exc.reason or exc.strerror or exc)


# RFC 4514 2.4: the characters a DN string escapes with a backslash wherever they are.
_RFC4514_SPECIAL = frozenset(',+"\\<>;')
# The attributes of a certificate's names we show, in the order shown: the most specific
# first, as RFC 4514 writes a DN. ``getpeercert`` gives OpenSSL's long names.
_SUBJECT_ATTRIBUTES = (("commonName", "CN"), ("organizationName", "O"))
_ISSUER_ATTRIBUTES = (("commonName", "CN"),)

_Name = tuple[tuple[tuple[str, str], ...], ...]  # getpeercert's RDNs of (type, value)


def rfc4514_value(value: str) -> str:
    """``value`` escaped as an attribute value of an RFC 4514 DN string (RFC 4514 2.4).

    ``,`` ``+`` ``"`` ``\\`` ``<`` ``>`` ``;`` anywhere, ``#`` or a space first and a
    space last are escaped with a backslash; so that a certificate cannot break or forge
    a log line, every character that is not printable (control, format and separator
    characters: a newline, a right-to-left override) is written as the ``\\hh`` pairs of
    its UTF-8 bytes, which RFC 4514 allows for any character.
    """
    out = []
    last = len(value) - 1
    for i, ch in enumerate(value):
        if ch in _RFC4514_SPECIAL or (i == 0 and ch in "# ") or (i == last and ch == " "):
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append("".join(f"\\{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


def _dn_summary(name: _Name, attributes: tuple[tuple[str, str], ...]) -> str:
    """The ``attributes`` of ``name`` as RFC 4514 ``type=value`` pairs, comma-separated."""
    return ",".join(f"{short}={rfc4514_value(value)}"
                    for long, short in attributes
                    for rdn in name for kind, value in rdn if kind == long)


def peer_certificate(sock: object) -> str | None:
    """Name the certificate a DICOM TLS peer presented, for a log line (PS3.15 B.9).

    Parameters
    ----------
    sock : object
        An association's socket; only an :class:`ssl.SSLSocket` past its handshake has a
        certificate.

    Returns
    -------
    str or None
        ``certificate CN=PACS1,O=Hospital issued by CN=Hospital CA``: the subject's
        common and organisation names and the issuer's common name, escaped as in an
        RFC 4514 DN string (certificates are not bound to nodes, so this is what tells
        an administrator which one a peer used); None if ``sock`` is not a TLS socket.
        ``getpeercert`` gives the certificate only once the handshake verified it, which
        our server requires (``CERT_REQUIRED``): a certificate that fails verification
        cannot be named this way.
    """
    if not isinstance(sock, ssl.SSLSocket):
        return None
    try:
        cert = sock.getpeercert()
    except (OSError, ValueError, AttributeError):  # gone: shut down, closed, or no handshake
        return "certificate not readable, the connection closed"
    if not cert:
        return "no certificate"
    subject = _dn_summary(cast(_Name, cert.get("subject", ())), _SUBJECT_ATTRIBUTES)
    issuer = _dn_summary(cast(_Name, cert.get("issuer", ())), _ISSUER_ATTRIBUTES)
    return (f"certificate {subject or '(no CN or O in its subject)'} issued by "
            f"{issuer or '(no CN in its issuer)'}")
