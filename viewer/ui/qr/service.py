"""What the query/retrieve panel asks of the network: C-ECHO, C-FIND and C-GET/C-MOVE.

The panel never reaches for the network layer or the store itself: it is handed a
:class:`QueryRetrieveService` that knows our own AE settings, where received files go
and which instances are already stored. :func:`viewer.ui.qr.build_qr_widget` builds the
default one from the Lightbox home; tests build it on a temporary home.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from viewer.core.settings import NetworkSettings
from viewer.net.connection import CancelToken
from viewer.net.echo import EchoResult, echo
from viewer.net.listener import ListenerFile
from viewer.net.nodes import NodeRecord
from viewer.net.plan import study_expectation
from viewer.net.query import QuerySpec, find
from viewer.net.retrieve import AlreadyHave, Held, RetrieveProgress, RetrieveRequest, retrieve
from viewer.net.scp import StorageSCP
from viewer.net.sinks import Sink


class QueryRetrieveService:
    """Runs the DICOM operations of the panel; every method blocks and belongs on a worker.

    Parameters
    ----------
    local : callable
        Returns our own AE settings (read again for each operation, so a changed
        ``settings.toml`` takes effect without a restart).
    sink : callable
        Receives each retrieved instance (a complete file) on a network worker thread;
        the default wiring hands it to ``StudyStore.add_received_files``.
    incoming : Path
        Folder where received files are written before the sink takes them (on the
        store's file system, so that the store moves them by renaming).
    already_have : callable, optional
        Returns which of the given SOP Instance UIDs are already stored; a retrieve then
        fetches only the rest.
    held : callable, optional
        How many instances of a study (of some of its series) are stored: when none
        are, a retrieve does not first ask the PACS for the list of every instance.
    save_local : callable, optional
        Stores changed AE settings; without it the panel shows them read-only.
    scp : callable, optional
        Returns the application's running storage SCP (``always-listen``) or None;
        C-MOVE retrieves use it instead of starting their own.
    listener : ListenerFile, optional
        The home's listener record: a C-MOVE whose port another Lightbox process of
        this home listens on goes to that process (it stores what arrives).
    note_expected : callable, optional
        Told, after a whole-study retrieve, how many instances the PACS says the study
        has (``StudyStore.note_expected``): a retrieve that ended short leaves the study
        marked incomplete in the browser.
    """

    def __init__(self, local: Callable[[], NetworkSettings], sink: Sink, incoming: Path,
                 already_have: AlreadyHave | None = None,
                 save_local: Callable[[NetworkSettings], None] | None = None,
                 scp: Callable[[], StorageSCP | None] | None = None,
                 listener: ListenerFile | None = None, held: Held | None = None,
                 note_expected: Callable[[Mapping[str, int]], None] | None = None) -> None:
        self.local = local
        self.note_expected = note_expected
        self.held = held
        self.sink = sink
        self.incoming = incoming
        self.already_have = already_have
        self.save_local = save_local
        self.scp = scp
        self.listener = listener

    def echo(self, node: NodeRecord, cancel: CancelToken | None = None) -> EchoResult:
        """C-ECHO ``node`` (PS3.7 9.1.5) and return the round-trip time."""
        return echo(node, self.local(), cancel)

    def find(self, node: NodeRecord, spec: QuerySpec, cancel: CancelToken | None = None
             ) -> Iterator[dict[str, Any]]:
        """C-FIND on ``node`` (PS3.4 C.4.1), each match as soon as it arrives."""
        return find(node, self.local(), spec, cancel)

    def retrieve(self, node: NodeRecord, request: RetrieveRequest,
                 cancel: CancelToken | None = None) -> Iterator[RetrieveProgress]:
        """C-GET or C-MOVE ``request`` from ``node`` (PS3.4 C.4.2/C.4.3) into the sink."""
        running = self.scp() if self.scp is not None else None
        for progress in retrieve(node, self.local(), request, self.sink, self.incoming,
                                 already_have=self.already_have, held=self.held,
                                 cancel=cancel, listener=self.listener,
                                 scp=running if running is not None and running.running
                                 else None):
            if progress.done and self.note_expected is not None:
                # Before the last progress: whoever shows the study then sees the count.
                self.note_expected(study_expectation(request, progress))
            yield progress
