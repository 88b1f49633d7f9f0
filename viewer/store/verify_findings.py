"""What :func:`viewer.store.verify.check_home` reports: the problem kinds and
:class:`Findings`, each problem with its line for the text report and its JSON object.

Split from :mod:`viewer.store.verify`, which re-exports every public name here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from viewer.core.imports import printable

KINDS = ("database", "missing", "size_mismatch", "orphans", "misfiled", "counts")
"""The problem kinds, in the order they are reported."""


@dataclass(frozen=True, slots=True)
class Row:
    """An instance row: the UIDs it is filed under and the file it names."""

    study_uid: str
    series_uid: str
    sop_uid: str
    path: str  # relative to the home, as stored
    size: int  # as recorded


@dataclass(frozen=True, slots=True)
class DatabaseProblem:
    """What ``PRAGMA integrity_check`` or ``foreign_key_check`` said, or why the
    database could not be read at all (``check`` is ``integrity``, ``foreign_key`` or
    ``open``)."""

    check: str
    detail: str
    table: str = ""
    rowid: int | None = None

    def line(self) -> str:
        """One line for the report."""
        return f"{self.check}: {self.detail}"


@dataclass(frozen=True, slots=True)
class MissingFile:
    """A row whose file is gone (``reason`` empty), or cannot be looked at."""

    row: Row
    reason: str = ""

    def line(self) -> str:
        """One line for the report."""
        what = f"cannot be read ({self.reason})" if self.reason else "is missing"
        return f"{_row_text(self.row)}: {printable(self.row.path)} {what}"


@dataclass(frozen=True, slots=True)
class SizeMismatch:
    """A row whose file's size is not the recorded one."""

    row: Row
    actual: int

    def line(self) -> str:
        """One line for the report."""
        return (f"{_row_text(self.row)}: {printable(self.row.path)} has {self.actual} bytes, "
                f"{self.row.size} recorded")


@dataclass(frozen=True, slots=True)
class Misfiled:
    """A row filed under other UIDs than its file's own, or whose file's header cannot be
    read (``reason``; the file's UIDs are then empty)."""

    row: Row
    file_study_uid: str = ""
    file_series_uid: str = ""
    file_sop_uid: str = ""
    reason: str = ""

    def line(self) -> str:
        """One line for the report."""
        where = f"{_row_text(self.row)}: {printable(self.row.path)}"
        if self.reason:
            return f"{where}: the header cannot be read ({printable(self.reason)})"
        return (f"{where}: the file says study {self.file_study_uid}, series "
                f"{self.file_series_uid}, instance {self.file_sop_uid}")


@dataclass(frozen=True, slots=True)
class Orphan:
    """A file under ``files/`` that no row names (``dicom``, ``temporary`` or ``other``),
    or one an interrupted repair left (``staged``)."""

    path: str
    kind: str
    age_s: float

    def line(self) -> str:
        """One line for the report."""
        if self.kind == "staged":
            return f"{printable(self.path)}: left by a repair that did not finish"
        what = {"dicom": "DICOM file", "temporary": "temporary file"}.get(self.kind, "not DICOM")
        return f"{printable(self.path)}: {what} without a row ({_age(self.age_s)} old)"


@dataclass(frozen=True, slots=True)
class CountMismatch:
    """A kept-current value of a study or series row that disagrees with the rows."""

    level: str  # "study" or "series"
    uid: str
    name: str  # the column: num_instances, num_series, modalities
    recorded: str
    actual: str

    def line(self) -> str:
        """One line for the report."""
        recorded, actual = self.recorded or "''", self.actual or "''"
        return f"{self.level} {self.uid}: {self.name} is {recorded}, the rows say {actual}"


Problem = DatabaseProblem | MissingFile | SizeMismatch | Orphan | Misfiled | CountMismatch


@dataclass(slots=True)
class Findings:
    """What one check found in a Lightbox home."""

    home: str
    deep: bool
    studies: int = 0
    series: int = 0
    instances: int = 0
    files: int = 0
    headers_read: int = 0
    seconds: float = 0.0
    database: list[DatabaseProblem] = field(default_factory=list)
    missing: list[MissingFile] = field(default_factory=list)
    size_mismatch: list[SizeMismatch] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    misfiled: list[Misfiled] = field(default_factory=list)
    counts: list[CountMismatch] = field(default_factory=list)
    temporary_in_use: list[Orphan] = field(default_factory=list)
    arriving: list[Orphan] = field(default_factory=list)

    def problems(self) -> dict[str, list[Problem]]:
        """The problems by kind, in :data:`KINDS` order."""
        return {kind: list(getattr(self, kind)) for kind in KINDS}

    @property
    def problem_count(self) -> int:
        """How many problems, of all kinds (temporary files in use and files still
        arriving are none)."""
        return sum(len(getattr(self, kind)) for kind in KINDS)

    def notes(self) -> list[str]:
        """Lines for the report about files that are no problem and were left alone."""
        lines = []
        if self.arriving:
            lines.append("files without a row, still arriving (import in progress?): "
                         f"{len(self.arriving)}")
        if self.temporary_in_use:
            lines.append("temporary files in use (an import may be writing them): "
                         f"{len(self.temporary_in_use)}")
        return lines

    @property
    def sound(self) -> bool:
        """No problem of any kind."""
        return self.problem_count == 0

    @property
    def database_damaged(self) -> bool:
        """The database itself failed its integrity check (or could not be read)."""
        return any(p.check != "foreign_key" for p in self.database)

    def to_json(self) -> dict[str, object]:
        """A JSON object: totals, ``sound``, and a list per problem kind."""
        out: dict[str, object] = {
            "home": printable(self.home), "deep": self.deep, "sound": self.sound,
            "studies": self.studies, "series": self.series, "instances": self.instances,
            "files": self.files, "headers_read": self.headers_read,
            "seconds": round(self.seconds, 3),
        }
        for kind in (*KINDS, "temporary_in_use", "arriving"):
            out[kind] = [_json(p) for p in getattr(self, kind)]
        return out


def _json(problem: Problem) -> dict[str, object]:
    data = asdict(problem)
    row = data.pop("row", None)
    if row is not None:
        data = {**row, "recorded_size": row.pop("size"), **data}
    if "path" in data:
        data["path"] = printable(str(data["path"]))
    if "age_s" in data:
        data["age_s"] = round(float(data["age_s"]), 1)
    return data


def _row_text(row: Row) -> str:
    return f"instance {row.sop_uid} (series {row.series_uid or '?'}, study {row.study_uid or '?'})"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
