"""Composition root: builds the services and the window, and wires them. The only wiring site."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

from viewer.cli.home import cli_home
from viewer.core.errors import LightboxError, UsageError

log = logging.getLogger(__name__)

#: Longest wait for the first images before a ``--screenshot`` is taken anyway.
SCREENSHOT_TIMEOUT_S = 120.0


def _tune_allocator() -> None:
    """Give frame buffers their own mappings, so closing a series returns its memory.

    glibc raises its mmap threshold after large blocks are freed; decoded frames (hundreds
    of KB each) would then come from the heap and stay in the process after the series is
    closed. A fixed threshold keeps them as separate mappings (Linux/glibc only).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3
        libc.mallopt(m_mmap_threshold, 128 * 1024)
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        pass


def _application() -> object:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        _tune_allocator()
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Lightbox")
        app.setOrganizationName("Lightbox")
    return app


class Workstation:
    """Everything a running workstation holds; built by :func:`build_workstation`."""

    def __init__(self, home: Path, interactive: bool = True) -> None:
        from PySide6.QtCore import QSettings

        from viewer.dicom.demo import ensure_demo_study
        from viewer.media.importer import import_media
        from viewer.store.study_store import StudyStore
        from viewer.ui.browser.browser_widget import StudyBrowserWidget
        from viewer.ui.controller import WorkstationController
        from viewer.ui.dialogs.preferences import calibration_from_settings
        from viewer.ui.main_window import MainWindow
        from viewer.ui.theme import apply_dark_theme
        from viewer.ui.thumbnails import ThumbnailCache
        from viewer.ui.viewer.viewer_widget import ViewerWidget

        self.home = home
        self.app = _application()
        apply_dark_theme(self.app)  # type: ignore[arg-type]
        # Window state lives in QSettings (per user), never in the study database.
        self.settings = QSettings(str(home / "ui-state.ini"), QSettings.Format.IniFormat)
        self.store = StudyStore.open(home)
        store = self.store
        self.thumbnails = ThumbnailCache(home / "cache" / "thumbnails")
        self.viewer = ViewerWidget(self.thumbnails)
        self.browser = StudyBrowserWidget(self.store, self.thumbnails)
        self.window = MainWindow(self.viewer, self.browser, self.settings)

        def importer(sources: list[str], progress: object, cancelled: object) -> object:
            # media (discs, folders, zips) -> the store: the two siblings meet here.
            return import_media(sources, store, progress=progress,  # type: ignore[arg-type]
                                cancel=cancelled, work_dir=home / "tmp")  # type: ignore[arg-type]

        self.controller = WorkstationController(
            self.window, self.store, lambda progress: ensure_demo_study(home, progress),
            importer, self.browser)
        self.controller.interactive = interactive
        self.window.close_guard = self.controller.may_quit
        c, w, b = self.controller, self.window, self.browser
        b.open_study.connect(c.open_study)
        b.open_studies.connect(c.open_studies)
        b.open_series.connect(c.open_series_uids)
        b.compare_studies.connect(c.compare_studies)
        b.open_in_viewer = c.open_study_uids
        b.import_running = lambda: c.import_dialog is not None and c.import_dialog.running
        # The viewer lets go of a study before its files are deleted, and whatever is gone
        # (deleted here, or by another program: the browser follows the database) closes.
        b.studies_deleting.connect(c.close_studies)
        b.studies_deleted.connect(c.close_studies)
        b.database_changed.connect(c.close_missing_studies)
        b.database_changed.connect(c.update_study_notices)
        w.reopen_button.clicked.connect(lambda _checked=False: c.reopen_arrived())
        b.import_requested.connect(lambda: c.show_import_dialog())
        b.demo_requested.connect(c.import_demo)
        w.paths_dropped.connect(c.files_dropped)
        w.add_command("file", "&Import media, folder or zip...", c.show_import_dialog, "Ctrl+I")
        view_menu = next((a.menu() for a in w.menuBar().actions() if a.text() == "&View"), None)
        if view_menu is not None:  # View > Refresh studies (F5)
            view_menu.addAction(b.refresh_action)
        w.add_command("image", "DICOM &tags...", c.show_tags, "Ctrl+T")
        w.add_command("settings", "&Preferences...", self.show_preferences)
        w.add_command("help", "Open the &demo study", c.import_demo)
        self.listening = self._build_listening()
        self.qr_panel = self._build_qr()
        try:
            self.viewer.set_calibration(calibration_from_settings(self.settings))
        except Exception as exc:  # a moved monitor file must not stop the viewer
            log.warning("display calibration not applied: %s", exc)
        layout = str(self.settings.value("viewer/default_layout", "1x1"))
        with contextlib.suppress(ValueError):  # a hand-edited setting falls back to 1x1
            w.set_layout(layout)

    def _build_listening(self) -> object:
        """The always-on storage SCP (``always-listen``): started now, stopped on quit."""
        try:
            from viewer.core.settings import load_network_settings
            from viewer.ui.qr import INCOMING, store_sink
            from viewer.ui.qr.listening import AlwaysListening, add_to_status_bar
        except ImportError as exc:  # the network layer is optional at run time
            log.warning("storage SCP unavailable: %s", exc)
            return None
        try:
            local = load_network_settings(self.home)
        except LightboxError as exc:
            log.warning("network settings not read: %s", exc)
            return None
        listening = AlwaysListening(self.home, local, self.home / INCOMING,
                                    store_sink(self.store, durable=True), self.window)
        add_to_status_bar(listening, self.window)
        listening.received.connect(self.browser.refresh)
        listening.start()
        self.app.aboutToQuit.connect(listening.stop)  # type: ignore[attr-defined]
        return listening

    def _build_qr(self) -> object:
        try:
            from viewer.ui.qr import build_qr_widget
        except ImportError as exc:  # the network panel is optional at run time
            log.warning("query/retrieve panel unavailable: %s", exc)
            return None
        listening = self.listening
        panel = build_qr_widget(
            self.home, self.store, self.window,
            scp=(lambda: listening.scp) if listening is not None else None,  # type: ignore[attr-defined]
            local_saved=listening.apply_settings if listening is not None else None)  # type: ignore[attr-defined]
        if listening is not None:
            panel.node_bar.node_changed.connect(listening.nodes_changed)  # type: ignore[attr-defined]
        panel.studies_retrieved.connect(lambda *_: self.browser.refresh())
        self.browser.being_retrieved = panel.studies_being_retrieved
        self.window.add_tab(panel, "Query/Retrieve")
        self.window.add_command("network", "&Query/Retrieve", lambda: self.window.tabs
                                .setCurrentWidget(panel), "Ctrl+Shift+Q")
        return panel

    def show_preferences(self) -> None:
        """Preferences dialog; applies the display calibration on OK."""
        from viewer.ui.dialogs.preferences import PreferencesDialog, calibration_from_settings

        dialog = PreferencesDialog(self.home, self.settings, self.window)
        if dialog.exec():
            self.viewer.set_calibration(calibration_from_settings(self.settings))

    def close(self) -> None:
        """Close the window, stop network and import work and close the store."""
        self.window.close()
        dialog = self.controller.import_dialog
        if dialog is not None and dialog.running:
            # Never close the store under an import: its next batch would fail and leave
            # files without rows (the window's close asked the reader to cancel it).
            dialog.cancel()
            self.controller.wait_for_import()
        # Nor under a delete: the study under way is finished, the rest left alone.
        self.browser.stop_deleting()
        if self.qr_panel is not None:
            self.qr_panel.shutdown()  # type: ignore[attr-defined]
        if self.listening is not None:
            self.listening.stop()  # type: ignore[attr-defined]
        self.store.close()


