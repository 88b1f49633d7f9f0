"""StudyBrowserWidget: filter fields, the study table, the selected study's series."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from PySide6.QtCore import QDate, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.core.records import StudyFilter
from viewer.ui.browser.study_model import COLUMNS, StudyTableModel
from viewer.ui.thumbnails import THUMBNAIL_SIZE, ThumbnailCache

log = logging.getLogger(__name__)

_DESCRIPTION_COLUMN = [header for header, _, _ in COLUMNS].index("Description")

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


class _StudyTable(QTableView):
    open_requested = Signal()

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        if ev.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_requested.emit()
            return
        super().keyPressEvent(ev)


class StudyBrowserWidget(QWidget):
    """The local study database, filtered and sorted, with the series of the selection."""

    open_study = Signal(str)
    compare_studies = Signal(list)
    open_series = Signal(list)
    import_requested = Signal()
    demo_requested = Signal()
    studies_deleted = Signal(list)

    def __init__(self, store: Any, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.thumbnails = thumbnails
        self.model = StudyTableModel(store, self)

        # -- filter fields
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("Patient name (* and ? wildcards)")
        self.id_edit = QLineEdit(self)
        self.id_edit.setPlaceholderText("Patient ID")
        self.accession_edit = QLineEdit(self)
        self.accession_edit.setPlaceholderText("Accession")
        self.description_edit = QLineEdit(self)
        self.description_edit.setPlaceholderText("Study description")
        self.modality_combo = QComboBox(self)
        self.modality_combo.addItems(["Any modality", "CT", "MR", "CR", "DX", "US", "MG", "NM",
                                      "PT", "XA", "RF", "OT", "SC"])
        self.date_combo = QComboBox(self)
        self.date_combo.addItems([label for label, _ in DATE_CHOICES])
        self.date_from = QDateEdit(self)
        self.date_to = QDateEdit(self)
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())
            edit.setEnabled(False)
        self.clear_button = QPushButton("Clear", self)
        filters = QHBoxLayout()
        for w in (self.name_edit, self.id_edit, self.accession_edit, self.description_edit,
                  self.modality_combo, self.date_combo, self.date_from, QLabel("to"),
                  self.date_to, self.clear_button):
            filters.addWidget(w)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(self.apply_filter)
        for edit in (self.name_edit, self.id_edit, self.accession_edit, self.description_edit):
            edit.textChanged.connect(lambda *_: self._debounce.start())
        self.modality_combo.currentIndexChanged.connect(lambda *_: self.apply_filter())
        self.date_combo.currentIndexChanged.connect(self._date_choice)
        self.date_from.dateChanged.connect(lambda *_: self._debounce.start())
        self.date_to.dateChanged.connect(lambda *_: self._debounce.start())
        self.clear_button.clicked.connect(self.clear_filter)

        # -- study table
        self.table = _StudyTable(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(False)
        for column, width in enumerate((200, 110, 90, 40, 90, 80, 260, 110, 55, 60)):
            self.table.setColumnWidth(column, width)
        # The description takes what a wide screen leaves, instead of a blank band.
        self.table.horizontalHeader().setSectionResizeMode(
            _DESCRIPTION_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda *_: self.open_selected())
        self.table.open_requested.connect(self.open_selected)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_series())

        # -- series of the selected study
        self.series_list = QListWidget(self)
        self.series_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.series_list.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.series_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.series_list.setMovement(QListWidget.Movement.Static)
        self.series_list.setSpacing(6)
        self.series_list.setWordWrap(True)
        self.series_list.setGridSize(QSize(THUMBNAIL_SIZE + 40, THUMBNAIL_SIZE + 48))
        self.series_list.itemDoubleClicked.connect(
            lambda item: self.open_series.emit([item.data(Qt.ItemDataRole.UserRole)]))
        thumbnails.ready.connect(self._thumbnail_ready)

        # -- actions and the first-run banner
        self.open_button = QPushButton("Open", self)
        self.open_button.clicked.connect(self.open_selected)
        self.compare_button = QPushButton("Add to viewer", self)
        self.compare_button.setToolTip("Open the selected studies next to those already open "
                                       "(comparison with prior studies)")
        self.compare_button.clicked.connect(
            lambda: self.compare_studies.emit(self.selected_study_uids()))
        self.delete_button = QPushButton("Delete...", self)
        self.delete_button.clicked.connect(self.delete_selected)
        self.import_button = QPushButton("Import...", self)
        self.import_button.clicked.connect(self.import_requested)
        self.count_label = QLabel(self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addStretch(1)
        buttons.addWidget(self.count_label)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.open_button)
        self.banner = QWidget(self)
        banner_layout = QHBoxLayout(self.banner)
        banner_text = QLabel("No studies yet. See images in seconds with the demo study, "
                             "or import a CD/DVD, a folder or a zip.", self.banner)
        self.demo_button = QPushButton("Import the demo study", self.banner)
        self.demo_button.clicked.connect(self.demo_requested)
        banner_import = QPushButton("Import media...", self.banner)
        banner_import.clicked.connect(self.import_requested)
        banner_layout.addWidget(banner_text)
        banner_layout.addStretch(1)
        banner_layout.addWidget(self.demo_button)
        banner_layout.addWidget(banner_import)
        self.banner.setStyleSheet("background: #233247; border-radius: 4px;")

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.series_list)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.model.modelReset.connect(self._update_counts)
        self._update_counts()

    # ------------------------------------------------------------------ filter
    def current_filter(self) -> StudyFilter:
        """The filter the fields describe."""
        date_from = date_to = ""
        choice = self.date_combo.currentText()
        if choice == "Custom range":
            date_from = self.date_from.date().toString("yyyyMMdd")
            date_to = self.date_to.date().toString("yyyyMMdd")
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
        self.model.set_filter(self.current_filter())

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

    def refresh(self) -> None:
        """Re-read the store (after an import, a retrieve or a delete)."""
        self.model.refresh()

    def _update_counts(self) -> None:
        rows = self.model.rowCount()
        try:
            total = int(self.store.study_count(StudyFilter()))
        except Exception:
            total = rows
        self.count_label.setText(f"{rows} of {total} studies")
        self.banner.setVisible(total == 0)
        self.series_list.clear()

    # ------------------------------------------------------------------ selection
    def selected_study_uids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        out = []
        for row in rows:
            study = self.model.study(row)
            if study is not None:
                out.append(study.study_uid)
        return out

    def open_selected(self) -> None:
        uids = self.selected_study_uids()
        if uids:
            self.open_study.emit(uids[0])

    def _show_series(self) -> None:
        self.series_list.clear()
        uids = self.selected_study_uids()
        if len(uids) != 1:
            return
        for record in self.store.series(uids[0]):
            number = "" if record.series_number is None else f"{record.series_number}: "
            item = QListWidgetItem(
                f"{number}{record.series_description or record.modality}\n"
                f"{record.modality} {record.number_of_instances} im")
            item.setData(Qt.ItemDataRole.UserRole, record.series_uid)
            instances = self.store.instances(record.series_uid)
            if instances:
                middle = instances[len(instances) // 2]
                pixmap = self.thumbnails.get(record.series_uid, middle.file_path,
                                             max(0, middle.number_of_frames // 2))
                if pixmap is not None:
                    item.setIcon(QIcon(pixmap))
            self.series_list.addItem(item)

    def _thumbnail_ready(self, key: str, pixmap: QPixmap) -> None:
        for i in range(self.series_list.count()):
            item = self.series_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == key:
                item.setIcon(QIcon(pixmap))

    # ------------------------------------------------------------------ delete
    def delete_selected(self, confirm: bool = True) -> None:
        uids = self.selected_study_uids()
        if not uids:
            return
        if confirm:
            answer = QMessageBox.question(
                self, "Delete studies",
                f"Delete {len(uids)} stud{'y' if len(uids) == 1 else 'ies'} and their files "
                "from this computer? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        for uid in uids:
            self.store.delete_study(uid)
        self.refresh()
        self.studies_deleted.emit(uids)
