"""The PACS node bar of the query/retrieve panel: choose, add, edit, remove and test nodes,
and see (or change) our own AE title and C-MOVE port."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from viewer.core.errors import LightboxError
from viewer.net.echo import EchoResult
from viewer.net.nodes import NodeBook, NodeRecord
from viewer.ui.plain_text import ask, plain_label
from viewer.ui.qr.local_dialog import LocalAEDialog
from viewer.ui.qr.node_dialog import NodeDialog
from viewer.ui.qr.service import QueryRetrieveService
from viewer.ui.qr.workers import EchoWorker


class NodeBarWidget(QWidget):
    """The node list with Add, Edit, Remove and Test (C-ECHO), and our AE on the right.

    Parameters
    ----------
    nodes : NodeBook
        The configured nodes; changes made here are saved by the book.
    service : QueryRetrieveService
        Runs the C-ECHO; gives (and may save) our AE settings.
    pool : QThreadPool
        Where the C-ECHO runs.

    Signals
    -------
    node_changed()
        Another node was selected, or the list changed.
    busy_changed()
        A C-ECHO started or ended.
    message(str, bool)
        A line for the panel's status: the text, and whether it reports an error.
    """

    node_changed = Signal()
    busy_changed = Signal()
    message = Signal(str, bool)

    def __init__(self, nodes: NodeBook, service: QueryRetrieveService, pool: QThreadPool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.nodes = nodes
        self.service = service
        self.pool = pool
        self.node_dialog: NodeDialog | None = None
        self.local_dialog: LocalAEDialog | None = None
        self._echo: EchoWorker | None = None
        #: How many retrieves run (the panel's): images of a C-MOVE arrive at the storage
        #: SCP that saving our AE settings restarts.
        self.retrieves_running: Callable[[], int] = lambda: 0
        self.node_combo = QComboBox(self)
        self.node_combo.setMinimumWidth(220)
        self.add_node_button = QPushButton("&Add...", self)
        self.edit_node_button = QPushButton("E&dit...", self)
        self.remove_node_button = QPushButton("Re&move", self)
        self.echo_button = QPushButton("Test (&C-ECHO)", self)
        self.local_label = plain_label("", self)
        self.local_button = QPushButton("&Our AE...", self)
        self.local_button.setToolTip("Our AE title and C-MOVE port, as the PACS knows them")
        self.local_button.setVisible(service.save_local is not None)
        self.local_button.clicked.connect(self.edit_local)
        self.add_node_button.clicked.connect(self.add_node)
        self.edit_node_button.clicked.connect(self.edit_node)
        self.remove_node_button.clicked.connect(lambda: self.remove_node())
        self.echo_button.clicked.connect(self.echo_node)
        self.node_combo.currentIndexChanged.connect(self._node_changed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("PACS", self))
        row.addWidget(self.node_combo)
        for button in (self.add_node_button, self.edit_node_button,
                       self.remove_node_button, self.echo_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.local_label)
        row.addWidget(self.local_button)

    @property
    def busy(self) -> bool:
        """A C-ECHO is running."""
        return self._echo is not None

    def _say(self, text: str, error: bool = False) -> None:
        self.message.emit(text, error)

    def _update_buttons(self) -> None:
        has_node = self.current_node() is not None
        self.edit_node_button.setEnabled(has_node)
        self.remove_node_button.setEnabled(has_node)
        self.echo_button.setEnabled(has_node and self._echo is None)

    def shutdown(self) -> None:
        """Stop a running C-ECHO and close the dialogs."""
        if self._echo is not None:
            self._echo.cancel.cancel()
        for dialog in (self.node_dialog, self.local_dialog):
            if dialog is not None:
                dialog.close()
    def reload_nodes(self, select: str | None = None) -> None:
        """Fill the node list from ``nodes.toml``, keeping (or setting) the selection."""
        keep = select or self.node_combo.currentData()
        self.nodes.reload()  # the file, as another program or a failed save left it
        self.node_combo.blockSignals(True)
        self.node_combo.clear()
        for node in self.nodes:
            self.node_combo.addItem(f"{node.name}  ({node.address})", node.name)
        index = self.node_combo.findData(keep) if keep else -1
        self.node_combo.setCurrentIndex(index if index >= 0 else 0)
        self.node_combo.blockSignals(False)
        self._node_changed()

    def current_node(self) -> NodeRecord | None:
        """The selected node, or None when none is configured."""
        name = self.node_combo.currentData()
        if not name or name not in self.nodes:
            return None
        return self.nodes.get(str(name))

    def select_node(self, name: str) -> None:
        """Select a node by name."""
        index = self.node_combo.findData(name)
        if index >= 0:
            self.node_combo.setCurrentIndex(index)

    def _node_changed(self, *_: object) -> None:
        try:
            local = self.service.local()
            node = self.current_node()
            aet = (node.calling_aet if node and node.calling_aet else local.ae_title)
            # A TLS node sends its C-MOVE to our DICOM TLS port (PS3.15 B.9).
            port = (f"{local.tls_port} (DICOM TLS)" if node is not None and node.uses_tls
                    else str(local.port))
            self.local_label.setText(f"we are AE {aet}, C-MOVE port {port}")
        except LightboxError as exc:
            self.local_label.setText(str(exc))
        if not len(self.nodes):
            problems = ([self.nodes.unreadable] if self.nodes.unreadable else
                        [self.nodes.problem(n) for n in self.nodes.invalid])
            if self.nodes.stray:
                problems.append(self.nodes.stray_problem())
            if problems:
                self._say("No usable PACS node: " + " ".join(problems), error=True)
            else:
                self._say("No PACS node yet: add one with Add...")
        self._update_buttons()
        self.node_changed.emit()

    def edit_local(self) -> LocalAEDialog | None:
        """Open the dialog of our own AE title and port (when they may be saved)."""
        save = self.service.save_local
        if save is None:
            return None
        try:
            current = self.service.local()
        except LightboxError as exc:
            self._say(str(exc), error=True)
            return None
        dialog = LocalAEDialog(current, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def saved() -> None:
            settings = dialog.settings()
            if settings is None:
                return
            running = self.retrieves_running()
            if running and settings != current and ask(
                    self, "Our AE title and port",
                    f"{running} retrieve{'s are' if running != 1 else ' is'} running. "
                    "Images retrieved by C-MOVE arrive at the storage service these "
                    "settings restart: saving now cuts those retrieves short, and the "
                    "images still to come are not received.\n\nSave now anyway?"
                    ) != QMessageBox.StandardButton.Yes:
                self._say("Our AE settings were not saved: save them again once the "
                          "retrieves have ended", error=True)
                return
            try:
                save(settings)
            except (LightboxError, OSError) as exc:
                self._say(f"cannot save the settings: {exc}", error=True)
                return
            self._node_changed()
            self._say(f"We are now AE {settings.ae_title}, C-MOVE port {settings.port}")

        dialog.accepted.connect(saved)
        dialog.destroyed.connect(lambda *_: setattr(self, "local_dialog", None))
        self.local_dialog = dialog
        dialog.open()
        return dialog

    def add_node(self) -> NodeDialog:
        """Open the node dialog for a new node (non-modal to the event loop)."""
        return self._open_node_dialog(None)

    def edit_node(self) -> NodeDialog | None:
        """Open the node dialog on the selected node."""
        node = self.current_node()
        return self._open_node_dialog(node) if node else None

    def _open_node_dialog(self, node: NodeRecord | None) -> NodeDialog:
        if self.node_dialog is not None:
            self.node_dialog.close()
        dialog = NodeDialog(self.service, node, [n.name for n in self.nodes],
                            self.pool, self, save=lambda new: self._store_node(new, node))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._node_saved(dialog.node()))
        dialog.destroyed.connect(lambda *_: self._forget_dialog(dialog))
        self.node_dialog = dialog
        dialog.open()
        return dialog

    def _forget_dialog(self, dialog: NodeDialog) -> None:
        if self.node_dialog is dialog:
            self.node_dialog = None

    def _store_node(self, node: NodeRecord, original: NodeRecord | None) -> None:
        """Save ``node`` (replacing ``original``) while its dialog is open: a refusal
        (the name taken meanwhile, a file that cannot be written) is shown in the dialog
        with what was typed (LightboxError)."""
        if original is None:
            self.nodes.add(node)
        elif original.name == node.name:
            self.nodes.add(node, replace_existing=True)
        else:
            self.nodes.add(node)
            self.nodes.remove(original.name)

    def _node_saved(self, node: NodeRecord | None) -> None:
        if node is None:
            return
        self.reload_nodes(select=node.name)
        self._say(f"Saved node {node.name} ({node.address})")

    def remove_node(self, confirm: bool = True) -> None:
        """Remove the selected node from the node book."""
        node = self.current_node()
        if node is None:
            return
        if confirm and ask(self, "Remove PACS node", f"Remove {node.name} ({node.address})?"
                           ) != QMessageBox.StandardButton.Yes:
            return
        try:
            self.nodes.remove(node.name)
        except LightboxError as exc:
            self._say(str(exc), error=True)
            self.reload_nodes()
            return
        self.reload_nodes()
        self._say(f"Removed node {node.name}")

    def echo_node(self) -> None:
        """C-ECHO the selected node; the answer goes to the status line."""
        node = self.current_node()
        if node is None or self._echo is not None:
            return
        worker = EchoWorker(self.service, node)
        worker.signals.succeeded.connect(self._echo_ok)
        worker.signals.failed.connect(self._echo_failed)
        self._echo = worker
        self._say(f"C-ECHO {node.name} ({node.address}) ...")
        self._update_buttons()
        self.busy_changed.emit()
        self.pool.start(worker)

    def _echo_ok(self, result: EchoResult) -> None:
        node = self._echo.node if self._echo else None
        self._echo = None
        self._update_buttons()
        self.busy_changed.emit()
        name = node.name if node else "the PACS"
        self._say(f"{name}: C-ECHO ok, round trip {result.round_trip * 1000:.1f} ms"
                         + (" (TLS)" if result.tls else ""))

    def _echo_failed(self, message: str) -> None:
        self._echo = None
        self._update_buttons()
        self.busy_changed.emit()
        self._say(message, error=True)
