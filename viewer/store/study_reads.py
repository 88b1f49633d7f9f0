"""The study store's reads: the browser's studies, series and instances, and the checks.

:class:`StudyReads` is the part of :class:`~viewer.store.study_store.StudyStore` that only
reads, each on the calling thread's own connection: the study list (SQL from
:mod:`viewer.store.queries`) and its count, one study, the series of a study, the
instances of a series sorted for display (:func:`sort_for_display`), the file of an
instance, and the store's consistency check and row counts.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from viewer.core.records import (
    InstanceRecord,
    PatientRecord,
    SeriesRecord,
    StudyFilter,
    StudyRecord,
)
from viewer.store import queries
from viewer.store.filestore import FileStore


class StudyReads:
    """The reads of a :class:`~viewer.store.study_store.StudyStore`.

    A base of ``StudyStore``, which sets ``files`` in its ``__init__`` and gives each
    thread its own reading connection (``_reader``).
    """

    files: FileStore
    _reader: Callable[[], sqlite3.Connection]

    # ----------------------------------------------------------------- queries

    def studies(self, study_filter: StudyFilter | None = None) -> list[StudyRecord]:
        """The studies matching ``study_filter``, sorted and paged as it asks."""
        return queries.select_studies(self._reader(), study_filter or StudyFilter())

    def study_uids(self, study_filter: StudyFilter) -> list[str]:
        """The Study Instance UIDs of the list ``study_filter`` sorts, all of them (its
        paging ignored): what a browser's selection of any size is read and kept by."""
        return queries.study_uids(self._reader(), replace(study_filter, offset=0, limit=0))

    def study_count(self, study_filter: StudyFilter | None = None) -> int:
        """How many studies match ``study_filter`` (paging is ignored)."""
        return queries.count_studies(self._reader(), study_filter or StudyFilter())

    def data_version(self) -> int:
        """A number that changes when the database was changed since it was last read here.

        SQLite's ``PRAGMA data_version`` of the calling thread's connection: it changes
        whenever another connection commits, this process's writer or another program
        (``lightbox import`` in a shell), and costs no read of the file. A browser polls it
        to re-read its list only when there is something new.
        """
        (version,) = self._reader().execute("PRAGMA data_version").fetchone()
        return int(version)

    def study(self, study_uid: str) -> StudyRecord | None:
        """One study by its Study Instance UID, or None."""
        row = (
            self._reader()
            .execute(
                f"SELECT {queries.STUDY_COLUMNS} {queries.FROM} WHERE s.study_uid = ?",
                (study_uid,),
            )
            .fetchone()
        )
        return queries.study_from_row(row) if row else None

    def series(self, study_uid: str) -> list[SeriesRecord]:
        """The series of a study, by Series Number."""
        rows = self._reader().execute(
            "SELECT e.series_uid, e.modality, e.series_number, e.series_description, "
            "e.body_part, e.num_instances FROM series AS e JOIN studies AS s "
            "ON s.pk = e.study_pk WHERE s.study_uid = ? "
            "ORDER BY e.series_number IS NULL, e.series_number, e.pk",
            (study_uid,),
        )
        return [
            SeriesRecord(
                series_uid=uid,
                study_uid=study_uid,
                modality=modality,
                series_number=number,
                series_description=description,
                body_part=body_part,
                number_of_instances=count,
            )
            for uid, modality, number, description, body_part, count in rows
        ]

    def middle_image(self, series_uid: str) -> tuple[str, int] | None:
        """The file and frame of the image in the middle of a series, by Instance Number
        (a thumbnail's), or None when it has no image.

        One row read: the browser asked :meth:`instances` for the whole series, built and
        sorted 10,000 records to take one, and the window froze for 0.6 s each time a
        large study was selected.
        """
        conn = self._reader()
        row = conn.execute(
            "SELECT i.file_path, i.frames FROM instances AS i JOIN series AS e "
            "ON e.pk = i.series_pk WHERE e.series_uid = ? AND i.rows > 0 "
            "ORDER BY i.instance_number IS NULL, i.instance_number, i.sop_uid "
            "LIMIT 1 OFFSET (SELECT count(*) FROM instances AS j JOIN series AS f "
            "ON f.pk = j.series_pk WHERE f.series_uid = ? AND j.rows > 0) / 2",
            (series_uid, series_uid),
        ).fetchone()
        if row is None:
            return None
        path, frames = row
        return self.files.absolute_text(path), max(0, int(frames) // 2)

    def instances(self, series_uid: str) -> list[InstanceRecord]:
        """The instances of a series, sorted for display.

        PS3.3 C.7.6.2.1.1: slices are ordered by Image Position (Patient) projected on
        the normal of Image Orientation (Patient); instances without geometry follow,
        by Instance Number.
        """
        conn = self._reader()
        rows = conn.execute(
            "SELECT i.sop_uid, i.sop_class_uid, i.transfer_syntax_uid, i.instance_number, "
            "i.rows, i.columns, i.frames, i.position, i.orientation, i.charset, i.file_path, "
            "i.file_size, e.modality, e.series_number, e.series_description, e.body_part, "
            "s.study_uid, s.study_date, s.study_time, s.accession_number, s.study_id, "
            "s.study_description, s.referring_physician, p.patient_id, p.patient_name, "
            "p.birth_date, p.sex FROM instances AS i JOIN series AS e ON e.pk = i.series_pk "
            "JOIN studies AS s ON s.pk = e.study_pk JOIN patients AS p ON p.pk = s.patient_pk "
            "WHERE e.series_uid = ?",
            (series_uid,),
        ).fetchall()
        records = [self._instance_from_row(series_uid, row) for row in rows]
        return sort_for_display(records)

    def _instance_from_row(self, series_uid: str, row: tuple[Any, ...]) -> InstanceRecord:
        (uid, sop_class, syntax, number, n_rows, n_columns, frames, position, orientation,
         charset, file_path, size, modality, series_number, series_description, body_part,
         study_uid, study_date, study_time, accession, study_id, study_description,
         referring, patient_id, patient_name, birth_date, sex) = row  # fmt: skip
        return InstanceRecord(
            sop_instance_uid=uid,
            sop_class_uid=sop_class,
            transfer_syntax_uid=syntax,
            patient=PatientRecord(patient_id, patient_name, birth_date, sex),
            study_uid=study_uid,
            series_uid=series_uid,
            study_date=study_date,
            study_time=study_time,
            accession_number=accession,
            study_id=study_id,
            study_description=study_description,
            referring_physician=referring,
            modality=modality,
            series_number=series_number,
            series_description=series_description,
            body_part=body_part,
            instance_number=number,
            rows=n_rows,
            columns=n_columns,
            number_of_frames=frames,
            image_position=_floats(position, 3),  # type: ignore[arg-type]
            image_orientation=_floats(orientation, 6),  # type: ignore[arg-type]
            specific_character_set=charset,
            file_path=self.files.absolute_text(file_path),
            file_size=size,
        )

    def instance_path(self, sop_instance_uid: str) -> Path | None:
        """The stored file of one instance, or None."""
        row = (
            self._reader()
            .execute("SELECT file_path FROM instances WHERE sop_uid = ?", (sop_instance_uid,))
            .fetchone()
        )
        return self.files.absolute(row[0]) if row else None

    # ------------------------------------------------------------------ checks

    def check(self) -> list[str]:
        """Consistency problems: ``PRAGMA integrity_check`` and rows whose file is gone."""
        conn = self._reader()
        problems = [
            str(r[0]) for r in conn.execute("PRAGMA integrity_check") if str(r[0]) != "ok"
        ]
        problems += [
            f"(0008,0018) {uid}: stored file {path} is missing"
            for uid, path in conn.execute("SELECT sop_uid, file_path FROM instances")
            if not self.files.absolute(path).is_file()
        ]
        return problems

    def counts(self) -> Mapping[str, int]:
        """Rows per table (patients, studies, series, instances)."""
        conn = self._reader()
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("patients", "studies", "series", "instances")
        }


@functools.lru_cache(maxsize=4096)  # a series repeats its orientation in every row
def _floats(text: str, count: int) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.split("\\"))
    except ValueError:
        return None
    return values if len(values) == count else None


def sort_for_display(records: list[InstanceRecord]) -> list[InstanceRecord]:
    """Order instances along the slice normal, then by Instance Number (PS3.3 C.7.6.2)."""
    orientation = next((r.image_orientation for r in records if r.image_orientation), None)
    normal: tuple[float, float, float] | None = None
    if orientation is not None:
        rx, ry, rz, cx, cy, cz = orientation
        normal = (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)

    def key(r: InstanceRecord) -> tuple[int, float, int, str]:
        number = r.instance_number if r.instance_number is not None else 1 << 30
        if normal is not None and r.image_position is not None:
            distance = sum(p * n for p, n in zip(r.image_position, normal, strict=True))
            return (0, distance, number, r.sop_instance_uid)
        return (1, 0.0, number, r.sop_instance_uid)

    return sorted(records, key=key)
