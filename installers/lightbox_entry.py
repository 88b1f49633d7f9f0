"""Entry script of the frozen Lightbox application (PyInstaller runs this file)."""

from __future__ import annotations

import multiprocessing
import os
import sys

from viewer.__main__ import main
from viewer.cli import _registered, build_parser


def _arguments(argv: list[str]) -> list[str]:
    """Files handed over by the desktop (macOS document events, "Open with") go to ``open``."""
    if (
        argv
        and not argv[0].startswith("-")
        and os.path.exists(argv[0])
        and argv[0] not in _registered(build_parser())
    ):
        return ["open", *argv]
    return argv


if __name__ == "__main__":
    # A frozen executable re-enters here for every worker process a pool starts.
    multiprocessing.freeze_support()
    sys.exit(main(_arguments(sys.argv[1:])))
