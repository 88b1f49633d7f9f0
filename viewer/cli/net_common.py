"""What the network commands share: a command's node and settings, Ctrl-C as a cancel.

``lightbox echo``, ``query`` and ``retrieve`` name a node and run under
:func:`interruptible`; ``query``, ``retrieve`` and ``listen`` keep pydicom's warnings about
what a peer sends quiet (:func:`quiet_pydicom`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from viewer.cli import say_in_handler
from viewer.cli.home import cli_home
from viewer.core.settings import NetworkSettings, load_network_settings
from viewer.net.connection import CancelToken
from viewer.net.nodes import NodeBook, NodeRecord


def node_context(args: argparse.Namespace) -> tuple[Path, NodeRecord, NetworkSettings]:
    """The home, the node ``args.name`` and our network settings, for a command."""
    home = cli_home(args.home)
    return home, NodeBook(home).get(args.name), load_network_settings(home)


@contextlib.contextmanager
def interruptible(token: CancelToken) -> Iterator[None]:
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


def quiet_pydicom() -> None:
    """Keep pydicom's warnings about what a peer sends (small standard violations) quiet."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    logging.getLogger("pydicom").setLevel(logging.ERROR)
