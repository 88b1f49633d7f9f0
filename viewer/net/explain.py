"""Why Lightbox could not reach a PACS or set up an association, in words that say what to check.

One place maps a low-level fact (an A-ASSOCIATE-RJ reason, a socket error, a certificate
problem, a TLS alert, presentation contexts refused) to a sentence a user or a PACS
administrator can act on; :class:`Where` names who talks to whom for every sentence. What
a query or retrieve that ended short means once the association is up (a DIMSE status, a
C-MOVE that never came back) is in :mod:`viewer.net.explain_dimse`. The functions take
plain values, so each case is tested without a network.
"""

from __future__ import annotations

from dataclasses import dataclass

from viewer.net.nodes import host_port


@dataclass(frozen=True, slots=True)
class Where:
    """Who talks to whom, for the sentences below.

    Attributes
    ----------
    peer_aet, host, port : str, str, int
        The PACS (called AE title and address).
    our_aet : str
        Our calling AE title (and the C-MOVE destination).
    our_host, our_port : str, int
        Where our storage SCP listens for C-MOVE (host as the PACS should reach it).
    our_tls : bool
        The PACS must connect to ``our_port`` with DICOM TLS (PS3.15 B.9): it is a TLS
        node, so its C-MOVE sub-operations come to our TLS port.
    """

    peer_aet: str
    host: str
    port: int
    our_aet: str = "LIGHTBOX"
    our_host: str = "this computer's address"
    our_port: int = 11113
    our_tls: bool = False

    @property
    def peer(self) -> str:
        """``HOST:PORT`` of the PACS, an IPv6 host in brackets (RFC 3986 3.2.2)."""
        return host_port(self.host, self.port)

    @property
    def ours(self) -> str:
        """``HOST:PORT`` of our storage SCP, an IPv6 host in brackets."""
        return host_port(self.our_host, self.our_port)

    @property
    def our_port_text(self) -> str:
        """``port N``, saying DICOM TLS when the PACS must use it."""
        return f"port {self.our_port} (DICOM TLS)" if self.our_tls else f"port {self.our_port}"


