"""``lightbox import``, ``studies``, ``series``, ``delete`` and ``check``: the local study
database.

Reports go to stdout (``--json`` for a machine-readable one); the progress bar goes to
stderr and only when stderr is a terminal (plain progress lines every few seconds
otherwise, so a log shows the import is alive).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import threading
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from viewer.cli import EXIT_INTERRUPTED, say_in_handler
from viewer.cli.arguments import uid_argument
from viewer.cli.home import cli_home, existing_home, listed_home
from viewer.core.dates import parse_date_range
from viewer.core.errors import UsageError
from viewer.core.imports import ImportProgress, ImportReport
from viewer.core.records import SeriesRecord, StudyFilter, StudyRecord
from viewer.core.terminal import column, for_terminal, marked_column, write_json
from viewer.media import import_media
from viewer.store import Findings, RepairLog, StudyStore, check_home, repair_home
from viewer.store.verify import KINDS

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    """Add ``import``, ``studies``, ``series``, ``delete`` and ``check`` to the parser."""
    p = subparsers.add_parser(
        "import",
        help="import a disc, folder, DICOMDIR or zip into the study database",
        description="Import every DICOM instance under PATH (a mount point, folder, DICOMDIR "
        "file or zip). Exit status 0 when everything was imported; 1 when some files "
        "failed, no DICOM file was found in a PATH (is the disc mounted?), files the "
        "DICOMDIR names are not on the medium, or links are broken (the report says "
        "which); 130 when Ctrl-C cancelled the import (a second Ctrl-C stops it at once, "
        "without a report).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a mount point, folder, DICOMDIR file or zip; several may be given")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run_import)

    p = subparsers.add_parser("studies", help="list the studies in the database")
    p.add_argument("--json", action="store_true", help="JSON array keyed by DICOM keywords")
    p.add_argument("--patient", default="", metavar="NAME", help="name; * and ? wildcards")
    p.add_argument("--patient-id", default="", metavar="ID",
                   help="patient ID, or its beginning (PID00 finds PID001 and PID002)")
    p.add_argument("--date", default="", metavar="RANGE",
                   help="study date: YYYYMMDD, A-, -B or A-B")
    p.add_argument("--modality", default="", metavar="MOD",
                   help="a modality of the study, e.g. CT; * and ? wildcards")
    p.add_argument("--accession", default="", metavar="A",
                   help="accession number, or its beginning")
    p.add_argument("--description", default="", metavar="TEXT", help="study description")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    p.set_defaults(handler=run_studies)

    p = subparsers.add_parser("series", help="list the series of a study")
    p.add_argument("study_uid", metavar="STUDY_UID", type=uid_argument,
                   help="as 'lightbox studies' lists it")
    p.add_argument("--json", action="store_true", help="JSON array keyed by DICOM keywords")
    p.set_defaults(handler=run_series)

    p = subparsers.add_parser("delete", help="delete a study and its files")
    p.add_argument("study_uid", metavar="STUDY_UID", type=uid_argument,
                   help="as 'lightbox studies' lists it")
    p.set_defaults(handler=run_delete)

    p = subparsers.add_parser(
        "check",
        help="verify the study database against the file store (and repair it)",
        description="Check the database (integrity, foreign keys), every row's file "
        "(missing, size, filed under other UIDs than its file's), files without a row, and "
        "the study and series counts. Exit status 0 when the home is sound (or everything "
        "found was repaired), 1 when problems remain, 130 when Ctrl-C cancelled the repair "
        "(a second Ctrl-C stops it at once, without a report).",
    )
    p.add_argument("--repair", action="store_true",
                   help="repair what was found (no DICOM file is ever deleted)")
    p.add_argument("--deep", action="store_true",
                   help="read every stored file's header, not only where the path disagrees")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(handler=run_check)


def _quiet_pydicom() -> None:
    # Real media are full of small standard violations; they are not the user's problem.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    logging.getLogger("pydicom").setLevel(logging.ERROR)


class _Progress:
    """A progress bar on a terminal, periodic lines elsewhere, to stderr."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, state: ImportProgress) -> None:
        now = time.monotonic()
        final = state.phase == "done"
        if not final and now - self.last < (0.1 if self.tty else 5.0):
            return
        self.last = now
        if state.phase == "scan":
            text = f"scanning: {state.files_done} files"
        elif state.phase == "directory":
            text = f"reading DICOMDIR: {for_terminal(state.current)}"
        else:
            total = max(state.files_total, 1)
            fraction = min(state.files_done / total, 1.0)
            rate = state.bytes_done / max(now - self.started, 1e-6) / 1e6
            bar = "#" * int(fraction * 30)
            text = (
                f"[{bar:<30}] {state.files_done}/{state.files_total} files "
                f"{state.bytes_done / 1e6:.1f} MB {rate:.1f} MB/s "
                f"{state.studies_found} studies"
            )
        if self.tty:
            self.stream.write("\r" + text[:120].ljust(80))
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def run_import(args: argparse.Namespace) -> int:
    """Handler of ``lightbox import``."""
    paths = [_import_source(text) for text in args.paths]
    _quiet_pydicom()
    home = cli_home(args.home)
    stop = threading.Event()
    # Off the progress bar's line on a terminal; elsewhere each progress line is ended.
    lead = "\n" if sys.stderr.isatty() else ""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            # The second Ctrl-C: the user will not wait for the batch under way (a slow
            # disc, a large DICOMDIR being read). It ends the command as any exception
            # does: the open transaction is rolled back and a zip's extracted files
            # removed; what was committed stays, as after a kill, which the store is
            # made to survive at any point.
            raise KeyboardInterrupt
        stop.set()
        say_in_handler(f"{lead}cancelling: the import stops after the files under way "
             "(Ctrl-C again to stop at once)\n")

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        with StudyStore.open(home) as store:
            report = import_media(
                paths,
                store,
                progress=_Progress(sys.stderr),
                cancel=stop.is_set,
                work_dir=home / "tmp",
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        write_json(report.to_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        print_report(report, sys.stdout)
    if report.cancelled:
        # 130, as for every Ctrl-C (viewer.cli): a script must not take an import the user
        # stopped for one that ran to its end with some files failed.
        print("lightbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok else EXIT_PARTIAL


def _import_source(text: str) -> Path:
    """A PATH argument of ``import``, checked before anything is opened.

    One that is not there (or is neither a file nor a folder) is a usage error; one that
    is there but cannot be looked at is the import's to report, under Failed.
    """
    if not text:
        # Path("") is ".": an empty variable in a script would import the current folder.
        raise UsageError("empty path: name a disc, folder, DICOMDIR or zip to import")
    path = Path(text)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"{path}: no such file or folder") from None
    except OSError:
        # There but not readable (a folder on its path without permission): the import
        # names it under Failed and goes on with the other paths, as for a locked folder
        # on a medium; one such path must not keep the readable ones out.
        return path
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        # A FIFO would block the first read; a device is not a medium's folder.
        raise UsageError(f"{path}: not a file or folder")
    return path


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def print_report(report: ImportReport, out: TextIO) -> None:
    """The import report in words, one line per fact (names from the medium
    :func:`for_terminal`: control characters and bytes that are not UTF-8 spelled out)."""

    def w(line: str) -> None:
        out.write(for_terminal(line) + "\n")

    w(f"Files examined: {report.files_seen} ({report.bytes_read / 1e6:.1f} MB)")
    w(
        f"Added: {_count(report.studies_added, 'study', 'studies')}, "
        f"{report.series_added} series, "
        f"{_count(report.instances_added, 'instance', 'instances')}"
    )
    w(f"Already present: {_count(report.instances_present, 'instance', 'instances')}")
    if report.copies:
        w(f"Identical copies on the medium (stored once): {report.copies}")
    w(
        f"Found on the medium: {_count(len(report.studies), 'study', 'studies')}, "
        f"{_count(len(report.instance_uids), 'instance', 'instances')}; "
        f"stored: {report.instances_stored}"
    )
    for title, problems in (
        ("Failed", report.failed),
        ("Same UID, different content (stored file kept)", report.conflicts),
    ):
        if problems:
            w(f"{title}: {len(problems)}")
            for problem in problems:
                w(f"  {problem.path}: {problem.reason}")
    if report.missing:
        w(f"Named in the DICOMDIR but not on the medium: {len(report.missing)}")
        for path in report.missing:
            w(f"  {path}")
    if report.not_in_dicomdir:
        w(f"On the medium but not in the DICOMDIR (imported): {len(report.not_in_dicomdir)}")
        for path in report.not_in_dicomdir[:_LISTED]:
            w(f"  {path}")
        if len(report.not_in_dicomdir) > _LISTED:
            w(f"  ... and {len(report.not_in_dicomdir) - _LISTED} more")
    if report.skipped:
        w(f"Skipped: {len(report.skipped)}")
        for problem in report.skipped:
            w(f"  {problem.path}: {problem.reason}")
    for note in report.notes:
        w(f"Note: {note}")
    for source in report.no_dicom_found:
        w(f"No DICOM files found in {source}")
    if report.stopped:
        w(f"Import stopped: {report.stopped}.")
        w("The medium is NOT complete in the database; keep it.")
    elif report.cancelled:
        w("Import cancelled: the medium is NOT complete in the database.")
    elif report.safe_to_eject:
        w("Complete: every instance found is in the database; safe to eject.")
    elif report.failed or report.conflicts or not report.complete:
        w("INCOMPLETE: some files could not be imported; keep the medium.")
    else:
        w("NOT safe to eject: no DICOM files were found (is the disc mounted, is it the "
          "right folder?); keep the medium.")


def study_json(study: StudyRecord) -> dict[str, object]:
    """A study keyed by DICOM keywords (PS3.4 C.6.1.1.2/C.6.1.1.3)."""
    return {
        "StudyInstanceUID": study.study_uid,
        "PatientName": study.patient.patient_name,
        "PatientID": study.patient.patient_id,
        "PatientBirthDate": study.patient.birth_date,
        "PatientSex": study.patient.sex,
        "StudyDate": study.study_date,
        "StudyTime": study.study_time,
        "AccessionNumber": study.accession_number,
        "StudyID": study.study_id,
        "StudyDescription": study.study_description,
        "ReferringPhysicianName": study.referring_physician,
        "ModalitiesInStudy": list(study.modalities),
        "NumberOfStudyRelatedSeries": study.number_of_series,
        "NumberOfStudyRelatedInstances": study.number_of_instances,
        # Lightbox's own keys (lower case, never a DICOM keyword): how many instances the
        # study's source (its DICOMDIR, its PACS) said it has, and how many of those are
        # not here; null when no source said.
        "expected_instances": study.expected_instances,
        "missing_instances": (None if study.expected_instances is None
                              else study.missing_instances),
    }


def series_json(series: SeriesRecord) -> dict[str, object]:
    """A series keyed by DICOM keywords (PS3.4 C.6.1.1.4)."""
    return {
        "SeriesInstanceUID": series.series_uid,
        "StudyInstanceUID": series.study_uid,
        "Modality": series.modality,
        "SeriesNumber": series.series_number,
        "SeriesDescription": series.series_description,
        "BodyPartExamined": series.body_part,
        "NumberOfSeriesRelatedInstances": series.number_of_instances,
    }


_LONGEST_FILTER = 1024


def run_studies(args: argparse.Namespace) -> int:
    """Handler of ``lightbox studies``."""
    date_from, date_to = parse_date_range(args.date)
    if args.limit < 0:
        raise UsageError("--limit must be 0 or more")
    # More than any store holds means no limit; SQLite takes 64-bit integers only.
    limit = min(args.limit, 2**62)
    for option in ("patient", "patient_id", "modality", "accession", "description"):
        # No stored value is this long (PN: 3 groups of 64, PS3.5 6.2), and SQLite
        # refuses a LIKE pattern over 50,000 characters with an error of its own.
        if len(getattr(args, option)) > _LONGEST_FILTER:
            raise UsageError(f"--{option.replace('_', '-')}: {len(getattr(args, option))} "
                             f"characters; a filter has at most {_LONGEST_FILTER}")
    study_filter = StudyFilter(
        patient_name=args.patient,
        patient_id=args.patient_id,
        date_from=date_from,
        date_to=date_to,
        modality=args.modality,
        accession_number=args.accession,
        study_description=args.description,
        limit=limit,
    )
    with StudyStore.open(listed_home(args.home)) as store:
        studies = store.studies(study_filter)
    if args.json:
        write_json([study_json(s) for s in studies], sys.stdout)
        sys.stdout.write("\n")
        return EXIT_OK
    for s in studies:
        # Cut to the column first, then escaped: an escape is never cut in half (a name
        # with control characters only pushes its line's columns to the right).
        print(for_terminal(
            f"{s.study_date:8}  {column(s.patient.patient_name, 30)}  "
            f"{column(s.patient.patient_id, 16)}  "
            f"{marked_column('/'.join(s.modalities), 11)}  {s.number_of_series:3} ser "
            f"{s.number_of_instances:5} img"
            f"  {column(s.study_description, 30)}  {s.study_uid}"
            + (f"  INCOMPLETE: {s.missing_instances} of {s.expected_instances} not here"
               if s.missing_instances else "")
        ))
    if not studies:
        # On stderr, as `query` says "no matches": an empty list on stdout stays empty.
        print("lightbox: no studies match", file=sys.stderr)
    return EXIT_OK


def run_series(args: argparse.Namespace) -> int:
    """Handler of ``lightbox series``."""
    with StudyStore.open(listed_home(args.home)) as store:
        if store.study(args.study_uid) is None:
            raise UsageError(f"{args.study_uid}: no such study in the database")
        series = store.series(args.study_uid)
    if args.json:
        write_json([series_json(s) for s in series], sys.stdout)
        sys.stdout.write("\n")
        return EXIT_OK
    for s in series:
        number = "" if s.series_number is None else str(s.series_number)
        print(for_terminal(
            f"{number:>5}  {s.modality:4}  {s.number_of_instances:5} img  "
            f"{column(s.series_description, 40)}  {s.series_uid}"
        ))
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    """Handler of ``lightbox delete``."""
    with StudyStore.open(listed_home(args.home)) as store:
        if store.study(args.study_uid) is None:
            raise UsageError(f"{args.study_uid}: no such study in the database")
        removed = store.delete_study(args.study_uid)
    print(for_terminal(f"Deleted study {args.study_uid} ({removed} instances)"))
    return EXIT_OK


# The problem kinds in words, and how many of each are listed before "... and N more".
_TITLES = {
    "database": "database problems",
    "missing": "rows whose file is missing",
    "size_mismatch": "rows whose file has another size than recorded",
    "orphans": "files without a row",
    "misfiled": "rows filed under other UIDs than their file's",
    "counts": "counts that disagree with the rows",
}
_LISTED = 20


def run_check(args: argparse.Namespace) -> int:
    """Handler of ``lightbox check``."""
    _quiet_pydicom()
    home = existing_home(args.home)
    found = check_home(home, deep=args.deep)
    log: RepairLog | None = None
    after = found
    stop = threading.Event()
    if args.repair:
        log = RepairLog()
        if not found.sound:
            lead = "\n" if sys.stderr.isatty() else ""

            def interrupt(_signum: int, _frame: FrameType | None) -> None:
                if stop.is_set():
                    # As for import: the second Ctrl-C ends the command at once; what the
                    # repair committed stays, as after a kill, and a new repair goes on.
                    raise KeyboardInterrupt
                stop.set()
                say_in_handler(f"{lead}cancelling: the repair stops after the files under "
                               "way (Ctrl-C again to stop at once)\n")

            previous = signal.signal(signal.SIGINT, interrupt)
            try:
                # A progress bar only where someone watches: most repairs import a few files.
                log = repair_home(home, found, cancel=stop.is_set,
                                  progress=_Progress(sys.stderr) if sys.stderr.isatty() else None)
            finally:
                signal.signal(signal.SIGINT, previous)
            after = check_home(home, deep=args.deep)
    if args.json:
        out = found.to_json()
        if log is not None:
            out["repair"] = {**log.to_json(), "cancelled": stop.is_set(),
                             "after": after.to_json()}
        write_json(out, sys.stdout)
        sys.stdout.write("\n")
    else:
        print_check(found, log, after, sys.stdout)
        if stop.is_set():
            print("The repair was cancelled: run 'lightbox check --repair' again to finish it.")
    if stop.is_set():
        # 130, as for every Ctrl-C (viewer.cli): not the 1 of problems a repair left.
        print("lightbox: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if after.sound else EXIT_PARTIAL


def print_check(found: Findings, log: RepairLog | None, after: Findings, out: TextIO) -> None:
    """The check (and repair) report in words: counts per problem kind, then one line per
    problem, at most :data:`_LISTED` of a kind."""
    w = out.write
    deep = ", every header read" if found.deep else ""
    w(f"Checked {for_terminal(found.home)}: {_count(found.studies, 'study', 'studies')}, "
      f"{found.series} series, {_count(found.instances, 'instance', 'instances')}, "
      f"{_count(found.files, 'file', 'files')} ({found.seconds:.1f} s{deep})\n")
    _print_findings(found, w)
    if log is None:
        if not found.sound:
            w("Run 'lightbox check --repair' to repair what can be.\n")
        return
    for title, actions in (("Repaired", log.repaired), ("Not repaired", log.not_repaired)):
        if actions:
            w(f"{title}: {len(actions)}\n")
            _listed([a.line() for a in actions], w)
    if after is not found:
        w("After the repair:\n")
        _print_findings(after, w)


def _print_findings(found: Findings, w: Any) -> None:
    if found.sound:
        w("The home is sound: no problems found.\n")
    else:
        w(f"Problems: {found.problem_count}\n")
        for kind in KINDS:
            number = len(getattr(found, kind))
            w(f"  {_TITLES[kind]}: {number}")
            if kind == "orphans" and number:
                kinds = [o.kind for o in found.orphans]
                w(f" ({kinds.count('dicom')} DICOM, {kinds.count('temporary')} temporary, "
                  f"{kinds.count('other')} other)")
            w("\n")
        for kind in KINDS:
            problems = getattr(found, kind)
            if problems:
                w(f"{_TITLES[kind][0].upper()}{_TITLES[kind][1:]}:\n")
                _listed([p.line() for p in problems], w)
    for note in found.notes():  # no problems: what a running import is writing
        w(f"Note: {note}; left alone.\n")


def _listed(lines: list[str], w: Any) -> None:
    for line in lines[:_LISTED]:
        w(f"  {for_terminal(line)}\n")  # a line names a file, which may be named anything
    if len(lines) > _LISTED:
        w(f"  ... and {len(lines) - _LISTED} more\n")
