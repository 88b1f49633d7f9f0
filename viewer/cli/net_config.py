"""``lightbox node`` and ``lightbox config``: the PACS nodes and our own network settings.

Nodes are checked as they are saved, TLS files included (loaded now, not at a node's first
association); ``config set`` checks its KEY VALUE pairs together.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from viewer.cli import EXIT_OK
from viewer.cli.home import cli_home, existing_home
from viewer.core.errors import PeerError, UsageError
from viewer.core.settings import load_network_settings, network_settings_with, save_network_settings
from viewer.core.terminal import for_terminal
from viewer.core.tls_files import tls_file_warnings
from viewer.net.listener import ListenerFile
from viewer.net.nodes import NodeBook, NodeRecord, parse_address
from viewer.net.tls import client_ssl_context

LOGGER = logging.getLogger(__name__)


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
    return out


def _warn_about_stray(book: NodeBook) -> None:
    """After a save: say that entries outside any node table are still there, unread."""
    if book.stray:
        LOGGER.warning("%s", book.stray_problem())


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
    if args.timeout is not None:
        node = node.with_timeout(args.timeout)
    _check_tls_files(node)
    book.add(node, replace_existing=args.replace)
    _warn_about_stray(book)
    print(f"added {node.name}: {node.address}" + (" (TLS)" if node.uses_tls else ""))
    return EXIT_OK


def run_node_edit(args: argparse.Namespace) -> int:
    """Handler of ``lightbox node edit``."""
    book = NodeBook(existing_home(args.home))
    changes = _changes(args)
    if args.address:
        aet, host, port = parse_address(args.address)
        changes.update(called_aet=aet, host=host, port=port)
    if not changes and args.timeout is None:
        raise UsageError("nothing to change: give --address or another option")
    was_tls = any(n.name == args.name and n.uses_tls for n in book)  # valid nodes only
    node = book.edit(args.name, check=_check_tls_files, timeout=args.timeout, **changes)
    print(f"changed {node.name}: {node.address}"
          + (" (TLS turned off: plain DICOM now)" if was_tls and not node.uses_tls else ""))
    if args.timeout is not None:
        for key in node.separate_timeouts():
            print(f"{key} stays {getattr(node, key):g} s: nodes.toml sets it on its own")
    _warn_about_stray(book)
    return EXIT_OK


def run_node_list(args: argparse.Namespace) -> int:
    """Handler of ``lightbox node list``."""
    book = NodeBook(existing_home(args.home))
    if args.json:
        json.dump([{"name": n.name, **n.to_mapping()} for n in book]
                  + [{"name": n.name, **n.table, "invalid": n.reason} for n in book.invalid]
                  + [{"name": key, "invalid": book.stray_problem(key)} for key in book.stray],
                  sys.stdout, indent=2, default=str)
        print()
        return EXIT_OK
    if not len(book) and not book.invalid and not book.stray:
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
        # Names and values as the file has them: control characters spelled out.
        print(for_terminal(f"{bad.name:<16} {bad.address:<40} INVALID: {bad.reason}"))
    for key in book.stray:
        print(for_terminal(f"{key:<16} {'-':<40} INVALID: {book.stray_problem(key)}"))
    return EXIT_OK


def run_node_remove(args: argparse.Namespace) -> int:
    """Handler of ``lightbox node remove``."""
    NodeBook(existing_home(args.home)).remove(args.name)
    print(f"removed {args.name}")
    return EXIT_OK


def run_config_show(args: argparse.Namespace) -> int:
    """Handler of ``lightbox config show``."""
    settings = load_network_settings(existing_home(args.home))
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
    settings = network_settings_with(home, pairs)  # may put right a bad value of the file
    save_network_settings(home, settings)
    if any(key.replace("_", "-") in ("tls-cert", "tls-key", "tls-ca") for key, _ in pairs):
        settings.warn_about_tls_files()
    for key, _ in pairs:
        print(f"{key.replace('_', '-')} = {getattr(settings, key.replace('-', '_'))}")
    _note_running_listener(home, {key.replace("_", "-") for key, _ in pairs})
    return EXIT_OK


# What a running storage SCP took at its start and keeps until it is restarted.
_LISTENER_KEYS = frozenset({"ae-title", "port", "tls-port", "bind-address", "max-pdu",
                            "tls-cert", "tls-key", "tls-ca"})


def _note_running_listener(home: Path, keys: set[str]) -> None:
    """Say that the home's running storage SCP keeps its settings until restarted."""
    record = ListenerFile(home).live()
    changed = sorted(keys & _LISTENER_KEYS)
    if record is None or not changed:
        return
    print(f"lightbox: note: the storage SCP of this home (process {record.pid}, AE "
          f"{record.ae_title}, port {record.port}) keeps its {', '.join(changed)} until it "
          "is restarted: restart lightbox listen (or the application)", file=sys.stderr)
