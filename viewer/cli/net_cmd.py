"""``lightbox node``, ``echo``, ``query``, ``retrieve``, ``listen`` and ``config``: the network.

This module is the command table: :func:`register` adds the parsers and names each
handler, which lives with its kind of work: :mod:`viewer.cli.net_config` (nodes and our
settings), :mod:`viewer.cli.net_query` (C-ECHO and C-FIND) and
:mod:`viewer.cli.net_receive` (retrieve and listen, the wiring to the study store).
"""

from __future__ import annotations

import argparse
from typing import Any

from viewer.cli.net_config import (
    run_config_set,
    run_config_show,
    run_node_add,
    run_node_edit,
    run_node_list,
    run_node_remove,
)
from viewer.cli.net_query import run_echo, run_query
from viewer.cli.net_receive import run_listen, run_retrieve
from viewer.net.nodes import RETRIEVE_METHODS
from viewer.net.query import LEVELS


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
