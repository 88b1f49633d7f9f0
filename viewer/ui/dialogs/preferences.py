"""Preferences: storage home, local AE title and port, display calibration, default layout.

Network settings go to the home's ``settings.toml`` (shared with the command line); the
display calibration and layout are per-user interface choices kept in QSettings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from viewer.core.errors import LightboxError
from viewer.core.settings import load_network_settings, save_network_settings
from viewer.imaging.display import gsdf_ddl_table, model_curve, parse_characteristic_file
from viewer.imaging.pipeline import PVALUE_BITS, DisplayCalibration
from viewer.ui.plain_text import plain_label
from viewer.ui.viewer.viewer_widget import LAYOUTS

CALIBRATIONS = ("none", "model", "file")
_CAL_LABELS = {
    "none": "None: the display is already calibrated to the GSDF (P-values sent as they are)",
    "model": "GSDF for a display model (luminance range and gamma)",
    "file": "GSDF for a measured display (dcmtk monitor characteristic file)",
}


def calibration_from_settings(settings: QSettings) -> DisplayCalibration | None:
    """The display calibration the preferences describe (PS3.14), or None."""
    kind = str(settings.value("display/calibration", "none"))
    if kind == "model":
        lmin = float(settings.value("display/lmin", 0.5))
        lmax = float(settings.value("display/lmax", 300.0))
        gamma = float(settings.value("display/gamma", 2.2))
        ambient = float(settings.value("display/ambient", 0.0))
        try:
            curve = model_curve(lmin, lmax, gamma, ambient)
        except ValueError as exc:
            raise LightboxError(f"display model: {exc}") from None
        name = f"model {lmin:g}-{lmax:g} cd/m²"
    elif kind == "file":
        path = Path(str(settings.value("display/file", "")))
        try:
            text = path.read_text(encoding="latin-1")
        except OSError as exc:
            raise LightboxError(f"{path}: {exc.strerror or exc}") from None
        curve = parse_characteristic_file(text, str(path))
        name = path.name
    else:
        return None
    table = gsdf_ddl_table(curve, 1 << PVALUE_BITS)
    return DisplayCalibration(ddl=table, max_ddl=curve.max_ddl, name=name)


class PreferencesDialog(QDialog):
    """Edits the preferences; :meth:`accept` saves them."""

    def __init__(self, home: Path, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.home = home
        self.settings = settings
        network = load_network_settings(home)
        self.home_label = plain_label(str(home), self)
        self.home_label.setToolTip("Change it with lightbox --home DIR or LIGHTBOX_HOME")
        self.ae_edit = QLineEdit(network.ae_title, self)
        self.port_spin = QSpinBox(self)
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(network.port)
        self.calibration_combo = QComboBox(self)
        for key in CALIBRATIONS:
            self.calibration_combo.addItem(_CAL_LABELS[key], key)
        current = str(settings.value("display/calibration", "none"))
        self.calibration_combo.setCurrentIndex(max(0, CALIBRATIONS.index(current)
                                                   if current in CALIBRATIONS else 0))
        self.lmin = self._spin(float(settings.value("display/lmin", 0.5)), 0.0, 100.0)
        self.lmax = self._spin(float(settings.value("display/lmax", 300.0)), 1.0, 5000.0)
        self.gamma = self._spin(float(settings.value("display/gamma", 2.2)), 0.5, 4.0)
        self.ambient = self._spin(float(settings.value("display/ambient", 0.0)), 0.0, 100.0)
        self.file_edit = QLineEdit(str(settings.value("display/file", "")), self)
        browse = QPushButton("...", self)
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit)
        file_row.addWidget(browse)
        self.layout_combo = QComboBox(self)
        self.layout_combo.addItems(list(LAYOUTS))
        self.layout_combo.setCurrentText(str(settings.value("viewer/default_layout", "1x1")))
        form = QFormLayout(self)
        form.addRow("Storage home", self.home_label)
        form.addRow("Local AE title", self.ae_edit)
        form.addRow("Storage port (C-MOVE)", self.port_spin)
        form.addRow("Display calibration", self.calibration_combo)
        form.addRow("  Lmin / Lmax (cd/m²)", self._pair(self.lmin, self.lmax))
        form.addRow("  Gamma / ambient (cd/m²)", self._pair(self.gamma, self.ambient))
        form.addRow("  Characteristic file", file_row)
        form.addRow("Default layout", self.layout_combo)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _spin(self, value: float, low: float, high: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(self)
        spin.setRange(low, high)
        spin.setDecimals(2)
        spin.setValue(value)
        return spin

    def _pair(self, a: QWidget, b: QWidget) -> QWidget:
        w = QWidget(self)
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(a)
        row.addWidget(b)
        return w

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Monitor characteristic file")
        if path:
            self.file_edit.setText(path)

    def save(self) -> None:
        """Write the values (raises LightboxError on an invalid AE title or port)."""
        network = load_network_settings(self.home)
        network = network.with_value("ae_title", self.ae_edit.text().strip())
        network = network.with_value("port", str(self.port_spin.value()))
        save_network_settings(self.home, network)
        s = self.settings
        s.setValue("display/calibration", self.calibration_combo.currentData())
        s.setValue("display/lmin", self.lmin.value())
        s.setValue("display/lmax", self.lmax.value())
        s.setValue("display/gamma", self.gamma.value())
        s.setValue("display/ambient", self.ambient.value())
        s.setValue("display/file", self.file_edit.text().strip())
        s.setValue("viewer/default_layout", self.layout_combo.currentText())
        calibration_from_settings(s)  # refuse a file that cannot be read now, not later

    def accept(self) -> None:
        try:
            self.save()
        except LightboxError as exc:
            QMessageBox.warning(self, "Preferences", str(exc))
            return
        super().accept()
