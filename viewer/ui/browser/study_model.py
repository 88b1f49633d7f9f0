"""StudyTableModel: the local studies, paged from the store, never all loaded at once."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from viewer.core.records import STUDY_SORT_KEYS, StudyFilter, StudyRecord
from viewer.ui.viewer.annotate import dicom_date, display_name

log = logging.getLogger(__name__)

PAGE_SIZE = 200
#: Pages kept in memory: scrolling 10,000 rows keeps it flat.
MAX_PAGES = 20

#: (header, sort key of the store or None, value getter)
COLUMNS: tuple[tuple[str, str | None, Any], ...] = (
    ("Patient name", "patient_name", lambda s: display_name(s.patient.patient_name)),
    ("Patient ID", "patient_id", lambda s: s.patient.patient_id),
    ("Birth date", "birth_date", lambda s: dicom_date(s.patient.birth_date)),
    ("Sex", "sex", lambda s: s.patient.sex),
    ("Study date", "study_date", lambda s: dicom_date(s.study_date)),
    ("Modalities", "modalities", lambda s: "\\".join(s.modalities)),
    ("Description", "study_description", lambda s: s.study_description),
    ("Accession", "accession_number", lambda s: s.accession_number),
    ("Series", "number_of_series", lambda s: s.number_of_series),
    ("Images", "number_of_instances",
     lambda s: f"{s.number_of_instances} of {s.expected_instances}" if s.missing_instances
     else s.number_of_instances),
)
#: The Images column, which marks a study its source has more of (StudyRecord).
IMAGES_COLUMN = len(COLUMNS) - 1
INCOMPLETE_COLOUR = QColor("#e0a030")


class StudyTableModel(QAbstractTableModel):
    """Rows are studies matching a :class:`StudyFilter`, fetched a page at a time.

    Parameters
    ----------
    store : StudyStore
        ``study_count(filter)`` and ``studies(filter)`` with offset/limit paging.
    """

    def __init__(self, store: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self.filter = StudyFilter()
        self._count = 0
        self._pages: dict[int, list[StudyRecord]] = {}
        self._uids: list[str] | None = None  # the whole list, read for a large selection
        self._row_of: dict[str, int] | None = None
        self.refresh()

    # ------------------------------------------------------------------ data access
    def set_filter(self, study_filter: StudyFilter) -> None:
        """Show the studies matching ``study_filter`` (sort kept unless it names one)."""
        self.filter = replace(study_filter, sort=self.filter.sort,
                              descending=self.filter.descending, offset=0, limit=0)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the count; pages are fetched again as they are shown."""
        self.beginResetModel()
        self._pages.clear()
        self._uids = None
        self._row_of = None
        try:
            self._count = int(self.store.study_count(self.filter))
        except Exception as exc:  # a locked or broken database shows as empty, logged
            log.warning("study count failed: %s", exc)
            self._count = 0
        self.endResetModel()

    def study(self, row: int) -> StudyRecord | None:
        """The study at ``row`` (fetching its page if needed)."""
        if not 0 <= row < self._count:
            return None
        page = row // PAGE_SIZE
        records = self._pages.get(page)
        if records is None:
            records = list(self.store.studies(
                replace(self.filter, offset=page * PAGE_SIZE, limit=PAGE_SIZE)))
            if len(self._pages) > MAX_PAGES:
                self._pages.pop(next(iter(self._pages)))
            self._pages[page] = records
        offset = row - page * PAGE_SIZE
        return records[offset] if offset < len(records) else None

    def rows_on_pages(self, study_uids: set[str]) -> dict[str, int]:
        """Rows of those of ``study_uids`` that are on the pages already fetched."""
        rows: dict[str, int] = {}
        for page, records in self._pages.items():
            for i, record in enumerate(records):
                if record.study_uid in study_uids:
                    rows[record.study_uid] = page * PAGE_SIZE + i
        return rows

    def _listed(self) -> list[str]:
        """Every Study Instance UID of the list, read once per re-read (one query of one
        column, 30 ms for 10,000 studies): only for selections larger than a page."""
        if self._uids is None:
            try:
                self._uids = list(self.store.study_uids(self.filter))
            except Exception as exc:  # as a failed count: nothing listed, logged
                log.warning("study list failed: %s", exc)
                self._uids = []
        return self._uids

    def rows_of(self, study_uids: set[str]) -> dict[str, int]:
        """Rows of those of ``study_uids`` the list holds, wherever they are: a selection
        of 10,000 studies is found again whole (it shrank to the 4,000 on the pages kept
        in memory, and took 0.3 ms per study)."""
        if self._row_of is None:
            self._row_of = {uid: row for row, uid in enumerate(self._listed())}
        return {uid: self._row_of[uid] for uid in study_uids if uid in self._row_of}

    def uids_at(self, rows: list[int]) -> dict[int, str]:
        """Row -> Study Instance UID for ``rows`` (ascending), rows the list no longer
        holds left out: from the pages for a page's worth, else from the whole list read
        once."""
        if len(rows) <= PAGE_SIZE:
            studies = {row: self.study(row) for row in rows}
            return {row: s.study_uid for row, s in studies.items() if s is not None}
        listed = self._listed()
        return {row: listed[row] for row in rows if 0 <= row < len(listed)}

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            study = self.study(index.row())
            return None if study is None else COLUMNS[index.column()][2](study)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 8:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role in (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole):
            study = self.study(index.row())
            if study is None or not study.missing_instances:
                return None
            if role == Qt.ItemDataRole.ForegroundRole:
                return INCOMPLETE_COLOUR if index.column() == IMAGES_COLUMN else None
            return (f"Incomplete: {study.missing_instances} of the "
                    f"{study.expected_instances} images its PACS or disc has are not here "
                    "(a retrieve or import that did not finish). Retrieve or import it "
                    "again to fetch the rest.")
        if role == Qt.ItemDataRole.UserRole:
            study = self.study(index.row())
            return None if study is None else study.study_uid
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return ("Click to sort by this column" if self.sortable(section)
                    else "The list cannot be sorted by this column")
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column`` when the store can (see :meth:`sortable`); else do nothing."""
        if not self.sortable(column):
            return
        self.filter = replace(self.filter, sort=COLUMNS[column][1] or "",
                              descending=order == Qt.SortOrder.DescendingOrder)
        self.refresh()

    def sortable(self, column: int) -> bool:
        """Whether the store can sort by ``column`` (the rows are sorted by the database,
        page by page: a column it has no order for cannot be sorted here either)."""
        return 0 <= column < len(COLUMNS) and COLUMNS[column][1] in STUDY_SORT_KEYS

    def sort_column(self) -> tuple[int, Qt.SortOrder]:
        """The column and order the rows are sorted by."""
        keys = [key for _, key, _ in COLUMNS]
        column = keys.index(self.filter.sort) if self.filter.sort in keys else -1
        order = (Qt.SortOrder.DescendingOrder if self.filter.descending
                 else Qt.SortOrder.AscendingOrder)
        return column, order
