"""``lightbox conformance``: write the DICOM Conformance Statement (PS3.2) from the code.

The document is rebuilt from the tables the network, media, dicom and imaging layers run
on (see :mod:`viewer.cli.conformance_facts`), so it cannot drift from what Lightbox does;
``docs/conformance-statement.md`` is its committed output and a test fails when the two
differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viewer.cli.conformance_annex import annexes, character_sets, media, security
from viewer.cli.conformance_facts import Facts, collect
from viewer.cli.conformance_network import networking
from viewer.cli.conformance_text import Section, contents, cover, introduction, overview
from viewer.core.errors import LightboxError

DEFAULT_OUTPUT = "docs/conformance-statement.md"


def sections(facts: Facts) -> list[Section]:
    """Every numbered section, in PS3.2 Annex A's order."""
    return [
        overview(facts),
        *introduction(facts),
        *networking(facts),
        *media(facts),
        *character_sets(facts),
        *security(facts),
        *annexes(facts),
    ]


def render(facts: Facts) -> str:
    """The whole statement as Markdown: cover, overview, contents, then the rest (PS3.2 A.0-A.2)."""
    body = sections(facts)
    parts = [cover(facts)]
    for i, s in enumerate(body):
        if i == 1:
            parts.append(contents(body))
        text = f"{'#' * min(s.level + 1, 6)} {s.heading}"
        parts.append(f"{text}\n\n{s.body}" if s.body else text)
    return "\n\n".join(parts).rstrip() + "\n"


def statement() -> str:
    """The Conformance Statement of the running code."""
    return render(collect())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``conformance`` sub-command."""
    p = subparsers.add_parser(
        "conformance",
        help="write the DICOM Conformance Statement",
        description="Generate the DICOM Conformance Statement (PS3.2) from the code: "
        "presentation contexts, query keys, association policies, media profiles, character "
        "sets, security and display consistency, as Markdown.",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help=f"file to write (default: standard output; the repository keeps {DEFAULT_OUTPUT})",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 when FILE differs from what the code generates",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write or check the statement; return the exit status."""
    text = statement()
    if args.output is None:
        if args.check:
            raise LightboxError("--check needs --output FILE to compare with")
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if args.check:
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise LightboxError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if current != text:
            print(f"{path} is out of date: run lightbox conformance -o {path}", file=sys.stderr)
            return 1
        return 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LightboxError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return 0