# PS3.8 9.3.4 Table 9-21: A-ASSOCIATE-RJ (source, reason) meanings.
_REJECT_REASONS = {
    (1, 1): "no reason given",
    (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognised",
    (1, 7): "called AE title not recognised",
    (2, 1): "no reason given (ACSE)",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded",
}


def rejection(w: Where, result: int, source: int, reason: int, *, node: str) -> str:
    """Explain an A-ASSOCIATE-RJ (PS3.8 9.3.4).

    Parameters
    ----------
    w : Where
        Who talks to whom.
    result, source, reason : int
        The A-ASSOCIATE-RJ's Result, Source and Reason/Diag. fields.
    node : str
        The node's name, for the command that sets the calling AE title it uses.
    """
    what = _REJECT_REASONS.get((source, reason), f"source {source}, reason {reason}")
    kind = "permanently" if result == 1 else "for now"
    if (source, reason) == (1, 3):
        return (
            f"the PACS rejected the association {kind}: {what}. Register AE {w.our_aet} "
            f"(host {w.our_host}) on the PACS, or set the calling AE title this PACS "
            f"knows: lightbox node edit {node} --calling-aet AE"
        )
    if (source, reason) == (1, 7):
        return (
            f"the PACS rejected the association {kind}: {what}. It is not called "
            f"{w.peer_aet}: check the called AE title configured for this node"
        )
    if source == 3:
        return f"the PACS is busy ({what}); try again in a moment"
    return (
        f"the PACS rejected the association {kind} ({what}). Check that it knows AE "
        f"{w.our_aet} from host {w.our_host}, and the called AE title {w.peer_aet}"
    )


def connection_refused(w: Where) -> str:
    """Nothing listens on the port (TCP RST)."""
    return (
        f"nothing accepts connections on {w.peer}: check the host and port of this "
        "node and that the PACS is running"
    )


def unreachable(w: Where, detail: str) -> str:
    """The host name does not resolve, or there is no route."""
    return f"cannot reach {w.peer} ({detail}): check the host name and the network"


def connect_timeout(w: Where, seconds: float) -> str:
    """The TCP connection was not set up in time (a firewall drops the packets)."""
    return (
        f"no answer from {w.peer} within {seconds:g} s: a firewall may drop the "
        "connection, or the host is down"
    )


def association_timeout(w: Where, seconds: float) -> str:
    """TCP connected but no A-ASSOCIATE-AC/RJ came back."""
    return (
        f"{w.peer} accepted the connection but did not answer the association "
        f"request within {seconds:g} s: check that this port is the PACS's DICOM port and "
        "whether it expects TLS"
    )


def not_dicom(w: Where, head: bytes) -> str:
    """What answered our A-ASSOCIATE-RQ is no PDU (PS3.8 9.3.1): another service."""
    text = head.split(b"\r")[0].split(b"\n")[0][:24]
    shown = (f" (it starts with {text.decode('ascii')!r})"
             if text and all(32 <= c < 127 for c in text) else "")
    return (
        f"{w.peer} answered with something that is not DICOM{shown}: check that "
        "this port is the PACS's DICOM port, not its web or another service's port"
    )


def association_dropped(w: Where, tls: bool) -> str:
    """The peer closed or aborted the connection during association set-up."""
    hint = (
        "it may refuse our TLS certificate or expect plain DICOM"
        if tls
        else "it may expect TLS, or refuse our AE title or address"
    )
    return (
        f"{w.peer} closed the connection during association set-up: {hint} "
        f"(we are AE {w.our_aet})"
    )


def certificate_refused(w: Where, detail: str, ca: str, *, hostname_checked: bool = True
                        ) -> str:
    """The peer's TLS certificate failed verification (PS3.15 B.9).

    With the node's host name check off (``--no-hostname-check``) the certificate need
    not name the host, so the sentence does not ask for it.
    """
    must = f"signed by the CA in {ca}" + (f" and name {w.host}" if hostname_checked else "")
    return f"the TLS certificate of {w.peer} was refused ({detail}): it must be {must}"


def tls_handshake_timeout(w: Where, seconds: float) -> str:
    """TCP connected, but the TLS handshake got no answer in time."""
    return (
        f"{w.peer} accepted the connection but did not answer the TLS handshake "
        f"within {seconds:g} s: check that this port is the PACS's DICOM TLS port"
    )


# TLS alerts (RFC 8446 6.2, RFC 5246 7.2.2) by which a PACS refuses our client
# certificate, as OpenSSL names them in ``SSLError.reason``, and what they mean.
_CERTIFICATE_ALERTS = {
    "UNKNOWN_CA": "it does not trust the CA that signed it",
    "BAD_CERTIFICATE": "bad certificate",
    "CERTIFICATE_EXPIRED": "the certificate has expired, or is not valid yet",
    "CERTIFICATE_REVOKED": "the certificate was revoked",
    "CERTIFICATE_UNKNOWN": "the certificate is unsuitable",
    "UNSUPPORTED_CERTIFICATE": "unsupported certificate",
    "ACCESS_DENIED": "access denied",
}
# BCP 195 (RFC 9325 3.1.1): TLS 1.2 or later only.
_VERSION_REASONS = ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
                    "TLSV1_ALERT_INAPPROPRIATE_FALLBACK")
_CIPHER_REASONS = ("HANDSHAKE_FAILURE", "NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE",
                   "INSUFFICIENT_SECURITY", "NO_SUITABLE_SIGNATURE_ALGORITHM",
                   "NO_SUITABLE_KEY_SHARE")
# Not TLS on the other side: a plain DICOM peer answers a ClientHello with a reset, an
# A-ABORT or an A-ASSOCIATE-RJ, which OpenSSL reads as a record of a wrong version.
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "CONNECTION_RESET", "UNEXPECTED_EOF",
                    "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "HTTP_REQUEST")


def tls_failure(w: Where, reason: str, *, our_cert: bool) -> str:
    """Explain a failed TLS handshake or a TLS alert from the PACS (PS3.15 B.9, BCP 195).

    Parameters
    ----------
    reason : str
        OpenSSL's reason (``SSLError.reason``, e.g. ``TLSV1_ALERT_UNKNOWN_CA``).
    our_cert : bool
        The node presents a client certificate (``--tls-cert``).
    """
    where = f"{w.peer}"
    if "CERTIFICATE_REQUIRED" in reason:
        return (f"the PACS at {where} requires a client certificate: give the node "
                "--tls-cert and --tls-key (lightbox node edit NAME --tls-cert F --tls-key F)")
    for alert, words in _CERTIFICATE_ALERTS.items():
        if alert in reason:
            if not our_cert:
                return (f"the PACS at {where} refused the TLS connection ({words}); it may "
                        "require a client certificate: give the node --tls-cert and "
                        "--tls-key")
            return (f"the PACS at {where} refused our client certificate ({words}): it "
                    "must be signed by a CA the PACS trusts, valid today, and meant for "
                    "TLS clients")
    if any(r in reason for r in _VERSION_REASONS):
        return (f"the PACS at {where} offers only TLS older than 1.2 (BCP 195 needs 1.2 "
                "or later): it must be configured for TLS 1.2 or 1.3")
    if any(r in reason for r in _CIPHER_REASONS):
        text = (f"the TLS handshake with {where} failed: no BCP 195 cipher suite in common "
                "(TLS 1.3, or TLS 1.2 with ECDHE/DHE and AES-GCM, RFC 9325 4.2)")
        if not our_cert:
            text += "; or the PACS requires a client certificate (--tls-cert, --tls-key)"
        return text
    if any(r in reason for r in _NOT_TLS_REASONS):
        return (f"{where} does not speak TLS (plain DICOM?): check the port, or remove "
                "--tls-ca if this node uses plain DICOM")
    return tls_failed(w, reason)


