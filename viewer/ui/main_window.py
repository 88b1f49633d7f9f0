"""MainWindow: menus, tool bar, status bar, the study browser and the viewer."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QWidget,
)

from viewer import __version__
from viewer.render.transform import as_viewed
from viewer.ui.plain_text import plain_label, plain_tip
from viewer.ui.thumbnails import to_qimage
from viewer.ui.viewer.annotate import elide
from viewer.ui.viewer.series import SeriesData
from viewer.ui.viewer.tools import CT_PRESETS, TOOL_KEYS, Tool
from viewer.ui.viewer.viewer_widget import LAYOUTS, ViewerWidget, parse_layout

log = logging.getLogger(__name__)

CONFORMANCE_DOC = "docs/conformance-statement.md"


def conformance_statement_path() -> Path | None:
    """The shipped Conformance Statement: inside a frozen bundle, else in the source tree."""
    bundle = getattr(sys, "_MEIPASS", None)
    roots = [Path(bundle)] if bundle else []
    roots.append(Path(__file__).resolve().parents[2])
    for root in roots:
        candidate = root / CONFORMANCE_DOC
        if candidate.is_file():
            return candidate
    return None


class MainWindow(QMainWindow):
    """The application window. Services are passed in by :mod:`viewer.app`."""

    open_paths_requested = Signal(list)
    paths_dropped = Signal(list)

    def __init__(self, viewer: ViewerWidget, browser: QWidget | None = None,
                 settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lightbox")
        self.setObjectName("mainWindow")
        self.settings = settings
        self.viewer = viewer
        self.browser = browser
        # Asked before the window closes (a running import); False keeps it open.
        self.close_guard: Callable[[], bool] | None = None
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        if browser is not None:
            self.tabs.addTab(browser, "Studies")
        self.tabs.addTab(viewer, "Viewer")
        self.setCentralWidget(self.tabs)
        self.setAcceptDrops(True)
        self._progress = QProgressBar(self)
        self._progress.setMaximumWidth(180)
        self._progress.setVisible(False)
        self._position = plain_label("", self)
        # Stays while its condition holds: status messages do not replace it.
        self.patients_warning = plain_label("", self)
        self.patients_warning.setStyleSheet("color: #e0a030; font-weight: bold;")
        self.patients_warning.setVisible(False)
        self.statusBar().addPermanentWidget(self.patients_warning)
        # Files of the last opening that could not be read: stays until the next opening
        # replaces what is shown (a truncated slice is otherwise an unnoticed gap).
        self.unreadable_warning = plain_label("", self)
        self.unreadable_warning.setObjectName("unreadableWarning")
        self.unreadable_warning.setStyleSheet("color: #e0a030; font-weight: bold;")
        self.unreadable_warning.setVisible(False)
        # Long reasons must not widen the window: the label gives way (down to nothing
        # rather than its whole text), the tooltip has them all.
        self.unreadable_warning.setMinimumWidth(1)
        self._unreadable: list[str] = []
        self.statusBar().addPermanentWidget(self.unreadable_warning)
        # Stored studies shown short of what their PACS or DICOMDIR had: stays while shown.
        self.incomplete_warning = plain_label("", self)
        self.incomplete_warning.setObjectName("incompleteWarning")
        self.incomplete_warning.setStyleSheet("color: #e0a030; font-weight: bold;")
        self.incomplete_warning.setVisible(False)
        self.incomplete_warning.setMinimumWidth(1)
        self.incomplete_studies: list[str] = []  # what the warning names
        self.statusBar().addPermanentWidget(self.incomplete_warning)
        # Images of an open study that arrived after it was opened: not shown until reopened.
        self.arrived_notice = plain_label("", self)
        self.arrived_notice.setObjectName("arrivedNotice")
        self.arrived_notice.setStyleSheet("color: #60b0f0; font-weight: bold;")
        self.arrived_notice.setVisible(False)
        self.arrived_notice.setMinimumWidth(1)
        self.reopen_button = QPushButton("Reopen", self)
        self.reopen_button.setToolTip("Open these studies again, with the images that arrived")
        self.reopen_button.setVisible(False)
        self.statusBar().addPermanentWidget(self.arrived_notice)
        self.statusBar().addPermanentWidget(self.reopen_button)
        self.statusBar().addPermanentWidget(self._position)
        self.statusBar().addPermanentWidget(self._progress)
        viewer.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        viewer.load_progress.connect(lambda done, total: self.show_progress(done, total))
        self.extra_menus: dict[str, Callable[[], None]] = {}
        self._build_actions()
        self.resize(1400, 900)

    # ------------------------------------------------------------------ actions
    def _action(self, text: str, slot: Callable[[], object], shortcut: str | None = None,
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(lambda *_: slot())
        return action

    def _vp(self, method: str, *args: object) -> Callable[[], None]:
        def run() -> None:
            vp = self.viewer.active
            if vp is not None:
                getattr(vp, method)(*args)
        return run

    def _build_actions(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.addAction(self._action("&Open files...", self.open_files_dialog,
                                              "Ctrl+O"))
        self.file_menu.addAction(self._action("Open &folder...", self.open_folder_dialog))
        self.file_menu.addSeparator()
        self.file_menu.addAction(self._action("&Export viewport...",
                                              lambda: self.export_dialog(False), "Ctrl+E"))
        self.file_menu.addAction(self._action("Export &image at full resolution...",
                                              lambda: self.export_dialog(True)))
        self.file_menu.addAction(self._action("&Copy viewport", self.copy_viewport,
                                              "Ctrl+Shift+C"))
        self.file_menu.addSeparator()
        self.file_menu.addAction(self._action("&Quit", self.close, "Ctrl+Q"))

        view = bar.addMenu("&View")
        layouts = view.addMenu("&Layout")
        self.layout_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for name in LAYOUTS:
            act = self._action(name, lambda n=name: self.set_layout(n), checkable=True)
            group.addAction(act)
            layouts.addAction(act)
            self.layout_actions[name] = act
        layouts.addAction(self._action("Custom...", self.custom_layout_dialog))
        view.addAction(self._action("&Fit", self._vp("fit")))
        view.addAction(self._action("Actual size (1:1)", self._vp("actual_size")))
        view.addAction(self._action("Zoom in", self._vp("zoom_by", 1.25)))
        view.addAction(self._action("Zoom out", self._vp("zoom_by", 0.8)))
        view.addSeparator()
        view.addAction(self._action("Rotate clockwise", self._vp("rotate", 1)))
        view.addAction(self._action("Rotate counter-clockwise", self._vp("rotate", -1)))
        view.addAction(self._action("Flip horizontal", self._vp("flip", True)))
        view.addAction(self._action("Flip vertical", self._vp("flip", False)))
        view.addAction(self._action("Invert", self._vp("toggle_invert")))
        view.addAction(self._action("Reset", self._vp("reset")))
        view.addSeparator()
        self.annotations_action = self._action("Annotations", self.toggle_annotations,
                                               "Ctrl+Shift+A", checkable=True)
        self.annotations_action.setChecked(True)
        view.addAction(self.annotations_action)
        view.addAction(self._action("Overlays and shutters", self._vp("toggle_overlays")))
        view.addAction(self._action("Cine play / stop", self._vp("toggle_cine")))
        next_viewport = self._action("Next viewport", self.viewer.next_viewport, "Tab")
        # Only in the viewer: Tab keeps moving between fields in the browser and dialogs.
        next_viewport.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.viewer.addAction(next_viewport)
        view.addAction(next_viewport)
        view.addSeparator()
        view.addAction(self._action("Study &browser", self.show_browser, "Ctrl+B"))

        tools = bar.addMenu("&Tools")
        tool_group = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        toolbar = self.addToolBar("Tools")
        toolbar.setObjectName("toolsToolBar")
        toolbar.setMovable(False)
        for tool, key in TOOL_KEYS.items():
            act = self._action(tool.value, lambda t=tool: self.viewer.set_tool(t), key, True)
            tool_group.addAction(act)
            tools.addAction(act)
            toolbar.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions[Tool.WINDOW].setChecked(True)
        toolbar.addSeparator()
        for name in LAYOUTS:
            toolbar.addAction(self.layout_actions[name])
        self.layout_actions["1x1"].setChecked(True)
        toolbar.addSeparator()
        toolbar.addAction(self._action("Invert", self._vp("toggle_invert")))
        toolbar.addAction(self._action("Reset", self._vp("reset")))
        self.toolbar = toolbar

        window = bar.addMenu("&Window")
        self.window_menu = window
        window.aboutToShow.connect(self._fill_window_menu)
        self._fill_window_menu()
        self.image_menu = bar.addMenu("&Image")

        self.network_menu = bar.addMenu("&Network")
        self.settings_menu = bar.addMenu("&Settings")
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard shortcuts", self.show_shortcuts, "F1"))
        help_menu.addAction(self._action("&About Lightbox", self.show_about))
        self.help_menu = help_menu

    def _fill_window_menu(self) -> None:
        """The Window menu of the active image: the presets that apply to it
        (:meth:`ViewportWidget.presets`: the CT ones, in HU, for CT only), the image's own
        and the automatic window, then the file's windows (with their explanations)."""
        menu = self.window_menu
        menu.clear()  # deletes the actions: they belong to the menu

        def add(text: str, slot: Callable[[], object]) -> None:
            action = QAction(text, menu)
            action.triggered.connect(lambda *_: slot())
            menu.addAction(action)

        vp = self.viewer.active
        presets = [p for p in vp.presets() if p in CT_PRESETS] if vp is not None else []
        for preset in presets:
            add(f"{preset.name}  (C {preset.center:g} / W {preset.width:g})\t{preset.key}",
                lambda p=preset: vp.apply_preset(p))  # type: ignore[union-attr]
        if presets:
            menu.addSeparator()
        add("Image's own window\t0", self._vp("use_file_window", 0))
        add("Automatic (min/max)\t9", self._vp("use_auto_window"))
        params = vp._facts.params if vp is not None and vp._facts is not None else None
        if params is None or not params.windows:
            return
        menu.addSeparator()
        for i, w in enumerate(params.windows):
            label = w.explanation or f"Window {i + 1}"
            add(f"File: {label}  (C {w.center:g} / W {w.width:g})",
                lambda i=i: vp.use_file_window(i))  # type: ignore[union-attr]

    # ------------------------------------------------------------------ viewer
    def set_layout(self, name: str) -> None:
        rows, cols = parse_layout(name)
        self.viewer.set_layout(rows, cols)
        act = self.layout_actions.get(name)
        if act is not None:
            act.setChecked(True)

    def custom_layout_dialog(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        text, ok = QInputDialog.getText(self, "Custom layout", "Rows x columns (e.g. 2x3):",
                                        text="2x3")
        if ok and text:
            try:
                self.set_layout(text.strip())
            except ValueError as exc:
                QMessageBox.warning(self, "Layout", str(exc))

    def open_series(self, series: list[SeriesData], replace: bool = True) -> None:
        """Show ``series`` in the viewer tab; say so, and stay said, when files of the
        same opening could not be read (:attr:`SeriesData.unreadable`)."""
        self.viewer.open_series(series, replace)
        if replace:
            self.show_incomplete([])  # the caller says again for what it opened now
        unreadable = [] if replace else list(self._unreadable)
        for s in series:
            unreadable.extend(r for r in s.unreadable if r not in unreadable)
        self.show_unreadable(unreadable)
        self.tabs.setCurrentWidget(self.viewer)
        if self.viewer.active is not None:
            self.viewer.active.canvas.setFocus()  # keys work at once, without a click
        if series:
            self.setWindowTitle(f"Lightbox - {series[0].title}")

    def show_incomplete(self, studies: list[str]) -> None:
        """Warn, in the status bar while they are shown, of studies not all here.

        ``studies`` are sentences such as "CT CHEST 2024-01-15: 222 of 300 images here";
        an empty list clears the warning.
        """
        self.incomplete_studies = list(studies)
        label = self.incomplete_warning
        label.setText(("Incomplete: " + "; ".join(studies)) if studies else "")
        label.setToolTip("The last retrieve or import of these studies did not finish: "
                         "retrieve or import them again to fetch the rest." if studies
                         else "")
        label.setVisible(bool(studies))

    def show_arrived(self, studies: list[str]) -> None:
        """Say, with a Reopen button, which open studies have images the viewer does not
        show yet; an empty list clears it."""
        self.arrived_notice.setText(("New images: " + "; ".join(studies)) if studies else "")
        self.arrived_notice.setToolTip(plain_tip("\n".join(studies)) if studies else "")
        self.arrived_notice.setVisible(bool(studies))
        self.reopen_button.setVisible(bool(studies))

    def show_unreadable(self, reasons: list[str]) -> None:
        """Warn, in the status bar until the next opening, of files not shown.

        Names how many and the first reasons ("name: reason"); the tooltip lists more,
        the log every file with its path.
        """
        self._unreadable = list(reasons)
        label = self.unreadable_warning
        if not reasons:
            label.setText("")
            label.setToolTip("")
            label.setVisible(False)
            return
        count = len(reasons)
        first = "; ".join(elide(r, 90) for r in reasons[:2])
        more = f"; and {count - 2} more (see the log)" if count > 2 else ""
        files = "1 file" if count == 1 else f"{count} files"
        label.setText(f"{files} could not be read and {'is' if count == 1 else 'are'} "
                      f"not shown: {first}{more}")
        tip = reasons[:20] + ([f"... and {count - 20} more (see the log)"] if count > 20 else [])
        label.setToolTip(plain_tip("\n".join(tip)))
        label.setVisible(True)

    def show_browser(self) -> None:
        if self.browser is not None:
            self.tabs.setCurrentWidget(self.browser)

    def toggle_annotations(self) -> None:
        visible = self.annotations_action.isChecked()
        for vp in self.viewer.viewports:
            vp.set_annotations_visible(visible)

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open DICOM files")
        if files:
            self.open_paths_requested.emit(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM files")
        if folder:
            self.open_paths_requested.emit([folder])

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, ev: object) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():  # type: ignore[attr-defined]
            ev.acceptProposedAction()  # type: ignore[attr-defined]

    def dropEvent(self, ev: object) -> None:  # noqa: N802
        urls = ev.mimeData().urls()  # type: ignore[attr-defined]
        paths = [u.toLocalFile() for u in urls if u.isLocalFile()]
        if paths:
            self.files_dropped(paths)

    def files_dropped(self, paths: list[str]) -> None:
        """Dropped files and folders (the controller imports or opens them)."""
        self.paths_dropped.emit(paths)

    def add_command(self, menu_name: str, text: str, slot: Callable[[], object],
                    shortcut: str | None = None) -> QAction:
        """Add a menu command (the application wires its services this way)."""
        menus = {"file": self.file_menu, "network": self.network_menu,
                 "settings": self.settings_menu, "help": self.help_menu,
                 "image": self.image_menu}
        action = self._action(text, slot, shortcut)
        menus[menu_name].addAction(action)
        return action

    def add_tab(self, widget: QWidget, title: str) -> None:
        """Add a main tab (e.g. query/retrieve)."""
        self.tabs.addTab(widget, title)

    # ------------------------------------------------------------------ export
    def window_image(self) -> QImage:
        """The whole window as shown, VTK viewports included (screenshots)."""
        image = self.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        painter = QPainter(image)
        ratio = image.devicePixelRatio()
        for vp in self.viewer.viewports:
            if not vp.isVisible() or not vp.canvas.isVisible():
                continue
            pixels = vp.grab_frame_buffer()
            tile = to_qimage(pixels)
            tile.setDevicePixelRatio(ratio)
            top_left = vp.canvas.mapTo(self, vp.canvas.rect().topLeft())
            painter.drawImage(top_left, tile)
        painter.end()
        return image

    def export_dialog(self, full_resolution: bool) -> None:
        vp = self.viewer.active
        if vp is None or vp.series is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export", "lightbox.png",
                                              "PNG (*.png);;JPEG (*.jpg *.jpeg)")
        if path:
            self.export(path, full_resolution)

    def export(self, path: str, full_resolution: bool) -> None:
        """Save the active viewport (as shown) or its image (pipeline output, full size)."""
        vp = self.viewer.active
        if vp is None:
            return
        if full_resolution:
            pixels = vp.displayed_pixels()
            if pixels is None:
                return
            # As read: turned and mirrored as on screen, non-square pixels made square.
            pixels = as_viewed(pixels, vp.view.transform)
            rgb = np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels
        else:
            rgb = vp.grab_frame_buffer()
        image = to_qimage(rgb)
        fmt = "JPEG" if path.lower().endswith((".jpg", ".jpeg")) else "PNG"
        if not image.save(path, fmt, 95 if fmt == "JPEG" else -1):
            QMessageBox.warning(self, "Export", f"{path}: cannot be written")
        else:
            self.statusBar().showMessage(f"Saved {path}", 5000)

    def copy_viewport(self) -> None:
        vp = self.viewer.active
        if vp is not None:
            QApplication.clipboard().setImage(to_qimage(vp.grab_frame_buffer()))
            self.statusBar().showMessage("Viewport copied to the clipboard", 4000)

    # ------------------------------------------------------------------ help
    def show_shortcuts(self) -> None:
        from viewer.ui.dialogs.shortcuts import ShortcutsDialog

        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        link = conformance_statement_path()
        if link is not None:
            statement = (f"<p>DICOM conformance statement: <a href='{link.as_uri()}'>"
                         f"{link.name}</a></p>")
        else:
            statement = ("<p>DICOM conformance statement: run <code>lightbox conformance</code> "
                         "to print it.</p>")
        QMessageBox.about(
            self, "About Lightbox",
            f"<h3>Lightbox {__version__}</h3>"
            "<p>A desktop DICOM viewer with a standard-exact display pipeline.</p>"
            f"{statement}"
            "<p>Not cleared for primary diagnosis unless your organisation has validated it.</p>")

    # ------------------------------------------------------------------ progress, state
    def show_progress(self, done: int, total: int, text: str = "") -> None:
        self._progress.setVisible(done < total)
        self._progress.setMaximum(max(1, total))
        self._progress.setValue(done)
        if text:
            self.statusBar().showMessage(text, 3000)

    def restore_state(self) -> None:
        if self.settings is None:
            return
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, ev: object) -> None:  # noqa: N802
        if self.close_guard is not None and not self.close_guard():
            ev.ignore()  # type: ignore[attr-defined]
            return
        if self.settings is not None:
            self.settings.setValue("window/geometry", self.saveGeometry())
            self.settings.setValue("window/state", self.saveState())
        self.viewer.close_all()
        for vp in self.viewer.viewports:
            vp.canvas.Finalize()
        super().closeEvent(ev)  # type: ignore[arg-type]
