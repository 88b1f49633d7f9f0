"""SQL for the browser's study list: a :class:`StudyFilter` becomes one indexed query."""

from __future__ import annotations

import itertools
import sqlite3

from viewer.core.records import STUDY_SORT_KEYS, PatientRecord, StudyFilter, StudyRecord
from viewer.store.names import has_wildcard, normalise, to_glob

STUDY_COLUMNS = (
    "s.study_uid, s.study_date, s.study_time, s.accession_number, s.study_id, "
    "s.study_description, s.referring_physician, s.modalities, s.num_series, "
    "s.num_instances, p.patient_id, p.patient_name, p.birth_date, p.sex, "
    "s.expected_instances"
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
    "birth_date": "p.birth_date {d}",
    "sex": "p.sex {d}",
    "number_of_series": "s.num_series {d}",
}
assert set(_SORT_SQL) == set(STUDY_SORT_KEYS)


#: Most ASCII letters of an identifier's literal prefix turned into index ranges: each
#: letter doubles the ranges (upper and lower case), and past a few the prefix is selective
#: enough that LIKE finishes the job on the rows the ranges found.
_RANGE_LETTERS = 4

_LIKE_ESCAPE = "\\"


def _text_match(column: str, value: str) -> tuple[str, list[object]]:
    """Wildcard (GLOB) when the value has ``*``/``?``; otherwise a substring."""
    if has_wildcard(value):
        return f"{column} GLOB ?", [to_glob(value)]
    return f"instr({column}, ?) > 0", [value]


def to_like(pattern: str) -> str:
    r"""A DICOM wildcard pattern (``*``, ``?``) as a LIKE pattern escaped with ``\``.

    Examples
    --------
    >>> to_like("US-0?4*")
    'US-0_4%'
    >>> to_like("50%_off")
    '50\\%\\_off'
    """
    out: list[str] = []
    for char in pattern:
        if char in "%_" + _LIKE_ESCAPE:
            out.append(_LIKE_ESCAPE + char)
        elif char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        else:
            out.append(char)
    return "".join(out)


def _successor(text: str) -> str | None:
    """The least string above every string starting with ``text`` (code point order, which
    is SQLite's BINARY order of UTF-8), or None when there is none."""
    while text:
        last = ord(text[-1]) + 1
        if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored: the next is U+E000
            last = 0xE000
        if last <= 0x10FFFF:
            return text[:-1] + chr(last)
        text = text[:-1]
    return None


def _case_ranges(column: str, prefix: str) -> tuple[str, list[object]] | None:
    """Index ranges of ``column`` holding every value that starts with ``prefix`` in any
    ASCII case, or None when the prefix is empty (nothing to narrow the search with).

    LIKE ignores ASCII case, but SQLite uses an index for it only when the index is
    ``COLLATE NOCASE``; the store's indexes are BINARY. Each case variant of the prefix's
    first letters is one range of the BINARY index, which SQLite searches one after the
    other ("MULTI-INDEX OR") instead of reading every row.
    """
    letters = 0
    for end, char in enumerate(prefix):
        if char.isascii() and char.isalpha():
            letters += 1
            if letters > _RANGE_LETTERS:
                prefix = prefix[:end]
                break
    if not prefix:
        return None
    choices = [(c.upper(), c.lower()) if c.isascii() and c.isalpha() else (c,) for c in prefix]
    clauses: list[str] = []
    params: list[object] = []
    for variant in sorted({"".join(chars) for chars in itertools.product(*choices)}):
        upper = _successor(variant)
        if upper is None:
            clauses.append(f"{column} >= ?")
            params.append(variant)
        else:
            clauses.append(f"({column} >= ? AND {column} < ?)")
            params += [variant, upper]
    return "(" + " OR ".join(clauses) + ")", params


