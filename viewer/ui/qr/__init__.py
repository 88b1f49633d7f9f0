"""Query/retrieve: the panel that searches a PACS and retrieves studies into the store.

The main window adds it with one line::

    panel = build_qr_widget(home, store, parent)

and refreshes its browser on ``panel.studies_retrieved``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QWidget

from viewer.core.settings import (
    NetworkSettings,
    load_network_settings,
    save_network_settings,
)
from viewer.net.listener import ListenerFile
from viewer.net.nodes import NodeBook
from viewer.net.scp import StorageSCP
from viewer.net.sinks import BatchSink, Sink
from viewer.ui.qr.qr_panel import QueryRetrieveWidget
from viewer.ui.qr.service import QueryRetrieveService

__all__ = ["QueryRetrieveService", "QueryRetrieveWidget", "build_qr_widget", "store_sink"]

#: Received files wait here (inside the home, on the store's file system) until the
#: store moves them in; the same folder ``lightbox retrieve`` uses.
INCOMING = "incoming"


def store_sink(store: Any, *, durable: bool = False) -> Sink:
    """The sink of every network receive: the store's received-file import, in batches;
    ``durable`` for the always-on storage SCP, which takes pushes (see
    ``StudyStore.add_received_files``)."""
    return BatchSink(store.add_received_files, durable=durable)


def build_qr_widget(home: Path, store: Any, parent: QWidget | None = None,
                    scp: Callable[[], StorageSCP | None] | None = None,
                    local_saved: Callable[[NetworkSettings], None] | None = None
                    ) -> QueryRetrieveWidget:
    """The panel wired to the home folder's nodes and settings and to ``store``.

    Parameters
    ----------
    home : Path
        The Lightbox home: ``nodes.toml`` (the PACS nodes) and ``settings.toml`` (our
        AE title and C-MOVE port, read again for each operation).
    store : StudyStore
        Where retrieved instances go (``add_received_files``, the import path of every
        network receive) and what is already there (``has_instances``).
    parent : QWidget, optional
        The panel's parent.
    scp : callable, optional
        Returns the application's always-on storage SCP (or None); C-MOVE uses it.
    local_saved : callable, optional
        Called with our AE settings after the panel saved them (the always-on storage
        SCP moves to the new port).
    """
    home = Path(home)

    def save_local(settings: NetworkSettings) -> None:
        save_network_settings(home, settings)
        if local_saved is not None:
            local_saved(settings)
    service = QueryRetrieveService(
        local=lambda: load_network_settings(home),
        sink=store_sink(store),
        incoming=home / INCOMING,
        already_have=store.has_instances,
        held=store.held_instances,
        save_local=save_local,
        scp=scp,
        listener=ListenerFile(home),
        note_expected=store.note_expected,
    )
    # A typo in nodes.toml must not take away the reading of local studies: the panel
    # says what is wrong with the file and refuses node changes until it is corrected.
    panel = QueryRetrieveWidget(NodeBook(home, unreadable_ok=True), service, parent)
    app = QCoreApplication.instance()
    if app is not None:
        # Child widgets get no close event when the window closes: stop the network
        # operations (C-CANCEL) before the application's threads are torn down.
        app.aboutToQuit.connect(panel.shutdown)
    return panel
