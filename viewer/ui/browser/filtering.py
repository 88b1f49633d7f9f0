"""The study browser's filter fields read as a store filter, with quick date choices.

:class:`BrowserFiltering` is mixed into
:class:`viewer.ui.browser.browser_widget.StudyBrowserWidget`, which builds the fields.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from viewer.core.records import StudyFilter
from viewer.ui.viewer.annotate import dicom_date

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QComboBox, QDateEdit, QLabel, QLineEdit

    from viewer.ui.browser.study_model import StudyTableModel

#: Quick date choices: label -> days back from today (None: no bound; -1: yesterday only).
DATE_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("Any date", None),
    ("Today", 0),
    ("Yesterday", -1),
    ("Last 7 days", 6),
    ("Last 30 days", 29),
    ("Last 12 months", 364),
    ("Custom range", None),
)


def date_range(choice: str, today: dt.date | None = None) -> tuple[str, str]:
    """``(date_from, date_to)`` as ``YYYYMMDD`` for a quick choice (PS3.4 C.2.2.2.5)."""
    today = today or dt.date.today()
    days = dict(DATE_CHOICES).get(choice)
    if days is None:
        return ("", "")
    if days == -1:
        day = today - dt.timedelta(days=1)
        return (day.strftime("%Y%m%d"), day.strftime("%Y%m%d"))
    start = today - dt.timedelta(days=days)
    return (start.strftime("%Y%m%d"), today.strftime("%Y%m%d"))


class BrowserFiltering:
    """The filter methods of the browser (plain methods; the widget owns the signals)."""

    model: StudyTableModel
    name_edit: QLineEdit
    id_edit: QLineEdit
    accession_edit: QLineEdit
    description_edit: QLineEdit
    modality_combo: QComboBox
    date_combo: QComboBox
    date_from: QDateEdit
    date_to: QDateEdit
    date_note: QLabel
    _debounce: QTimer

    def current_filter(self) -> StudyFilter:
        """The filter the fields describe.

        A custom range given end first (2025 to 2023) is taken from its earlier date to its
        later one, as the query form of the network panel and the command line read it,
        instead of matching nothing; :attr:`date_note` says so.
        """
        date_from = date_to = ""
        choice = self.date_combo.currentText()
        if choice == "Custom range":
            date_from = self.date_from.date().toString("yyyyMMdd")
            date_to = self.date_to.date().toString("yyyyMMdd")
            date_from, date_to = min(date_from, date_to), max(date_from, date_to)
        else:
            date_from, date_to = date_range(choice)
        modality = self.modality_combo.currentText()
        return StudyFilter(
            patient_name=self.name_edit.text().strip(),
            patient_id=self.id_edit.text().strip(),
            accession_number=self.accession_edit.text().strip(),
            study_description=self.description_edit.text().strip(),
            modality="" if modality.startswith("Any") else modality,
            date_from=date_from,
            date_to=date_to,
        )

    def apply_filter(self) -> None:
        """Query the store with the fields' filter."""
        self._debounce.stop()
        study_filter = self.current_filter()
        self._note_reversed_range(study_filter)
        self.model.set_filter(study_filter)

    def _note_reversed_range(self, study_filter: StudyFilter) -> None:
        # The edits are left as they are: swapping them under the reader, who may be about
        # to change the other end, would lose the date just typed.
        reversed_range = (self.date_combo.currentText() == "Custom range"
                          and self.date_from.date() > self.date_to.date())
        if reversed_range:
            self.date_note.setText(f"(reversed: showing {dicom_date(study_filter.date_from)} "
                                   f"to {dicom_date(study_filter.date_to)})")
        self.date_note.setVisible(reversed_range)

    def clear_filter(self) -> None:
        for edit in (self.name_edit, self.id_edit, self.accession_edit, self.description_edit):
            edit.blockSignals(True)
            edit.clear()
            edit.blockSignals(False)
        self.modality_combo.setCurrentIndex(0)
        self.date_combo.setCurrentIndex(0)
        self.apply_filter()

    def _date_choice(self) -> None:
        custom = self.date_combo.currentText() == "Custom range"
        self.date_from.setEnabled(custom)
        self.date_to.setEnabled(custom)
        self.apply_filter()
