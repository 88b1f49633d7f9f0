"""Lightbox's storage SCP: where C-MOVE sub-operations arrive (PS3.4 B.2, SCP role).

It accepts associations only from configured nodes (calling AE title *and* host; a node
that uses DICOM TLS only on the TLS port), answers C-ECHO, and writes every instance
through a :class:`Receiver` to the sink, i.e. the store's import path. It listens on
the plain port, on the DICOM TLS port (PS3.15 B.9: the peer's client certificate must be
signed by our CA), or both. It runs while a C-MOVE needs it, or for as long as the user
asks (``lightbox listen``, or the application with ``always-listen``).

The accepting server (ARTIM deadline, TLS handshake, the associations' reactor, their
abort at stop) is :mod:`viewer.net.scp_server`; the contexts and peers admitted, and the
records of refusals, are :mod:`viewer.net.scp_admission`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.presentation import build_context
from pynetdicom.transport import ThreadedAssociationServer

from viewer.core.errors import PeerError
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.core.settings import NetworkSettings
from viewer.net.accept_loop import AcceptLoop, PendingConnections
from viewer.net.fastpath import set_nodelay
from viewer.net.nodes import NodeRecord
from viewer.net.policy import (
    DEFAULT_POLICY,
    STORAGE_SYNTAXES_COMPRESSED_FIRST,
    STORAGE_TRANSFER_SYNTAXES,
)
from viewer.net.receiver import Receiver
from viewer.net.scp_admission import (
    SCP_STORAGE_CLASSES,
    Admission,
    Refusal,
    RefusedContext,
    admissions,
    plain_address,
    scp_contexts,
    storage_like,
)
from viewer.net.scp_server import (
    ABORT_SEND_SECONDS,
    HandshakesUnderway,
    PrereadRequestHandler,
    QuickAcceptorAssociation,
    SharedContexts,
    TlsAssociationServer,
    abort_associations,
)
from viewer.net.sinks import Sink
from viewer.net.tls import peer_certificate

LOGGER = logging.getLogger(__name__)

# What other modules and tests import from here, wherever it is defined.
__all__ = [
    "ABORT_SEND_SECONDS",
    "SCP_STORAGE_CLASSES",
    "HandshakesUnderway",
    "ListenError",
    "Refusal",
    "RefusedContext",
    "StorageSCP",
    "plain_address",
]


class ListenError(PeerError):
    """The storage SCP cannot listen on its address and port; the message says why.

    Parameters
    ----------
    local : NetworkSettings
        Our AE title and bind address.
    port : int
        The port it tried.
    tls : bool
        Whether that is the DICOM TLS port.
    error : OSError
        What ``bind`` (or the address lookup) raised.

    Attributes
    ----------
    port, tls, errno
        As given; ``errno`` is the error's number (None if it has none), so that a
        caller that knows more (:class:`viewer.net.listener.HomeListener`: another
        Lightbox process of the home holds the port) can say it.
    """

    def __init__(self, local: NetworkSettings, port: int, tls: bool, error: OSError) -> None:
        self.port, self.tls, self.errno = port, tls, error.errno
        over = " with DICOM TLS" if tls else ""
        what = f"cannot listen for C-MOVE or pushed images{over}"
        address = local.bind_address
        if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
            advice = (f"bind-address {address} is not an address of this computer: lightbox "
                      "config set bind-address ADDRESS (one of this computer's addresses, or "
                      "0.0.0.0 for all of them)")
        else:
            setting = "tls-port" if tls else "port"
            # Said in the application (the Q/R tab's status) and by the CLI alike.
            advice = (f"choose another port (Our AE... in the Query/Retrieve tab, or "
                      f"lightbox config set {setting} N), and register it on the PACS")
        super().__init__(f"{local.ae_title}@{address}:{port}",
                         f"{what} ({error.strerror or error}): {advice}")


class StorageSCP:
    """A storage SCP for the nodes in ``allowed``, on a plain port, a TLS port, or both.

    Parameters
    ----------
    local : NetworkSettings
        Our AE title, ports, bind address and maximum PDU.
    allowed : iterable of NodeRecord
        Who may open associations: the node's AE title from the node's host, on the
        TLS port if the node uses TLS (:meth:`update_allowed` changes it while running).
    incoming : Path
        Where received files are written before the sink takes them.
    sink : callable
        Receives each :class:`viewer.net.receiver.ReceivedInstance` on a worker thread.
    port : int, optional
        The plain port; overrides ``local.port`` (0 picks a free port).
    ssl_context : ssl.SSLContext, optional
        Also serve DICOM over TLS (PS3.15 B.9) on ``tls_port``
        (:func:`viewer.net.tls.server_ssl_context` builds it from ``local``).
    tls_port : int, optional
        The TLS port; overrides ``local.tls_port`` (0 picks a free port).
    plain : bool
        Serve the plain port; False with an ``ssl_context`` listens with TLS only (the
        storage SCP of a C-MOVE from a TLS node).
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
        tls_port: int | None = None,
        plain: bool = True,
    ) -> None:
        if not plain and ssl_context is None:
            raise ValueError("a storage SCP needs a plain port or a TLS context")
        self.local = local
        self.allowed = list(allowed)
        self.receiver = Receiver(incoming, sink)
        self.receiver.authorize = self._authorized
        self._port = local.port if port is None else port
        self._tls_port = local.tls_port if tls_port is None else tls_port
        self._plain = plain
        self._ssl = ssl_context
        self._syntaxes = STORAGE_TRANSFER_SYNTAXES
        # Calling AE titles whose associations pick compressed syntaxes first for now
        # (:meth:`preferring_compressed`), with how many retrieves ask it.
        self._compressed_for: Counter[str] = Counter()
        self._preference_lock = threading.Lock()
        self._servers: dict[bool, ThreadedAssociationServer] = {}  # keyed by "is TLS"
        self._loops: list[AcceptLoop] = []
        self._ae: AE | None = None
        self._admissions: tuple[Admission, Admission] = (Admission(), Admission())
        self.refused: list[Refusal] = []  # associations turned away, oldest first
        self.refused_contexts: list[RefusedContext] = []  # contexts refused, each once
        self.tls_refused: list[tuple[str, str]] = []  # (address, reason) failed handshakes
        # Connections accepted (past their TLS handshake), to tell "never called back".
        self.connections = 0
        self.handshakes = HandshakesUnderway()

    @property
    def port(self) -> int | None:
        """The plain port (the real one once started); None when serving TLS only."""
        if not self._plain:
            return None
        server = self._servers.get(False)
        return int(server.server_address[1]) if server is not None else self._port

    @property
    def tls_port(self) -> int | None:
        """The TLS port (the real one once started); None without TLS."""
        if self._ssl is None:
            return None
        server = self._servers.get(True)
        return int(server.server_address[1]) if server is not None else self._tls_port

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return bool(self._servers)

    def serves(self, node: NodeRecord) -> bool:
        """True if ``node`` can send here the way it must: over TLS if it uses TLS."""
        return self._ssl is not None if node.uses_tls else self._plain

    def update_allowed(self, allowed: Iterable[NodeRecord]) -> None:
        """Change who may connect, for the associations that start from now on."""
        self.allowed = list(allowed)
        if self._ae is not None:
            self._ae.require_calling_aet = self._calling_titles()
            self._admit()

    @contextlib.contextmanager
    def preferring_compressed(self, node: NodeRecord) -> Iterator[None]:
        """While the block runs, associations from ``node`` pick lossless compressed
        syntaxes first.

        A PACS built on dcmtk sends every instance of a SOP class on the first context
        accepted for it, and cannot convert a file to another syntax: a series mixing
        RLE and uncompressed files fails partly whichever syntax the context got. A
        retrieve's second C-MOVE asks for what is missing with this preference
        (docs/networking.md, "Second pass"), whether into an SCP of its own or the
        application's always-on one, which keeps serving everyone else as before.
        """
        titles = node.sending_titles
        with self._preference_lock:
            self._compressed_for.update(titles)
        try:
            yield
        finally:
            with self._preference_lock:
                self._compressed_for.subtract(titles)
                self._compressed_for += Counter()  # drops the titles no one asks for

    def _syntaxes_for(self, calling: str) -> tuple[str, ...]:
        with self._preference_lock:
            if calling in self._compressed_for:
                return STORAGE_SYNTAXES_COMPRESSED_FIRST
        return self._syntaxes

    def _calling_titles(self) -> list[str]:
        # pynetdicom takes an empty list for "anyone", and since 3.0.4 refuses a title
        # with a control character (the NUL this once was), which ended `lightbox listen`
        # when its last node was removed. Any valid title serves: whoever calls with it is
        # still no node, and :meth:`_on_requested` rejects the pair.
        return sorted({t for n in self.allowed for t in n.sending_titles}) or [_NO_NODE]

    def _admit(self) -> None:
        """Resolve the nodes' hosts and give each port what it admits (PS3.15 B.9)."""
        self._admissions = admissions(self.allowed)
        for tls, server in self._servers.items():
            cast(TlsAssociationServer, server).admission = self._admissions[tls]

    def _admission(self, assoc: Any) -> Admission:
        """What the port ``assoc`` came in on admits (the plain port's if unknown)."""
        server = getattr(assoc, "_server", None)  # pynetdicom's acceptor knows it
        return self._admissions[getattr(server, "ssl_context", None) is not None]

    @property
    def our_titles(self) -> frozenset[str]:
        """The called AE titles we answer to: ours, and the one a node knows us by."""
        return frozenset({self.local.ae_title.strip()}
                         | {n.calling_aet.strip() for n in self.allowed if n.calling_aet})

    def start(self) -> StorageSCP:
        """Start listening in background threads; raise PeerError if a port is taken."""
        if self._servers:
            return self
        self.receiver.reopen()
        self._admit()
        ae = AE(ae_title=self.local.ae_title)
        ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        ae.maximum_pdu_size = self.local.max_pdu
        ae.maximum_associations = DEFAULT_POLICY.max_associations
        ae.acse_timeout = DEFAULT_POLICY.acse_timeout
        ae.dimse_timeout = DEFAULT_POLICY.dimse_timeout
        ae.network_timeout = DEFAULT_POLICY.network_timeout
        # PS3.8 9.3.4: a calling AE title we do not know is rejected (reason 3).
        ae.require_calling_aet = self._calling_titles()
        self._ae = ae
        endpoints: list[tuple[bool, int, ssl.SSLContext | None]] = []
        if self._plain:
            endpoints.append((False, self._port, None))
        if self._ssl is not None:
            endpoints.append((True, self._tls_port, self._ssl))
        try:
            for tls, port, context in endpoints:
                self._servers[tls] = self._listen(ae, port, context)
        except PeerError:
            self.stop()
            raise
        self._loops = [AcceptLoop(server) for server in self._servers.values()]
        LOGGER.info("storage SCP %s listening on port %s, TLS port %s", self.local.ae_title,
                    self.port, self.tls_port)
        return self

    def _listen(self, ae: AE, port: int, context: ssl.SSLContext | None
                ) -> ThreadedAssociationServer:
        handlers = [
            (evt.EVT_CONN_OPEN, self._on_connection),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted_contexts),
            (evt.EVT_C_STORE, self.receiver.handle_store),
        ]
        try:
            server = ae.make_server(
                (self.local.bind_address, port),
                contexts=SharedContexts(scp_contexts(self._syntaxes)),
                ssl_context=context,
                evt_handlers=handlers,  # type: ignore[arg-type]
                server_class=TlsAssociationServer,
                request_handler=PrereadRequestHandler,
            )
        except OSError as exc:
            raise ListenError(self.local, port, context is not None, exc) from None
        guarded = cast(TlsAssociationServer, server)
        guarded.on_refused = self._on_tls_refused
        guarded.on_accepted = self._on_accepted
        guarded.handshakes = self.handshakes
        guarded.policy = DEFAULT_POLICY  # read now: tests give a policy of short timeouts
        guarded.pending = PendingConnections(DEFAULT_POLICY.max_pending_connections)
        guarded.places = {}
        guarded.admission = self._admissions[context is not None]
        guarded.received = {}
        return server

    def _on_tls_refused(self, address: str, reason: str) -> None:
        # No certificate is named: the ssl module gives the peer's certificate only once
        # the handshake has verified it (getpeercert), and this one failed.
        address = plain_address(address)
        self.tls_refused.append((address, reason))
        LOGGER.warning("DICOM TLS connection from %s failed: %s", address, reason)

    def _on_accepted(self) -> None:
        self.connections += 1

    def _on_connection(self, event: Any) -> None:
        set_nodelay(event)
        if type(event.assoc) is Association and event.assoc.is_acceptor:
            event.assoc.__class__ = QuickAcceptorAssociation

    def _on_requested(self, event: Any) -> None:
        """Reject an association from an unknown node or to another AE title.

        A node is known by its AE title *and* its host, and a node that uses DICOM TLS
        only on the TLS port; the called AE title must be ours (the Move Destination we
        named, PS3.7 9.1.4), or the association is meant for another application.
        Over DICOM TLS the log line also names the verified client certificate (PS3.15
        B.9): no certificate is bound to a node, so it tells which one the peer used.
        """
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling = str(primitive.calling_ae_title).strip()
        called = str(primitive.called_ae_title).strip()
        address = plain_address(str(assoc.requestor.address))
        admission = self._admission(assoc)
        if (calling, address) in admission.tls_only:
            self._refuse_on_the_plain_port(assoc, Refusal(calling, address, called, "tls"),
                                           admission.tls_only[calling, address])
        elif (calling, address) not in admission.pairs:
            self.refused.append(Refusal(calling, address, called, "node"))
            LOGGER.warning("refused association from AE %s at %s: %s%s", calling, address,
                           self._unknown_sender(calling), _over_tls(assoc))
            # PS3.8 9.3.4: rejected-permanent, service-user, calling AE title not recognised.
            self._reject(assoc, 0x03)
        elif called not in self.our_titles:
            self.refused.append(Refusal(calling, address, called, "called"))
            LOGGER.warning("refused association from AE %s at %s: it called AE %s, this is "
                           "AE %s%s", calling, address, called, self.local.ae_title,
                           _over_tls(assoc))
            # PS3.8 9.3.4: rejected-permanent, service-user, called AE title not recognised.
            self._reject(assoc, 0x07)
        else:
            syntaxes = self._syntaxes_for(calling)
            if syntaxes is not self._syntaxes:
                assoc.acceptor.supported_contexts = list(scp_contexts(syntaxes))
            self._support_unlisted_storage(assoc, primitive, syntaxes)

    def _unknown_sender(self, calling: str) -> str:
        """Why a calling AE title and address pair is no node's, in words: an administrator
        told "not a configured node" about an AE title that is one looks for the wrong
        mistake."""
        nodes = [n for n in self.allowed if calling in n.sending_titles]
        if not nodes:
            return "not a configured node"
        named = ", ".join(f"node {n.name} at {n.host}" for n in nodes)
        return (f"AE {calling} is {named}, not at this address (if it sends from here, "
                f"give the node this address: Edit... in the Query/Retrieve tab, or "
                f"lightbox node edit {nodes[0].name} --address ...)")

    def _on_accepted_contexts(self, event: Any) -> None:
        """Note the contexts we refused (PS3.8 9.3.3.2): a sender that cannot convert
        those instances fails to send them, and the C-MOVE it serves says why.

        An association over DICOM TLS is logged (INFO, one line) with the client
        certificate it presented (PS3.15 B.9), which no node is bound to.
        """
        assoc = event.assoc
        if not assoc.is_acceptor:
            return
        calling = str(assoc.requestor.ae_title).strip()
        tls = _over_tls(assoc)
        if tls:
            # Certificates are not bound to nodes: which one a node used is told here.
            LOGGER.info("accepted association from AE %s at %s%s", calling,
                        plain_address(str(assoc.requestor.address)), tls)
        for cx in assoc.rejected_contexts:
            refused = RefusedContext(calling, str(cx.abstract_syntax),
                                     tuple(str(t) for t in cx.transfer_syntax),
                                     int(cx.result or 0))
            if refused in self.refused_contexts:
                continue
            self.refused_contexts.append(refused)
            LOGGER.info("AE %s proposed %s in %s, which this storage SCP does not accept",
                        calling, UID(refused.sop_class).name,
                        ", ".join(UID(t).name for t in refused.transfer_syntaxes)
                        or "no transfer syntax")

    def _support_unlisted_storage(self, assoc: Any, primitive: Any,
                                  syntaxes: tuple[str, ...]) -> None:
        """Accept, from a configured node, storage SOP classes pynetdicom does not list.

        A Siemens MR study holds CSA Non-Image objects (private class 1.3.12.2.1107.5.9.1),
        and a class newer than pynetdicom's list may come from any modality. With their
        contexts refused, a PACS fails the whole C-MOVE, the standard images with them.
        Any abstract syntax that is private, or that pynetdicom does not know as another
        service, is taken as storage (PS3.4 B.5; as pynetdicom's unrestricted storage
        service and dcmtk's storescp --promiscuous do), for this association only.
        """
        known = {str(cx.abstract_syntax) for cx in assoc.acceptor.supported_contexts}
        extra = []
        for proposed in primitive.presentation_context_definition_list:
            uid = str(proposed.abstract_syntax)
            if uid not in known and storage_like(uid):
                known.add(uid)
                extra.append(build_context(uid, list(syntaxes)))
        if extra:
            assoc.acceptor.supported_contexts = [*assoc.acceptor.supported_contexts, *extra]

    def _refuse_on_the_plain_port(self, assoc: Any, refusal: Refusal, node: str) -> None:
        """Reject a node that uses DICOM TLS calling the plain port (PS3.15 B.9).

        Admitted there by AE title and address alone, it would send without its client
        certificate being checked and its data in clear text: it is rejected as a calling
        AE title this port does not know (PS3.8 9.3.4), and the log line says why.
        """
        self.refused.append(refusal)
        port = self.tls_port
        where = (f"our TLS port {port}" if port else
                 "a TLS port of ours, and none is configured (lightbox config set tls-cert "
                 "F tls-key F tls-ca F)")
        LOGGER.warning("association from %s at %s refused on the plain port: node %s uses "
                       "DICOM TLS, so it must call %s", refusal.calling, refusal.address,
                       node, where)
        # PS3.8 9.3.4: rejected-permanent, service-user, calling AE title not recognised.
        self._reject(assoc, 0x03)

    @staticmethod
    def _reject(assoc: Any, diagnostic: int) -> None:
        assoc.acse.send_reject(0x01, 0x01, diagnostic)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()  # waits until the A-ASSOCIATE-RJ has left, as pynetdicom's own check

    def _authorized(self, event: Any) -> bool:
        assoc = event.assoc
        calling = str(assoc.requestor.ae_title).strip()
        pair = (calling, plain_address(str(assoc.requestor.address)))
        return pair in self._admission(assoc).pairs

    def stop(self) -> None:
        """Stop listening, abort the associations still open and hand every file to the sink.

        A PACS that failed its C-MOVE may keep its sub-association open for minutes; the
        association's thread would keep the process from ending. Aborted (PS3.8 7.3.1),
        it leaves complete instances to the sink and a data set cut off mid-way to be
        dropped by the receiver, as any association that ends early.
        """
        servers, self._servers = list(self._servers.values()), {}
        loops, self._loops = self._loops, []
        for loop in loops:
            loop.stop()
        for server in servers:
            server.server_close()
        abort_associations([a for s in servers for a in s.active_associations])
        self._ae = None
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


_NO_NODE = "NO-NODE-ALLOWED"  # require_calling_aet's value when no node may call


def _over_tls(assoc: Any) -> str:
    """The end of a log line about ``assoc``: the client certificate it came with.

    Parameters
    ----------
    assoc : pynetdicom.association.Association
        An association accepted by our server, past its A-ASSOCIATE-RQ.

    Returns
    -------
    str
        For an association on the TLS port, a space and ``(over DICOM TLS, certificate
        CN=PACS1,O=Hospital issued by CN=Hospital CA)``: the certificate the handshake
        verified against ``tls-ca`` (PS3.15 B.9). Empty for one on the plain port. Any
        certificate of ``tls-ca`` is admitted with a node's AE title and address, so
        this is how an administrator tells which one a peer presented.
    """
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    certificate = peer_certificate(sock)
    return "" if certificate is None else f" (over DICOM TLS, {certificate})"
