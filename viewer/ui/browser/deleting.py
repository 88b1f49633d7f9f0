"""The study browser's Delete: confirmed, then run in the background, one study at a time.

:class:`BrowserDeleting` is mixed into
:class:`viewer.ui.browser.browser_widget.StudyBrowserWidget`, which builds the button.
Deleting a few thousand files ran on the GUI thread: the window froze for up to ten
seconds (thirty behind another program's write lock) with no word of progress.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMessageBox

from viewer.core.errors import LightboxError
from viewer.ui.browser.delete_confirmation import delete_question
from viewer.ui.plain_text import ask, warn
from viewer.ui.tasks import Task, wait_processing_events

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QLabel, QPushButton

    from viewer.core.records import StudyRecord


class BrowserDeleting:
    """The delete methods of the study browser (plain methods; the widget owns the signals)."""

    store: Any
    delete_button: QPushButton
    count_label: QLabel
    studies_deleting: SignalInstance
    studies_deleted: SignalInstance
    import_running: Callable[[], bool]
    being_retrieved: Callable[[], set[str]]
    open_in_viewer: Callable[[], set[str]]
    _deleting: Task | None
    selected_studies: Callable[[], list[StudyRecord]]  # the widget's
    refresh: Callable[[], None]  # BrowserFollowing's

    @property
    def deleting(self) -> bool:
        """Whether a delete runs."""
        return self._deleting is not None

    def delete_selected(self, *, confirm: bool = True) -> Task | None:
        """Delete the selected studies and their files, once the reader confirmed whose.

        Returns the running delete, or None when nothing was started (nothing selected,
        not confirmed, an import or another delete running).
        """
        studies = self.selected_studies()
        if not studies or self._deleting is not None:
            return None
        if self.import_running():
            # The import would write the study's remaining files back after the delete:
            # it came back partial, looking whole.
            warn(self, "Delete studies", "An import is running. Deleting now could bring "
                 "back part of a study it is still reading.\n\nWait for the import to end, "
                 "or cancel it, then delete.")
            return None
        retrieving = [s for s in studies if s.study_uid in self.being_retrieved()]
        if retrieving:
            # The retrieve would store the rest of the study after the delete: it came
            # back partial, looking whole.
            what = ("A study you selected is" if len(retrieving) == 1
                    else f"{len(retrieving)} of the studies you selected are")
            warn(self, "Delete studies", f"{what} being retrieved (Query/Retrieve tab). "
                 "Deleting now would bring back the images still to arrive.\n\nCancel "
                 "the retrieve, or wait for it to end, then delete.")
            return None
        if confirm:
            answer = ask(self, "Delete studies", delete_question(studies, self.open_in_viewer()))
            if answer != QMessageBox.StandardButton.Yes:
                return None
        uids = [study.study_uid for study in studies]
        self.studies_deleting.emit(uids)
        store = self.store

        def work(task: Task) -> tuple[list[str], str]:
            deleted: list[str] = []
            for number, uid in enumerate(uids, start=1):
                if task.cancelled:
                    return deleted, ""
                task.report(number - 1, len(uids), f"Deleting study {number} of {len(uids)}...")
                try:
                    store.delete_study(uid)
                except LightboxError as exc:
                    # A read-only or busy database, a read-only disk: the study is kept, whole.
                    return deleted, str(exc)
                deleted.append(uid)
            return deleted, ""

        task = Task(work, self)  # type: ignore[arg-type]
        task.progress.connect(lambda _done, _total, text: self.count_label.setText(text))
        task.finished.connect(lambda result: self._deleted(uids, *result))
        task.failed.connect(lambda message: self._deleted(uids, [], message))
        self._deleting = task
        self.delete_button.setEnabled(False)
        return task.start()

    def _deleted(self, uids: list[str], deleted: list[str], problem: str) -> None:
        self._deleting = None
        self.delete_button.setEnabled(True)
        # Also after a failure part-way: what is gone must leave the list and the viewer.
        self.refresh()
        if deleted:
            self.studies_deleted.emit(deleted)
        if problem:
            kept = len(uids) - len(deleted)
            warn(self, "Delete studies", f"{problem}\n\n{kept} of {len(uids)} "
                 f"{'study was' if len(uids) == 1 else 'studies were'} not deleted.")

    def stop_deleting(self, timeout: float = 120.0) -> bool:
        """Delete no further study and wait (events processed) for the one under way: the
        store must not close under it. False if it has not stopped within ``timeout``."""
        task = self._deleting
        if task is None:
            return True
        task.cancel()
        return wait_processing_events(lambda: self._deleting is None, timeout)
