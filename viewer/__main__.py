"""Entry point of ``python -m viewer`` and of the ``lightbox`` command."""

from __future__ import annotations

import sys

from viewer.cli import main as cli_main
from viewer.core.paths import private_umask


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen sub-command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The process exit status.
    """
    private_umask()
    return cli_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