def incoming_tls_failure(reason: str, verify_message: str | None = None) -> str:
    """Why a DICOM TLS connection to our storage SCP failed, in words (PS3.15 B.9, BCP 195).

    OpenSSL's reason alone (``PEER_DID_NOT_RETURN_A_CERTIFICATE``) told an administrator
    little, and an alert the peer sent about our certificate read as our refusal.

    Parameters
    ----------
    reason : str
        ``SSLError.reason`` (or the error's text).
    verify_message : str, optional
        ``SSLCertVerificationError.verify_message``: we refused the peer's certificate.
    """
    if verify_message:
        return (f"its client certificate was refused ({verify_message}): it must be signed "
                "by the CA in our tls-ca")
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in reason or "CERTIFICATE_REQUIRED" in reason:
        return ("it presented no client certificate, which our DICOM TLS port requires "
                "(PS3.15 B.9)")
    for alert, words in _CERTIFICATE_ALERTS.items():
        if alert in reason:
            return (f"it refused our server certificate ({words}): the peer must trust the "
                    "CA that signed our tls-cert")
    if any(r in reason for r in (*_VERSION_REASONS, "VERSION_TOO_LOW")):
        return "it offers only TLS older than 1.2 (BCP 195 needs 1.2 or later)"
    if any(r in reason for r in _CIPHER_REASONS):
        return ("no BCP 195 cipher suite in common (TLS 1.3, or TLS 1.2 with ECDHE/DHE and "
                "AES-GCM, RFC 9325 4.2)")
    if any(r in reason for r in _NOT_TLS_REASONS):
        return "it did not speak TLS: a peer without DICOM TLS must call our plain port"
    return reason


def tls_failed(w: Where, detail: str) -> str:
    """The TLS handshake failed for another reason."""
    return (
        f"the TLS handshake with {w.peer} failed ({detail}): check that the PACS "
        "port speaks TLS and accepts our client certificate"
    )


def context_refused(w: Where, service: str, alternative: str = "") -> str:
    """The PACS accepted no presentation context for the model we need."""
    text = f"the PACS does not offer {service}"
    return f"{text}: {alternative}" if alternative else text


# PS3.8 9.3.3.2 Table 9-18: why a presentation context was not accepted.
_ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
_TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


def no_context_accepted(w: Where, services: list[str], results: list[int | None]) -> str:
    """The PACS accepted the association but none of the presentation contexts proposed.

    PS3.8 9.3.3.2: the A-ASSOCIATE-AC answers each proposed context; when none is
    accepted the association is of no use (pynetdicom aborts it). The PACS is reachable
    and accepts our AE title: it does not offer these services, or not in these
    encodings.

    Parameters
    ----------
    services : list of str
        The abstract syntaxes proposed (names where known), each once.
    results : list of int or None
        The result of each refused context (Table 9-18), None where the AC gave none.
    """
    shown = ", ".join(services[:3])
    if len(services) > 3:
        shown += f" and {len(services) - 3} more"
    found = set(results)
    if found == {_ABSTRACT_SYNTAX_NOT_SUPPORTED}:
        why = "it does not offer them (abstract syntax not supported)"
    elif found == {_TRANSFER_SYNTAXES_NOT_SUPPORTED}:
        why = ("it offers them in none of the transfer syntaxes proposed (transfer "
               "syntaxes not supported)")
    else:
        why = "it does not offer them, or not in the transfer syntaxes proposed"
    return (
        f"{w.peer} accepted the association but refused every service proposed "
        f"({shown}): {why}"
    )
