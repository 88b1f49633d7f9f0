"""The always-on storage SCP of the workstation (``always-listen = true``) and its status.

With ``always-listen`` the application runs one storage SCP from start-up to quit, for
every configured node, on the plain port and (when our TLS settings are complete) the
DICOM TLS port. What arrives goes to the store's received-file import; the Q/R panel's
C-MOVE retrieves use this SCP instead of starting their own. A status-bar label says
where it listens, or why it cannot (the port is taken: the PeerError text).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QWidget

from viewer.core.errors import LightboxError
from viewer.core.settings import NetworkSettings
from viewer.net.listener import HomeListener
from viewer.net.scp import StorageSCP
from viewer.net.sinks import CountingSink, Sink

LOGGER = logging.getLogger(__name__)

#: How often the nodes file and the arrivals are looked at (milliseconds).
POLL_MS = 2000


class AlwaysListening(QObject):
    """Runs the workstation's storage SCP while the application runs.

    Parameters
    ----------
    home : Path
        The Lightbox home (nodes, listener record).
    local : NetworkSettings
        Our AE settings (``always_listen`` decides whether :meth:`start` listens).
    incoming : Path
        Where received files wait for the store.
    sink : callable
        The store's received-file import.
    parent : QObject, optional
        Owner.

    Signals
    -------
    received()
        Instances arrived since the last look (at most every :data:`POLL_MS`).
    status_changed(str, bool)
        The status text, and whether it is an error.
    """

    received = Signal()
    status_changed = Signal(str, bool)

    def __init__(self, home: Path, local: NetworkSettings, incoming: Path, sink: Sink,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.local = local
        self._seen = 0
        self._counting = CountingSink(sink, keep_uids=False)
        self._home, self._incoming = Path(home), incoming
        self.listener = HomeListener(home, local, incoming, self._counting)
        self.status = ""
        self.error = False
        self.label = QLabel("")
        self.label.setObjectName("listeningLabel")
        self.label.setVisible(False)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def scp(self) -> StorageSCP | None:
        """The running storage SCP, or None."""
        return self.listener.scp

    def start(self) -> bool:
        """Listen if ``always_listen`` is set; True when it listens."""
        if not self.local.always_listen:
            return False
        try:
            self.listener.start()
        except LightboxError as exc:
            self._say(f"Not listening for C-MOVE: {exc}", error=True)
            return False
        self._say(f"Listening as {self.listener.describe()}", error=False)
        self._timer.start()
        return True

    def apply_settings(self, local: NetworkSettings) -> None:
        """Our AE settings changed: listen anew with them (or stop, without always-listen)."""
        if local == self.local:
            return
        self.stop()
        self.local = local
        self.listener = HomeListener(self._home, local, self._incoming, self._counting)
        if not self.start():
            self.label.setVisible(bool(local.always_listen))

    def poll(self) -> None:
        """Follow ``nodes.toml`` and tell about arrivals."""
        nodes = self.listener.refresh_nodes()
        if nodes is not None:
            LOGGER.info("storage SCP now accepts %d nodes", len(nodes))
        with self._counting.lock:
            count = self._counting.count
        if count != self._seen:
            self._seen = count
            self.received.emit()

    def nodes_changed(self) -> None:
        """The node list was edited in this application: apply it now (and start, if it
        could not for want of a node)."""
        if self.listener.scp is None and self.local.always_listen:
            self.start()
        self.poll()

    def stop(self) -> None:
        """Stop listening (hands over what arrived) and remove the listener record."""
        self._timer.stop()
        if self.listener.scp is not None:
            self.listener.stop()
            self._say("Not listening", error=False)
        self.poll()

    def _say(self, text: str, error: bool) -> None:
        self.status, self.error = text, error
        self.label.setText(text if len(text) < 90 else text[:87] + "...")
        self.label.setToolTip(text)
        self.label.setStyleSheet("color: #e06060;" if error else "")
        self.label.setVisible(True)
        self.status_changed.emit(text, error)


def add_to_status_bar(listening: AlwaysListening, window: QWidget) -> None:
    """Show the listening label on ``window``'s status bar (a QMainWindow)."""
    window.statusBar().addPermanentWidget(listening.label)  # type: ignore[attr-defined]
