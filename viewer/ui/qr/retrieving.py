"""The query/retrieve panel's retrieves: the selection as requests, their queue and progress.

:class:`QueryRetrieveTransfers` is mixed into :class:`viewer.ui.qr.qr_panel.QueryRetrieveWidget`.
Each retrieve runs on a :class:`viewer.ui.qr.workers.RetrieveWorker` in the panel's
one-thread retrieve pool and has its own row in the transfer list, with a Cancel button.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from viewer.net.retrieve import RetrieveProgress, RetrieveRequest
from viewer.ui.qr.results_model import date_text, person_name_text, text_of
from viewer.ui.qr.transfers import already_here, images, percent
from viewer.ui.qr.workers import RetrieveWorker

if TYPE_CHECKING:
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QTreeView

    from viewer.ui.qr.results_model import StudyResultsTreeModel
    from viewer.ui.qr.service import QueryRetrieveService
    from viewer.ui.qr.transfers import TransferListWidget


@dataclass(slots=True)
class RetrieveRound:
    """The retrieves started since the queue was last empty: the status line's tally."""

    started: int = 0
    ended: int = 0
    images: int = 0
    short: int = 0  # ended failed, incomplete or cancelled

    def end(self, kept: int, whole: bool) -> None:
        self.ended += 1
        self.images += kept
        self.short += 0 if whole else 1

    def text(self, last: str) -> str:
        """``last`` (the retrieve that just ended) with where the round is, when it holds
        several: the line said only the last one's result ("Retrieved 4 images" after 5
        studies and 20 images)."""
        if self.started < 2:
            return last
        if self.ended < self.started:
            return f"{last} ({self.ended} of {self.started} retrieves ended)"
        text = f"{self.started} retrieves ended: {images(self.images)} retrieved"
        if self.short:
            text += f"; {self.short} did not complete (see their rows)"
        return text


class QueryRetrieveTransfers:
    """The retrieve methods of the panel (plain methods; the widget owns the signals)."""

    service: QueryRetrieveService
    retrieve_pool: QThreadPool
    results_model: StudyResultsTreeModel
    results_view: QTreeView
    transfers: TransferListWidget
    _results_name: str | None
    _retrieves: dict[str, RetrieveWorker]
    _round: RetrieveRound

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

    def studies_being_retrieved(self) -> set[str]:
        """The Study Instance UIDs of the retrieves queued or running."""
        return set(self._retrieves)

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
        if not self._retrieves:
            self._round = RetrieveRound()
        self._round.started += 1
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
        elif not (p.completed or p.received):
            # Nothing came (the PACS refused to send at all): "incomplete" read as if
            # part of the study had arrived.
            state = "failed"
        else:
            state = "incomplete"
        self.results_model.set_status(key, state)
        self._round.end(max(p.completed, p.received), p.ok and not p.cancelled)
        if p.message and not p.cancelled:
            self.show_status(self._round.text(p.message), error=not p.ok)
        elif p.cancelled:
            # The retrieve's own words count what was stored, not the PACS's last counter.
            self.show_status(self._round.text(
                f"Retrieve {p.message}" if p.message else "Retrieve cancelled"))
        else:
            self.show_status(self._round.text(
                f"Retrieved {images(p.completed)}"
                + (f" ({already_here(p.already_present)})" if p.already_present else "")))
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
        self._round.end(max(p.completed, p.received), False)
        self.show_status(self._round.text(message), error=True)
        self._update_buttons()
        if p.completed or p.received:
            self.studies_retrieved.emit([key])
