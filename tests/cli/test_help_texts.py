"""Every command, option and argument of ``lightbox`` says in ``--help`` what it is for."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from viewer.cli import build_parser


def _parsers(parser: argparse.ArgumentParser, path: str
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_argument_has_a_help_text() -> None:
    missing = []
    for path, parser in _parsers(build_parser(), "lightbox"):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in action._choices_actions}
                missing += [f"{path} {name}" for name in action.choices if not helps.get(name)]
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "without a help text: " + ", ".join(missing)


def _help(*command: str) -> str:
    parser = build_parser()
    for name in command:
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = sub.choices[name]
    # One line per paragraph: argparse wraps at the terminal's width.
    return " ".join(parser.format_help().split())


def test_import_help_gives_every_reason_for_exit_status_one() -> None:
    text = _help("import")
    assert "1 when some files failed, no DICOM file was found in a PATH" in text
    assert "files the DICOMDIR names are not on the medium" in text
    assert "links are broken" in text


def test_identifier_options_say_they_match_the_beginning() -> None:
    text = _help("studies")
    assert "--patient-id ID patient ID, or its beginning" in text
    assert "--accession A accession number, or its beginning" in text


def test_node_timeout_says_it_bounds_every_wait() -> None:
    for action in ("add", "edit"):
        text = _help("node", action)
        assert ("--timeout S seconds to wait for any answer of the PACS: the connection, "
                "the association and each message") in text
