"""``lightbox node``, ``echo``, ``query``, ``retrieve``, ``listen`` and ``config``: the network.

This module is the command table: :func:`register` adds the parsers and names each
handler, which lives with its kind of work: :mod:`viewer.cli.net_config` (nodes and our
settings), :mod:`viewer.cli.net_query` (C-ECHO and C-FIND) and
:mod:`viewer.cli.net_receive` (retrieve and listen, the wiring to the study store).
"""

from __future__ import annotations

import argparse
from typing import Any

from viewer.cli.arguments import uid_argument
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
    a.add_argument("name", help="a name of your choice for the node")
    a.add_argument("address", metavar="AET@HOST:PORT",
                   help="the PACS's AE title, host name or IP address, and port")
    _node_options(a)
    a.add_argument("--replace", action="store_true", help="replace a node of that name")
    a.set_defaults(handler=run_node_add)
    e = sub.add_parser("edit", help="change a PACS node")
    e.add_argument("name", help="the node to change")
    e.add_argument("--address", metavar="AET@HOST:PORT",
                   help="the PACS's new AE title, host and port")
    _node_options(e)
    e.set_defaults(handler=run_node_edit)
    s = sub.add_parser("list", help="list the PACS nodes")
    s.add_argument("--json", action="store_true", help="print the nodes as JSON")
    s.set_defaults(handler=run_node_list)
    r = sub.add_parser("remove", help="remove a PACS node")
    r.add_argument("name", help="the node to remove")
    r.set_defaults(handler=run_node_remove)
    t = sub.add_parser("test", help="C-ECHO a node")
    t.add_argument("name", help="a node added with 'lightbox node add'")
    t.set_defaults(handler=run_echo)

    p = subparsers.add_parser("echo", help="verify a node with C-ECHO and time it")
    p.add_argument("name", help="a node added with 'lightbox node add'")
    p.set_defaults(handler=run_echo)

    p = subparsers.add_parser(
        "query", help="search a PACS (C-FIND)",
        description="Search a PACS node. Results are printed as they arrive (with --json, "
        "all at the end); Ctrl-C cancels the query (C-CANCEL). Below study level give "
        "exactly one --study: --level series lists its series, and --level image with "
        "exactly one --series too lists that series' instances.",
        epilog="example: lightbox query pacs --patient 'DOE^J*' --date 20240101- "
        "--modality CT")
    p.add_argument("name", help="a node added with 'lightbox node add'")
    p.add_argument("--level", choices=LEVELS, default="study",
                   help="what to list (default: study)")
    p.add_argument("--model", choices=("study", "patient"), default="study",
                   help="information model: Study Root (default) or Patient Root")
    p.add_argument("--study", action="append", default=[], metavar="UID", type=uid_argument,
                   help="Study Instance UID; repeat for several (study level)")
    p.add_argument("--series", action="append", default=[], metavar="UID", type=uid_argument,
                   help="Series Instance UID; repeat for several (series level)")
    p.add_argument("--instance", action="append", default=[], metavar="UID", type=uid_argument,
                   help="SOP Instance UID; repeat for several")
    p.add_argument("--patient", default="", metavar="NAME",
                   help="patient name, FAMILY^GIVEN; wildcards * and ?")
    p.add_argument("--patient-id", default="", metavar="ID", help="patient ID")
    p.add_argument("--date", default="", metavar="RANGE",
                   help="study date: YYYYMMDD, A-, -B or A-B")
    p.add_argument("--modality", default="", metavar="M",
                   help="e.g. CT; at study level, matched against Modalities in Study")
    p.add_argument("--accession", default="", metavar="A", help="accession number")
    p.add_argument("--description", default="", help="study description (wildcards)")
    p.add_argument("--json", action="store_true", help="JSON array keyed by DICOM keywords")
    p.set_defaults(handler=run_query)

    p = subparsers.add_parser(
        "retrieve", help="retrieve a study, series or instances",
        description="Retrieve from a PACS node into the study database. Running it again "
        "after an interruption asks only for what is missing, where the PACS lists the "
        "instances (or the series and their counts); what arrives twice is stored once. "
        "Ctrl-C cancels; what arrived is kept. Exit status 0 when everything arrived, 1 "
        "when anything did not (the report says what and why), 2 for bad arguments or an "
        "unknown node, 130 when Ctrl-C cancelled it (a second Ctrl-C stops it at once, "
        "without a report).",
        epilog="example: lightbox retrieve pacs --study 1.2.840.113619.2.55.3.1234 "
        "--method get")
    p.add_argument("name", help="a node added with 'lightbox node add'")
    p.add_argument("--study", required=True, metavar="UID", type=uid_argument,
                   help="Study Instance UID")
    p.add_argument("--series", action="append", default=[], metavar="UID", type=uid_argument,
                   help="only this series of the study; repeat for several")
    p.add_argument("--instance", action="append", default=[], metavar="UID", type=uid_argument,
                   help="only this instance (with exactly one --series); repeat for several")
    p.add_argument("--method", choices=RETRIEVE_METHODS,
                   help="get: C-GET; move: C-MOVE to our storage SCP; auto: C-GET, then "
                   "C-MOVE for what it did not bring (default: the node's method)")
    p.add_argument("--model", choices=("study", "patient"), default="study",
                   help="information model: Study Root (default) or Patient Root")
    p.add_argument("--patient-id", default="", metavar="ID",
                   help="the study's patient ID (Patient Root needs it)")
    p.add_argument("--json", action="store_true", help="print the final report as JSON")
    p.set_defaults(handler=run_retrieve)

    p = subparsers.add_parser(
        "listen", help="run the storage SCP in the foreground",
        description="Run the storage SCP for the configured nodes until Ctrl-C. Exit status "
        "0, or 1 when an instance was received but not imported (kept in the home's "
        "incoming folder; a warning says why).")
    p.add_argument("--port", type=int, help="override the configured storage port")
    p.add_argument("--tls-port", type=int, help="override the configured DICOM TLS port")
    p.set_defaults(handler=run_listen)

    p = subparsers.add_parser("config", help="the local AE title and storage port")
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    sh = sub.add_parser("show", help="print the network settings")
    sh.add_argument("--json", action="store_true", help="print the settings as JSON")
    sh.set_defaults(handler=run_config_show)
    st = sub.add_parser("set", help="change settings (ae-title, port, bind-address, "
                        "always-listen, max-pdu, tls-cert, tls-key, tls-ca, tls-port)",
                        description="Give one or more KEY VALUE pairs; they are checked "
                        "together (e.g. tls-cert F tls-key F tls-ca F). An empty value "
                        "clears a TLS file.")
    st.add_argument("pairs", nargs="+", metavar="KEY VALUE",
                    help="e.g. ae-title LIGHTBOX port 11112")
    st.set_defaults(handler=run_config_set)


def _node_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calling-aet", metavar="A", help="our AE title towards this node")
    p.add_argument("--sending-aet", metavar="A", help="the AE title the PACS sends from "
                   "(C-MOVE), if not the one we call; an empty value clears it")
    p.add_argument("--method", choices=RETRIEVE_METHODS,
                   help="how to retrieve from this node: get (C-GET), move (C-MOVE to our "
                   "storage SCP) or auto (C-GET, then C-MOVE for what it did not bring)")
    p.add_argument("--tls-ca", metavar="F", help="CA bundle (PEM) that signs the PACS "
                   "certificate; turns TLS on")
    p.add_argument("--tls-cert", metavar="F", help="our client certificate (PEM)")
    p.add_argument("--tls-key", metavar="F", help="the key of --tls-cert (PEM)")
    p.add_argument("--no-hostname-check", action="store_true",
                   help="accept a certificate that does not name the host (still signed)")
    p.add_argument("--hostname-check", action="store_true",
                   help="check again that the PACS certificate names the host (default)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="seconds to wait for any answer of the PACS: the connection, the "
                   "association and each message (a connect_timeout, acse_timeout or "
                   "dimse_timeout set on its own in nodes.toml is kept)")
