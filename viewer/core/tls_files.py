"""Our TLS files (PS3.15 B.9): loaded without a passphrase prompt, checked, warned about.

What :class:`viewer.core.settings.NetworkSettings` (our storage SCP's certificate), the
node commands (a node's client certificate) and :mod:`viewer.net.connection` (every TLS
context) share: each load names the file at fault and never lets OpenSSL prompt for a
passphrase, and what loads but is unwise (a key others can read, a certificate expired,
not yet valid, expiring or meant for another purpose, a CA file without a CA) is said in
one sentence per file.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import stat
import time
from pathlib import Path
from typing import NoReturn

from viewer.core.errors import UsageError


class EncryptedKeyError(Exception):
    """OpenSSL asked for the passphrase of an encrypted private key.

    Lightbox never lets OpenSSL prompt for it: the prompt goes to a terminal nobody may
    watch (the GUI, ``always-listen``), at every association.
    """


def refuse_passphrase() -> NoReturn:
    """The ``password`` callable of every ``load_cert_chain``: refuse, never prompt.

    Without a ``password``, OpenSSL reads an encrypted key's passphrase from the
    controlling terminal, holding the association (or the SCP start) until someone types
    it; without a terminal it fails with "Invalid argument".
    """
    raise EncryptedKeyError


def encrypted_key_text(key: str, setting: str) -> str:
    """Say that ``key`` is encrypted and how to write an unencrypted copy of it."""
    return (f"{key}: the private key is encrypted (passphrase-protected), which Lightbox "
            f"does not support ({setting}): write an unencrypted copy readable only by you "
            f"(openssl pkey -in {key} -out NEW.key; chmod 600 NEW.key) and give that file")


def load_ca_file(ctx: ssl.SSLContext, ca: str, setting: str) -> None:
    """Load the CA bundle ``ca`` into ``ctx``, or raise :class:`UsageError` naming it."""
    try:
        ctx.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"{ca}: not a PEM CA certificate ({setting}): "
                         f"{ssl_reason(exc)}") from None


def load_key_pair(ctx: ssl.SSLContext, cert: str, key: str, cert_setting: str,
                  key_setting: str) -> None:
    """Load our certificate and its private key into ``ctx`` (PS3.15 B.9), never prompting.

    Raises
    ------
    UsageError
        The message names the file at fault: ``cert`` is not PEM, ``key`` is encrypted,
        or ``key`` is not the key of ``cert`` (or not a key at all).
    """
    try:
        ssl.PEM_cert_to_DER_cert(_first_pem_block(Path(cert)))
    except ValueError:
        raise UsageError(f"{cert}: not a PEM certificate ({cert_setting})") from None
    except OSError as exc:
        raise UsageError(f"{cert}: cannot be read ({cert_setting}): "
                         f"{ssl_reason(exc)}") from None
    try:
        ctx.load_cert_chain(cert, key, password=refuse_passphrase)
    except EncryptedKeyError:
        raise UsageError(encrypted_key_text(key, key_setting)) from None
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"{key}: not the private key of {cert} ({key_setting}): "
                         f"{ssl_reason(exc)}") from None


#: Warn when our certificate expires within this many days (it is renewed by hand).
EXPIRY_WARNING_DAYS = 30


def tls_file_warnings(cert: str, key: str, ca: str, settings: tuple[str, str, str]
                      ) -> list[str]:
    """What is unwise about TLS files that load: one sentence each, naming the file.

    * ``key`` readable by group or others (POSIX): whoever can read it can pose as us
      to the PACS, or as our SCP (OpenSSH refuses such keys). Not changed here: the
      file may be shared on purpose, and is not ours to chmod.
    * ``ca`` holds no CA certificate (basicConstraints CA:TRUE, RFC 5280 4.2.1.9):
      OpenSSL then verifies nothing against it.

    Parameters
    ----------
    settings : (str, str, str)
        How the user names the three files (``tls-cert`` or ``--tls-cert`` ...).
    """
    out: list[str] = []
    if key and os.name == "posix":
        try:
            mode = stat.S_IMODE(os.stat(key).st_mode)
        except OSError:
            mode = 0
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            out.append(f"{key}: private key readable by other users (mode {mode:04o}, "
                       f"{settings[1]}): chmod 600 it")
    if cert and key:
        out.extend(_certificate_warnings(cert, key, settings[0], server=settings[0] == "tls-cert"))
    if ca:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with contextlib.suppress(OSError, ssl.SSLError):  # load errors: checked elsewhere
            ctx.load_verify_locations(cafile=ca)
            if not ctx.cert_store_stats()["x509_ca"]:
                # get_ca_certs/cert_store_stats count what X509_check_ca accepts.
                out.append(f"{ca}: holds no CA certificate (basicConstraints CA:TRUE, "
                           f"{settings[2]}): certificates it should sign will be refused")
    return out


# OpenSSL X509_V_ERR_* codes (x509_vfy.h) that say what is wrong with the certificate.
_NOT_YET_VALID, _EXPIRED, _WRONG_PURPOSE = 9, 10, 26


def _certificate_warnings(cert: str, key: str, setting: str, *, server: bool) -> list[str]:
    """Validity dates and purpose of our own certificate (RFC 5280 4.1.2.5, 4.2.1.12).

    Read through the ssl module's public API only: the certificate is presented in an
    in-memory handshake to a peer that trusts it alone (``VERIFY_X509_PARTIAL_CHAIN``),
    in the role it will play (server for our SCP, client towards a PACS), so OpenSSL's
    own verification says whether it is expired, not yet valid or of the wrong extended
    key usage, and ``getpeercert`` gives its end date. The PACS would refuse such a
    certificate only later, when we least expect it.
    """
    ours = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    checker = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT if server else ssl.PROTOCOL_TLS_SERVER)
    checker.check_hostname = False
    checker.verify_mode = ssl.CERT_REQUIRED
    checker.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if not server:  # the checker plays the PACS, whose certificate is not the point
        ours.check_hostname = False
        ours.verify_mode = ssl.CERT_NONE
    try:
        ours.load_cert_chain(cert, key, password=refuse_passphrase)
        checker.load_verify_locations(cafile=cert)
        if not server:  # a TLS server needs a certificate of its own: the same one
            checker.load_cert_chain(cert, key, password=refuse_passphrase)
    except (OSError, ssl.SSLError, EncryptedKeyError):
        return []  # not loadable: load_key_pair says why
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = (checker if server else ours).wrap_bio(bios[0], bios[1], server_side=False)
    srv = (ours if server else checker).wrap_bio(bios[2], bios[3], server_side=True)
    verifier = client if server else srv
    try:
        done = {id(client): False, id(srv): False}
        for _ in range(10):  # a TLS 1.3 or 1.2 handshake takes 2 to 4 flights
            for side, incoming, outgoing in ((client, bios[0], bios[3]),
                                             (srv, bios[2], bios[1])):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
                    done[id(side)] = True
                incoming.write(outgoing.read())
            if all(done.values()):
                break
        peer = verifier.getpeercert() if done[id(verifier)] else None
        end = peer.get("notAfter") if peer else None
    except ssl.SSLCertVerificationError as exc:
        reason = {_NOT_YET_VALID: "is not valid yet", _EXPIRED: "has expired",
                  _WRONG_PURPOSE: ("is not for TLS " + ("servers" if server else "clients")
                                   + " (extended key usage)")}.get(exc.verify_code)
        return [f"{cert}: the certificate {reason} ({setting})"] if reason else []
    except (ssl.SSLError, OSError):
        return []
    if isinstance(end, str):
        left = (ssl.cert_time_to_seconds(end) - time.time()) / 86400
        if left < EXPIRY_WARNING_DAYS:
            return [f"{cert}: the certificate expires in {max(left, 0):.0f} days, on {end} "
                    f"({setting}): renew it"]
    return []


def _first_pem_block(path: Path) -> str:
    text = path.read_text(encoding="ascii", errors="replace")
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        raise ValueError("no certificate")
    return text[begin:end + len("-----END CERTIFICATE-----")] + "\n"


def ssl_reason(exc: BaseException) -> str:
    """Why a TLS file could not be loaded, in words: the SSL reason or the OS error."""
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)
