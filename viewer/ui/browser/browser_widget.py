"""StudyBrowserWidget: filter fields, the study table, the selected study's series.

Reading the filter fields, following the database and the delete confirmation's text live
in :mod:`viewer.ui.browser.filtering`, :mod:`viewer.ui.browser.following` and
:mod:`viewer.ui.browser.delete_confirmation`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QDate, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeyEvent, QKeySequence, QPixmap
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
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.core.records import StudyFilter, StudyRecord
from viewer.ui.browser.deleting import BrowserDeleting
from viewer.ui.browser.filtering import DATE_CHOICES, BrowserFiltering
from viewer.ui.browser.following import POLL_INTERVAL_MS, BrowserFollowing
from viewer.ui.browser.study_model import COLUMNS, StudyTableModel
from viewer.ui.thumbnails import THUMBNAIL_SIZE, ThumbnailCache

_DESCRIPTION_COLUMN = [header for header, _, _ in COLUMNS].index("Description")

#: The tooltip of an identifier's filter field (viewer.store.queries.identifier_condition).
IDENTIFIER_TIP = ("Finds the {what} that begin with what is typed ({example} finds "
                  "{example}123); * and ? are wildcards: *123 finds those that end in 123")


class _StudyTable(QTableView):
    open_requested = Signal()
    #: Ctrl+Enter: the selected studies added beside those open (Add to viewer).
    add_requested = Signal()
    #: The Delete key: the same confirmed delete as the button.
    delete_requested = Signal()

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        if ev.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.add_requested.emit()
            else:
                self.open_requested.emit()
            return
        if ev.key() == Qt.Key.Key_Delete:
            self.delete_requested.emit()
            return
        super().keyPressEvent(ev)


class StudyBrowserWidget(BrowserFiltering, BrowserFollowing, BrowserDeleting, QWidget):
    """The local study database, filtered and sorted, with the series of the selection.

    The list follows the database: :meth:`refresh` (F5, :attr:`refresh_action`) re-reads
    it, and so does a poll of ``PRAGMA data_version`` when another connection (an import
    here, ``lightbox import`` or ``lightbox delete`` in a shell) committed a change.

    Attributes
    ----------
    open_in_viewer : callable
        Returns the Study Instance UIDs open in the viewer (the application wires it), so
        that a delete confirmation says the viewer will close them.
    import_running : callable
        Whether an import of this window runs: a delete then waits for it to end.
    being_retrieved : callable
        The Study Instance UIDs this window is retrieving: they are not deleted meanwhile.
    """

    open_study = Signal(str)
    #: Several studies to open together (Open with more than one selected).
    open_studies = Signal(list)
    compare_studies = Signal(list)
    open_series = Signal(list)
    import_requested = Signal()
    demo_requested = Signal()
    #: Deleting confirmed, before any file goes: whoever shows them lets go of them first.
    studies_deleting = Signal(list)
    studies_deleted = Signal(list)
    #: The list was re-read and the database had changed since the last re-read (here, by
    #: this process's writer, or by another program): studies may have gone.
    database_changed = Signal()

    def __init__(self, store: Any, thumbnails: ThumbnailCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.thumbnails = thumbnails
        self.open_in_viewer: Callable[[], set[str]] = set
        self.import_running: Callable[[], bool] = lambda: False
        self.being_retrieved: Callable[[], set[str]] = set
        self.model = StudyTableModel(store, self)
        self._refreshing = False
        self._series_shown: object = None
        self._deleting = None

        # -- filter fields
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("Patient name (* and ? wildcards)")
        self.name_edit.setToolTip("Finds the names that hold what is typed, in any of their "
                                  "forms, regardless of case and accents; with * or ? the "
                                  "pattern matches a whole name, or one of its forms")
        self.id_edit = QLineEdit(self)
        # Identifiers match from their beginning, unlike the name and the description: a
        # Patient ID typed without its prefix found nothing and nothing said why.
        self.id_edit.setPlaceholderText("Patient ID (or its beginning)")
        self.id_edit.setToolTip(IDENTIFIER_TIP.format(what="Patient IDs", example="PID00"))
        self.accession_edit = QLineEdit(self)
        self.accession_edit.setPlaceholderText("Accession (or its beginning)")
        self.accession_edit.setToolTip(IDENTIFIER_TIP.format(what="Accession Numbers",
                                                             example="ACC2024"))
        self.description_edit = QLineEdit(self)
        self.description_edit.setPlaceholderText("Study description")
        self.description_edit.setToolTip("Finds the descriptions that hold what is typed, "
                                         "regardless of case and accents")
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
        # Says which range is shown when the custom one was given end first.
        self.date_note = QLabel(self)
        self.date_note.setStyleSheet("color: #e0a030;")
        self.date_note.setVisible(False)
        self.clear_button = QPushButton("&Clear", self)
        filters = QHBoxLayout()
        for w in (self.name_edit, self.id_edit, self.accession_edit, self.description_edit,
                  self.modality_combo, self.date_combo, self.date_from, QLabel("to"),
                  self.date_to, self.date_note, self.clear_button):
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
        # Arrows move between studies; Tab goes on to the series and the buttons (it went
        # from cell to cell, and nothing after the table could be reached going forward).
        self.table.setTabKeyNavigation(False)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
        # A click on a column the store cannot sort by would move the arrow there while
        # the rows keep their order: the arrow goes back to the order shown.
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_indicator_moved)
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
        self.table.add_requested.connect(self.compare_selected)
        self.table.delete_requested.connect(lambda: self.delete_selected())
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: None if self._refreshing else self._show_series())

        # -- series of the selected study
        self.series_list = QListWidget(self)
        self.series_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.series_list.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.series_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.series_list.setMovement(QListWidget.Movement.Static)
        self.series_list.setSpacing(6)
        self.series_list.setWordWrap(True)
        self.series_list.setGridSize(QSize(THUMBNAIL_SIZE + 40, THUMBNAIL_SIZE + 48))
        # Activated: a double click, or Enter on the thumbnail the keyboard reached
        self.series_list.itemActivated.connect(
            lambda item: self.open_series.emit([item.data(Qt.ItemDataRole.UserRole)]))
        thumbnails.ready.connect(self._thumbnail_ready)

        # -- actions and the first-run banner
        self.open_button = QPushButton("&Open", self)
        self.open_button.clicked.connect(self.open_selected)
        self.compare_button = QPushButton("&Add to viewer", self)
        self.compare_button.setToolTip("Open the selected studies next to those already open "
                                       "(comparison with prior studies); Ctrl+Enter in the "
                                       "study list")
        self.compare_button.clicked.connect(self.compare_selected)
        self.delete_button = QPushButton("&Delete...", self)
        # Through a lambda: clicked(bool) would arrive as delete_selected's first argument.
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.import_button = QPushButton("I&mport...", self)
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
        self.model.modelReset.connect(self._model_reset)
        self._update_counts()

        # -- following the database
        self.refresh_action = QAction("&Refresh studies", self)
        self.refresh_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.refresh_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.refresh_action.triggered.connect(lambda *_: self.refresh())
        self.addAction(self.refresh_action)
        self._data_version = self._read_data_version()
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_INTERVAL_MS)
        self.poll_timer.timeout.connect(self._poll_database)
        self.poll_timer.start()

    # ------------------------------------------------------------------ counts and sorting
    def _model_reset(self) -> None:
        self._update_counts()
        if not self._refreshing:  # a new filter or sort: no selection any more
            self._show_series()

    def _update_counts(self) -> None:
        rows = self.model.rowCount()
        try:
            total = int(self.store.study_count(StudyFilter()))
        except Exception:
            total = rows
        self.count_label.setText(f"{rows} of {total} studies")
        self.banner.setVisible(total == 0)

    def _sort_indicator_moved(self, column: int, order: Qt.SortOrder) -> None:
        if self.model.sortable(column):
            return
        header = self.table.horizontalHeader()
        shown, shown_order = self.model.sort_column()
        header.blockSignals(True)
        try:
            header.setSortIndicator(shown, shown_order)
        finally:
            header.blockSignals(False)

    # ------------------------------------------------------------------ selection
    def selected_studies(self) -> list[StudyRecord]:
        """The selected studies, in the list's order."""
        rows = self.selected_row_numbers()
        return [s for s in (self.model.study(row) for row in rows) if s is not None]

    def selected_study_uids(self) -> list[str]:
        """The Study Instance UIDs of the selected studies, in the list's order (one
        query: the series strip asks on every change of the selection)."""
        return list(self.model.uids_at(self.selected_row_numbers()).values())

    def compare_selected(self) -> None:
        """Add the selected studies beside those open (comparison with priors)."""
        self.compare_studies.emit(self.selected_study_uids())

    def open_selected(self) -> None:
        """Open the selected studies, all of them, in place of what the viewer shows."""
        uids = self.selected_study_uids()
        if len(uids) == 1:
            self.open_study.emit(uids[0])
        elif uids:
            self.open_studies.emit(uids)

    def _show_series(self) -> None:
        uids = self.selected_study_uids()
        records = self.store.series(uids[0]) if len(uids) == 1 else []
        shown = (uids, [(r.series_uid, r.number_of_instances) for r in records])
        if shown == self._series_shown:
            return  # a re-read that changed nothing here: the thumbnails stay as they are
        self._series_shown = shown
        self.series_list.clear()
        for record in records:
            number = "" if record.series_number is None else f"{record.series_number}: "
            item = QListWidgetItem(
                f"{number}{record.series_description or record.modality}\n"
                f"{record.modality} {record.number_of_instances} im")
            item.setData(Qt.ItemDataRole.UserRole, record.series_uid)
            middle = self.store.middle_image(record.series_uid)
            if middle is not None:
                pixmap = self.thumbnails.get(record.series_uid, *middle)
                if pixmap is not None:
                    item.setIcon(QIcon(pixmap))
            self.series_list.addItem(item)

    def _thumbnail_ready(self, key: str, pixmap: QPixmap) -> None:
        for i in range(self.series_list.count()):
            item = self.series_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == key:
                item.setIcon(QIcon(pixmap))
