"""``lightbox retrieve`` and ``lightbox listen``: instances from a PACS into the study store.

This module is the wiring site between the net layer and the study store: received
instances go to ``StudyStore.add_received_files`` (the same import path as media), and
``StudyStore.has_instances`` tells a retrieve what it can skip.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TextIO

from viewer.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL
from viewer.cli.home import cli_home
from viewer.cli.net_common import interruptible, node_context, quiet_pydicom
from viewer.core.errors import CancelledError, LightboxError, PeerError, UsageError
from viewer.core.settings import load_network_settings
from viewer.net.connection import CancelToken
from viewer.net.listener import HomeListener, ListenerFile
from viewer.net.nodes import NodeRecord
from viewer.net.plan import study_expectation
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest, retrieve
from viewer.net.sinks import BatchSink, CountingSink, ReceivedInstance
from viewer.store.study_store import StudyStore

INCOMING = "incoming"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _method(p: RetrieveProgress) -> str:
    """``C-GET`` or ``C-MOVE`` if one was sent, else ""."""
    return f"C-{p.method.upper()}" if p.method in ("get", "move") else ""


class _RetrieveBar:
    """A retrieve progress bar on a terminal, periodic lines elsewhere, to stderr."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0
        self.phase = ""

    def __call__(self, p: RetrieveProgress) -> None:
        now = time.monotonic()
        if not p.done and p.phase == self.phase and (
                now - self.last < (0.1 if self.tty else 5.0)):
            return
        self.last, self.phase = now, p.phase
        if p.phase == "plan":
            text = "asking the PACS what the request holds ..."
        elif p.done and not _method(p):
            if not p.already_present:
                # The message that follows says why nothing was fetched (the PACS has
                # nothing, a cancel, an error); "nothing to fetch" read as a success.
                self._clear()
                return
            text = f"nothing to fetch: {p.already_present} already here"
        elif p.phase == "wait":
            text = ("waiting for another Lightbox retrieve of this home to free the C-MOVE "
                    "port ...")
        else:
            total = p.expected if p.expected is not None else (
                p.completed + p.failed + p.warning + (p.remaining or 0))
            todo = max(total - p.already_present, 1)
            done = p.completed + p.failed + p.warning
            bar = "#" * int(min(done / todo, 1.0) * 30)
            text = (f"{_method(p) or 'retrieve'} [{bar:<30}] {p.completed}/{todo} "
                    f"({p.failed} failed, {_count(p.warning, 'warning', 'warnings')})")
            if p.already_present:
                text += f", {p.already_present} already here"
        if self.tty:
            self.stream.write("\r" + text[:120].ljust(80))
            if p.done:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        """Take the progress line off a terminal (elsewhere each line is finished)."""
        if self.tty:
            self.stream.write("\r" + " " * 80 + "\r")
            self.stream.flush()


def store_sink(store: StudyStore, *, durable: bool = False) -> BatchSink:
    """The sink that hands received files to the store's import path, in batches;
    ``durable`` for a listener that takes pushes (see ``add_received_files``)."""
    return BatchSink(store.add_received_files, durable=durable)


def run_retrieve(args: argparse.Namespace) -> int:
    """Handler of ``lightbox retrieve``."""
    home, node, local = node_context(args)
    quiet_pydicom()
    request = RetrieveRequest(
        study_uid=args.study, series_uids=tuple(args.series), sop_uids=tuple(args.instance),
        model=args.model, patient_id=args.patient_id,
    ).validated()
    token = CancelToken()
    bar = _RetrieveBar(sys.stderr)
    last = RetrieveProgress()
    with StudyStore.open(home) as store, interruptible(token):
        # Counts the instances the store took, for the summary of a retrieve that
        # failed: its last progress was yielded before the instances that came after it.
        stored = CountingSink(store_sink(store), keep_uids=False)
        try:
            for last in retrieve(
                node, local, request, stored, home / INCOMING,
                method=args.method, already_have=store.has_instances,
                held=store.held_instances, cancel=token,
                listener=ListenerFile(home),
            ):
                bar(last)
        except UsageError:
            raise
        except LightboxError as exc:
            # The PACS or the network failed (or our disk): what arrived is stored, and
            # the report says so, with the reason, as for any other retrieve that ended
            # short. Only bad arguments end without one.
            last = _failed(last, exc, node.name, stored.instances)
            bar(last)
        # Stored even when the retrieve ended short: the browser then shows the study as
        # incomplete instead of whole.
        store.note_expected(study_expectation(request, last))
    if args.json:
        json.dump({
            "method": last.method or None, "status": last.status, "expected": last.expected,
            "already_present": last.already_present, "completed": last.completed,
            "failed": last.failed, "warning": last.warning, "received": last.received,
            "failed_instances": last.failed_instances, "cancelled": last.cancelled,
            "message": last.message,
        }, sys.stdout, indent=2)
        print()
    else:
        # What the store took, not the PACS's counter: after a cancel the PACS's last
        # response may lag behind the instances that arrived.
        method = _method(last)
        summary = f"{node.name}: {_count(last.received, 'instance', 'instances')} retrieved"
        if method:
            summary += f" by {method}"
        if last.already_present:
            summary += (f", {last.already_present} "
                        f"{'was' if last.already_present == 1 else 'were'} already here")
        print(summary)
        for uid in last.failed_instances[:20]:
            print(f"  failed: {uid}")
        if len(last.failed_instances) > 20:
            print(f"  ... and {len(last.failed_instances) - 20} more failed")
    if last.message:
        print(f"lightbox: {node.name}: {last.message}", file=sys.stderr)
    if last.ok:
        return EXIT_OK
    # A cancel ends as Ctrl-C ends import and query, report printed: a script can tell
    # that the user stopped it from a retrieve that failed.
    return EXIT_INTERRUPTED if last.cancelled else EXIT_PARTIAL


