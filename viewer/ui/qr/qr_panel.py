"""The query/retrieve panel: PACS nodes, a study query, results streaming in, retrieve.

Every network operation runs on a worker (:mod:`viewer.ui.qr.workers`); the GUI thread
only fills models and moves progress bars, so the window never freezes on a slow PACS.
Retrieves run one at a time: a C-MOVE needs our storage SCP on the configured port, which
two retrieves cannot share. The panel's searches and retrieves live in
:mod:`viewer.ui.qr.searching` and :mod:`viewer.ui.qr.retrieving`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from viewer.net.nodes import NodeBook, NodeRecord
from viewer.ui.plain_text import plain_label
from viewer.ui.qr.local_dialog import LocalAEDialog
from viewer.ui.qr.node_dialog import NodeDialog
from viewer.ui.qr.nodes_bar import NodeBarWidget
from viewer.ui.qr.query_form import QueryFormWidget
from viewer.ui.qr.results_model import COLUMNS, StudyResultsTreeModel
from viewer.ui.qr.retrieving import QueryRetrieveTransfers, RetrieveRound
from viewer.ui.qr.searching import QueryRetrieveSearch
from viewer.ui.qr.service import QueryRetrieveService
from viewer.ui.qr.transfers import TransferListWidget
from viewer.ui.qr.workers import FindWorker, RetrieveWorker

log = logging.getLogger(__name__)

#: Concurrent C-FIND/C-ECHO associations (the study query plus series drill-downs).
QUERY_THREADS = 4


class QueryRetrieveWidget(QueryRetrieveSearch, QueryRetrieveTransfers, QWidget):
    """Search a PACS and retrieve studies or series into the local store.

    Parameters
    ----------
    nodes : NodeBook
        The configured PACS nodes (added and edited here, saved by the book).
    service : QueryRetrieveService
        Performs C-ECHO, C-FIND and C-GET/C-MOVE; its sink puts retrieved files in the
        store.
    today : callable, optional
        The local date the date quick choices count from.

    Signals
    -------
    studies_retrieved(list)
        Study Instance UIDs that received instances (the browser refreshes them).
    """

    studies_retrieved = Signal(list)

    def __init__(self, nodes: NodeBook, service: QueryRetrieveService,
                 parent: QWidget | None = None, today: Callable[[], date] = date.today
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("queryRetrieveWidget")
        self.nodes = nodes
        self.service = service
        self.query_pool = QThreadPool(self)
        self.query_pool.setMaxThreadCount(QUERY_THREADS)
        self.retrieve_pool = QThreadPool(self)
        self.retrieve_pool.setMaxThreadCount(1)
        self._generation = 0
        self._query: FindWorker | None = None
        # The node the listed results came from, by name: its record is looked up again
        # when it is used, so an edit (e.g. its retrieve method) or a removal counts.
        self._results_name: str | None = None
        self._series: dict[str, FindWorker] = {}
        self._series_found: dict[str, list[dict[str, Any]]] = {}
        self._arrived: list[dict[str, Any]] = []  # study matches not yet listed
        self._listing_due = False
        self._retrieves: dict[str, RetrieveWorker] = {}
        self._round = RetrieveRound()

        # --- nodes
        self.node_bar = NodeBarWidget(nodes, service, self.query_pool, self)
        self.node_bar.retrieves_running = lambda: len(self._retrieves)
        bar = self.node_bar
        self.node_combo, self.local_label, self.local_button = (
            bar.node_combo, bar.local_label, bar.local_button)
        self.add_node_button, self.edit_node_button = bar.add_node_button, bar.edit_node_button
        self.remove_node_button, self.echo_button = bar.remove_node_button, bar.echo_button
        bar.message.connect(self.show_status)
        bar.node_changed.connect(self._update_buttons)
        bar.busy_changed.connect(self._update_buttons)

        # --- query
        self.form = QueryFormWidget(self, today)
        self.form.submitted.connect(self.start_query)
        self.search_button = QPushButton("Sea&rch", self)
        self.search_button.setDefault(True)
        self.stop_button = QPushButton("Sto&p", self)
        self.search_button.clicked.connect(self.start_query)
        self.stop_button.clicked.connect(self.stop_query)
        query_row = QHBoxLayout()
        query_row.addWidget(self.form, 1)
        query_buttons = QVBoxLayout()
        query_buttons.addWidget(self.search_button)
        query_buttons.addWidget(self.stop_button)
        query_row.addLayout(query_buttons)

        # --- results
        self.results_model = StudyResultsTreeModel(self)
        self.results_model.series_requested.connect(self.load_series)
        self.results_view = QTreeView(self)
        self.results_view.setModel(self.results_model)
        self.results_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.results_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_view.setAlternatingRowColors(True)
        self.results_view.setUniformRowHeights(True)
        self.results_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_view.setColumnWidth(0, 220)
        self.results_view.setSortingEnabled(True)
        # Newest first, as a reading list is read; a header click sorts by another key.
        self.results_view.sortByColumn(COLUMNS.index("Date"), Qt.SortOrder.DescendingOrder)

        # --- retrieve
        self.retrieve_button = QPushButton("R&etrieve", self)
        self.retrieve_button.setToolTip("Retrieve the selected studies or series")
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.cancel_all_button = QPushButton("Cancel a&ll", self)
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.clear_button = QPushButton("Clear finished", self)
        self.transfers = TransferListWidget(self)
        self.transfers.cancel_requested.connect(self.cancel_retrieve)
        self.clear_button.clicked.connect(self.transfers.clear_finished)
        retrieve_row = QHBoxLayout()
        retrieve_row.addWidget(self.retrieve_button)
        retrieve_row.addWidget(self.cancel_all_button)
        retrieve_row.addStretch(1)
        retrieve_row.addWidget(self.clear_button)
        lower = QWidget(self)
        lower_box = QVBoxLayout(lower)
        lower_box.setContentsMargins(0, 0, 0, 0)
        lower_box.addLayout(retrieve_row)
        lower_box.addWidget(self.transfers)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.results_view)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.status_label = plain_label("", self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        box = QVBoxLayout(self)
        box.addWidget(self.node_bar)
        box.addLayout(query_row)
        box.addWidget(splitter, 1)
        box.addWidget(self.status_label)

        self.node_bar.reload_nodes()
        self._update_buttons()

    # ------------------------------------------------------------------ state
    def is_idle(self) -> bool:
        """No query, series query, retrieve or C-ECHO is running."""
        return not (self._query or self._series or self._retrieves or self.node_bar.busy)

    @property
    def querying(self) -> bool:
        """A study query is running."""
        return self._query is not None

    def _update_buttons(self) -> None:
        has_node = self.current_node() is not None
        self.search_button.setEnabled(has_node and self._query is None)
        self.stop_button.setEnabled(self._query is not None)
        self.retrieve_button.setEnabled(self.results_model.study_count() > 0)
        self.cancel_all_button.setEnabled(bool(self._retrieves))

    def show_status(self, text: str, error: bool = False) -> None:
        """One line under the panel; errors carry the network layer's explanation."""
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #e06060;" if error else "")
        self.status_label.setProperty("error", error)

    # ------------------------------------------------------------------ nodes
    # The node bar owns the node widgets; these names keep the panel's surface whole.
    @property
    def node_dialog(self) -> NodeDialog | None:
        """The open node dialog, if any."""
        return self.node_bar.node_dialog

    @property
    def local_dialog(self) -> LocalAEDialog | None:
        """The open dialog of our own AE, if any."""
        return self.node_bar.local_dialog

    def current_node(self) -> NodeRecord | None:
        """The selected node, or None when none is configured."""
        return self.node_bar.current_node()

    def reload_nodes(self, select: str | None = None) -> None:
        """Re-read the node list (e.g. after ``lightbox node add``)."""
        self.node_bar.reload_nodes(select)

    def select_node(self, name: str) -> None:
        """Select a node by name."""
        self.node_bar.select_node(name)

    def add_node(self) -> NodeDialog:
        """Open the node dialog for a new node."""
        return self.node_bar.add_node()

    def edit_node(self) -> NodeDialog | None:
        """Open the node dialog on the selected node."""
        return self.node_bar.edit_node()

    def edit_local(self) -> LocalAEDialog | None:
        """Open the dialog of our own AE title and port."""
        return self.node_bar.edit_local()

    def remove_node(self, confirm: bool = True) -> None:
        """Remove the selected node."""
        self.node_bar.remove_node(confirm)

    def echo_node(self) -> None:
        """C-ECHO the selected node; the answer goes to the status line."""
        self.node_bar.echo_node()

    # --------------------------------------------------------------- closing
    def shutdown(self, wait_ms: int = 15000) -> bool:
        """Cancel everything and wait for the workers; True when they all ended."""
        self._stop_finds()
        for worker in self._retrieves.values():
            worker.cancel.cancel()
        self.node_bar.shutdown()
        done = self.query_pool.waitForDone(wait_ms)
        return self.retrieve_pool.waitForDone(wait_ms) and done

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)
