"""The C-FIND results of the query/retrieve panel: studies as they stream in, series below.

Study rows are top-level items; a study's series (a SERIES-level C-FIND, PS3.4
C.6.2.1.2) become its children when the user expands it. An index's internal id is 0
for a study and ``study row + 1`` for a series; sorting moves studies and remaps the
persistent indexes (selection, expansion) to their new rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from viewer.core.person_names import reading_name

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the invalid index: the root of the tree

COLUMNS = ("Patient", "Patient ID", "Date", "Modality", "Accession", "Description",
           "Series", "Images", "Status")
STUDY_KEYS = ("PatientName", "PatientID", "StudyDate", "ModalitiesInStudy",
              "AccessionNumber", "StudyDescription", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances")


def text_of(value: Any) -> str:
    """One line for a value of a C-FIND match (multi-valued attributes joined by ``, ``)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    return "" if value is None else str(value)


def person_name_text(value: Any) -> str:
    """Show a Person Name for reading (:func:`viewer.core.person_names.reading_name`)."""
    return reading_name(text_of(value))


def date_text(value: Any) -> str:
    """``YYYYMMDD`` as ``YYYY-MM-DD`` (PS3.5 6.2 DA); anything else unchanged."""
    text = text_of(value)
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


@dataclass
class StudyResult:
    """One study match and, once drilled down, its series matches."""

    values: dict[str, Any]
    series: list[dict[str, Any]] = field(default_factory=list)
    series_state: str = "unknown"  # unknown, loading, loaded, failed
    status: str = ""

    @property
    def uid(self) -> str:
        return text_of(self.values.get("StudyInstanceUID", ""))


