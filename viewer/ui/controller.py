"""What the workstation does with the services it is given: open files, studies, the demo.

:mod:`viewer.app` builds the store and the window and hands them to this controller; the
controller never creates services itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from viewer.core.errors import LightboxError
from viewer.core.imports import ImportReport
from viewer.ui.dialogs.import_dialog import ImportDialog, Importer
from viewer.ui.main_window import MainWindow
from viewer.ui.tasks import Task
from viewer.ui.viewer.annotate import display_name
from viewer.ui.viewer.opening import read_series
from viewer.ui.viewer.series import SeriesData

log = logging.getLogger(__name__)


class WorkstationController(QObject):
    """Opens things in the viewer without blocking the GUI thread.

    Parameters
    ----------
    window : MainWindow
        The window to show things in.
    store : StudyStore or None
        The local study database (``None`` for a viewer of loose files only).
    demo_folder : callable, optional
        Returns the folder of the bundled demo study, generating it if needed.
    """

    opened = Signal(list)
    error = Signal(str)

    def __init__(self, window: MainWindow, store: Any = None,
                 demo_folder: Callable[[Callable[[str, int, int], None] | None], Path] | None
                 = None, importer: Importer | None = None, browser: Any = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.store = store
        self.demo_folder = demo_folder
        self.importer = importer
        self.browser = browser
        self.import_dialog: ImportDialog | None = None
        self._tasks: set[Task] = set()
        self.interactive = True
        window.open_paths_requested.connect(self.open_paths)
        self.error.connect(self._show_error)

    def _keep(self, task: Task) -> Task:
        self._tasks.add(task)
        task.finished.connect(lambda *_: self._tasks.discard(task))
        task.failed.connect(lambda *_: self._tasks.discard(task))
        task.progress.connect(lambda d, t, text: self.window.show_progress(d, t, text))
        return task

    def _show_error(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 10000)
        if self.interactive:
            QMessageBox.warning(self.window, "Lightbox", message)

    # ------------------------------------------------------------------ opening
    def open_paths(self, paths: list[str], replace: bool = True) -> Task:
        """Read headers of files/folders in the background, then show their series."""
        def work(task: Task) -> list[SeriesData]:
            return read_series(paths, lambda d, t: task.report(d, t, "Reading headers"))

        task = self._keep(Task(work, self))
        task.finished.connect(lambda series: self._show(series, replace))
        task.failed.connect(self.error)
        return task.start()

    def open_study(self, study_uid: str, replace: bool = True) -> None:
        """Show a stored study: its series sorted from the database, no file read yet."""
        if self.store is None:
            return
        series = []
        for record in self.store.series(study_uid):
            instances = self.store.instances(record.series_uid)
            instances = [r for r in instances if r.rows and r.columns]
            if instances:
                series.append(SeriesData.from_records(instances))
        if not series:
            self.error.emit(f"study {study_uid} has no images to show")
            return
        self._show(series, replace)

    def compare_studies(self, study_uids: list[str]) -> None:
        """Add studies to those already in the viewer (e.g. a prior study of the patient)."""
        for uid in study_uids:
            self.open_study(uid, replace=False)

    def open_series_uids(self, series_uids: list[str]) -> None:
        """Show particular stored series."""
        if self.store is None:
            return
        series = []
        for uid in series_uids:
            instances = [r for r in self.store.instances(uid) if r.rows and r.columns]
            if instances:
                series.append(SeriesData.from_records(instances))
        if series:
            self._show(series, True)

    def open_demo(self) -> Task:
        """Generate (first time only) and show the bundled demo study."""
        if self.demo_folder is None:
            raise LightboxError("the demo study is not available in this build")
        demo_folder = self.demo_folder

        def work(task: Task) -> list[SeriesData]:
            folder = demo_folder(lambda name, d, t: task.report(d, t, f"Preparing demo: {name}"))
            return read_series([folder], lambda d, t: task.report(d, t, "Reading the demo"))

        task = self._keep(Task(work, self))
        task.finished.connect(lambda series: self._show(series, True))
        task.failed.connect(self.error)
        return task.start()

    # ------------------------------------------------------------------ importing
    def show_import_dialog(self, sources: list[str] | None = None,
                           start: bool = False) -> ImportDialog | None:
        """The import dialog (modeless), optionally started on ``sources`` at once."""
        if self.importer is None:
            return None
        dialog = ImportDialog(self.importer, sources, self.window)
        dialog.imported.connect(self._imported)
        self.import_dialog = dialog
        dialog.show()
        if start:
            dialog.start()
        return dialog

    def files_dropped(self, paths: list[str]) -> None:
        """Files dropped on the window: imported into the store (opened when there is none)."""
        if self.importer is None:
            self.open_paths(paths)
        else:
            self.show_import_dialog(paths, start=True)

    def _imported(self, report: ImportReport) -> None:
        if self.browser is not None:
            self.browser.refresh()

    def import_demo(self) -> Task:
        """One click: generate the demo study, import it, open it."""
        if self.demo_folder is None or self.importer is None:
            raise LightboxError("the demo study is not available in this build")
        demo_folder, importer = self.demo_folder, self.importer

        def work(task: Task) -> ImportReport:
            folder = demo_folder(lambda name, d, t: task.report(d, t, f"Preparing demo: {name}"))
            return importer([str(folder)], lambda p: task.report(
                p.files_done, p.files_total, "Importing the demo study"), lambda: task.cancelled)

        task = self._keep(Task(work, self))

        def done(report: ImportReport) -> None:
            self._imported(report)
            if report.studies:
                self.open_study(sorted(report.studies)[0])

        task.finished.connect(done)
        task.failed.connect(self.error)
        return task.start()

    # ------------------------------------------------------------------ tags
    def show_tags(self) -> Any:
        """The tag browser of the active viewport's image."""
        from viewer.ui.dialogs.tag_browser import TagBrowserDialog

        vp = self.window.viewer.active
        if vp is None or vp.series is None:
            return None
        path = vp.series.refs[vp.index].path
        try:
            dialog = TagBrowserDialog(path, self.window)
        except LightboxError as exc:
            self.error.emit(str(exc))
            return None
        dialog.show()
        return dialog

    def _show(self, series: list[SeriesData], replace: bool) -> None:
        self.window.open_series(series, replace)
        self._warn_of_other_patients()
        self.opened.emit(series)

    def _warn_of_other_patients(self) -> None:
        """Say so, and stay said, when the open images belong to more than one patient.

        A folder or a comparison can bring two patients' images side by side, where a
        reader takes them for one patient's; the viewports' corners name each, but only
        to whoever reads every corner. The warning stays in the status bar while it holds
        (not logged: it names patients).
        """
        patients = {s.patient for s in self.window.viewer.series.values()
                    if any(s.patient)}
        names = "; ".join(f"{display_name(name) or 'no name'} ({pid or 'no ID'})"
                          for pid, name in sorted(patients))
        label = self.window.patients_warning
        label.setText(f"Images of {len(patients)} patients are open: {names}"
                      if len(patients) > 1 else "")
        label.setVisible(len(patients) > 1)
