"""``lightbox echo`` (and ``node test``) and ``lightbox query``: asking a PACS.

C-ECHO times a node; C-FIND prints its matches as they come, one line each or a JSON
array, and says so when the PACS cut the list short or Ctrl-C did.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from viewer.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from viewer.cli.net_common import interruptible, node_context, quiet_pydicom
from viewer.core.dates import parse_date_range
from viewer.core.terminal import column, for_terminal, marked_column, write_json
from viewer.net.connection import CancelToken
from viewer.net.echo import echo
from viewer.net.query import QuerySpec, TruncatedQueryError, find


def run_echo(args: argparse.Namespace) -> int:
    """Handler of ``lightbox echo`` and ``lightbox node test``."""
    _, node, local = node_context(args)
    token = CancelToken()
    with interruptible(token):
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


def run_query(args: argparse.Namespace) -> int:
    """Handler of ``lightbox query``."""
    # Checked before anything is sent: an impossible date would go out as it is.
    parse_date_range(args.date)
    _, node, local = node_context(args)
    quiet_pydicom()
    spec = QuerySpec(
        level=args.level, model=args.model, patient_name=args.patient,
        patient_id=args.patient_id, study_date=args.date.strip(), modality=args.modality,
        accession_number=args.accession, study_description=args.description,
        study_uids=tuple(args.study), series_uids=tuple(args.series),
        sop_uids=tuple(args.instance),
    ).validated()
    token = CancelToken()
    results = []
    count = 0
    truncated: TruncatedQueryError | None = None
    with interruptible(token):
        try:
            for match in find(node, local, spec, token):
                count += 1
                if args.json:
                    results.append(match)
                else:
                    # Values come from the PACS: an ESC in a name must not drive the terminal.
                    print(for_terminal(_query_line(args.level, match)))
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
        write_json(output, sys.stdout)
        print()
    if truncated is not None:
        print(f"lightbox: {truncated}", file=sys.stderr)
        return EXIT_FAILED
    if token.cancelled:
        # What arrived is printed, but it may not be every match: not a success.
        print("lightbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not count and not args.json:
        # An empty list and a command that did nothing look alike ("[]" says it in JSON).
        print(f"lightbox: {node.name}: no matches", file=sys.stderr)
    return EXIT_OK


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns, never cut: a PACS's value is shown
    whole (:func:`~viewer.core.terminal.column`)."""
    return column(text, width, cut=False)


def _query_line(level: str, m: dict[str, Any]) -> str:
    def g(key: str) -> str:
        # A value the PACS left empty is None (a number) or [] (several values): blank.
        value = m.get(key)
        if isinstance(value, list):
            return "\\".join("" if v is None else str(v) for v in value)
        return "" if value is None else str(value)

    if level in ("patient",):
        return f"{_pad(g('PatientID'), 16)} {g('PatientName')}"
    if level == "study":
        return (f"{g('StudyDate'):<9} {marked_column(g('ModalitiesInStudy'), 11)} "
                f"{_pad(g('AccessionNumber'), 12)} {_pad(g('PatientID'), 12)} "
                f"{_pad(g('PatientName'), 28)} {_pad(g('StudyDescription'), 24)} "
                f"{g('StudyInstanceUID')}")
    if level == "series":
        return (f"{g('SeriesNumber'):>4} {g('Modality'):<4} "
                f"{g('NumberOfSeriesRelatedInstances'):>5} {_pad(g('SeriesDescription'), 30)} "
                f"{g('SeriesInstanceUID')}")
    return f"{g('InstanceNumber'):>5} {g('SOPClassUID'):<30} {g('SOPInstanceUID')}"
