"""Batch upserts of instance records into the study database, in one transaction.

Distinct patients, studies and series of a batch are looked up once each (a batch of a
CT series touches one of each); instances go in with one ``executemany``. The counts a
browser shows (series and instances per study, instances per series, Modalities in
Study) are recomputed for the touched rows before the commit, so they are always current.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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
    """What one committed batch added, and which of its files got no row of their own.

    ``present``: a row for the instance was there already, naming the same file (another
    process stored the same instance meanwhile; its file and this one are the same
    bytes, see :meth:`~viewer.store.filestore.FileStore.place`). Files left without a
    row, which no row names: ``elsewhere``, their instance is stored as another file;
    ``misfiled``, with the reason, their series or study has come to belong to another
    study or patient since they were checked.
    """

    studies: int = 0
    series: int = 0
    instances: int = 0
    present: list[StoredFile] = field(default_factory=list)
    elsewhere: list[StoredFile] = field(default_factory=list)
    misfiled: list[tuple[StoredFile, str]] = field(default_factory=list)

    def add(self, other: BatchCounts) -> None:
        """Count ``other``'s files and rows with these."""
        self.studies += other.studies
        self.series += other.series
        self.instances += other.instances
        self.present += other.present
        self.elsewhere += other.elsewhere
        self.misfiled += other.misfiled

    @property
    def refused(self) -> list[tuple[StoredFile, str]]:
        """Every file left without a row, with the reason."""
        return [*((f, stored_elsewhere(f.record.sop_instance_uid)) for f in self.elsewhere),
                *self.misfiled]


def series_elsewhere(series_uid: str, study_uid: str) -> str:
    """Why a file whose series belongs to another study is not stored (PS3.3 7.1)."""
    return (f"its Series Instance UID {series_uid} already belongs to another study "
            f"({study_uid}); not imported, to keep the studies apart")


def study_elsewhere(study_uid: str) -> str:
    """Why a file whose study belongs to another patient is not stored (PS3.3 7.1)."""
    return (f"its Study Instance UID {study_uid} is already stored for another Patient "
            "ID; not imported, to keep the patients apart")


def stored_elsewhere(sop_uid: str) -> str:
    """Why a file whose instance is stored as another file is not stored."""
    return (f"SOP Instance UID {sop_uid} is already stored with different content; the "
            "stored file was kept")


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
    """Insert ``files`` (inside the caller's write transaction) and refresh the counts.

    What the caller checked before the transaction is checked again here, under the
    write lock: another process may have stored the same instances, or claimed their
    series or study, since (:class:`BatchCounts` says which files got no row).
    """
    counts = BatchCounts()
    if not files:
        return counts
    stored = existing(conn, (f.record.sop_instance_uid for f in files))
    patient_pk: dict[tuple[str, str, str], int] = {}
    study_pk: dict[str, tuple[int, str]] = {}  # study UID -> (pk, its Patient ID)
    series_pk: dict[str, tuple[int, int]] = {}  # series UID -> (pk, its study's pk)
    accepted: list[tuple[StoredFile, int]] = []
    for item in files:
        r = item.record
        known = stored.get(r.sop_instance_uid)
        if known is not None:
            if known[2] == item.relative_path:
                counts.present.append(item)
                if known[0] != item.size:
                    # A removed file restored from another copy of the instance (another
                    # sender's File Meta group): the row describes the file now there.
                    conn.execute("UPDATE instances SET file_size = ?, digest = ? "
                                 "WHERE sop_uid = ?", (item.size, item.digest,
                                                       r.sop_instance_uid))
            else:
                counts.elsewhere.append(item)
            continue
        if r.study_uid not in study_pk:
            study_pk[r.study_uid] = _study_row(conn, r, patient_pk, counts)
        study, owner = study_pk[r.study_uid]
        if owner != r.patient.patient_id:
            counts.misfiled.append((item, study_elsewhere(r.study_uid)))
            continue
        if r.series_uid not in series_pk:
            series_pk[r.series_uid] = _series_row(conn, r, study, counts)
        series, series_study = series_pk[r.series_uid]
        if series_study != study:
            counts.misfiled.append((item, series_elsewhere(r.series_uid, _study_uid(
                conn, series_study))))
            continue
        stored[r.sop_instance_uid] = (item.size, item.digest, item.relative_path)
        accepted.append((item, series))
    before = conn.total_changes
    conn.executemany(
        "INSERT INTO instances (sop_uid, series_pk, sop_class_uid, transfer_syntax_uid, "
        "instance_number, rows, columns, frames, position, orientation, charset, "
        "file_path, file_size, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                f.record.sop_instance_uid,
                series,
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
            for f, series in accepted
        ],
    )
    counts.instances = conn.total_changes - before
    refresh_counts(conn, {pk for pk, _ in series_pk.values()},
                   {pk for pk, _ in study_pk.values()})
    return counts


def _study_row(conn: sqlite3.Connection, r: InstanceRecord,
               patient_pk: dict[tuple[str, str, str], int], counts: BatchCounts
               ) -> tuple[int, str]:
    """The study row of ``r`` (made, with its patient, if new): (pk, its Patient ID)."""
    row = conn.execute(
        "SELECT s.pk, p.patient_id FROM studies AS s JOIN patients AS p "
        "ON p.pk = s.patient_pk WHERE s.study_uid = ?", (r.study_uid,)).fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
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
    return int(cursor.lastrowid or 0), r.patient.patient_id


def _series_row(conn: sqlite3.Connection, r: InstanceRecord, study: int,
                counts: BatchCounts) -> tuple[int, int]:
    """The series row of ``r`` (made in ``study`` if new): (pk, its study's pk)."""
    row = conn.execute(
        "SELECT pk, study_pk FROM series WHERE series_uid = ?", (r.series_uid,)).fetchone()
    if row is not None:
        return int(row[0]), int(row[1])
    cursor = conn.execute(
        "INSERT INTO series (series_uid, study_pk, modality, series_number, "
        "series_description, body_part) VALUES (?, ?, ?, ?, ?, ?)",
        (r.series_uid, study, r.modality, r.series_number, r.series_description,
         r.body_part),
    )
    counts.series += 1
    return int(cursor.lastrowid or 0), study


def _study_uid(conn: sqlite3.Connection, pk: int) -> str:
    row = conn.execute("SELECT study_uid FROM studies WHERE pk = ?", (pk,)).fetchone()
    return str(row[0]) if row else ""


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
