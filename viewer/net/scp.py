"""Lightbox's storage SCP: where C-MOVE sub-operations arrive (PS3.4 B.2, SCP role).

It accepts associations only from configured nodes (calling AE title *and* host),
answers C-ECHO, and writes every instance through a :class:`Receiver` to the sink,
i.e. the store's import path. It runs while a C-MOVE needs it, or for as long as the
user asks (``lightbox listen``).
"""

from __future__ import annotations

import logging
import queue
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.transport import ThreadedAssociationServer

from viewer.core.errors import PeerError
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.core.settings import NetworkSettings
from viewer.net.fastpath import set_nodelay
from viewer.net.nodes import NodeRecord
from viewer.net.policy import (
    DEFAULT_POLICY,
    STORAGE_SYNTAXES_UNCOMPRESSED_FIRST,
    STORAGE_TRANSFER_SYNTAXES,
    UNCOMPRESSED_SYNTAXES,
    VERIFICATION,
)
from viewer.net.receiver import Receiver, Sink

LOGGER = logging.getLogger(__name__)

# PS3.4 B.5: every storage SOP class pynetdicom knows, accepted in the SCP role.
SCP_STORAGE_CLASSES = tuple(str(cx.abstract_syntax) for cx in AllStoragePresentationContexts)


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        LOGGER.warning("cannot resolve node host %s; it cannot send to us", host)
        return set()


class _QuickAcceptorAssociation(Association):
    """An acceptor association whose reactor waits for the next message on its queue.

    pynetdicom's acceptor loop sleeps a fixed millisecond before each look at the
    message queue, so a C-MOVE that the PACS sends one instance at a time (waiting for
    each C-STORE response) pays that millisecond per instance. This loop blocks on the
    queue for up to the same millisecond instead and then makes the same checks:
    release requested, aborted, DUL gone, network timeout (PS3.8 9.1 state machine).
    """

    def _run_reactor(self) -> None:
        self._is_paused = False
        while not self._kill:
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False
            try:
                context_id, msg = self.dimse.msg_queue.get(timeout=0.001)
            except queue.Empty:
                context_id, msg = None, None
            if msg:
                self._serve_request(msg, cast(int, context_id))
            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return
            if self.acse.is_aborted():
                self.dul.receive_pdu(wait=False)  # lets EVT_ACSE_RECV subscribers see it
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return
            if not self.dul.is_alive():
                self.kill()
                return
            if self.dul.idle_timer_expired():
                LOGGER.error("network timeout on an incoming association; aborting it")
                self.abort()
                self.kill()
                return


