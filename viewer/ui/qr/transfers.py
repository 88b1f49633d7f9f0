"""Per-study retrieve rows of the query/retrieve panel: a progress bar, a state line, Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from viewer.net.retrieve import RetrieveProgress
from viewer.ui.plain_text import plain_label


def percent(p: RetrieveProgress) -> int:
    """How far a retrieve is, 0-100, from the PACS's sub-operation counters.

    PS3.4 C.4.2.1.4 / C.4.3.1.4: pending responses carry Remaining, Completed, Failed
    and Warning sub-operations. The total is what the image-level inventory found
    missing here when it is known, else the sum of the counters; files written on our
    side count too, since a PACS may send few pending responses.
    """
    if p.done and p.ok:
        return 100
    if p.expected is not None:
        total = p.expected - p.already_present
    else:
        total = p.completed + p.failed + p.warning + int(p.remaining or 0)
    done = max(p.completed + p.failed + p.warning, p.received)
    if total <= 0:
        return 100 if p.done else 0
    return max(0, min(100, int(100 * done / total)))


def images(count: int) -> str:
    """``1 image``, ``2 images``."""
    return f"{count} image" if count == 1 else f"{count} images"


def already_here(count: int) -> str:
    """``1 was already here``, ``2 were already here``."""
    return f"{count} {'was' if count == 1 else 'were'} already here"


def state_text(p: RetrieveProgress) -> str:
    """One line saying where a retrieve is."""
    if p.phase == "plan":
        return "asking the PACS what the study holds ..."
    method = f"C-{p.method.upper()}" if p.method else ""
    total = p.expected - p.already_present if p.expected is not None else None
    of = f" of {total}" if total is not None else ""
    text = f"{method} {p.completed}{of} images"
    if p.failed:
        text += f", {p.failed} failed"
    if p.already_present:
        text += f" ({p.already_present} already here)"
    if p.done:
        if p.cancelled:
            # The retrieve's message counts what was stored, not the PACS's last counter.
            text = p.message or "cancelled"
        elif p.ok:
            text = f"done: {images(p.completed)} by {method}" if p.completed or not (
                p.already_present) else f"done: all {images(p.already_present)} already here"
            if p.completed and p.already_present:
                text += f", {already_here(p.already_present)}"
        if p.message and not p.cancelled:
            text = f"{text}: {p.message}"
    return text.strip()


class TransferRow(QWidget):
    """One study being retrieved.

    Signals
    -------
    cancel_requested(str)
        The row's Cancel button was pressed (carries the study UID).
    """

    cancel_requested = Signal(str)

    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.finished = False
        self.title_label = plain_label(title, self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.state_label = plain_label("waiting ...", self)
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(self.key))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title_label, 1)
        top.addWidget(self.progress_bar, 1)
        top.addWidget(self.cancel_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addLayout(top)
        box.addWidget(self.state_label)

    def update_progress(self, p: RetrieveProgress) -> None:
        """Show a running retrieve's progress."""
        self.progress_bar.setValue(percent(p))
        self.state_label.setText(state_text(p))

    def cancelling(self) -> None:
        """The user asked to stop: wait for the PACS's final response."""
        self.cancel_button.setEnabled(False)
        self.state_label.setText("cancelling ...")

    def finish(self, p: RetrieveProgress) -> None:
        """The retrieve ended (done, cancelled, or ended with an explained failure)."""
        self.finished = True
        self.progress_bar.setValue(percent(p))
        self.state_label.setText(state_text(p))
        self.cancel_button.setEnabled(False)

    def fail(self, message: str, p: RetrieveProgress) -> None:
        """The retrieve stopped on an error; ``message`` says what to check."""
        self.finished = True
        self.progress_bar.setValue(percent(p))
        kept = max(p.completed, p.received)
        self.state_label.setText(f"failed: {message}" + (
            f" ({kept} images kept)" if kept else ""))
        self.cancel_button.setEnabled(False)


class TransferListWidget(QScrollArea):
    """The retrieves of this session, newest last, each with its own progress and Cancel."""

    cancel_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self._inner = QWidget(self)
        self._layout = QVBoxLayout(self._inner)
        self._layout.setContentsMargins(2, 2, 2, 2)
        self._layout.addStretch(1)
        self.setWidget(self._inner)
        self.rows: dict[str, TransferRow] = {}
        self._follow_new = False  # a row was added: show the list's end once laid out
        self.verticalScrollBar().rangeChanged.connect(self._range_changed)

    def add(self, key: str, title: str) -> TransferRow:
        """Add (or reuse, for a study retrieved again) the row of ``key``."""
        old = self.rows.pop(key, None)
        if old is not None:
            old.setParent(None)
            old.deleteLater()
        row = TransferRow(key, title, self._inner)
        row.cancel_requested.connect(self.cancel_requested)
        self._layout.insertWidget(self._layout.count() - 1, row)
        self.rows[key] = row
        # Added at the bottom of a list two rows high: the new retrieve was out of sight
        # below the finished ones. Scrolled to once the list has been laid out again.
        self._follow_new = True
        return row

    def _range_changed(self, _low: int, high: int) -> None:
        if self._follow_new:
            self._follow_new = False
            self.verticalScrollBar().setValue(high)

    def clear_finished(self) -> None:
        """Remove the rows of retrieves that ended."""
        for key in [k for k, r in self.rows.items() if r.finished]:
            row = self.rows.pop(key)
            row.setParent(None)
            row.deleteLater()