def build_workstation(home: Path, interactive: bool = True) -> Workstation:
    """Build the application objects for ``home`` (tests drive the result directly)."""
    return Workstation(home, interactive)


def _wait(workstation: Workstation, condition: object, timeout: float) -> bool:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def run_gui(args: argparse.Namespace) -> int:
    """``lightbox open``: the reading workstation, optionally on files, a study or the demo."""
    screenshot = getattr(args, "screenshot", None)
    headless = sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    if headless:
        # Qt would abort the process; say what to do instead.
        raise UsageError("no display to open the viewer on (DISPLAY is not set); run it "
                         "on a desktop, or under xvfb-run for --screenshot")
    try:
        ws = build_workstation(cli_home(args.home), interactive=not screenshot)
    except LightboxError as exc:
        if not screenshot:
            _say_in_a_window(str(exc))
        raise
    home = ws.home
    window = ws.window
    if args.layout:
        try:
            window.set_layout(args.layout)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    window.restore_state() if not screenshot else window.resize(1600, 1000)
    window.show()
    task = None
    if args.demo:
        task = ws.controller.open_demo()
    elif args.study:
        if ws.store.study(args.study) is None:
            ws.close()
            raise LightboxError(f"study {args.study} is not in the local database "
                                f"({home}); see lightbox studies")
        ws.controller.open_study(args.study)
    elif args.paths:
        task = ws.controller.open_paths(list(args.paths))
    if args.window is not None:
        center, width = args.window

        def apply_window(*_: object) -> None:
            for vp in ws.viewer.viewports:
                if vp.series is not None:
                    vp.set_window(center, width)

        if task is not None:
            task.finished.connect(apply_window)
        else:
            apply_window()
    if not screenshot:
        status = int(ws.app.exec())  # type: ignore[attr-defined]
        ws.close()
        return status
    return _screenshot(ws, task, Path(screenshot), args)


def _say_in_a_window(problem: str) -> None:
    """Show why the application cannot start: started from a desktop launcher, its
    standard error goes nowhere, and the reader saw nothing happen at all."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    _app = QApplication.instance() or QApplication(sys.argv[:1])
    QMessageBox.critical(None, "Lightbox cannot start", f"Lightbox cannot start: {problem}")


def _screenshot(ws: Workstation, task: object, out: Path, args: argparse.Namespace) -> int:
    wants_images = bool(args.demo or args.study or args.paths)

    def ready() -> bool:
        if task is not None and not task.done:  # type: ignore[attr-defined]
            return False
        if task is not None and task.error:  # type: ignore[attr-defined]
            return True
        if not wants_images:
            return True
        shown = [vp for vp in ws.viewer.viewports if vp.series is not None]
        return bool(shown) and ws.viewer.all_first_frames_shown()

    if not wants_images and ws.browser.model.rowCount():
        # The browser as a reader first sees it: the newest study selected, its series shown.
        ws.browser.table.selectRow(0)

        def ready() -> bool:  # the browser is ready when its thumbnails are
            return not ws.thumbnails._pending

    if not _wait(ws, ready, SCREENSHOT_TIMEOUT_S):
        log.warning("screenshot taken before every image was shown")
    if task is not None and task.error:  # type: ignore[attr-defined]
        ws.close()
        raise LightboxError(task.error)  # type: ignore[attr-defined]
    _wait(ws, lambda: False, 0.3)  # let layouts settle and pending renders run
    image = ws.window.window_image()
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = image.save(str(out))
    ws.close()
    if not ok:
        raise LightboxError(f"{out}: cannot be written")
    print(out)
    return 0
