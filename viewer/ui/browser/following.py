"""How the study browser follows the database: re-reads that keep the reader's place.

:class:`BrowserFollowing` is mixed into
:class:`viewer.ui.browser.browser_widget.StudyBrowserWidget`: :meth:`~BrowserFollowing.refresh`
re-reads the list keeping the selection and the top row, and a poll of ``PRAGMA
data_version`` calls it when another connection changed the database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtWidgets import QAbstractItemView

from viewer.ui.browser.study_model import MAX_PAGES, PAGE_SIZE

if TYPE_CHECKING:
    from PySide6.QtWidgets import QTableView

    from viewer.ui.browser.study_model import StudyTableModel

# The logger keeps the name it had before this module was split from the widget's.
log = logging.getLogger("viewer.ui.browser.browser_widget")

#: How often the browser asks the database whether anyone changed it (``PRAGMA
#: data_version``: one read of a counter SQLite keeps in memory, on the GUI thread).
POLL_INTERVAL_MS = 1500


class BrowserFollowing:
    """The re-read methods of the browser (plain methods; the widget owns the signals)."""

    store: Any
    model: StudyTableModel
    table: QTableView
    _refreshing: bool
    _data_version: int | None

    def refresh(self) -> None:
        """Re-read the store (after an import, a retrieve or a delete, or on F5).

        The selected studies stay selected and the study at the top of the list stays
        there (the list stays at its top when it was there: new studies show), wherever
        other studies came or went.
        """
        version = self._read_data_version()
        changed = version is not None and version != self._data_version
        if version is not None:
            self._data_version = version  # what this re-read shows: no second one for it
        selected = self._selected_rows()
        looked_for = dict(selected)
        current_index = self.table.currentIndex()
        current = self.model.data(current_index, Qt.ItemDataRole.UserRole)
        if isinstance(current, str):
            looked_for[current] = current_index.row()
        across = self.table.horizontalScrollBar().value()
        top_row = self.table.rowAt(0) if self.table.verticalScrollBar().value() > 0 else -1
        top = self.model.study(top_row) if top_row >= 0 else None
        if top is not None:
            looked_for[top.study_uid] = top_row
        self._refreshing = True
        try:
            self.model.refresh()
            # The scroll bars follow the new row count only at the next layout.
            self.table.doItemsLayout()
            rows = self._rows_now(looked_for)
            if top is not None and top.study_uid in rows:
                self.table.scrollTo(self.model.index(rows[top.study_uid], 0),
                                    QAbstractItemView.ScrollHint.PositionAtTop)
            self.table.horizontalScrollBar().setValue(across)
            self._select_rows([rows[uid] for uid in selected if uid in rows],
                              rows.get(current) if isinstance(current, str) else None)
        finally:
            self._refreshing = False
        self._show_series()
        if changed:
            self.database_changed.emit()

    def _selected_rows(self) -> dict[str, int]:
        """Study Instance UID -> row of the selected studies."""
        rows = self.selected_row_numbers()
        return {uid: row for row, uid in self.model.uids_at(rows).items()}

    def selected_row_numbers(self) -> list[int]:
        """The selected rows, ascending, from the selection's ranges (Ctrl+A is one)."""
        ranges = self.table.selectionModel().selection()
        return sorted({row for r in ranges for row in range(r.top(), r.bottom() + 1)})

    def _rows_now(self, before: dict[str, int]) -> dict[str, int]:
        """Rows, after a re-read, of studies that were at rows ``before``.

        Studies added or removed move them by as many rows: each of a few is looked for
        on its page and a page either side. More than a page's worth are found in the
        whole list, read once (looked for on the pages kept in memory, a selection of
        10,000 shrank to 4,000, and the re-read froze the window for 2.6 s).
        """
        if len(before) > PAGE_SIZE:
            return self.model.rows_of(set(before))
        pages = sorted({row // PAGE_SIZE + step for row in before.values()
                        for step in (0, 1, -1) if row // PAGE_SIZE + step >= 0})
        for page in pages[:MAX_PAGES]:
            self.model.study(page * PAGE_SIZE)  # fetches the page
        return self.model.rows_on_pages(set(before))

    def _select_rows(self, rows: list[int], current: int | None) -> None:
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        ordered = sorted(rows)
        start = 0
        # one range per run of rows: 10,000 selected rows were 10,000 ranges
        for i in range(1, len(ordered) + 1):
            if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
                selection.select(self.model.index(ordered[start], 0),
                                 self.model.index(ordered[i - 1], last))
                start = i
        flags = QItemSelectionModel.SelectionFlag
        model = self.table.selectionModel()
        model.select(selection, flags.ClearAndSelect | flags.Rows)
        if current is None and rows:
            current = rows[0]
        if current is not None:
            # Arrow keys go on from the same study; NoUpdate keeps the selection as set.
            model.setCurrentIndex(self.model.index(current, 0), flags.NoUpdate)

    def _read_data_version(self) -> int | None:
        reader = getattr(self.store, "data_version", None)
        if reader is None:
            return None
        try:
            return int(reader())
        except Exception as exc:  # a locked or closed database: tried again at the next poll
            log.debug("data_version not read: %s", exc)
            return None

    def _poll_database(self) -> None:
        # A closed window has no list to keep up to date; the store may be closed too.
        if not self.window().isVisible():
            return
        version = self._read_data_version()
        if version is not None and version != self._data_version:
            self.refresh()
