"""Accepting a storage SCP's connections without polling for the end.

socketserver's ``serve_forever`` looks for a shutdown request every poll interval: with
a short interval an always-on storage SCP wakes the process many times a second, with a
long one the SCP of a C-MOVE keeps the retrieve waiting when it stops. This loop sleeps
in ``select`` on the listening socket and a wake-up pair, so it costs nothing while idle
and stops at once.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import socketserver
import threading

LOGGER = logging.getLogger(__name__)


class AcceptLoop:
    """Serves the connections of one association server on a thread of its own.

    Parameters
    ----------
    server : socketserver.BaseServer
        A pynetdicom association server (each connection gets its own thread there).
    """

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self._wake = socket.socketpair()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lightbox-storage-scp",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        listening = self.server.socket  # type: ignore[attr-defined]
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([listening, self._wake[0]], [], [])
            except (OSError, ValueError):
                if not self._stopping.is_set():
                    LOGGER.exception("the storage SCP stopped accepting connections")
                return
            if self._stopping.is_set():
                return
            if listening in readable:
                # What serve_forever does for a ready socket: accept, verify, hand the
                # connection to its thread; errors are reported by handle_error.
                self.server._handle_request_noblock()  # type: ignore[attr-defined]
                # pynetdicom collects finished associations' garbage there, every so
                # many calls; serve_forever called it every poll, here once a connection.
                self.server.service_actions()

    def stop(self) -> None:
        """Stop accepting (connections already accepted go on) and wait for the loop."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake[1].send(b"\x00")
        self._thread.join(timeout=10)
        for end in self._wake:
            end.close()
