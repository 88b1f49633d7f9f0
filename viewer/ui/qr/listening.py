"""The always-on storage SCP of the workstation (``always-listen = true``) and its status.

With ``always-listen`` the application runs one storage SCP from start-up to quit, for
every configured node, on the plain port and (when our TLS settings are complete) the
DICOM TLS port. What arrives goes to the store's received-file import; the Q/R panel's
C-MOVE retrieves use this SCP instead of starting their own. A status-bar label says
where it listens, or why it cannot (the port is taken: the PeerError text).

A second application (or ``lightbox listen``) on the same home finds the port taken by
the first, whose SCP stores into the same store: its C-MOVEs go through that listener
(``listener.json``, :class:`viewer.net.listener.ListenerFile`). The label says so rather
than advising another port, which would break the registration on the PACS; once the
other process is gone, this one takes over the port.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from viewer.core.errors import LightboxError, PeerError
from viewer.core.settings import NetworkSettings
from viewer.net.listener import HomeListener, ListenerFile, ListenerRecord
from viewer.net.scp import StorageSCP
from viewer.net.sinks import CountingSink, Sink
from viewer.ui.plain_text import plain_label, plain_tip

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
        self._refused = 0  # of the running SCP's refusals, how many were said
        self._counting = CountingSink(sink, keep_uids=False)
        self._home, self._incoming = Path(home), incoming
        self.listener = HomeListener(home, local, incoming, self._counting)
        self.status = ""
        self.error = False
        #: Another live process of this home that listens on our port, while it does.
        self.other: ListenerRecord | None = None
        self.label = plain_label("")
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
            # Only a taken port (PeerError) can be the other listener's doing; a missing
            # node or TLS file is ours to fix whoever listens.
            other = self._other_listener() if isinstance(exc, PeerError) else None
            if other is None:
                self.other = None
                # The always-on SCP takes pushes from modalities as well as C-MOVEs.
                self._say(f"Not listening for C-MOVE or pushed images: {exc}", error=True)
                return False
            # Not an error: C-MOVE works through it, and the port must stay the one
            # registered on the PACS. The timer watches for it to end.
            self.other = other
            self._say(f"Another Lightbox window of this home is listening on port "
                      f"{other.port} (pid {other.pid}); C-MOVE goes through it",
                      error=False)
            self._timer.start()
            return False
        self.other = None
        self._say(f"Listening as {self.listener.describe()}", error=False)
        self._timer.start()
        return True

    def _other_listener(self) -> ListenerRecord | None:
        """The live listener of this home in another process that serves our plain port.

        Only then does a C-MOVE of ours reach the store through it (the retrieve checks
        the same record, :func:`viewer.net.transfer.run_move`); a listener on another
        port, or a record left by a process that is gone, does not help.
        """
        record = ListenerFile(self._home).live()
        if record is None or not record.serves_port(self.local.port, tls=False):
            return None
        return record

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
        """Follow ``nodes.toml``, tell about arrivals, and take over the port once the
        other process of this home that listened on it has ended."""
        if self.other is not None and self.listener.scp is None and (
                self._other_listener() is None):
            self.other = None
            self.start()
        nodes = self.listener.refresh_nodes()
        if nodes is not None:
            LOGGER.info("storage SCP now accepts %d nodes", len(nodes))
        with self._counting.lock:
            count = self._counting.count
        if count != self._seen:
            self._seen = count
            self.received.emit()
        self._say_refusals()

    def _say_refusals(self) -> None:
        """Pushes the store refused (a corrected re-send of a stored image, a series filed
        under another study) were answered Success and kept in ``incoming/``: said here,
        where the reader looks, not only in a log nobody sees under a desktop launcher."""
        scp = self.listener.scp
        failures = scp.receiver.failures if scp is not None else []
        count = len(failures)  # read once: the receiver's thread only appends
        if count < self._refused:
            self._refused = 0  # another SCP since: its own count
        if count == self._refused:
            return
        self._refused = count
        _uid, reason = failures[count - 1]
        # The reason names the temporary file, gone by now; what is wrong follows it.
        why = reason.split(".part: ", 1)[-1] if ".part: " in reason else reason
        self._say(f"Listening as {self.listener.describe()}; {count} received "
                  f"image{'s were' if count != 1 else ' was'} not imported, kept in "
                  f"{self._incoming} (the last: {why})", error=True)

    def nodes_changed(self) -> None:
        """The node list was edited in this application: apply it now (and start, if it
        could not for want of a node)."""
        if self.listener.scp is None and self.local.always_listen:
            self.start()
        self.poll()

    def stop(self) -> None:
        """Stop listening (hands over what arrived) and remove the listener record."""
        self._timer.stop()
        self.other = None
        if self.listener.scp is not None:
            self.listener.stop()
            self._say("Not listening", error=False)
        self.poll()

    def _say(self, text: str, error: bool) -> None:
        self.status, self.error = text, error
        self.label.setText(text if len(text) < 90 else text[:87] + "...")
        self.label.setToolTip(plain_tip(text))
        self.label.setStyleSheet("color: #e06060;" if error else "")
        self.label.setVisible(True)
        self.status_changed.emit(text, error)


def add_to_status_bar(listening: AlwaysListening, window: QWidget) -> None:
    """Show the listening label on ``window``'s status bar (a QMainWindow)."""
    window.statusBar().addPermanentWidget(listening.label)  # type: ignore[attr-defined]
