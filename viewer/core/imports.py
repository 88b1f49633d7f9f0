"""What an import reports while it runs and when it ends (plain Python, shared by store,
media, net, CLI and GUI).

An import source (a disc, a folder, a zip, a network retrieve) ends with an
:class:`ImportReport`: what was added, what was already there, and every file that could
not be taken with its reason. ``safe_to_eject`` is the completeness check that a removable
medium may be taken out (every instance found on it is in the managed store).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from viewer.core.records import InstanceRecord


@dataclass(slots=True)
class ImportProgress:
    """A snapshot of a running import, handed to the progress callback.

    ``files_total``/``bytes_total`` are 0 while the medium is still being scanned.
    """

    phase: str = "scan"  # "scan", "directory" (a DICOMDIR read), "import", "verify", "done"
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    studies_found: int = 0
    instances_added: int = 0
    current: str = ""


ProgressCallback = Callable[[ImportProgress], None]
CancelCheck = Callable[[], bool]


def printable(text: str) -> str:
    """``text`` (a path, or a message naming one) as valid UTF-8 text.

    A file name that is not UTF-8 (bytes from another system's encoding on a Linux disc)
    reaches Python with each undecodable byte as a lone surrogate, which no UTF-8 output
    can carry; such bytes are written as ``\\xe9``, so that the report stays valid text
    and still says which byte it was.

    Parameters
    ----------
    text : str
        A path or message, possibly holding surrogate-escaped bytes.

    Returns
    -------
    str
        The same text where it was valid; the undecodable bytes spelled out otherwise.
    """
    if text.isascii():
        return text
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name decoding produced
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One file that was not imported, and why (one line a user can act on)."""

    path: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    """The result of importing one or more sources.

    Attributes
    ----------
    sources : list of str
        What the user named (mount points, folders, DICOMDIR files, zips).
    files_seen, bytes_read : int
        Files examined and bytes read from the source.
    studies_added, series_added, instances_added : int
        New to the database.
    instances_present : int
        Already stored with identical content (a re-import adds nothing).
    copies : int
        Files that were byte-for-byte copies of another file of the same import (same
        SOP Instance UID): the instance is stored once.
    studies : set of str
        Study Instance UIDs found in the source.
    instance_uids : set of str
        SOP Instance UIDs read successfully from the source.
    failed : list of FileProblem
        DICOM files (or would-be DICOM files) that could not be imported: unreadable,
        truncated, no permission.
    conflicts : list of FileProblem
        Same SOP Instance UID as a stored instance but different content; the stored
        file was kept.
    skipped : list of FileProblem
        Files that are not DICOM (viewer software, documents); never an error.
    missing : list of str
        Files the DICOMDIR names that are not on the medium.
    not_in_dicomdir : list of str
        DICOM files on the medium that the DICOMDIR does not name (imported anyway).
    cancelled : bool
        The user stopped the import before the end.
    stopped : str
        Why the import stopped before the end on its own, empty if it did not: the disk
        of the Lightbox home filled up. What was stored is kept.
    instances_stored : int
        Of ``instance_uids``, how many the database holds after the import (the
        completeness check).
    notes : list of str
        Observations that lose nothing (e.g. a DICOMDIR with wrong offsets was read in
        record order).
    no_dicom_found : list of str
        Sources in which not a single DICOM file was found, not even a damaged one (an
        empty folder: a disc that is not mounted, the wrong folder). Such a medium is not
        called safe to eject: nothing says its images are in the database.
    read_before : set of str
        Not a result: SOP Instance UIDs that the same import read before it reached the
        files of this report (the medium around a zip archive on it). A file of one of
        them that the store holds with the same content counts under ``copies``, as a
        second file within one folder does, not under ``instances_present``. Neither
        merged nor reported.
    """

    sources: list[str] = field(default_factory=list)
    files_seen: int = 0
    bytes_read: int = 0
    studies_added: int = 0
    series_added: int = 0
    instances_added: int = 0
    instances_present: int = 0
    copies: int = 0
    studies: set[str] = field(default_factory=set)
    instance_uids: set[str] = field(default_factory=set)
    failed: list[FileProblem] = field(default_factory=list)
    conflicts: list[FileProblem] = field(default_factory=list)
    skipped: list[FileProblem] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    not_in_dicomdir: list[str] = field(default_factory=list)
    cancelled: bool = False
    stopped: str = ""
    instances_stored: int = 0
    notes: list[str] = field(default_factory=list)
    no_dicom_found: list[str] = field(default_factory=list)
    read_before: set[str] = field(default_factory=set, repr=False)

    @property
    def complete(self) -> bool:
        """Every instance read from the source is in the database."""
        return (not self.cancelled and not self.stopped
                and self.instances_stored >= len(self.instance_uids))

    @property
    def ok(self) -> bool:
        """Everything the source holds was imported (no failure, conflict or missing file),
        and every source held DICOM files."""
        return self.complete and not (
            self.failed or self.conflicts or self.missing or self.no_dicom_found
        )

    @property
    def safe_to_eject(self) -> bool:
        """The medium may be removed: nothing on it that Lightbox could read is left behind,
        and something was found on it (an empty mount point is no evidence of a copy).

        A conflict (an instance stored before with other content) leaves the medium's
        version behind: it is in no database, so the medium is still needed.
        """
        return (self.complete and not self.failed and not self.conflicts
                and not self.no_dicom_found)

    def merge(self, other: ImportReport) -> None:
        """Add ``other``'s counts and lists to this report."""
        self.sources.extend(other.sources)
        self.files_seen += other.files_seen
        self.bytes_read += other.bytes_read
        self.studies_added += other.studies_added
        self.series_added += other.series_added
        self.instances_added += other.instances_added
        self.instances_present += other.instances_present
        self.copies += other.copies
        self.studies |= other.studies
        self.instance_uids |= other.instance_uids
        self.failed.extend(other.failed)
        self.conflicts.extend(other.conflicts)
        self.skipped.extend(other.skipped)
        self.missing.extend(other.missing)
        self.not_in_dicomdir.extend(other.not_in_dicomdir)
        self.cancelled = self.cancelled or other.cancelled
        self.stopped = self.stopped or other.stopped
        self.instances_stored += other.instances_stored
        self.notes.extend(other.notes)
        self.no_dicom_found.extend(other.no_dicom_found)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (``lightbox import --json``); paths and messages are
        :func:`printable`, so that the JSON is valid UTF-8 whatever the file names."""

        def problems(items: list[FileProblem]) -> list[dict[str, str]]:
            return [{"path": printable(p.path), "reason": printable(p.reason)} for p in items]

        return {
            "sources": [printable(s) for s in self.sources],
            "files_seen": self.files_seen,
            "bytes_read": self.bytes_read,
            "studies_found": len(self.studies),
            "studies_added": self.studies_added,
            "series_added": self.series_added,
            "instances_found": len(self.instance_uids),
            "instances_added": self.instances_added,
            "instances_present": self.instances_present,
            "identical_copies": self.copies,
            "instances_stored": self.instances_stored,
            "failed": problems(self.failed),
            "conflicts": problems(self.conflicts),
            "skipped": problems(self.skipped),
            "missing": [printable(p) for p in self.missing],
            "not_in_dicomdir": [printable(p) for p in self.not_in_dicomdir],
            "no_dicom_found": [printable(p) for p in self.no_dicom_found],
            "cancelled": self.cancelled,
            "stopped": printable(self.stopped),
            "complete": self.complete,
            "safe_to_eject": self.safe_to_eject,
            "notes": [printable(n) for n in self.notes],
        }


class InstanceImporter(Protocol):
    """What a source of files (media scanner, network receiver) hands its files to.

    ``viewer.store.StudyStore`` implements it; ``app`` wires the two.
    """

    def import_files(
        self,
        paths: Iterable[Path],
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        report: ImportReport | None = None,
    ) -> ImportReport:
        """Copy the files into the managed store and index them; never stop on one bad file."""
        ...

    def has_instances(self, sop_instance_uids: Iterable[str]) -> set[str]:
        """Return the subset of ``sop_instance_uids`` already stored."""
        ...

    def note_expected(self, counts: Mapping[str, int]) -> None:
        """Record how many instances each study's source says it has (study UID -> count)."""
        ...

    def note_missing(self, missing: Mapping[str, int],
                     patients: Mapping[str, str] | None = None) -> None:
        """Record how many instances each study's source names and could not supply
        (study UID -> count); 0 for a study it supplied whole. ``patients`` gives the
        Patient ID the source names for a study: a stored study of another patient is
        not this source's to judge."""
        ...

    def add_received_file(self, path: Path, *, move: bool = True) -> InstanceRecord:
        """Index one complete local file (a network receive), moving it into the store."""
        ...
