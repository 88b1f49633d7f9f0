"""The query/retrieve panel's searches: the study query, series drill-downs, their matches.

:class:`QueryRetrieveSearch` is mixed into :class:`viewer.ui.qr.qr_panel.QueryRetrieveWidget`.
Each C-FIND runs on a :class:`viewer.ui.qr.workers.FindWorker` in the panel's query pool;
its matches stream into the results model, and those of an earlier query are dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer

from viewer.core.errors import LightboxError
from viewer.net.query import QuerySpec
from viewer.ui.qr.workers import FindWorker

if TYPE_CHECKING:
    from PySide6.QtCore import QThreadPool

    from viewer.net.nodes import NodeBook, NodeRecord
    from viewer.ui.qr.query_form import QueryFormWidget
    from viewer.ui.qr.results_model import StudyResultsTreeModel
    from viewer.ui.qr.service import QueryRetrieveService


def listing_interval_ms(listed: int) -> int:
    """How long study matches gather before they are listed, when ``listed`` are: a
    listing costs time in proportion to the list (about 10 ms per 1,000 rows), so the
    longer the list, the rarer the listings; the first at once, then from 0.1 s up to
    1 s."""
    return min(1000, 100 + listed // 10) if listed else 0


class QueryRetrieveSearch:
    """The search methods of the panel (plain methods; the widget owns the signals)."""

    nodes: NodeBook
    service: QueryRetrieveService
    query_pool: QThreadPool
    form: QueryFormWidget
    results_model: StudyResultsTreeModel
    _generation: int
    _query: FindWorker | None
    _results_name: str | None
    _series: dict[str, FindWorker]
    _series_found: dict[str, list[dict[str, Any]]]
    _arrived: list[dict[str, Any]]
    _listing_due: bool

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
        self._arrived.clear()
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
            # Listed together, at most every listing_interval_ms: each listing re-sorts
            # the list and Qt lays out every row again, so a batch each as they came (a
            # PACS answering 5,000 matches sends a hundred) froze the window for seconds.
            self._arrived.extend(batch)
            if not self._listing_due:
                self._listing_due = True
                delay = listing_interval_ms(self.results_model.study_count())
                QTimer.singleShot(delay, self, self._list_arrived)  # type: ignore[arg-type]
        elif which[1] in self._series_found:
            self._series_found[which[1]].extend(batch)

    def _list_arrived(self) -> None:
        """List the study matches that arrived since the last listing."""
        self._listing_due = False
        if not self._arrived:
            return
        arrived, self._arrived = self._arrived, []
        self.results_model.add_studies(arrived)
        if self._query is not None:
            self.show_status(f"{self.results_model.study_count()} studies so far ...")
        self._update_buttons()

    def _on_find_finished(self, tag: str, count: int, cancelled: bool) -> None:
        which = self._which(tag)
        if which is None:
            return
        if which[0] == "study":
            self._list_arrived()  # the count said below is of every match
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
            self._list_arrived()  # the matches before the failure stay listed
            self._update_buttons()
        self.show_status(message, error=True)
