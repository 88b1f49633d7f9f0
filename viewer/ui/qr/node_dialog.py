"""Add or edit a PACS node, and test it with C-ECHO without leaving the dialog."""

from __future__ import annotations

from collections.abc import Callable, Collection

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from viewer.core.errors import LightboxError
from viewer.net.echo import EchoResult
from viewer.net.nodes import RETRIEVE_METHODS, NodeRecord
from viewer.ui.plain_text import plain_label
from viewer.ui.qr.service import QueryRetrieveService
from viewer.ui.qr.workers import EchoWorker

_METHOD_LABELS = {"auto": "auto (C-GET, else C-MOVE)", "get": "C-GET", "move": "C-MOVE"}


def _seconds_box(value: float, parent: QWidget) -> QDoubleSpinBox:
    box = QDoubleSpinBox(parent)
    box.setRange(0.5, 3600.0)
    box.setDecimals(1)
    box.setSuffix(" s")
    box.setValue(value)
    return box


class NodeDialog(QDialog):
    """The fields of a :class:`NodeRecord`, a Test (C-ECHO) button and its answer.

    Parameters
    ----------
    service : QueryRetrieveService
        Runs the C-ECHO (on ``pool``, never on the GUI thread).
    node : NodeRecord, optional
        The node to edit; a new one when omitted.
    taken_names : collection of str
        Names of other nodes; a node may not take one of them.
    pool : QThreadPool, optional
        Where the C-ECHO runs (the global pool by default).
    save : callable, optional
        Called with the node on OK, before the dialog closes; a LightboxError it raises
        is shown in the dialog, which stays open with what was typed.
    """

    def __init__(self, service: QueryRetrieveService, node: NodeRecord | None = None,
                 taken_names: Collection[str] = (), pool: QThreadPool | None = None,
                 parent: QWidget | None = None, *,
                 save: Callable[[NodeRecord], object] | None = None) -> None:
        super().__init__(parent)
        self._save = save
        self.setWindowTitle("Edit PACS node" if node else "Add PACS node")
        self.service = service
        self.original = node
        self.taken_names = set(taken_names) - ({node.name} if node else set())
        self.pool = pool or QThreadPool.globalInstance()
        self._worker: EchoWorker | None = None
        self._result: NodeRecord | None = None
        base = node or NodeRecord(name="", called_aet="", host="", port=104)

        self.name_edit = QLineEdit(base.name, self)
        self.name_edit.setPlaceholderText("e.g. pacs")
        self.called_aet_edit = QLineEdit(base.called_aet, self)
        self.called_aet_edit.setMaxLength(16)
        self.called_aet_edit.setPlaceholderText("the PACS's AE title")
        self.host_edit = QLineEdit(base.host, self)
        self.host_edit.setPlaceholderText("host name or address")
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(int(base.port))
        self.calling_aet_edit = QLineEdit(base.calling_aet, self)
        self.calling_aet_edit.setMaxLength(16)
        self.calling_aet_edit.setPlaceholderText("empty: our AE title from the settings")
        self.sending_aet_edit = QLineEdit(base.sending_aet, self)
        self.sending_aet_edit.setMaxLength(16)
        self.sending_aet_edit.setPlaceholderText("empty: the called AE title")
        self.sending_aet_edit.setToolTip(
            "The AE title the PACS uses when it sends images to us (C-MOVE), if it is not "
            "the one we call: our storage SCP accepts only this node's AE titles")
        self.method_combo = QComboBox(self)
        for method in RETRIEVE_METHODS:
            self.method_combo.addItem(_METHOD_LABELS[method], method)
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(base.method)))
        self.tls_ca_edit = QLineEdit(base.tls_ca, self)
        self.tls_ca_edit.setPlaceholderText("CA bundle (PEM); turns TLS on")
        self.tls_cert_edit = QLineEdit(base.tls_cert, self)
        self.tls_cert_edit.setPlaceholderText("our client certificate (PEM), if asked")
        self.tls_key_edit = QLineEdit(base.tls_key, self)
        self.tls_key_edit.setPlaceholderText("the key of that certificate (PEM)")
        self.hostname_check = QCheckBox("Check that the certificate names the host", self)
        self.hostname_check.setChecked(base.tls_check_hostname)
        self.connect_timeout_spin = _seconds_box(base.connect_timeout, self)
        self.acse_timeout_spin = _seconds_box(base.acse_timeout, self)
        self.dimse_timeout_spin = _seconds_box(base.dimse_timeout, self)

        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Called AE title", self.called_aet_edit)
        form.addRow("Host", self.host_edit)
        form.addRow("Port", self.port_spin)
        form.addRow("Calling AE title", self.calling_aet_edit)
        form.addRow("PACS sends as AE", self.sending_aet_edit)
        form.addRow("Retrieve by", self.method_combo)
        form.addRow("TLS CA", self._with_browse(self.tls_ca_edit))
        form.addRow("TLS certificate", self._with_browse(self.tls_cert_edit))
        form.addRow("TLS key", self._with_browse(self.tls_key_edit))
        form.addRow("", self.hostname_check)
        form.addRow("Connect timeout", self.connect_timeout_spin)
        form.addRow("Association timeout", self.acse_timeout_spin)
        form.addRow("Response timeout", self.dimse_timeout_spin)

        self.test_button = QPushButton("Test (C-ECHO)", self)
        self.test_button.clicked.connect(self.test)
        self.echo_label = plain_label("", self)
        self.echo_label.setWordWrap(True)
        self.echo_label.setMinimumWidth(360)
        self.error_label = plain_label("", self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e06060;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.echo_label, 1)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addLayout(test_row)
        box.addWidget(self.error_label)
        box.addWidget(self.buttons)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        holder = QWidget(self)
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QPushButton("...", holder)
        button.setMaximumWidth(32)

        def browse() -> None:
            path, _ = QFileDialog.getOpenFileName(self, "PEM file", edit.text(),
                                                  "PEM files (*.pem *.crt *.key);;All (*)")
            if path:
                edit.setText(path)

        button.clicked.connect(browse)
        row.addWidget(button)
        return holder

    # ------------------------------------------------------------------ values
    def node_from_fields(self, name: str | None = None) -> NodeRecord:
        """The node the fields describe; raises :class:`LightboxError` when one is wrong."""
        node = NodeRecord(
            name=(name if name is not None else self.name_edit.text().strip()),
            called_aet=self.called_aet_edit.text().strip(),
            host=self.host_edit.text().strip(),
            port=self.port_spin.value(),
            calling_aet=self.calling_aet_edit.text().strip(),
            sending_aet=self.sending_aet_edit.text().strip(),
            method=str(self.method_combo.currentData()),
            tls_ca=self.tls_ca_edit.text().strip(),
            tls_cert=self.tls_cert_edit.text().strip(),
            tls_key=self.tls_key_edit.text().strip(),
            tls_check_hostname=self.hostname_check.isChecked(),
            connect_timeout=self.connect_timeout_spin.value(),
            acse_timeout=self.acse_timeout_spin.value(),
            dimse_timeout=self.dimse_timeout_spin.value(),
        )
        return node.validated()

    def node(self) -> NodeRecord | None:
        """The accepted node (None until OK was pressed with valid fields)."""
        return self._result

    # -------------------------------------------------------------------- echo
    def test(self) -> None:
        """C-ECHO the node as the fields describe it, on a worker thread."""
        try:
            # The name does not matter for a test; a placeholder lets an unnamed node pass.
            node = self.node_from_fields(self.name_edit.text().strip() or "new-node")
        except LightboxError as exc:
            self._show_echo(str(exc), ok=False)
            return
        if self._worker is not None:
            self._worker.cancel.cancel()
        worker = EchoWorker(self.service, node)
        worker.signals.succeeded.connect(self._echo_ok)
        worker.signals.failed.connect(self._echo_failed)
        self._worker = worker
        self.test_button.setEnabled(False)
        self._show_echo(f"C-ECHO {node.address} ...", ok=True)
        self.pool.start(worker)

    def _echo_ok(self, result: EchoResult) -> None:
        if self.sender() is not (self._worker.signals if self._worker else None):
            return
        self._worker = None
        self.test_button.setEnabled(True)
        tls = ", TLS" if result.tls else ""
        self._show_echo(
            f"C-ECHO ok{tls}: round trip {result.round_trip * 1000:.1f} ms "
            f"(association {result.association * 1000:.1f} ms)", ok=True)

    def _echo_failed(self, message: str) -> None:
        if self.sender() is not (self._worker.signals if self._worker else None):
            return
        self._worker = None
        self.test_button.setEnabled(True)
        self._show_echo(message, ok=False)

    def _show_echo(self, text: str, ok: bool) -> None:
        self.echo_label.setText(text)
        self.echo_label.setStyleSheet("" if ok else "color: #e06060;")

    @property
    def testing(self) -> bool:
        """A C-ECHO is running."""
        return self._worker is not None

    # ------------------------------------------------------------------ accept
    def accept(self) -> None:
        try:
            node = self.node_from_fields()
        except LightboxError as exc:
            self.error_label.setText(str(exc))
            return
        taken = {name.casefold(): name for name in self.taken_names}
        if node.name.casefold() in taken:
            self.error_label.setText(f"a node called {taken[node.name.casefold()]!r} exists; "
                                     "choose another name")
            return
        if self._save is not None:
            try:
                self._save(node)
            except LightboxError as exc:  # kept open: what was typed is not lost
                self.error_label.setText(str(exc))
                return
        self._result = node
        self.error_label.setText("")
        super().accept()

    def done(self, result: int) -> None:
        if self._worker is not None:
            self._worker.cancel.cancel()
            self._worker = None
        super().done(result)