def identifier_condition(column: str, pattern: str) -> tuple[str, list[object]]:
    """Match an identifier (Patient ID, Accession Number) as the browser's search field.

    ASCII case is ignored ("us-004" finds "US-004"). ``*`` and ``?`` are DICOM wildcards
    (PS3.4 C.2.2.2.4) and the pattern then matches the whole value, as for the name. A
    value without wildcard matches as a prefix, as if it ended with ``*``: "US" finds
    every "US-..." identifier while it is being typed, and an identifier typed whole finds
    itself (with any longer one it begins). A prefix rather than any substring, as the
    name has, because a run of digits would otherwise find a good part of the database,
    and because a prefix can be searched in the column's index; a pattern that starts
    with a wildcard reads every row. Letters beyond ASCII are matched case-sensitively
    (identifiers are almost always ASCII; SQLite's LIKE folds ASCII only).
    """
    like = to_like(pattern if has_wildcard(pattern) else pattern + "*")
    wildcards = [i for i in (pattern.find("*"), pattern.find("?")) if i >= 0]
    literal = pattern[: min(wildcards)] if wildcards else pattern
    sql = f"{column} LIKE ? ESCAPE '{_LIKE_ESCAPE}'"
    params: list[object] = [like]
    ranges = _case_ranges(column, literal)
    if ranges is not None:
        sql = f"{ranges[0]} AND {sql}"
        params = [*ranges[1], *params]
    return sql, params


def name_condition(pattern: str) -> tuple[str, list[object]]:
    """Match a normalised Person Name against any of its component groups (PS3.5 6.2.1.1).

    The name as the browser shows it ("Smith, John": family name, a comma, the other
    components) is the name with ``^`` (PS3.5 6.2.1.1), so "Smith, John", "Smith John" and
    "Smith^John" find the same patients. A comma kept in a stored name (a family name
    "SMITH, JOHN" in one component, as some systems write it) is matched as typed, too.
    """
    variants = [normalise(pattern)]
    if "," in pattern:
        variants.append(normalise(pattern.replace(",", "^")))
    clauses: list[str] = []
    params: list[object] = []
    for norm in dict.fromkeys(variants):
        sql, values = _name_match(norm)
        clauses.append(sql)
        params += values
    return (clauses[0] if len(clauses) == 1 else "(" + " OR ".join(clauses) + ")"), params


def _name_match(norm: str) -> tuple[str, list[object]]:
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
    # Identifiers are matched in a subquery of their own table: planned alone, it searches
    # the identifier's index. As terms of the join, SQLite costed the OR of index ranges
    # above reading every study in date order for the page (its LIMIT is a parameter),
    # 10 to 40 ms at 10,000 studies instead of under one.
    if f.patient_id.strip():
        sql, values = identifier_condition("patient_id", f.patient_id.strip())
        clauses.append(f"p.pk IN (SELECT pk FROM patients WHERE {sql})")
        params += values
    if f.accession_number.strip():
        sql, values = identifier_condition("accession_number", f.accession_number.strip())
        clauses.append(f"s.pk IN (SELECT pk FROM studies WHERE {sql})")
        params += values
    if f.study_description.strip():
        sql, values = _text_match(
            "s.description_norm", normalise(f.study_description.strip())
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
    modality = f.modality.strip().upper()
    # PS3.4 C.2.2.2.4: a value of only "*" matches everything, as if absent; other
    # wildcards ("M?" for MR and MG) match the modality whole.
    if modality.strip("*"):
        test = (f"m.modality LIKE ? ESCAPE '{_LIKE_ESCAPE}'" if has_wildcard(modality)
                else "m.modality = ?")
        clauses.append(
            f"EXISTS (SELECT 1 FROM study_modalities AS m WHERE {test} AND m.study_pk = s.pk)"
        )
        params.append(to_like(modality) if has_wildcard(modality) else modality)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return where, params


def select_studies(conn: sqlite3.Connection, study_filter: StudyFilter) -> list[StudyRecord]:
    """Run the paged, sorted study list query."""
    where, params = study_where(study_filter)
    sql = f"SELECT {STUDY_COLUMNS} {FROM}{where} ORDER BY {_order(study_filter)}"
    if study_filter.limit > 0:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, study_filter.limit, max(0, study_filter.offset)]
    elif study_filter.offset > 0:
        sql += " LIMIT -1 OFFSET ?"
        params = [*params, study_filter.offset]
    return [study_from_row(row) for row in conn.execute(sql, params)]


def _order(study_filter: StudyFilter) -> str:
    sort = _SORT_SQL.get(study_filter.sort, _SORT_SQL["study_date"])
    return f"{sort.format(d='DESC' if study_filter.descending else 'ASC')}, s.pk"


def study_uids(conn: sqlite3.Connection, study_filter: StudyFilter) -> list[str]:
    """The Study Instance UIDs of the sorted list, all of them: one column, one query."""
    where, params = study_where(study_filter)
    return [uid for (uid,) in conn.execute(
        f"SELECT s.study_uid {FROM}{where} ORDER BY {_order(study_filter)}", params)]


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
        expected,
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
        expected_instances=None if expected is None else int(str(expected)),
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
