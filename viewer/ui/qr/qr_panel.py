"""The query/retrieve panel: PACS nodes, a study query, results streaming in, retrieve.

Every network operation runs on a worker (:mod:`viewer.ui.qr.workers`); the GUI thread
only fills models and moves progress bars, so the window never freezes on a slow PACS.
Retrieves run one at a time: a C-MOVE needs our storage SCP on the configured port, which
two retrieves cannot share.
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

from viewer.core.errors import LightboxError
from viewer.net.nodes import NodeBook, NodeRecord
from viewer.net.query import QuerySpec
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest
from viewer.ui.plain_text import plain_label
from viewer.ui.qr.local_dialog import LocalAEDialog
from viewer.ui.qr.node_dialog import NodeDialog
from viewer.ui.qr.nodes_bar import NodeBarWidget
from viewer.ui.qr.query_form import QueryFormWidget
from viewer.ui.qr.results_model import (
    COLUMNS,
    StudyResultsTreeModel,
    date_text,
    person_name_text,
    text_of,
)
from viewer.ui.qr.service import QueryRetrieveService
from viewer.ui.qr.transfers import TransferListWidget, already_here, images, percent
from viewer.ui.qr.workers import FindWorker, RetrieveWorker

log = logging.getLogger(__name__)

#: Concurrent C-FIND/C-ECHO associations (the study query plus series drill-downs).
QUERY_THREADS = 4


class QueryRetrieveWidget(QWidget):
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
        self._retrieves: dict[str, RetrieveWorker] = {}

        # --- nodes
        self.node_bar = NodeBarWidget(nodes, service, self.query_pool, self)
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
        self.search_button = QPushButton("Search", self)
        self.search_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self)
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
        self.retrieve_button = QPushButton("Retrieve", self)
        self.retrieve_button.setToolTip("Retrieve the selected studies or series")
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.cancel_all_button = QPushButton("Cancel all", self)
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

    # ------------------------------------------------------------------ query
    def start_query(self) -> None:
        """Run the form's study query on the selected node; matches stream into the list."""
        node = self.current_node()
        if node is None:
            self.show_status("Add a PACS node first (Add...)", error=True)
            return
        try:
            spec = self.form.spec()
        except LightboxError as exc:
            self.show_status(str(exc), error=True)
            return
        self._stop_finds()
        self._generation += 1
        self.results_model.clear()
        self._results_name = node.name
        worker = FindWorker(self.service, node, spec, tag=str(self._generation))
        worker.signals.matches.connect(self._on_matches)
        worker.signals.finished.connect(self._on_find_finished)
        worker.signals.failed.connect(self._on_find_failed)
        self._query = worker
        self.show_status(f"Searching {node.name} ...")
        self._update_buttons()
        self.query_pool.start(worker)

    def stop_query(self) -> None:
        """Cancel the running study query (C-CANCEL); the matches so far stay listed."""
        if self._query is not None:
            self._query.cancel.cancel()
            self.show_status("Stopping the search ...")

    def _stop_finds(self) -> None:
        for worker in [self._query, *self._series.values()]:
            if worker is not None:
                worker.cancel.cancel()
        self._query = None
        self._series.clear()
        self._series_found.clear()

    def _series_tag(self, study_uid: str) -> str:
        return f"{self._generation}/{study_uid}"

    def results_node(self) -> NodeRecord | None:
        """The node the listed results came from, as configured now (None if it was
        removed or renamed since the search, or no search ran)."""
        name = self._results_name
        if name is None or name not in self.nodes:
            return None
        return self.nodes.get(name)

    def _node_gone(self) -> str:
        return (f"Node {self._results_name} no longer exists (removed or renamed since the "
                "search): search again on a configured node")

    def load_series(self, study_uid: str) -> None:
        """Drill down: a SERIES-level C-FIND for one study (PS3.4 C.4.1.2.2.1)."""
        if self._results_name is None or study_uid in self._series:
            return
        node = self.results_node()
        if node is None:
            self.results_model.series_failed(study_uid, self._node_gone())
            self.show_status(self._node_gone(), error=True)
            return
        try:
            spec = QuerySpec(level="series", model="study", study_uids=(study_uid,)).validated()
        except LightboxError as exc:
            self.results_model.series_failed(study_uid, str(exc))
            self.show_status(str(exc), error=True)
            return
        worker = FindWorker(self.service, node, spec, tag=self._series_tag(study_uid))
        worker.signals.matches.connect(self._on_matches)
        worker.signals.finished.connect(self._on_find_finished)
        worker.signals.failed.connect(self._on_find_failed)
        self._series[study_uid] = worker
        self._series_found[study_uid] = []
        self.query_pool.start(worker)

    def _which(self, tag: str) -> tuple[str, str] | None:
        """("study", "") or ("series", uid) for a tag of the current query, else None."""
        generation, _, uid = tag.partition("/")
        if generation != str(self._generation):
            return None  # an earlier query, already replaced
        return ("series", uid) if uid else ("study", "")

    def _on_matches(self, tag: str, batch: list[dict[str, Any]]) -> None:
        which = self._which(tag)
        if which is None:
            return
        if which[0] == "study":
            self.results_model.add_studies(batch)
            self.show_status(f"{self.results_model.study_count()} studies so far ...")
            self._update_buttons()
        elif which[1] in self._series_found:
            self._series_found[which[1]].extend(batch)

    def _on_find_finished(self, tag: str, count: int, cancelled: bool) -> None:
        which = self._which(tag)
        if which is None:
            return
        if which[0] == "series":
            self._series.pop(which[1], None)
            self.results_model.set_series(which[1], self._series_found.pop(which[1], []))
            return
        self._query = None
        node = self._results_name or ""
        n = self.results_model.study_count()
        plural = "study" if n == 1 else "studies"
        self.show_status(f"Stopped: {n} {plural} listed from {node}" if cancelled
                         else f"{n} {plural} found on {node}")
        self._update_buttons()

    def _on_find_failed(self, tag: str, message: str) -> None:
        which = self._which(tag)
        if which is None:
            return
        if which[0] == "series":
            self._series.pop(which[1], None)
            self._series_found.pop(which[1], None)
            self.results_model.series_failed(which[1], message)
        else:
            self._query = None
            self._update_buttons()
        self.show_status(message, error=True)

    # --------------------------------------------------------------- retrieve
    def selected_requests(self) -> list[RetrieveRequest]:
        """What the selection asks for: whole studies, or chosen series of a study."""
        wanted: dict[str, set[str] | None] = {}
        model = self.results_model
        for index in self.results_view.selectionModel().selectedRows(0):
            study = model.study_of(index)
            if study is None or not study.uid:
                continue
            series = model.series_of(index)
            if series is None:
                wanted[study.uid] = None  # the whole study wins over some of its series
            elif wanted.get(study.uid, set()) is not None:
                uid = text_of(series.get("SeriesInstanceUID"))
                if uid:
                    wanted.setdefault(study.uid, set()).add(uid)  # type: ignore[union-attr]
        return [RetrieveRequest(study_uid=uid, series_uids=tuple(sorted(series or ())))
                for uid, series in wanted.items()]

    def retrieve_selected(self) -> None:
        """Retrieve the selected studies/series from the node they were found on."""
        requests = self.selected_requests()
        if not requests:
            self.show_status("Select the studies or series to retrieve", error=True)
            return
        for request in requests:
            self.start_retrieve(request)

    def start_retrieve(self, request: RetrieveRequest) -> None:
        """Queue one retrieve; it gets its own progress row with a Cancel button.

        The node the results came from is looked up by name now, not taken as it was at
        the search: a retrieve method or timeout changed since (Edit...) applies, and a
        node removed since is not used at all.
        """
        if self._results_name is not None:
            node = self.results_node()
            if node is None:
                self.show_status(self._node_gone(), error=True)
                return
        else:
            node = self.current_node()
        if node is None:
            self.show_status("Add a PACS node first (Add...)", error=True)
            return
        key = request.study_uid
        if key in self._retrieves:
            self.show_status("That study is already being retrieved")
            return
        row = self.transfers.add(key, self._title(request))
        worker = RetrieveWorker(self.service, node, request, key)
        worker.signals.progress.connect(self._on_retrieve_progress)
        worker.signals.finished.connect(self._on_retrieve_finished)
        worker.signals.failed.connect(self._on_retrieve_failed)
        self._retrieves[key] = worker
        row.state_label.setText("waiting ...")
        self.results_model.set_status(key, "waiting")
        self._update_buttons()
        self.retrieve_pool.start(worker)

    def _title(self, request: RetrieveRequest) -> str:
        row = self.results_model.study_row(request.study_uid)
        if row is None:
            return request.study_uid
        values = self.results_model.study_values(row)
        parts = [person_name_text(values.get("PatientName", "")),
                 date_text(values.get("StudyDate", "")),
                 text_of(values.get("StudyDescription", ""))]
        title = "  ".join(p for p in parts if p) or request.study_uid
        if request.series_uids:
            n = len(request.series_uids)
            title += f"  ({n} series)" if n > 1 else "  (1 series)"
        return title

    def cancel_retrieve(self, key: str) -> None:
        """Stop one retrieve (C-CANCEL); what arrived stays in the store."""
        worker = self._retrieves.get(key)
        if worker is None:
            return
        worker.cancel.cancel()
        row = self.transfers.rows.get(key)
        if row is not None:
            row.cancelling()
        self.results_model.set_status(key, "cancelling")

    def cancel_all(self) -> None:
        """Stop every retrieve, queued or running."""
        for key in list(self._retrieves):
            self.cancel_retrieve(key)

    def _on_retrieve_progress(self, key: str, p: RetrieveProgress) -> None:
        if key not in self._retrieves:
            return
        row = self.transfers.rows.get(key)
        if row is not None and not self._retrieves[key].cancel.cancelled:
            row.update_progress(p)
        self.results_model.set_status(key, f"{percent(p)} %")

    def _on_retrieve_finished(self, key: str, p: RetrieveProgress) -> None:
        if self._retrieves.pop(key, None) is None:
            return
        row = self.transfers.rows.get(key)
        if row is not None:
            row.finish(p)
        if p.cancelled:
            state = "cancelled"
        elif p.ok:
            state = "retrieved"
        else:
            state = "incomplete"
        self.results_model.set_status(key, state)
        if p.message and not p.cancelled:
            self.show_status(p.message, error=not p.ok)
        elif p.cancelled:
            # The retrieve's own words count what was stored, not the PACS's last counter.
            self.show_status(f"Retrieve {p.message}" if p.message else "Retrieve cancelled")
        else:
            self.show_status(f"Retrieved {images(p.completed)}"
                             + (f" ({already_here(p.already_present)})"
                                if p.already_present else ""))
        self._update_buttons()
        if p.completed or p.received:
            self.studies_retrieved.emit([key])

    def _on_retrieve_failed(self, key: str, message: str, p: RetrieveProgress) -> None:
        if self._retrieves.pop(key, None) is None:
            return
        row = self.transfers.rows.get(key)
        if row is not None:
            row.fail(message, p)
        self.results_model.set_status(key, "failed")
        self.show_status(message, error=True)
        self._update_buttons()
        if p.completed or p.received:
            self.studies_retrieved.emit([key])

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
