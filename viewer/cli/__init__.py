"""Headless sub-commands of ``lightbox``.

Each sub-command module exposes ``register(subparsers)``, which adds its parsers and sets
``handler`` (a function of the parsed arguments returning the exit status). Errors that a
user can act on are :class:`viewer.core.errors.LightboxError`; they are printed as one line,
never with a traceback, and end the command with status 2 (bad arguments), except a DICOM
peer's or the network's failure (:class:`~viewer.core.errors.PeerError`), which ends it with
status 1, and a cancel (Ctrl-C), which ends it with status 130 (128 + SIGINT, as a shell shows
it). A reader that stops reading (``lightbox studies --json | head -1``) ends the command
quietly, with status 141 (128 + SIGPIPE, what a shell shows for a program that SIGPIPE ended).

pynetdicom logs its own view of a failure (``ERROR pynetdicom.acse: ACSE timeout reached``)
next to Lightbox's explanation of it, and even of a cancel the user asked for: its logger
is silenced unless ``-v`` is given (``-v`` shows its INFO, ``-vv`` its DEBUG lines).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from viewer import __version__
from viewer.core.errors import CancelledError, LightboxError, PeerError
from viewer.core.terminal import for_terminal, tolerate_unencodable

# Order is the order of ``lightbox --help``.
_COMMAND_MODULES = (
    "viewer.cli.gui_cmd",
    "viewer.cli.render_cmd",
    "viewer.cli.store_cmd",
    "viewer.cli.net_cmd",
    "viewer.cli.conformance_cmd",
)

EXIT_OK = 0
EXIT_PARTIAL = 1
#: A peer or the network failed (the same status as a partial result: the command did not
#: do all it was asked); 2 stays for what the user can fix in the command line.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + 2  # SIGINT
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def say_in_handler(text: str) -> None:
    """Write ``text`` to stderr from a signal handler (the first Ctrl-C's "cancelling").

    Past ``sys.stderr``'s buffer: the handler runs between two bytecodes of the main
    thread, which may be inside a write of the progress line to that same stream, and a
    buffered stream refuses a write from inside its own ("reentrant call").
    """
    # A write under way is finished after the handler returns: then nothing to flush.
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        os.write(2, text.encode("utf-8", "replace"))


def build_parser() -> argparse.ArgumentParser:
    """Return the ``lightbox`` argument parser with every sub-command registered."""
    parser = _Parser(prog="lightbox", description="Lightbox DICOM viewer")
    parser.add_argument("--version", action="version", version=f"lightbox {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="Lightbox home folder (study database, file store, settings); "
        "default: $LIGHTBOX_HOME or the user's data folder",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``lightbox`` with ``argv`` (without the program name) and return the exit status."""
    tolerate_unencodable(sys.stdout, sys.stderr)
    try:
        # The sub-command modules import numpy, pydicom, pynetdicom...: half a second in
        # which a Ctrl-C is as much a cancel as later, not a traceback of the imports.
        parser = build_parser()
        args = parser.parse_args(list(argv))
    except KeyboardInterrupt:
        print("lightbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    handler = logging.StreamHandler()
    handler.setFormatter(_TerminalFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), handlers=[handler])
    pynetdicom_log = logging.getLogger("pynetdicom")
    pynetdicom_level = pynetdicom_log.level
    if not args.verbose:
        # Lightbox explains every failure pynetdicom logs (and a cancel is no error); with
        # -v its lines follow the root level, as before. Restored at the end for callers
        # that go on running in this process (the tests).
        pynetdicom_log.setLevel(logging.CRITICAL)
    try:
        return _run(parser, args, argv)
    finally:
        pynetdicom_log.setLevel(pynetdicom_level)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
         ) -> int:
    """Run the sub-command of ``args`` and map its errors to exit statuses."""
    handler = getattr(args, "handler", None)
    if handler is None:
        # No sub-command: the reading workstation, like double-clicking the icon.
        # Only global options were given (e.g. --home DIR): they stay before "open".
        args = parser.parse_args([*argv, "open"]) if "open" in _registered(parser) else args
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return EXIT_USAGE
    try:
        status: int = handler(args)
        # Flushed here, not at exit: a reader gone away is noticed while it can be handled.
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except CancelledError:
        # The user's Ctrl-C, taken as a cancel (an association request given up).
        print("lightbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PeerError as exc:
        # Not the command line's fault: running it again may succeed.
        print(f"lightbox: {_lines_for_terminal(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except LightboxError as exc:
        print(f"lightbox: {_lines_for_terminal(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lightbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return status


def _lines_for_terminal(text: str) -> str:
    """``text`` with its control characters written out, its line breaks kept: messages
    quote file names and header values, which may hold an ESC that retitles or clears
    the terminal."""
    return "\n".join(for_terminal(line) for line in text.split("\n"))


class _TerminalFormatter(logging.Formatter):
    """Log lines with the message's control characters written out (see
    :func:`_lines_for_terminal`); a traceback, added after, is left as it is."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        record.message = _lines_for_terminal(record.message)
        return super().formatMessage(record)


def _discard_stdout() -> None:
    """Point stdout at the null device: what is still buffered for the reader that went
    away would fail again at exit, with an "Exception ignored" message."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # replaced by a stream without a file
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _registered(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()
