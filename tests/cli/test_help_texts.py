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
