"""Composition root: builds the services and the window, and wires them. The only wiring site."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from viewer.core.errors import LightboxError, UsageError
from viewer.core.paths import resolve_home

log = logging.getLogger(__name__)

#: Longest wait for the first images before a ``--screenshot`` is taken anyway.
SCREENSHOT_TIMEOUT_S = 120.0


def _application() -> object:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
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
        from viewer.store.study_store import StudyStore
        from viewer.ui.controller import WorkstationController
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
        self.thumbnails = ThumbnailCache(home / "cache" / "thumbnails")
        self.viewer = ViewerWidget(self.thumbnails)
        self.window = MainWindow(self.viewer, None, self.settings)
        self.controller = WorkstationController(
            self.window, self.store, lambda progress: ensure_demo_study(home, progress))
        self.controller.interactive = interactive

    def close(self) -> None:
        """Close the window and the store."""
        self.window.close()
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
    home = resolve_home(args.home)
    screenshot = getattr(args, "screenshot", None)
    if screenshot and not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        raise UsageError("--screenshot needs a display; run it under xvfb-run")
    ws = build_workstation(home, interactive=not screenshot)
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
        ws.store.close()
        return status
    return _screenshot(ws, task, Path(screenshot), args)


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
