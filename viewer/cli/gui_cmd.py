"""``lightbox open``: the reading workstation (also what ``lightbox`` alone starts)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``open`` sub-command."""
    p = subparsers.add_parser(
        "open",
        help="open the viewer (on files, a stored study or the demo study)",
        description="Open the Lightbox reading workstation. Without arguments it shows the "
        "study browser of the local database.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="DICOM files or folders to view")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--study", metavar="UID", help="a study of the local database")
    source.add_argument("--demo", action="store_true", help="the bundled demo study")
    p.add_argument("--layout", metavar="RxC", help="viewport layout, e.g. 1x1, 2x2, 1x2")
    p.add_argument("--window", nargs=2, type=float, metavar=("CENTER", "WIDTH"),
                   help="window for every viewport, in modality units (HU for CT)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render the window, save it as PNG and exit (needs a display)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Start the GUI (imported here so that the other commands never load Qt)."""
    if (args.study or args.demo) and args.paths:
        from viewer.core.errors import UsageError

        raise UsageError("give PATHs, --study or --demo, not several")
    from viewer.app import run_gui

    return run_gui(args)
