"""Open loose files and folders (not in the study database) as series."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from viewer.core.errors import LightboxError
from viewer.core.records import InstanceRecord
from viewer.dicom.header import read_header
from viewer.ui.viewer.series import SeriesData

log = logging.getLogger(__name__)

_SKIP = {"DICOMDIR", ".lightbox-demo"}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and every file under the folders named, in a stable order."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(f for f in path.rglob("*") if f.is_file() and f.name not in _SKIP))
        elif path.is_file():
            out.append(path)
        else:
            raise LightboxError(f"{path}: no such file or folder")
    return out


def group_series(records: Sequence[InstanceRecord]) -> list[SeriesData]:
    """One :class:`SeriesData` per Series Instance UID, by study, then series number."""
    by_series: dict[str, list[InstanceRecord]] = {}
    for r in records:
        by_series.setdefault(r.series_uid, []).append(r)

    def order(items: list[InstanceRecord]) -> tuple[str, str, int, str]:
        first = items[0]
        number = first.series_number if first.series_number is not None else 1 << 30
        return (first.study_date, first.study_uid, number, first.series_uid)

    return [SeriesData.from_records(items) for items in sorted(by_series.values(), key=order)]


def read_series(paths: Iterable[str | Path],
                progress: Callable[[int, int], None] | None = None) -> list[SeriesData]:
    """Read the headers of ``paths`` (files or folders) and group them into series.

    Files that are not DICOM images are skipped with a log line, never fatal.

    Raises
    ------
    LightboxError
        When nothing displayable was found.
    """
    paths = list(paths)
    files = expand_paths(paths)
    records: list[InstanceRecord] = []
    for i, f in enumerate(files):
        try:
            record = read_header(f)
        except LightboxError as exc:
            log.info("skipped: %s", exc)
            continue
        if record.rows and record.columns:
            records.append(record)
        if progress is not None:
            progress(i + 1, len(files))
    if not records:
        raise LightboxError(f"no DICOM images in {', '.join(str(p) for p in paths)}")
    return group_series(records)
