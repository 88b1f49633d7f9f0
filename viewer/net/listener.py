"""Which Lightbox process of a home runs the storage SCP: ``<home>/listener.json``.

A storage SCP that runs for a long time (``lightbox listen``, or the application with
``always-listen``) records itself here: process id, AE title, plain and TLS ports. A
second process of the same home that needs a C-MOVE then sends it to that SCP instead
of failing to listen on the taken port: the listener stores what arrives into the
same store, and the second process checks the store for it. A record whose process
is gone is ignored (and replaced by the next listener).

A retrieve that runs a storage SCP of its own for one C-MOVE claims its port in
``<home>/move-port-<N>.json`` while it listens, so that another retrieve of the home
that finds the port taken knows a Lightbox retrieve holds it (and waits for it) rather
than blaming the port setting.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from viewer.core.errors import PeerError, UsageError
from viewer.core.paths import write_private
from viewer.core.process_identity import start_identity, still_runs
from viewer.core.settings import NetworkSettings
from viewer.net.nodes import NODES_FILE, NodeBook, NodeRecord
from viewer.net.scp import ListenError, StorageSCP
from viewer.net.sinks import Sink
from viewer.net.tls import server_ssl_context

LOGGER = logging.getLogger(__name__)
LISTENER_FILE = "listener.json"


@dataclass(frozen=True, slots=True)
class ListenerRecord:
    """A running storage SCP of this home.

    Attributes
    ----------
    pid : int
        The process that runs it.
    ae_title : str
        Its AE title (the C-MOVE destination).
    port, tls_port : int
        Its plain and DICOM TLS ports; 0 where it does not listen.
    start : str
        The process's start identity (:func:`viewer.core.process_identity.start_identity`),
        "" where it cannot be read and in earlier versions' records.
    """

    pid: int
    ae_title: str
    port: int
    tls_port: int = 0
    start: str = ""

    def serves_port(self, port: int, tls: bool) -> bool:
        """True if it listens on ``port`` in the given mode (plain or TLS)."""
        return bool(port) and port == (self.tls_port if tls else self.port)


def port_taken(address: str, port: int) -> bool:
    """True if something listens on ``address:port`` (a bind without address reuse fails)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return True
    return False


