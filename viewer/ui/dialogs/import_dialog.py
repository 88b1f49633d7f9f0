"""Import dialog: a CD/DVD, folder, DICOMDIR or zip into the local store, with progress,
cancel, the final report and the "safe to eject" answer."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from viewer.core.imports import ImportProgress, ImportReport, printable
from viewer.core.terminal import write_json
from viewer.ui.plain_text import ask, plain_label, warn
from viewer.ui.tasks import Task

Importer = Callable[[list[str], Callable[[ImportProgress], None], Callable[[], bool]],
                    ImportReport]


def report_html(report: ImportReport) -> str:
    """The final report in words, the eject answer first."""
    if report.stopped:
        verdict = ("<b style='color:#e05050'>Import stopped:</b> "
                   + html.escape(report.stopped) + ". Not safe to eject.")
    elif report.cancelled:
        verdict = ("<b style='color:#e0a030'>Import cancelled.</b> What was copied so far is "
                   "kept; do not remove the medium if you still need the rest.")
    elif report.safe_to_eject:
        verdict = ("<b style='color:#60c060'>Safe to eject:</b> every image found on the "
                   "medium is in the local database.")
    elif report.failed or report.conflicts or not report.complete:
        verdict = ("<b style='color:#e05050'>Not safe to eject:</b> some images could not be "
                   "imported (see below).")
    else:
        verdict = ("<b style='color:#e05050'>Not safe to eject:</b> no DICOM images were "
                   "found in " + html.escape(", ".join(report.no_dicom_found))
                   + ". Is the disc mounted, is it the right folder?")
    lines = [
        f"<p>{verdict}</p><ul>",
        f"<li>{len(report.studies)} stud{'y' if len(report.studies) == 1 else 'ies'} found, "
        f"{report.studies_added} new</li>",
        f"<li>{report.instances_added} image(s) added, {report.instances_present} already "
        "present</li>",
        f"<li>{report.files_seen} file(s) examined, {len(report.skipped)} skipped (not "
        "DICOM, or not a file)</li>",
    ]
    if report.copies:
        lines.append(f"<li>{report.copies} file(s) were identical copies, stored once</li>")
    if report.missing:
        lines.append(f"<li>{len(report.missing)} file(s) named by the DICOMDIR are missing</li>")
    lines.append("</ul>")
    for title, problems in (
            ("Could not be imported", report.failed),
            ("Conflicts (the stored copy was kept, this one was not)", report.conflicts)):
        if problems:
            lines.append(f"<p><b>{title}:</b></p><ul>")
            for p in problems[:50]:
                lines.append(f"<li>{html.escape(printable(p.path))}: "
                             f"{html.escape(printable(p.reason))}</li>")
            if len(problems) > 50:
                lines.append(f"<li>... and {len(problems) - 50} more (Save report... "
                             "lists them all)</li>")
            lines.append("</ul>")
    for note in report.notes:
        lines.append(f"<p>{html.escape(note)}</p>")
    return "".join(lines)


def progress_text(p: ImportProgress) -> str:
    """The dialog's line for an import's progress, in words for every phase."""
    return {"scan": f"Scanning: {p.files_done} files found",
            "directory": f"Reading the DICOMDIR {p.current}",
            "import": f"Importing {p.files_done} / {p.files_total} files, "
                      f"{p.instances_added} images added",
            "verify": "Checking every image is stored",
            "done": "Finishing ..."}.get(p.phase, "Importing ...")


class ImportDialog(QDialog):
    """Choose sources, import them in the background, show the report.

    Parameters
    ----------
    importer : callable
        ``importer(sources, progress, cancelled) -> ImportReport`` (wired by the app to the
        media importer and the study store).
    sources : list of str, optional
        Start with these (e.g. files dropped on the window).
    """

    imported = Signal(object)
    stopped = Signal(str)  # the import failed: the reason

    def __init__(self, importer: Importer, sources: list[str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import studies")
        self.importer = importer
        self.task: Task | None = None
        self.report: ImportReport | None = None
        #: Why an import may not start now ("" when it may): the application's check
        #: that no delete runs, which the import would race for the same studies.
        self.refusal: Callable[[], str] = lambda: ""
        self.sources = QListWidget(self)
        add_folder = QPushButton("Add folder or disc...", self)
        add_folder.clicked.connect(self._add_folder)
        add_files = QPushButton("Add DICOMDIR, zip or files...", self)
        add_files.clicked.connect(self._add_files)
        # A folder added by mistake (another patient's disc) was kept until the dialog
        # was closed and the import started over.
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self.remove_selected_sources)
        self.sources.installEventFilter(self)  # the Delete key removes too
        self.start_button = QPushButton("Import", self)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.accept)
        # The report lists 50 failed files; the others were named nowhere else.
        self.save_button = QPushButton("Save report...", self)
        self.save_button.setToolTip("Save the whole report, every file named, as JSON "
                                    "(as lightbox import --json writes it)")
        self.save_button.clicked.connect(self.save_report)
        self.save_button.setVisible(False)
        self.progress = QProgressBar(self)
        self.status = plain_label("Choose what to import.", self)
        self.report_view = QTextBrowser(self)
        self.report_view.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(add_folder)
        row.addWidget(add_files)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Sources (a disc's mount point, a folder, a DICOMDIR or a zip):"))
        layout.addWidget(self.sources)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.report_view, 1)
        layout.addLayout(buttons)
        self.cancel_button.setEnabled(False)
        for s in sources or []:
            self.sources.addItem(s)
        self.resize(640, 520)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if (watched is self.sources and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Delete):
            self.remove_selected_sources()
            return True
        return super().eventFilter(watched, event)

    def remove_selected_sources(self) -> None:
        """Take the selected sources off the list (not while they are being imported)."""
        if self.task is not None:
            return
        for item in self.sources.selectedItems():
            self.sources.takeItem(self.sources.row(item))

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder or disc to import")
        if folder:
            self.sources.addItem(folder)

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "DICOMDIR, zip or DICOM files")
        for f in files:
            self.sources.addItem(f)

    def source_paths(self) -> list[str]:
        return [self.sources.item(i).text() for i in range(self.sources.count())]

    def start(self) -> Task | None:
        """Run the import in the background."""
        sources = self.source_paths()
        if not sources or self.task is not None:
            return None
        refusal = self.refusal()
        if refusal:
            self.status.setText(refusal)
            return None
        self.start_button.setEnabled(False)
        self.remove_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.close_button.setEnabled(False)
        self.report_view.setVisible(False)
        self.status.setText("Scanning...")
        importer = self.importer

        def work(task: Task) -> ImportReport:
            def progress(p: ImportProgress) -> None:
                done, total = (p.files_done, p.files_total) if p.files_total else (0, 0)
                task.report(done, total, progress_text(p))

            return importer(sources, progress, lambda: task.cancelled)

        self.task = Task(work, self)
        self.task.progress.connect(self._progress)
        self.task.finished.connect(self._finished)
        self.task.failed.connect(self._failed)
        return self.task.start()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling after the current batch...")
        else:
            self.reject()

    @property
    def running(self) -> bool:
        """An import is under way (it may be cancelling)."""
        return self.task is not None

    def reject(self) -> None:
        """Escape or the close box: while an import runs, ask before cancelling it; the
        dialog stays to say what was imported and whether the medium may be removed."""
        if self.task is None:
            super().reject()
            return
        if self.task.cancelled:
            return
        if ask(self, "Import studies", "An import is running. Cancel it?\n\nWhat was "
               "imported so far is kept; the report then says what is missing."
               ) == QMessageBox.StandardButton.Yes:
            self.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.task is not None:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)

    def _progress(self, done: int, total: int, text: str) -> None:
        self.progress.setMaximum(max(total, 0))
        self.progress.setValue(done)
        self.status.setText(text)

    def _finished(self, report: Any) -> None:
        self.report = report
        self.task = None
        self.progress.setMaximum(1)
        self.progress.setValue(1)
        self.status.setText("Import cancelled." if report.cancelled else "Import finished.")
        self.report_view.setHtml(report_html(report))
        self.report_view.setVisible(True)
        self.save_button.setVisible(True)
        self.start_button.setEnabled(True)
        self.remove_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
        self.imported.emit(report)

    def save_report(self) -> None:
        """Write the last report, whole, as JSON where the user chooses; the file is
        private to the user (it names the medium's files, which may name patients)."""
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the import report",
                                              "import-report.json", "JSON (*.json)")
        if not path:
            return
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                os.fchmod(descriptor, 0o600)  # a file written over keeps its mode otherwise
                write_json(self.report.to_dict(), out)
                out.write("\n")
        except OSError as exc:
            warn(self, "Save the import report",
                 f"{path}: cannot be written ({exc.strerror or exc}).")
            return
        self.status.setText(f"Report saved to {path}")

    def _failed(self, message: str) -> None:
        self.task = None
        self.progress.setMaximum(1)  # out of its busy animation: nothing runs any more
        self.progress.setValue(0)
        self.status.setText(f"Import failed: {message}. Do not remove the medium: what it "
                            "holds may not all be stored.")
        self.stopped.emit(message)
        self.start_button.setEnabled(True)
        self.remove_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
