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
from viewer.core.records import StudyRecord
from viewer.ui.dialogs.import_dialog import ImportDialog, Importer
from viewer.ui.main_window import MainWindow
from viewer.ui.plain_text import ask, warn
from viewer.ui.tasks import Task, wait_processing_events
from viewer.ui.viewer.annotate import dicom_date, display_name
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
        # Studies opened from the store: those the database can take away (a delete here
        # or in a shell). Files opened from a folder are the reader's own.
        self._stored_studies: set[str] = set()
        # Images of each stored study when it was opened: more in the store later (a
        # retrieve or an import finishing it) are not in the viewer until it is reopened.
        self._opened_counts: dict[str, int] = {}
        self._arrived: list[str] = []
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
            warn(self.window, "Lightbox", message)

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
        self.open_studies([study_uid], replace)

    @staticmethod
    def _holding(study_uid: str, study: StudyRecord | None) -> str:
        """A study named as the reader chose it, and what it holds instead of images (an
        RT Plan, a structured report): its UID alone meant nothing to them."""
        if study is None:
            return f"study {study_uid} is no longer stored"
        name = display_name(study.patient.patient_name) or "(no name)"
        parts = [f"{name} (ID {study.patient.patient_id or 'none'})",
                 dicom_date(study.study_date), study.study_description]
        count = study.number_of_instances
        kinds = "/".join(study.modalities) or "non-image"
        return (f"{', '.join(p for p in parts if p)} holds {count} {kinds} "
                f"object{'' if count == 1 else 's'}, none of them an image")

    def open_studies(self, study_uids: list[str], replace: bool = True) -> None:
        """Show stored studies together, their series in the strip in the studies' order.

        The viewports fill with the first series; the others wait in the strip (a larger
        layout shows more side by side).
        """
        if self.store is None or not study_uids:
            return
        series: list[SeriesData] = []
        empty: list[str] = []
        # Counted before the records are read: an image arriving in between is then
        # announced as arrived (Reopen shows it), never missed.
        studies = {uid: self.store.study(uid) for uid in study_uids}
        counts = {uid: study.number_of_instances for uid, study in studies.items()
                  if study is not None}
        for uid in study_uids:
            found = self._stored_series(uid)
            series += found
            if not found:
                empty.append(uid)
        if len(study_uids) == 1 and empty:
            self.error.emit(f"No images to show: {self._holding(empty[0], studies[empty[0]])}")
        elif empty:
            self.error.emit(f"{len(empty)} of the {len(study_uids)} studies have no images "
                            f"to show: "
                            f"{'; '.join(self._holding(uid, studies[uid]) for uid in empty)}")
        if not series:
            return
        self._stored_studies.update(s.study_uid for s in series)
        self._opened_counts.update(counts)
        self._show(series, replace)
        if len(study_uids) > 1:
            shown = len(study_uids) - len(empty)
            self.window.statusBar().showMessage(
                f"{shown} studies open: {len(series)} series in the strip", 10000)

    def _stored_series(self, study_uid: str) -> list[SeriesData]:
        series = []
        for record in self.store.series(study_uid):
            instances = self.store.instances(record.series_uid)
            instances = [r for r in instances if r.rows and r.columns]
            if instances:
                series.append(SeriesData.from_records(instances))
        return series

    def compare_studies(self, study_uids: list[str]) -> None:
        """Add studies to those already in the viewer (e.g. a prior study of the patient)."""
        self.open_studies(study_uids, replace=False)

    def open_study_uids(self) -> set[str]:
        """Study Instance UIDs of the series open in the viewer."""
        return {s.study_uid for s in self.window.viewer.series.values() if s.study_uid}

    def close_studies(self, study_uids: list[str]) -> None:
        """Close the series of these studies in the viewer (deleted: their files go).

        Left open, a deleted study stayed on screen and the next slice said "No such file
        or directory". The series of other studies stay as they are, window, zoom and
        measurements included; a viewport left empty shows the next series still open.
        """
        gone = set(study_uids)
        viewer = self.window.viewer
        closing = [key for key, s in viewer.series.items() if s.study_uid in gone]
        if not closing:
            return
        viewer.close_series(closing)
        kept = list(viewer.series.values())
        self.window.setWindowTitle(f"Lightbox - {kept[0].title}" if kept else "Lightbox")
        self._warn_of_other_patients()
        self.update_study_notices()
        self.window.statusBar().showMessage(
            f"Closed {len(closing)} series of deleted studies", 10000)

    def close_missing_studies(self) -> None:
        """Close the studies opened from the store that are no longer in it (deleted by
        another program, e.g. ``lightbox delete`` in a shell)."""
        if self.store is None:
            return
        open_uids = self.open_study_uids()
        self._stored_studies &= open_uids
        missing = [uid for uid in sorted(self._stored_studies) if self.store.study(uid) is None]
        if missing:
            self.close_studies(missing)

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
        running = self.import_dialog
        if running is not None and running.running:
            # One import at a time from the window: a second dialog would hide the first's
            # progress, cancel and report (the eject verdict) behind it.
            for source in sources or []:
                if source not in running.source_paths():
                    running.sources.addItem(source)
            running.show()
            running.raise_()
            running.activateWindow()
            return running
        dialog = ImportDialog(self.importer, sources, self.window)
        browser = self.browser
        if browser is not None:
            dialog.refusal = lambda: ("Studies are being deleted: import once the delete has "
                                      "ended." if browser.deleting else "")
        dialog.imported.connect(self._imported)
        dialog.stopped.connect(lambda *_: self._imported(None))
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

    def _imported(self, report: ImportReport | None) -> None:
        if self.browser is not None:
            self.browser.refresh()

    def may_quit(self) -> bool:
        """Whether the window may close: a running import is cancelled first, if the
        reader agrees (closing the store under it would leave files without rows)."""
        dialog = self.import_dialog
        if dialog is None or not dialog.running:
            return True
        dialog.show()
        dialog.raise_()
        if ask(self.window, "Quit Lightbox", "An import is running. Cancel it and quit?\n\n"
               "What was imported so far is kept; import the medium again later to "
               "complete it.") != QMessageBox.StandardButton.Yes:
            return False
        dialog.cancel()
        return True

    def wait_for_import(self, timeout: float = 120.0) -> bool:
        """Wait (events processed) until a cancelled import has stopped."""
        dialog = self.import_dialog
        return wait_processing_events(lambda: dialog is None or not dialog.running, timeout)

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
        self.update_study_notices()
        self.opened.emit(series)

    def update_study_notices(self) -> None:
        """Say, while they are shown, which open stored studies lack images their source
        has, and which have more images in the store than the viewer shows.

        A retrieve or an import that was cancelled, failed or ran out of disk leaves a
        study that opens like a whole one (:attr:`StudyRecord.missing_instances`). One
        that finishes it later (a retrieve from the Query/Retrieve tab, an import in a
        shell) left the viewer on the partial set, still saying the images were missing:
        the notice now says they arrived, and Reopen shows them.
        """
        if self.store is None:
            return
        open_uids = self.open_study_uids()
        self._stored_studies &= open_uids
        self._opened_counts = {uid: n for uid, n in self._opened_counts.items()
                               if uid in self._stored_studies}
        incomplete, arrived, arrived_texts = [], [], []
        shown_order = list(dict.fromkeys(s.study_uid for s in self.window.viewer.series.values()))
        for uid in (u for u in shown_order if u in self._stored_studies):
            study = self.store.study(uid)
            if study is None:
                continue  # deleted: close_missing_studies closes it
            what = " ".join(x for x in (study.study_description or "study",
                                        dicom_date(study.study_date)) if x)
            here = study.number_of_instances
            of = f" of {study.expected_instances}" if study.missing_instances else ""
            more = here - self._opened_counts.get(uid, here)
            if more > 0:
                arrived.append(uid)
                arrived_texts.append(f"{what}: {more} more image{'s' if more != 1 else ''} "
                                     f"arrived ({here}{of} here now)")
            elif study.missing_instances:
                incomplete.append(f"{what}: {here}{of} images here")
        self._arrived = arrived
        self.window.show_incomplete(incomplete)
        self.window.show_arrived(arrived_texts)

    def reopen_arrived(self) -> None:
        """Open again the studies whose images arrived after they were opened."""
        uids, viewer = list(self._arrived), self.window.viewer
        if not uids:
            return
        viewer.close_series([key for key, s in viewer.series.items() if s.study_uid in uids])
        self.open_studies(uids, replace=not viewer.series)

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
