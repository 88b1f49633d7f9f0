"""Our own application entity: the AE title the PACS knows us by, and the C-MOVE port."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from viewer.core.errors import LightboxError
from viewer.core.settings import NetworkSettings
from viewer.ui.plain_text import plain_label


class LocalAEDialog(QDialog):
    """Edit the ``[network]`` settings a PACS administrator registers for us.

    A C-MOVE destination is an AE title the PACS maps to a host and port of its own
    configuration (PS3.4 C.4.2.2.2.2), so these must match what is registered there.
    """

    def __init__(self, settings: NetworkSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Our DICOM application entity")
        self.original = settings
        self._result: NetworkSettings | None = None
        self.ae_title_edit = QLineEdit(settings.ae_title, self)
        self.ae_title_edit.setMaxLength(16)
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(int(settings.port))
        self.bind_edit = QLineEdit(settings.bind_address, self)
        self.bind_edit.setPlaceholderText("0.0.0.0: every interface")
        self.always_check = QCheckBox("Keep listening while Lightbox runs", self)
        self.always_check.setChecked(bool(settings.always_listen))
        self.always_check.setToolTip("Receive from the PACS at any time, not only during a "
                                     "C-MOVE (always-listen)")
        form = QFormLayout()
        form.addRow("AE title", self.ae_title_edit)
        form.addRow("C-MOVE port", self.port_spin)
        form.addRow("Listen on", self.bind_edit)
        form.addRow("", self.always_check)
        hint = QLabel("For C-MOVE the PACS must know this AE title with this computer's "
                      "address and port.", self)
        hint.setWordWrap(True)
        self.error_label = plain_label("", self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e06060;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(hint)
        box.addWidget(self.error_label)
        box.addWidget(self.buttons)

    def settings(self) -> NetworkSettings | None:
        """The accepted settings (None until OK was pressed with valid fields)."""
        return self._result

    def accept(self) -> None:
        try:
            settings = replace(
                self.original,
                ae_title=self.ae_title_edit.text().strip(),
                port=self.port_spin.value(),
                bind_address=self.bind_edit.text().strip() or "0.0.0.0",
                always_listen=self.always_check.isChecked(),
            ).validated()
        except LightboxError as exc:
            self.error_label.setText(str(exc))
            return
        self._result = settings
        super().accept()