class ListenerFile:
    """``<home>/listener.json``: write it on start, remove it on stop, read the live one.

    Parameters
    ----------
    home : Path
        The Lightbox home folder.
    """

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / LISTENER_FILE

    def write(self, ae_title: str, port: int | None, tls_port: int | None) -> ListenerRecord:
        """Record this process as the listener (atomically, readable by the owner only)."""
        record = ListenerRecord(os.getpid(), ae_title, port or 0, tls_port or 0,
                                start_identity(os.getpid()))
        write_private(self.path, json.dumps(asdict(record)).encode("utf-8"))
        return record

    def read(self) -> ListenerRecord | None:
        """The recorded listener, alive or not; None without a readable record."""
        try:
            data = json.loads(self.path.read_text())
            return ListenerRecord(int(data["pid"]), str(data["ae_title"]), int(data["port"]),
                                  int(data.get("tls_port", 0)), str(data.get("start", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def live(self, exclude_self: bool = True) -> ListenerRecord | None:
        """The recorded listener if its process runs (another process, by default)."""
        record = self.read()
        if record is None or not still_runs(record.pid, record.start):
            return None
        if exclude_self and record.pid == os.getpid():
            return None
        return record

    def claim_port(self, port: int) -> str:
        """Record that this process listens on ``port`` for a C-MOVE of its own.

        Returns the claim's token for :meth:`release_port`: two retrieves of one
        process (the application) may hold the port one after the other.
        """
        token = uuid.uuid4().hex
        data = {"pid": os.getpid(), "port": port, "token": token,
                "start": start_identity(os.getpid())}
        try:
            write_private(self._claim_path(port), json.dumps(data).encode("utf-8"))
        except OSError as exc:  # only a waiting retrieve's message depends on it
            LOGGER.warning("cannot record the C-MOVE port in %s: %s", self.path.parent, exc)
        return token

    def release_port(self, port: int, token: str) -> None:
        """Remove the claim on ``port`` if it is still the one ``token`` made."""
        path = self._claim_path(port)
        if self._read_claim(path).get("token") != token:
            return
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            LOGGER.warning("cannot remove %s: %s", path, exc)

    def port_holder(self, port: int) -> int | None:
        """The process id of a live Lightbox retrieve of this home that claimed ``port``
        (this process included), or None."""
        claim = self._read_claim(self._claim_path(port))
        pid, start = claim.get("pid"), claim.get("start", "")
        return pid if isinstance(pid, int) and still_runs(pid, str(start)) else None

    def _claim_path(self, port: int) -> Path:
        return self.path.with_name(f"move-port-{int(port)}.json")

    @staticmethod
    def _read_claim(path: Path) -> dict[str, object]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def remove(self) -> None:
        """Remove the record if this process wrote it (another listener's stays)."""
        record = self.read()
        if record is not None and record.pid != os.getpid():
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            LOGGER.warning("cannot remove %s: %s", self.path, exc)


class HomeListener:
    """The long-running storage SCP of a home: ``lightbox listen``, or ``always-listen``.

    It accepts the configured nodes (``nodes.toml``, followed as it changes): when our
    TLS settings are complete, every node on the DICOM TLS port (PS3.15 B.9), and on the
    plain port the nodes that do not use TLS (:func:`viewer.net.scp_admission.admissions`);
    it records itself in ``listener.json`` while it runs.

    Parameters
    ----------
    home : Path
        The Lightbox home (nodes, listener record).
    local : NetworkSettings
        Our AE title, ports and TLS files.
    incoming : Path
        Where received files wait for the sink.
    sink : callable
        The store's received-file import, run on the receiver's worker thread.
    port, tls_port : int, optional
        Override the configured ports (0 picks a free one).
    """

    def __init__(self, home: Path, local: NetworkSettings, incoming: Path, sink: Sink, *,
                 port: int | None = None, tls_port: int | None = None) -> None:
        self.home = Path(home)
        self.local = local
        self.incoming = incoming
        self.sink = sink
        self._port = port
        self._tls_port = tls_port
        self.record = ListenerFile(home)
        self.scp: StorageSCP | None = None
        self._stamp: tuple[int, int] | None = None

    @property
    def nodes_path(self) -> Path:
        """The ``nodes.toml`` it follows."""
        return self.home / NODES_FILE

    def start(self) -> StorageSCP:
        """Start listening and record it.

        Raises
        ------
        UsageError
            No node is configured, or a TLS file does not load (named).
        PeerError
            A port is taken (the message names it and the setting to change, or the
            Lightbox process of this home that holds it), or the bind address is not
            one of this computer's.
        """
        nodes = list(NodeBook(self.home))
        if not nodes:
            raise UsageError("no nodes configured: only configured nodes may send to "
                             "Lightbox (Add... in the Query/Retrieve tab, or lightbox node add)")
        other = self.record.live()
        if other is not None:
            # One storage SCP per home: its record tells retrieves where C-MOVE arrives,
            # and a second one overwrote it, then removed it when it ended while the
            # first still listened (a C-MOVE then found the port taken by this home).
            port = self._port if self._port is not None else self.local.port
            raise PeerError(f"{self.local.ae_title}@{self.local.bind_address}:{port}",
                            f"another Lightbox process of this home (pid {other.pid}) is "
                            f"listening on port {other.port} already: one storage SCP per "
                            "home; stop that one first, or use it")
        self._stamp = _stamp(self.nodes_path)
        context = server_ssl_context(self.local) if self.local.tls_configured else None
        scp = StorageSCP(self.local, nodes, self.incoming, self.sink, port=self._port,
                         tls_port=self._tls_port, ssl_context=context)
        try:
            scp.start()
        except ListenError as exc:
            raise self._explained(exc) from None
        self.scp = scp
        self.record.write(self.local.ae_title, scp.port, scp.tls_port)
        return scp

    def _explained(self, exc: ListenError) -> PeerError:
        """The bind failure, naming the Lightbox process of this home that holds the port.

        Advising another port (what :class:`ListenError` says for a port in use) is wrong
        when the holder is this home's own listener, or one of its retrieves: the user
        has a ``lightbox listen`` running already, or waits for that retrieve.
        """
        if exc.errno != errno.EADDRINUSE:
            return exc
        over = " with DICOM TLS" if exc.tls else ""
        what = f"cannot listen for C-MOVE or pushed images{over}"
        other = self.record.live()
        if other is not None and other.serves_port(exc.port, exc.tls):
            return PeerError(exc.peer, f"{what}: another Lightbox process of this home "
                                       f"(pid {other.pid}) is listening on port {exc.port}")
        holder = self.record.port_holder(exc.port)
        if holder is not None and holder != os.getpid():
            return PeerError(exc.peer, f"{what}: another Lightbox process of this home "
                                       f"(pid {holder}) is using port {exc.port} for a "
                                       "C-MOVE")
        return exc

    def refresh_nodes(self) -> list[NodeRecord] | None:
        """Re-read ``nodes.toml`` if it changed, and accept exactly those nodes.

        Returns the new node list, or None when nothing changed (or the file is being
        rewritten and does not parse: the nodes in force stay).
        """
        stamp = _stamp(self.nodes_path)
        if self.scp is None or stamp == self._stamp:
            return None
        try:
            nodes = list(NodeBook(self.home))
        except UsageError as exc:
            LOGGER.warning("nodes not reloaded: %s", exc)
            return None
        self._stamp = stamp
        self.scp.update_allowed(nodes)
        return nodes

    def stop(self) -> None:
        """Stop listening (what arrived is handed to the sink) and remove the record."""
        scp, self.scp = self.scp, None
        if scp is not None:
            try:
                scp.stop()
            finally:
                self.record.remove()

    def describe(self) -> str:
        """``AE on port N (DICOM TLS port M)`` for a status line."""
        if self.scp is None:
            return "not listening"
        tls = f", DICOM TLS port {self.scp.tls_port}" if self.scp.tls_port else ""
        return f"{self.local.ae_title} on port {self.scp.port}{tls}"


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
