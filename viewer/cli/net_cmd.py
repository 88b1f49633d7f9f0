"""``lightbox node``, ``echo``, ``query``, ``retrieve``, ``listen`` and ``config``: the network.

This module is the wiring site between the net layer and the study store: received
instances go to ``StudyStore.add_received_files`` (the same import path as media), and
``StudyStore.has_instances`` tells a retrieve what it can skip.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from viewer.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, say_in_handler
from viewer.cli.home import cli_home
from viewer.core.dates import parse_date_range
from viewer.core.errors import CancelledError, LightboxError, PeerError, UsageError
from viewer.core.settings import (
    NetworkSettings,
    load_network_settings,
    save_network_settings,
)
from viewer.core.tls_files import tls_file_warnings
from viewer.net.connection import CancelToken
from viewer.net.echo import echo
from viewer.net.listener import HomeListener, ListenerFile
from viewer.net.nodes import RETRIEVE_METHODS, NodeBook, NodeRecord, parse_address
from viewer.net.plan import study_expectation
from viewer.net.query import LEVELS, QuerySpec, TruncatedQueryError, find
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest, retrieve
from viewer.net.sinks import BatchSink, CountingSink, ReceivedInstance
from viewer.net.tls import client_ssl_context
from viewer.store.study_store import StudyStore

LOGGER = logging.getLogger(__name__)
INCOMING = "incoming"


def register(subparsers: Any) -> None:
    """Add the network sub-commands to the ``lightbox`` parser."""
    p = subparsers.add_parser("node", help="PACS nodes: add, edit, list, remove, test")
    sub = p.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="add a PACS node")
    a.add_argument("name")
    a.add_argument("address", metavar="AET@HOST:PORT")
    _node_options(a)
    a.add_argument("--replace", action="store_true", help="replace a node of that name")
    a.set_defaults(handler=run_node_add)
    e = sub.add_parser("edit", help="change a PACS node")
    e.add_argument("name")
    e.add_argument("--address", metavar="AET@HOST:PORT")
    _node_options(e)
    e.set_defaults(handler=run_node_edit)
    s = sub.add_parser("list", help="list the PACS nodes")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=run_node_list)
    r = sub.add_parser("remove", help="remove a PACS node")
    r.add_argument("name")
    r.set_defaults(handler=run_node_remove)
    t = sub.add_parser("test", help="C-ECHO a node")
    t.add_argument("name")
    t.set_defaults(handler=run_echo)

    p = subparsers.add_parser("echo", help="verify a node with C-ECHO and time it")
    p.add_argument("name")
    p.set_defaults(handler=run_echo)

    p = subparsers.add_parser("query", help="search a PACS (C-FIND)")
    p.add_argument("name")
    p.add_argument("--level", choices=LEVELS, default="study")
    p.add_argument("--model", choices=("study", "patient"), default="study",
                   help="information model: Study Root (default) or Patient Root")
    p.add_argument("--study", action="append", default=[], metavar="UID")
    p.add_argument("--series", action="append", default=[], metavar="UID")
    p.add_argument("--instance", action="append", default=[], metavar="UID")
    p.add_argument("--patient", default="", metavar="NAME", help="wildcards * and ?")
    p.add_argument("--patient-id", default="")
    p.add_argument("--date", default="", metavar="RANGE", help="YYYYMMDD, A-, -B or A-B")
    p.add_argument("--modality", default="")
    p.add_argument("--accession", default="")
    p.add_argument("--description", default="", help="study description (wildcards)")
    p.add_argument("--json", action="store_true", help="JSON array keyed by DICOM keywords")
    p.set_defaults(handler=run_query)

    p = subparsers.add_parser("retrieve", help="retrieve a study, series or instances")
    p.add_argument("name")
    p.add_argument("--study", required=True, metavar="UID")
    p.add_argument("--series", action="append", default=[], metavar="UID")
    p.add_argument("--instance", action="append", default=[], metavar="UID")
    p.add_argument("--method", choices=RETRIEVE_METHODS)
    p.add_argument("--model", choices=("study", "patient"), default="study")
    p.add_argument("--patient-id", default="")
    p.add_argument("--json", action="store_true", help="print the final report as JSON")
    p.set_defaults(handler=run_retrieve)

    p = subparsers.add_parser("listen", help="run the storage SCP in the foreground")
    p.add_argument("--port", type=int, help="override the configured storage port")
    p.add_argument("--tls-port", type=int, help="override the configured DICOM TLS port")
    p.set_defaults(handler=run_listen)

    p = subparsers.add_parser("config", help="the local AE title and storage port")
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    sh = sub.add_parser("show", help="print the network settings")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(handler=run_config_show)
    st = sub.add_parser("set", help="change settings (ae-title, port, bind-address, "
                        "always-listen, max-pdu, tls-cert, tls-key, tls-ca, tls-port)",
                        description="Give one or more KEY VALUE pairs; they are checked "
                        "together (e.g. tls-cert F tls-key F tls-ca F). An empty value "
                        "clears a TLS file.")
    st.add_argument("pairs", nargs="+", metavar="KEY VALUE")
    st.set_defaults(handler=run_config_set)


def _node_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calling-aet", metavar="A", help="our AE title towards this node")
    p.add_argument("--sending-aet", metavar="A", help="the AE title the PACS sends from "
                   "(C-MOVE), if not the one we call; an empty value clears it")
    p.add_argument("--method", choices=RETRIEVE_METHODS)
    p.add_argument("--tls-ca", metavar="F", help="CA bundle (PEM) that signs the PACS "
                   "certificate; turns TLS on")
    p.add_argument("--tls-cert", metavar="F", help="our client certificate (PEM)")
    p.add_argument("--tls-key", metavar="F", help="the key of --tls-cert (PEM)")
    p.add_argument("--no-hostname-check", action="store_true",
                   help="accept a certificate that does not name the host (still signed)")
    p.add_argument("--hostname-check", action="store_true",
                   help="check again that the PACS certificate names the host (default)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="seconds to wait for the PACS to answer each message")


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.calling_aet is not None:
        out["calling_aet"] = args.calling_aet
    if args.sending_aet is not None:
        out["sending_aet"] = args.sending_aet.strip()
    if args.method is not None:
        out["method"] = args.method
    for key in ("tls_ca", "tls_cert", "tls_key"):
        value = getattr(args, key)
        if value is not None:
            path = Path(value).expanduser().resolve() if value else None
            if path is not None and not path.is_file():
                # Taken as it was, it failed only at the first echo, without its name.
                raise UsageError(f"{value}: no such file (--{key.replace('_', '-')})")
            out[key] = str(path) if path else ""
    if args.no_hostname_check and args.hostname_check:
        raise UsageError("give --hostname-check or --no-hostname-check, not both")
    if args.no_hostname_check or args.hostname_check:
        out["tls_check_hostname"] = bool(args.hostname_check)
    if args.timeout is not None:
        out["dimse_timeout"] = args.timeout
    return out


def _check_tls_files(node: NodeRecord) -> None:
    """Load a TLS node's CA, certificate and key now, not at its first association.

    The node's fields are checked first (a certificate without its key is named as
    such, not as a key file that fails to load). An encrypted key is refused (PS3.15
    B.9 leaves key storage to us; a passphrase prompt at every association is no
    option). What loads but is unwise (a key others can read, a certificate expired
    or expiring, a tls-ca that is no CA) is logged as a WARNING.
    """
    node.validated()
    if node.uses_tls:
        try:
            client_ssl_context(node)
        except PeerError as exc:
            raise UsageError(str(exc)) from None
        for text in tls_file_warnings(node.tls_cert, node.tls_key, node.tls_ca,
                                      ("--tls-cert", "--tls-key", "--tls-ca")):
            LOGGER.warning("node %s: %s", node.name, text)


def run_node_add(args: argparse.Namespace) -> int:
    """Handler of ``lightbox node add``."""
    book = NodeBook(cli_home(args.home))
    aet, host, port = parse_address(args.address)
    node = NodeRecord(name=args.name, called_aet=aet, host=host, port=port, **_changes(args))
    _check_tls_files(node)
    book.add(node, replace_existing=args.replace)
    print(f"added {node.name}: {node.address}" + (" (TLS)" if node.uses_tls else ""))
    return EXIT_OK


def run_node_edit(args: argparse.Namespace) -> int:
    """Handler of ``lightbox node edit``."""
    book = NodeBook(cli_home(args.home))
    changes = _changes(args)
    if args.address:
        aet, host, port = parse_address(args.address)
        changes.update(called_aet=aet, host=host, port=port)
    if not changes:
        raise UsageError("nothing to change: give --address or another option")
    was_tls = any(n.name == args.name and n.uses_tls for n in book)  # valid nodes only
    node = book.edit(args.name, check=_check_tls_files, **changes)
    print(f"changed {node.name}: {node.address}"
          + (" (TLS turned off: plain DICOM now)" if was_tls and not node.uses_tls else ""))
    return EXIT_OK


def run_node_list(args: argparse.Namespace) -> int:
    """Handler of ``lightbox node list``."""
    book = NodeBook(cli_home(args.home))
    if args.json:
        json.dump([{"name": n.name, **n.to_mapping()} for n in book]
                  + [{"name": n.name, **n.table, "invalid": n.reason} for n in book.invalid],
                  sys.stdout, indent=2)
        print()
        return EXIT_OK
    if not len(book) and not book.invalid:
        print("no nodes yet: lightbox node add NAME AET@HOST:PORT")
    for n in book:
        extra = [n.method]
        if n.calling_aet:
            extra.append(f"as {n.calling_aet}")
        if n.sending_aet:
            extra.append(f"sends as {n.sending_aet}")
        if n.uses_tls:
            extra.append("TLS" if n.tls_check_hostname else "TLS, no hostname check")
        print(f"{n.name:<16} {n.address:<40} {', '.join(extra)}")
    for bad in book.invalid:  # a hand-edited file: shown, so that it can be fixed or removed
        print(f"{bad.name:<16} {bad.address:<40} INVALID: {bad.reason}")
    return EXIT_OK


def run_node_remove(args: argparse.Namespace) -> int:
    """Handler of ``lightbox node remove``."""
    NodeBook(cli_home(args.home)).remove(args.name)
    print(f"removed {args.name}")
    return EXIT_OK


def _context(args: argparse.Namespace) -> tuple[Path, NodeRecord, NetworkSettings]:
    home = cli_home(args.home)
    return home, NodeBook(home).get(args.name), load_network_settings(home)


def run_echo(args: argparse.Namespace) -> int:
    """Handler of ``lightbox echo`` and ``lightbox node test``."""
    _, node, local = _context(args)
    token = CancelToken()
    with _interruptible(token):
        # Ctrl-C as a KeyboardInterrupt left pynetdicom's association threads waiting
        # for a silent peer, and the process alive after "interrupted"; the token gives
        # the association up (CancelledError, exit status 130).
        result = echo(node, local, token)
    tls = ", TLS" if result.tls else ""
    print(
        f"{node.name} ({node.address}{tls}): C-ECHO ok, round trip "
        f"{result.round_trip * 1000:.1f} ms (association {result.association * 1000:.1f} ms)"
    )
    return EXIT_OK


@contextlib.contextmanager
def _interruptible(token: CancelToken) -> Iterator[None]:
    """First Ctrl-C cancels the operation cleanly (C-CANCEL); a second one ends at once.

    The previous handler is back afterwards: ``main`` also runs inside the tests' process.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        say_in_handler("\ncancelling ...\n")
        token.cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_query(args: argparse.Namespace) -> int:
    """Handler of ``lightbox query``."""
    # Checked before anything is sent: an impossible date would go out as it is.
    parse_date_range(args.date)
    _, node, local = _context(args)
    _quiet_pydicom()
    spec = QuerySpec(
        level=args.level, model=args.model, patient_name=args.patient,
        patient_id=args.patient_id, study_date=args.date, modality=args.modality,
        accession_number=args.accession, study_description=args.description,
        study_uids=tuple(args.study), series_uids=tuple(args.series),
        sop_uids=tuple(args.instance),
    ).validated()
    token = CancelToken()
    results = []
    truncated: TruncatedQueryError | None = None
    with _interruptible(token):
        try:
            for match in find(node, local, spec, token):
                if args.json:
                    results.append(match)
                else:
                    print(_query_line(args.level, match))
        except TruncatedQueryError as exc:
            # PS3.4 C.4.1.1.4: the PACS ended with Cancel we never sent (a result limit).
            # What came is shown, then said to be part of the matches only.
            truncated = exc
    if args.json:
        # A complete list stays the plain array; a cut one says so in the output itself,
        # so a script reading only stdout cannot take it for every match.
        output: object = results if truncated is None else {
            "truncated": True, "count": len(results), "message": truncated.problem,
            "results": results}
        json.dump(output, sys.stdout, indent=2, ensure_ascii=False)
        print()
    if truncated is not None:
        print(f"lightbox: {truncated}", file=sys.stderr)
        return EXIT_FAILED
    if token.cancelled:
        # What arrived is printed, but it may not be every match: not a success.
        print("lightbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _query_line(level: str, m: dict[str, Any]) -> str:
    def g(key: str) -> str:
        value = m.get(key, "")
        return "\\".join(map(str, value)) if isinstance(value, list) else str(value)

    if level in ("patient",):
        return f"{g('PatientID'):<16} {g('PatientName')}"
    if level == "study":
        return (f"{g('StudyDate'):<9} {g('ModalitiesInStudy'):<8} {g('AccessionNumber'):<12} "
                f"{g('PatientID'):<12} {g('PatientName'):<28} {g('StudyDescription'):<24} "
                f"{g('StudyInstanceUID')}")
    if level == "series":
        return (f"{g('SeriesNumber'):>4} {g('Modality'):<4} "
                f"{g('NumberOfSeriesRelatedInstances'):>5} {g('SeriesDescription'):<30} "
                f"{g('SeriesInstanceUID')}")
    return f"{g('InstanceNumber'):>5} {g('SOPClassUID'):<30} {g('SOPInstanceUID')}"


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


def _quiet_pydicom() -> None:
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    logging.getLogger("pydicom").setLevel(logging.ERROR)


def store_sink(store: StudyStore, *, durable: bool = False) -> BatchSink:
    """The sink that hands received files to the store's import path, in batches;
    ``durable`` for a listener that takes pushes (see ``add_received_files``)."""
    return BatchSink(store.add_received_files, durable=durable)


def run_retrieve(args: argparse.Namespace) -> int:
    """Handler of ``lightbox retrieve``."""
    home, node, local = _context(args)
    _quiet_pydicom()
    request = RetrieveRequest(
        study_uid=args.study, series_uids=tuple(args.series), sop_uids=tuple(args.instance),
        model=args.model, patient_id=args.patient_id,
    ).validated()
    token = CancelToken()
    bar = _RetrieveBar(sys.stderr)
    last = RetrieveProgress()
    with StudyStore.open(home) as store, _interruptible(token):
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
    return EXIT_OK if last.ok else EXIT_PARTIAL


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


def run_listen(args: argparse.Namespace) -> int:
    """Handler of ``lightbox listen``: the storage SCP until Ctrl-C.

    It serves the plain port and, when TLS is configured, the DICOM TLS port too
    (PS3.15 B.9); both accept only the configured nodes, followed as ``nodes.toml``
    changes. It records itself in ``listener.json`` so that a ``lightbox retrieve
    --method move`` of the same home sends its C-MOVE here.
    """
    home = cli_home(args.home)
    _quiet_pydicom()
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
                  f"{', '.join(n.called_aet for n in scp.allowed)}; Ctrl-C to stop",
                  flush=True)
            while not stop.wait(1.0):
                nodes = listener.refresh_nodes()
                if nodes is not None:
                    print("nodes changed; accepting "
                          f"{', '.join(n.called_aet for n in nodes) or 'nobody'}", flush=True)
        finally:
            listener.stop()
    print(f"stopped; {_count(sink.counted.instances, 'instance', 'instances')} received",
          flush=True)
    return EXIT_OK


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

    def __call__(self, item: ReceivedInstance) -> None:
        self.counted(item)

    def many(self, items: list[ReceivedInstance]) -> list[str]:
        """Import a batch (see :meth:`BatchSink.many`) and say what was taken."""
        return list(self.counted.many(items))

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


def run_config_show(args: argparse.Namespace) -> int:
    """Handler of ``lightbox config show``."""
    settings = load_network_settings(cli_home(args.home))
    data = settings.to_mapping()
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        print()
    else:
        for key, value in data.items():
            print(f"{key.replace('_', '-'):<14} {value}")
    return EXIT_OK


def run_config_set(args: argparse.Namespace) -> int:
    """Handler of ``lightbox config set KEY VALUE [KEY VALUE ...]``."""
    if len(args.pairs) % 2:
        raise UsageError("config set takes KEY VALUE pairs, e.g. tls-cert me.pem "
                         "tls-key me.key")
    pairs = list(zip(args.pairs[::2], args.pairs[1::2], strict=True))
    home = cli_home(args.home)
    settings = load_network_settings(home).with_values(pairs)
    save_network_settings(home, settings)
    if any(key.replace("_", "-") in ("tls-cert", "tls-key", "tls-ca") for key, _ in pairs):
        settings.warn_about_tls_files()
    for key, _ in pairs:
        print(f"{key.replace('_', '-')} = {getattr(settings, key.replace('-', '_'))}")
    return EXIT_OK