def _failed(last: RetrieveProgress, exc: LightboxError, node_name: str, stored: int
            ) -> RetrieveProgress:
    """The final progress of a retrieve that ended with ``exc``.

    ``last`` is the progress last yielded; ``stored`` is how many instances the store
    took (each SOP Instance UID once). The message is the error's text, without the
    node's name when the error names it (the report prints it before the message).
    """
    done = last.snapshot()
    done.phase = "done"
    done.received = max(done.received, stored)
    done.cancelled = done.cancelled or isinstance(exc, CancelledError)
    done.message = (exc.problem if isinstance(exc, PeerError) and exc.peer == node_name
                    else str(exc))
    return done


def _titles(nodes: Iterable[NodeRecord]) -> str:
    """The AE titles ``nodes`` call from, each once, in order: two nodes may share one."""
    return ", ".join(dict.fromkeys(n.called_aet for n in nodes))


def run_listen(args: argparse.Namespace) -> int:
    """Handler of ``lightbox listen``: the storage SCP until Ctrl-C.

    It serves the plain port and, when TLS is configured, the DICOM TLS port too
    (PS3.15 B.9); both accept only the configured nodes, followed as ``nodes.toml``
    changes. It records itself in ``listener.json`` so that a ``lightbox retrieve
    --method move`` of the same home sends its C-MOVE here.
    """
    home = cli_home(args.home)
    quiet_pydicom()
    local = load_network_settings(home)
    overrides = {key: value for key, value in (("port", args.port),
                                               ("tls_port", args.tls_port))
                 if value is not None}
    if overrides:
        # The same checks as lightbox config set (1-65535; tls-port 0 is off).
        local = replace(local, **overrides).validated()
    with StudyStore.open(home) as store:
        sink = _ListenSink(store)
        listener = HomeListener(home, local, home / INCOMING, sink)
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        scp = listener.start()
        try:
            print(f"listening as {listener.describe()} for "
                  f"{_titles(scp.allowed) or 'nobody'}; Ctrl-C to stop", flush=True)
            while not stop.wait(1.0):
                nodes = listener.refresh_nodes()
                if nodes is not None:
                    print(f"nodes changed; accepting {_titles(nodes) or 'nobody'}",
                          flush=True)
        finally:
            listener.stop()
    summary = f"stopped; {_count(sink.counted.instances, 'instance', 'instances')} received"
    if sink.refused:
        # Answered with Success before the store saw them (the C-STORE response does not
        # wait for the import): the sender may delete them, so the total must say it.
        summary += (f", {_count(sink.refused, 'instance', 'instances')} not imported "
                    f"(kept in {home / INCOMING}; the warnings above say why)")
    print(summary, flush=True)
    return EXIT_PARTIAL if sink.refused else EXIT_OK


class _ListenSink:
    """The store's batch import for ``lightbox listen``, with a line per batch received.

    A batch sink (it has ``many``), so the receiver hands the store what arrived together:
    one flush and one transaction per batch, as for a retrieve. A plain function here made
    every instance a batch of its own. The total counts each instance once; a batch's
    line says how many of its instances had arrived before (a sender that repeats a
    C-STORE, or another node that sends the same instance).
    """

    def __init__(self, store: StudyStore) -> None:
        # Modalities push here and may delete what we acknowledged: rows flushed per batch.
        self.counted = CountingSink(store_sink(store, durable=True), keep_uids=False,
                                    on_taken=self._report)

        self.refused = 0  # instances received and not imported, each time one arrived

    def __call__(self, item: ReceivedInstance) -> None:
        try:
            self.counted(item)
        except Exception:
            self._refused([item])
            raise

    def many(self, items: list[ReceivedInstance]) -> list[str]:
        """Import a batch (see :meth:`BatchSink.many`) and say what was taken and what
        was not."""
        try:
            problems = list(self.counted.many(items))
        except Exception:
            self._refused(items)
            raise
        self._refused([item for item, problem in zip(items, problems, strict=True)
                       if problem])
        return problems

    def _refused(self, items: list[ReceivedInstance]) -> None:
        self.refused += len(items)
        senders: dict[str, int] = {}
        for item in items:
            senders[item.calling_aet] = senders.get(item.calling_aet, 0) + 1
        for aet, count in senders.items():
            print(f"not imported: {_count(count, 'instance', 'instances')} from {aet}",
                  flush=True)

    @staticmethod
    def _report(items: list[ReceivedInstance], firsts: list[bool]) -> None:
        senders: dict[str, list[int]] = {}  # AE title -> [taken, repeats]
        for item, first in zip(items, firsts, strict=True):
            counts = senders.setdefault(item.calling_aet, [0, 0])
            counts[0] += 1
            counts[1] += not first
        for aet, (taken, repeats) in senders.items():
            line = f"received {taken} instance{'s' if taken != 1 else ''} from {aet}"
            if repeats:
                line += (" (received before)" if taken == 1
                         else f" ({repeats} received before)")
            print(line, flush=True)
