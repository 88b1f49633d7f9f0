"""Peers of the storage SCP's waiting places: connections that never send a byte, and a
C-ECHO that shows whether a configured node still gets its association (PS3.8 9.1.5)."""

from __future__ import annotations

import contextlib
import socket
import ssl

from pynetdicom import AE
from pynetdicom.sop_class import Verification

# How long a test waits for something that happens at once here: only "never" fails.
PATIENCE = 15.0


def idle_connections(stack: contextlib.ExitStack, port: int, source: str, count: int
                     ) -> list[socket.socket]:
    """``count`` connections from ``source`` that never send a byte (a port scan, or a
    lockout attempt), one after the other: the SCP accepts them in that order."""
    return [stack.enter_context(socket.create_connection(("127.0.0.1", port),
                                                         source_address=(source, 0)))
            for _ in range(count)]


def closed_by_scp(sock: socket.socket) -> bool:
    """Whether the SCP closed ``sock`` (end of file or reset, within PATIENCE, far below
    the ARTIM timeout)."""
    sock.settimeout(PATIENCE)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:  # reset
        return True


def still_open(sock: socket.socket) -> bool:
    """Whether ``sock`` is still open, without waiting (nothing is sent on it)."""
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def echo_status(port: int, calling: str, ctx: ssl.SSLContext | None = None,
                bind: str = "127.0.0.1") -> int | None:
    """The C-ECHO status (PS3.7 9.1.5) from ``bind`` to our SCP (AE LIGHTBOX), or None
    when no association was established."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = PATIENCE
    ae.add_requested_context(Verification)
    tls_args = (ctx, "127.0.0.1") if ctx is not None else None
    assoc = ae.associate("127.0.0.1", port, ae_title="LIGHTBOX", bind_address=(bind, 0),
                         tls_args=tls_args)  # type: ignore[arg-type]
    if not assoc.is_established:
        return None
    status = int(assoc.send_c_echo().Status)
    assoc.release()
    return status