class StorageSCP:
    """A storage SCP for the nodes in ``allowed``.

    Parameters
    ----------
    local : NetworkSettings
        Our AE title, port, bind address and maximum PDU.
    allowed : iterable of NodeRecord
        Who may open associations: the node's AE title from the node's host.
    incoming : Path
        Where received files are written before the sink takes them.
    sink : callable
        Receives each :class:`viewer.net.receiver.ReceivedInstance` on a worker thread.
    port : int, optional
        Overrides ``local.port`` (0 picks a free port).
    ssl_context : ssl.SSLContext, optional
        Serve DICOM over TLS (PS3.15 B.9).
    prefer_uncompressed : bool
        When a context proposes several syntaxes, pick an uncompressed one first
        (:data:`viewer.net.policy.STORAGE_SYNTAXES_UNCOMPRESSED_FIRST`).
    """

    def __init__(
        self,
        local: NetworkSettings,
        allowed: Iterable[NodeRecord],
        incoming: Path,
        sink: Sink,
        *,
        port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        prefer_uncompressed: bool = False,
    ) -> None:
        self.local = local
        self.allowed = list(allowed)
        self.receiver = Receiver(incoming, sink)
        self.receiver.authorize = self._authorized
        self._port = local.port if port is None else port
        self._ssl = ssl_context
        self._syntaxes = (STORAGE_SYNTAXES_UNCOMPRESSED_FIRST if prefer_uncompressed
                          else STORAGE_TRANSFER_SYNTAXES)
        self._server: ThreadedAssociationServer | None = None
        self._pairs: set[tuple[str, str]] = set()
        self.refused: list[tuple[str, str]] = []  # (calling AE, address) turned away
        self.connections = 0  # TCP connections accepted, to tell "never called back"

    @property
    def port(self) -> int:
        """The port we listen on (the real one once started)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    def start(self) -> StorageSCP:
        """Start listening in background threads; raise PeerError if the port is taken."""
        if self._server is not None:
            return self
        self._pairs = {
            (n.called_aet.strip(), addr) for n in self.allowed for addr in _addresses(n.host)
        }
        ae = AE(ae_title=self.local.ae_title)
        ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        ae.maximum_pdu_size = self.local.max_pdu
        ae.maximum_associations = DEFAULT_POLICY.max_associations
        ae.acse_timeout = DEFAULT_POLICY.acse_timeout
        ae.dimse_timeout = DEFAULT_POLICY.dimse_timeout
        ae.network_timeout = DEFAULT_POLICY.network_timeout
        # PS3.8 9.3.4: a calling AE title we do not know is rejected (reason 3).
        ae.require_calling_aet = sorted({n.called_aet.strip() for n in self.allowed}) or [
            "\x00none"
        ]
        ae.add_supported_context(VERIFICATION, list(UNCOMPRESSED_SYNTAXES))
        for uid in SCP_STORAGE_CLASSES:
            ae.add_supported_context(uid, list(self._syntaxes))
        handlers = [
            (evt.EVT_CONN_OPEN, self._on_connection),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self.receiver.handle_store),
        ]
        try:
            server = ae.make_server(
                (self.local.bind_address, self._port),
                ssl_context=self._ssl,
                evt_handlers=handlers,  # type: ignore[arg-type]
                server_class=ThreadedAssociationServer,
            )
        except OSError as exc:
            raise PeerError(
                f"{self.local.ae_title}@{self.local.bind_address}:{self._port}",
                f"cannot listen for C-MOVE ({exc.strerror or exc}): choose another port with "
                "lightbox config set port N, and register it on the PACS",
            ) from None
        # Poll for shutdown every 50 ms (socketserver's default is 500 ms): the SCP of a
        # C-MOVE stops as soon as the retrieve ends.
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="lightbox-storage-scp", daemon=True)
        thread.start()
        self._server = server
        LOGGER.info("storage SCP %s listening on port %d", self.local.ae_title, self.port)
        return self

    def _on_connection(self, event: Any) -> None:
        self.connections += 1
        set_nodelay(event)
        if type(event.assoc) is Association and event.assoc.is_acceptor:
            event.assoc.__class__ = _QuickAcceptorAssociation

    def _on_requested(self, event: Any) -> None:
        """Reject an association whose AE title does not come from its node's host."""
        assoc = event.assoc
        calling = str(assoc.requestor.primitive.calling_ae_title).strip()
        address = str(assoc.requestor.address)
        if (calling, address) in self._pairs:
            return
        self.refused.append((calling, address))
        LOGGER.warning("refused association from AE %s at %s: not a configured node",
                       calling, address)
        # PS3.8 9.3.4: rejected-permanent, service-user, calling AE title not recognised.
        assoc.acse.send_reject(0x01, 0x01, 0x03)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()  # waits until the A-ASSOCIATE-RJ has left, as pynetdicom's own check

    def _authorized(self, event: Any) -> bool:
        calling = str(event.assoc.requestor.ae_title).strip()
        return (calling, str(event.assoc.requestor.address)) in self._pairs

    def stop(self) -> None:
        """Stop listening, finish the associations and hand every file to the sink."""
        server, self._server = self._server, None
        if server is not None:
            socketserver.BaseServer.shutdown(server)  # made by make_server, not start_server
            server.server_close()
        self.receiver.close()

    def __enter__(self) -> StorageSCP:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
