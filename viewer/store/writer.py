"""Batch upserts of instance records into the study database, in one transaction.

Distinct patients, studies and series of a batch are looked up once each (a batch of a
CT series touches one of each); instances go in with one ``executemany``. The counts a
browser shows (series and instances per study, instances per series, Modalities in
Study) are recomputed for the touched rows before the commit, so they are always current.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from viewer.core.records import InstanceRecord
from viewer.store.names import normalise


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An instance whose file is already in place in the managed store."""

    record: InstanceRecord
    relative_path: str
    size: int
    digest: str


@dataclass(slots=True)
class BatchCounts:
    """What one committed batch added."""

    studies: int = 0
    series: int = 0
    instances: int = 0


def _numbers(values: tuple[float, ...] | None) -> str:
    return "\\".join(repr(v) for v in values) if values else ""


_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int = 500) -> Iterator[Sequence[_T]]:
    """``items`` in runs of ``size``: bound variables per query, well under SQLite's limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def existing(conn: sqlite3.Connection, uids: Iterable[str]) -> dict[str, tuple[int, str, str]]:
    """Map each stored SOP Instance UID among ``uids`` to (size, digest, file path)."""
    found: dict[str, tuple[int, str, str]] = {}
    ordered = list(dict.fromkeys(uids))
    for chunk in chunks(ordered):
        marks = ",".join("?" * len(chunk))
        for uid, size, digest, path in conn.execute(
            f"SELECT sop_uid, file_size, digest, file_path FROM instances "
            f"WHERE sop_uid IN ({marks})",
            list(chunk),
        ):
            found[uid] = (int(size), str(digest), str(path))
    return found


def insert_batch(conn: sqlite3.Connection, files: Sequence[StoredFile]) -> BatchCounts:
    """Insert ``files`` (inside the caller's transaction) and refresh the counts."""
    counts = BatchCounts()
    if not files:
        return counts
    patient_pk: dict[tuple[str, str, str], int] = {}
    study_pk: dict[str, int] = {}
    series_pk: dict[str, int] = {}
    for item in files:
        r = item.record
        key = (r.patient.patient_id, r.patient.patient_name, r.patient.birth_date)
        if key not in patient_pk:
            conn.execute(
                "INSERT INTO patients (patient_id, patient_name, name_norm, birth_date, sex) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*key[:2], normalise(key[1]), key[2], r.patient.sex),
            )
            (patient_pk[key],) = conn.execute(
                "SELECT pk FROM patients WHERE patient_id = ? AND patient_name = ? "
                "AND birth_date = ?",
                key,
            ).fetchone()
        if r.study_uid not in study_pk:
            row = conn.execute(
                "SELECT pk FROM studies WHERE study_uid = ?", (r.study_uid,)
            ).fetchone()
            if row is None:
                cursor = conn.execute(
                    "INSERT INTO studies (study_uid, patient_pk, study_date, study_time, "
                    "accession_number, study_id, study_description, description_norm, "
                    "referring_physician) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.study_uid,
                        patient_pk[key],
                        r.study_date,
                        r.study_time,
                        r.accession_number,
                        r.study_id,
                        r.study_description,
                        normalise(r.study_description),
                        r.referring_physician,
                    ),
                )
                counts.studies += 1
                row = (cursor.lastrowid,)
            study_pk[r.study_uid] = int(row[0])
        if r.series_uid not in series_pk:
            row = conn.execute(
                "SELECT pk FROM series WHERE series_uid = ?", (r.series_uid,)
            ).fetchone()
            if row is None:
                cursor = conn.execute(
                    "INSERT INTO series (series_uid, study_pk, modality, series_number, "
                    "series_description, body_part) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        r.series_uid,
                        study_pk[r.study_uid],
                        r.modality,
                        r.series_number,
                        r.series_description,
                        r.body_part,
                    ),
                )
                counts.series += 1
                row = (cursor.lastrowid,)
            series_pk[r.series_uid] = int(row[0])
    before = conn.total_changes
    conn.executemany(
        "INSERT INTO instances (sop_uid, series_pk, sop_class_uid, transfer_syntax_uid, "
        "instance_number, rows, columns, frames, position, orientation, charset, "
        "file_path, file_size, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sop_uid) DO NOTHING",
        [
            (
                f.record.sop_instance_uid,
                series_pk[f.record.series_uid],
                f.record.sop_class_uid,
                f.record.transfer_syntax_uid,
                f.record.instance_number,
                f.record.rows,
                f.record.columns,
                f.record.number_of_frames,
                _numbers(f.record.image_position),
                _numbers(f.record.image_orientation),
                f.record.specific_character_set,
                f.relative_path,
                f.size,
                f.digest,
            )
            for f in files
        ],
    )
    counts.instances = conn.total_changes - before
    refresh_counts(conn, set(series_pk.values()), set(study_pk.values()))
    return counts


def refresh_counts(conn: sqlite3.Connection, series: set[int], studies: set[int]) -> None:
    """Recompute instance/series counts and Modalities in Study for the given rows."""
    if series:
        marks = ",".join("?" * len(series))
        conn.execute(
            f"UPDATE series SET num_instances = (SELECT count(*) FROM instances AS i "
            f"WHERE i.series_pk = series.pk) WHERE pk IN ({marks})",
            list(series),
        )
    if not studies:
        return
    marks = ",".join("?" * len(studies))
    params = list(studies)
    conn.execute(f"DELETE FROM study_modalities WHERE study_pk IN ({marks})", params)
    conn.execute(
        f"INSERT OR IGNORE INTO study_modalities (modality, study_pk) "
        f"SELECT DISTINCT modality, study_pk FROM series "
        f"WHERE study_pk IN ({marks}) AND modality != ''",
        params,
    )
    # PS3.4 C.6.1.1.3: Modalities in Study lists the distinct modalities of the series.
    conn.execute(
        f"""UPDATE studies SET
            num_series = (SELECT count(*) FROM series AS e WHERE e.study_pk = studies.pk),
            num_instances = (SELECT coalesce(sum(e.num_instances), 0) FROM series AS e
                             WHERE e.study_pk = studies.pk),
            modalities = coalesce((SELECT group_concat(modality, '\\') FROM
                             (SELECT m.modality FROM study_modalities AS m
                              WHERE m.study_pk = studies.pk ORDER BY m.modality)), '')
            WHERE pk IN ({marks})""",
        params,
    )
