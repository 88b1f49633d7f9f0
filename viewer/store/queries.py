"""SQL for the browser's study list: a :class:`StudyFilter` becomes one indexed query."""

from __future__ import annotations

import sqlite3

from viewer.core.records import STUDY_SORT_KEYS, PatientRecord, StudyFilter, StudyRecord
from viewer.store.names import has_wildcard, normalise, to_glob

STUDY_COLUMNS = (
    "s.study_uid, s.study_date, s.study_time, s.accession_number, s.study_id, "
    "s.study_description, s.referring_physician, s.modalities, s.num_series, "
    "s.num_instances, p.patient_id, p.patient_name, p.birth_date, p.sex"
)
FROM = "FROM studies AS s JOIN patients AS p ON p.pk = s.patient_pk"

_SORT_SQL = {
    "study_date": "s.study_date {d}, s.study_time {d}",
    "patient_name": "p.name_norm {d}",
    "patient_id": "p.patient_id {d}",
    "accession_number": "s.accession_number {d}",
    "study_description": "s.description_norm {d}",
    "modalities": "s.modalities {d}",
    "number_of_instances": "s.num_instances {d}",
}
assert set(_SORT_SQL) == set(STUDY_SORT_KEYS)


def _text_match(column: str, value: str, exact: bool) -> tuple[str, list[object]]:
    """Wildcard (GLOB) when the value has ``*``/``?``; otherwise equality or substring."""
    if has_wildcard(value):
        return f"{column} GLOB ?", [to_glob(value)]
    if exact:
        return f"{column} = ?", [value]
    return f"instr({column}, ?) > 0", [value]


def name_condition(pattern: str) -> tuple[str, list[object]]:
    """Match a normalised Person Name against any of its component groups (PS3.5 6.2.1.1)."""
    norm = normalise(pattern)
    if not has_wildcard(norm):
        return "instr(p.name_norm, ?) > 0", [norm]
    glob = to_glob(norm)
    # The pattern may match the whole value or one "="-separated group of it.
    return (
        "(p.name_norm GLOB ? OR p.name_norm GLOB ? OR p.name_norm GLOB ? OR p.name_norm GLOB ?)",
        [glob, glob + "=*", "*=" + glob, "*=" + glob + "=*"],
    )


def study_where(study_filter: StudyFilter) -> tuple[str, list[object]]:
    """The WHERE clause (may be empty) and its parameters for ``study_filter``."""
    clauses: list[str] = []
    params: list[object] = []
    f = study_filter
    if f.patient_name.strip():
        sql, values = name_condition(f.patient_name.strip())
        clauses.append(sql)
        params += values
    if f.patient_id.strip():
        sql, values = _text_match("p.patient_id", f.patient_id.strip(), exact=True)
        clauses.append(sql)
        params += values
    if f.accession_number.strip():
        sql, values = _text_match("s.accession_number", f.accession_number.strip(), exact=True)
        clauses.append(sql)
        params += values
    if f.study_description.strip():
        sql, values = _text_match(
            "s.description_norm", normalise(f.study_description.strip()), exact=False
        )
        clauses.append(sql)
        params += values
    # PS3.4 C.2.2.2.5: date range matching, both ends inclusive, either may be open.
    if f.date_from:
        clauses.append("s.study_date >= ?")
        params.append(f.date_from)
    if f.date_to:
        clauses.append("s.study_date <= ? AND s.study_date != ''")
        params.append(f.date_to)
    if f.modality.strip():
        clauses.append(
            "EXISTS (SELECT 1 FROM study_modalities AS m "
            "WHERE m.modality = ? AND m.study_pk = s.pk)"
        )
        params.append(f.modality.strip().upper())
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return where, params


def select_studies(conn: sqlite3.Connection, study_filter: StudyFilter) -> list[StudyRecord]:
    """Run the paged, sorted study list query."""
    where, params = study_where(study_filter)
    sort = _SORT_SQL.get(study_filter.sort, _SORT_SQL["study_date"])
    direction = "DESC" if study_filter.descending else "ASC"
    sql = f"SELECT {STUDY_COLUMNS} {FROM}{where} ORDER BY {sort.format(d=direction)}, s.pk"
    if study_filter.limit > 0:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, study_filter.limit, max(0, study_filter.offset)]
    elif study_filter.offset > 0:
        sql += " LIMIT -1 OFFSET ?"
        params = [*params, study_filter.offset]
    return [study_from_row(row) for row in conn.execute(sql, params)]


def count_studies(conn: sqlite3.Connection, study_filter: StudyFilter) -> int:
    """How many studies match (for the browser's "n of m" and paging)."""
    where, params = study_where(study_filter)
    (count,) = conn.execute(f"SELECT count(*) {FROM}{where}", params).fetchone()
    return int(count)


def study_from_row(row: tuple[object, ...]) -> StudyRecord:
    """Build a :class:`StudyRecord` from a row of :data:`STUDY_COLUMNS`."""
    (
        study_uid,
        study_date,
        study_time,
        accession,
        study_id,
        description,
        referring,
        modalities,
        num_series,
        num_instances,
        patient_id,
        patient_name,
        birth_date,
        sex,
    ) = row
    return StudyRecord(
        study_uid=str(study_uid),
        patient=PatientRecord(
            patient_id=str(patient_id),
            patient_name=str(patient_name),
            birth_date=str(birth_date),
            sex=str(sex),
        ),
        study_date=str(study_date),
        study_time=str(study_time),
        accession_number=str(accession),
        study_id=str(study_id),
        study_description=str(description),
        referring_physician=str(referring),
        modalities=tuple(m for m in str(modalities).split("\\") if m),
        number_of_series=int(str(num_series)),
        number_of_instances=int(str(num_instances)),
    )


def count_held(conn: sqlite3.Connection, study_uid: str, series_uids: tuple[str, ...] = ()
               ) -> int:
    """How many instances of a study (of some of its series, if given) the store holds."""
    sql = ("SELECT COALESCE(SUM(se.num_instances), 0) FROM series se "
           "JOIN studies st ON se.study_pk = st.pk WHERE st.study_uid = ?")
    params: list[object] = [study_uid]
    if series_uids:
        sql += f" AND se.series_uid IN ({','.join('?' * len(series_uids))})"
        params.extend(series_uids)
    (count,) = conn.execute(sql, params).fetchone()
    return int(count)