class StudyResultsTreeModel(QAbstractItemModel):
    """Study matches (top level) with their series (children), appended as they arrive.

    Signals
    -------
    series_requested(str)
        A study without loaded series was expanded: the panel should run a series
        C-FIND for this Study Instance UID and call :meth:`set_series`.
    """

    series_requested = Signal(str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._studies: list[StudyResult] = []
        self._rows: dict[str, int] = {}
        self._sort: tuple[int, bool] | None = None  # (column, descending)
        # Each study's key under the current sort, by id(): every batch of matches sorts
        # the rows again, and the keys of every row, worked out again per batch, were
        # most of that sort's time. A study's entry goes when its values or status change.
        self._keys: dict[int, tuple[int, Any]] = {}

    # ------------------------------------------------------------- structure
    def index(self, row: int, column: int, parent: Index = _ROOT) -> QModelIndex:
        if column < 0 or column >= len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            if row >= len(self._studies):
                return QModelIndex()
            return self.createIndex(row, column, 0)
        if parent.internalId() != 0 or parent.row() >= len(self._studies):
            return QModelIndex()
        if row >= len(self._studies[parent.row()].series):
            return QModelIndex()
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index: Index = _ROOT) -> QModelIndex:  # type: ignore[override]
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent: Index = _ROOT) -> int:  # noqa: N802
        if not parent.isValid():
            return len(self._studies)
        if parent.internalId() == 0 and parent.column() == 0:
            return len(self._studies[parent.row()].series)
        return 0

    def columnCount(self, parent: Index = _ROOT) -> int:  # noqa: N802
        return len(COLUMNS)

    def hasChildren(self, parent: Index = _ROOT) -> bool:  # noqa: N802
        if not parent.isValid():
            return bool(self._studies)
        if parent.internalId() != 0 or parent.column() != 0:
            return False
        study = self._studies[parent.row()]
        # Unknown until asked: show the expander so the user can drill down.
        return study.series_state in ("unknown", "loading") or bool(study.series)

    def canFetchMore(self, parent: Index) -> bool:  # noqa: N802
        if not parent.isValid() or parent.internalId() != 0:
            return False
        return self._studies[parent.row()].series_state == "unknown"

    def fetchMore(self, parent: Index) -> None:  # noqa: N802
        if not self.canFetchMore(parent):
            return
        study = self._studies[parent.row()]
        study.series_state = "loading"
        study.status = "finding series ..."
        self._changed(parent.row())
        self.series_requested.emit(study.uid)

    # ------------------------------------------------------------------ data
    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == 0:
            study = self._studies[index.row()]
            if role == Qt.ItemDataRole.DisplayRole:
                return self._study_text(study, index.column())
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"Study Instance UID {study.uid}"
            return None
        series = self._studies[index.internalId() - 1].series[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._series_text(series, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Series Instance UID {text_of(series.get('SeriesInstanceUID'))}"
        return None

    @staticmethod
    def _study_text(study: StudyResult, column: int) -> str:
        if column == len(COLUMNS) - 1:
            return study.status
        key = STUDY_KEYS[column]
        value = study.values.get(key, "")
        if key == "PatientName":
            return person_name_text(value)
        if key == "StudyDate":
            return date_text(value)
        return text_of(value)

    @staticmethod
    def _series_text(series: dict[str, Any], column: int) -> str:
        name = COLUMNS[column]
        if name == "Patient":
            number = text_of(series.get("SeriesNumber"))
            return f"Series {number}" if number else "Series"
        if name == "Date":
            return date_text(series.get("SeriesDate", ""))
        if name == "Modality":
            return text_of(series.get("Modality"))
        if name == "Description":
            return text_of(series.get("SeriesDescription"))
        if name == "Images":
            return text_of(series.get("NumberOfSeriesRelatedInstances"))
        return ""

    # --------------------------------------------------------------- sorting
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the studies by ``column``; matches arriving later are sorted in too."""
        if not 0 <= column < len(COLUMNS):
            self._sort = None
            return
        if self._sort is None or self._sort[0] != column:
            self._keys.clear()
        self._sort = (column, order == Qt.SortOrder.DescendingOrder)
        self._apply_sort()

    def _sort_key(self, study: StudyResult, column: int) -> tuple[int, Any]:
        if column == len(COLUMNS) - 1:
            return 0, study.status.lower()
        key = STUDY_KEYS[column]
        value = text_of(study.values.get(key, ""))
        if key.startswith("NumberOf"):
            try:
                return 0, int(value)
            except ValueError:
                return 1, 0  # unknown counts last
        if key == "StudyDate":
            # PS3.5 DA sorts as text; the time breaks ties between studies of one day.
            return 0, value + text_of(study.values.get("StudyTime", ""))
        return 0, self._study_text(study, column).casefold()

    def _apply_sort(self) -> None:
        if self._sort is None or len(self._studies) < 2:
            return
        column, descending = self._sort
        keys = self._keys
        for study in self._studies:
            if id(study) not in keys:
                keys[id(study)] = self._sort_key(study, column)
        order = sorted(range(len(self._studies)), key=lambda r: keys[id(self._studies[r])],
                       reverse=descending)
        if order == list(range(len(self._studies))):
            return
        self.layoutAboutToBeChanged.emit()
        moved = {old: new for new, old in enumerate(order)}
        before = self.persistentIndexList()
        after = []
        for index in before:
            if index.internalId() == 0:
                after.append(self.createIndex(moved[index.row()], index.column(), 0))
            else:
                parent_row = moved[index.internalId() - 1]
                after.append(self.createIndex(index.row(), index.column(), parent_row + 1))
        self._studies = [self._studies[r] for r in order]
        self._rows = {}
        for row, study in enumerate(self._studies):
            if study.uid:
                self._rows.setdefault(study.uid, row)
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    # --------------------------------------------------------------- changes
    def clear(self) -> None:
        """Forget every result (a new query)."""
        self.beginResetModel()
        self._studies.clear()
        self._rows.clear()
        self._keys.clear()
        self.endResetModel()

    def add_studies(self, matches: list[dict[str, Any]]) -> None:
        """Append study matches; a study already listed is updated instead (PS3.4 allows
        a PACS to report one study more than once, e.g. from two archives)."""
        new = []
        for values in matches:
            uid = text_of(values.get("StudyInstanceUID", ""))
            if uid and uid in self._rows:
                self._studies[self._rows[uid]].values.update(values)
                self._changed(self._rows[uid])
            else:
                new.append(StudyResult(dict(values)))
        if not new:
            return
        first = len(self._studies)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        for offset, study in enumerate(new):
            self._studies.append(study)
            if study.uid:
                self._rows[study.uid] = first + offset
        self.endInsertRows()
        self._apply_sort()

    def set_series(self, study_uid: str, matches: list[dict[str, Any]],
                   state: str = "loaded") -> None:
        """Set the series of a study (sorted by Series Number)."""
        row = self._rows.get(study_uid)
        if row is None:
            return
        study = self._studies[row]
        parent = self.index(row, 0)
        if study.series:
            self.beginRemoveRows(parent, 0, len(study.series) - 1)
            study.series = []
            self.endRemoveRows()
        ordered = sorted(matches, key=_series_order)
        if ordered:
            self.beginInsertRows(parent, 0, len(ordered) - 1)
            study.series = ordered
            self.endInsertRows()
        study.series_state = state
        if study.status == "finding series ...":
            study.status = ""
        self._changed(row)

    def series_failed(self, study_uid: str, message: str) -> None:
        """The series query of a study failed: let the user expand it again to retry."""
        row = self._rows.get(study_uid)
        if row is not None:
            self._studies[row].series_state = "unknown"
            self._studies[row].status = "series query failed"
            self._changed(row)

    def set_status(self, study_uid: str, text: str) -> None:
        """Show ``text`` in the Status column of a study (retrieve progress)."""
        row = self._rows.get(study_uid)
        if row is not None and self._studies[row].status != text:
            self._studies[row].status = text
            self._changed(row)

    def _changed(self, row: int) -> None:
        self._keys.pop(id(self._studies[row]), None)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # --------------------------------------------------------------- reading
    def study_count(self) -> int:
        """How many studies are listed."""
        return len(self._studies)

    def study_values(self, row: int) -> dict[str, Any]:
        """The match of study ``row``, keyed by DICOM keyword."""
        return self._studies[row].values

    def study_row(self, study_uid: str) -> int | None:
        """The row of a study, or None."""
        return self._rows.get(study_uid)

    def series_values(self, study_uid: str) -> list[dict[str, Any]]:
        """The series matches of a study, as listed (empty until drilled down)."""
        row = self._rows.get(study_uid)
        return list(self._studies[row].series) if row is not None else []

    def study_of(self, index: Index) -> StudyResult | None:
        """The study of a study row or of one of its series rows."""
        if not index.isValid():
            return None
        row = index.row() if index.internalId() == 0 else index.internalId() - 1
        return self._studies[row]

    def series_of(self, index: Index) -> dict[str, Any] | None:
        """The series match of a series row, or None for a study row."""
        if not index.isValid() or index.internalId() == 0:
            return None
        return self._studies[index.internalId() - 1].series[index.row()]


def _series_order(values: dict[str, Any]) -> tuple[int, str]:
    try:
        number = int(text_of(values.get("SeriesNumber")))
    except ValueError:
        number = 1 << 30
    return number, text_of(values.get("SeriesInstanceUID"))
