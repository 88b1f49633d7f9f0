"""Dark theme for reading rooms: low luminance chrome so the images carry the light."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_STYLE = """
QToolTip { color: #e8e8e8; background-color: #202020; border: 1px solid #505050; }
QMainWindow, QDialog { background: #141414; }
QToolBar { background: #1c1c1c; border: none; spacing: 2px; }
QStatusBar { background: #1c1c1c; color: #b0b0b0; }
QHeaderView::section { background: #242424; color: #c8c8c8; border: none;
                       border-right: 1px solid #303030; padding: 3px 6px; }
QTableView, QTreeView, QListWidget { background: #181818; alternate-background-color: #1e1e1e;
                                     gridline-color: #2a2a2a; }
QListWidget#seriesStrip { background: #101010; border: none; }
QTabWidget::pane { border: none; }
QTabBar::tab { background: #202020; color: #a8a8a8; padding: 5px 14px; border: none; }
QTabBar::tab:selected { background: #303030; color: #f0f0f0; }
QLineEdit, QComboBox, QDateEdit, QSpinBox { background: #222222; border: 1px solid #3a3a3a;
                                            padding: 2px 4px; }
QProgressBar { border: 1px solid #3a3a3a; text-align: center; }
QProgressBar::chunk { background: #3d6fb0; }
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette and a few style-sheet touches."""
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor(24, 24, 24), QColor(30, 30, 30), QColor(220, 220, 220)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(32, 32, 32))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(32, 32, 32))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, QColor(40, 40, 40))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 80, 80))
    p.setColor(QPalette.ColorRole.Highlight, QColor(61, 111, 176))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.Link, QColor(110, 160, 230))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(120, 120, 120))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 110, 110))
    app.setPalette(p)
    app.setStyleSheet(_STYLE)
