"""The study database schema and its numbered migrations (``PRAGMA user_version``).

Each migration is a list of statements run in one transaction; ``user_version`` records
the last one applied, so an older database is brought forward in place and never
re-imported. Patient, study, series and instance rows are linked with ``ON DELETE
CASCADE`` so deleting a study removes everything under it in one statement.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from viewer.store.names import NORMALISER_VERSION, normalise

_DOTTED_DATE = "[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]"
_DOTTED_AS_DA = "substr({0}, 1, 4) || substr({0}, 6, 2) || substr({0}, 9, 2)"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the four levels of PS3.3 C.7 (patient, study, series, instance), what a browser
    #    needs without opening files, and an index for every browser filter.
    (
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE patients (
            pk INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL,
            patient_name TEXT NOT NULL,
            name_norm TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            sex TEXT NOT NULL,
            UNIQUE (patient_id, patient_name, birth_date)
        )""",
        "CREATE INDEX patients_name_norm ON patients (name_norm)",
        """CREATE TABLE studies (
            pk INTEGER PRIMARY KEY,
            study_uid TEXT NOT NULL UNIQUE,
            patient_pk INTEGER NOT NULL REFERENCES patients (pk) ON DELETE CASCADE,
            study_date TEXT NOT NULL DEFAULT '',
            study_time TEXT NOT NULL DEFAULT '',
            accession_number TEXT NOT NULL DEFAULT '',
            study_id TEXT NOT NULL DEFAULT '',
            study_description TEXT NOT NULL DEFAULT '',
            description_norm TEXT NOT NULL DEFAULT '',
            referring_physician TEXT NOT NULL DEFAULT '',
            modalities TEXT NOT NULL DEFAULT '',
            num_series INTEGER NOT NULL DEFAULT 0,
            num_instances INTEGER NOT NULL DEFAULT 0,
            added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        )""",
        "CREATE INDEX studies_patient ON studies (patient_pk)",
        "CREATE INDEX studies_date ON studies (study_date, study_time)",
        "CREATE INDEX studies_accession ON studies (accession_number)",
        "CREATE INDEX studies_description ON studies (description_norm)",
        """CREATE TABLE study_modalities (
            modality TEXT NOT NULL,
            study_pk INTEGER NOT NULL REFERENCES studies (pk) ON DELETE CASCADE,
            PRIMARY KEY (modality, study_pk)
        ) WITHOUT ROWID""",
        "CREATE INDEX study_modalities_study ON study_modalities (study_pk)",
        """CREATE TABLE series (
            pk INTEGER PRIMARY KEY,
            series_uid TEXT NOT NULL UNIQUE,
            study_pk INTEGER NOT NULL REFERENCES studies (pk) ON DELETE CASCADE,
            modality TEXT NOT NULL DEFAULT '',
            series_number INTEGER,
            series_description TEXT NOT NULL DEFAULT '',
            body_part TEXT NOT NULL DEFAULT '',
            num_instances INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX series_study ON series (study_pk)",
        """CREATE TABLE instances (
            pk INTEGER PRIMARY KEY,
            sop_uid TEXT NOT NULL UNIQUE,
            series_pk INTEGER NOT NULL REFERENCES series (pk) ON DELETE CASCADE,
            sop_class_uid TEXT NOT NULL,
            transfer_syntax_uid TEXT NOT NULL,
            instance_number INTEGER,
            rows INTEGER NOT NULL DEFAULT 0,
            columns INTEGER NOT NULL DEFAULT 0,
            frames INTEGER NOT NULL DEFAULT 1,
            position TEXT NOT NULL DEFAULT '',
            orientation TEXT NOT NULL DEFAULT '',
            charset TEXT NOT NULL DEFAULT '',
            file_path TEXT NOT NULL,
            file_size INTEGER NOT NULL,
            digest TEXT NOT NULL
        )""",
        "CREATE INDEX instances_series ON instances (series_pk)",
    ),
    # 2: dates and times in the forms of the standard before 3.0 (PS3.5 Table 6.2-1,
    #    "YYYY.MM.DD", "HH:MM:SS") in today's forms, as imports now record them: kept as
    #    they were, such studies fell outside every date range. A patient row whose birth
    #    date changes may meet one already recorded in the new form: its studies move to
    #    that row, and the emptied row goes.
    (
        f"UPDATE studies SET study_date = {_DOTTED_AS_DA.format('study_date')} "
        f"WHERE study_date GLOB '{_DOTTED_DATE}'",
        "UPDATE studies SET study_time = replace(study_time, ':', '') "
        "WHERE study_time GLOB '[0-9][0-9]:[0-9][0-9]*'",
        f"UPDATE OR IGNORE patients SET birth_date = {_DOTTED_AS_DA.format('birth_date')} "
        f"WHERE birth_date GLOB '{_DOTTED_DATE}'",
        f"""UPDATE studies SET patient_pk = (
            SELECT same.pk FROM patients AS old JOIN patients AS same
                ON same.patient_id = old.patient_id AND same.patient_name = old.patient_name
                AND same.birth_date = {_DOTTED_AS_DA.format('old.birth_date')}
            WHERE old.pk = studies.patient_pk)
        WHERE patient_pk IN (SELECT pk FROM patients WHERE birth_date GLOB '{_DOTTED_DATE}')""",
        f"DELETE FROM patients WHERE birth_date GLOB '{_DOTTED_DATE}' "
        "AND pk NOT IN (SELECT patient_pk FROM studies)",
    ),
    # 3. How many instances the source of a study says it has (the PACS's Number of Study
    #    Related Instances at a retrieve, the records of a DICOMDIR at an import): a study
    #    with fewer here is shown as incomplete. NULL: no source said.
    ("ALTER TABLE studies ADD COLUMN expected_instances INTEGER",),
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; return the version found before.

    Raises
    ------
    RuntimeError
        When the database is newer than this program (opened by a later Lightbox).
    """
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    if found == 0:
        found = _recorded_version(conn)
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"the study database has schema {found}, newer than this Lightbox ({SCHEMA_VERSION})"
        )
    for number in range(found, SCHEMA_VERSION):
        with _immediate(conn):
            # Read again under the write lock: another Lightbox process opening the same
            # new home (the application's SCP and an import, at first start) may have
            # applied this step since the version was read.
            (now,) = conn.execute("PRAGMA user_version").fetchone()
            if now > number:
                continue
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
    _record_version(conn)
    _renormalise(conn)
    return int(found)


def _recorded_version(conn: sqlite3.Connection) -> int:
    """The schema of a database whose ``user_version`` reads 0: 0 when it is new; the
    version kept in ``meta`` when it was copied without its header (``sqlite3 .dump``,
    some backup tools), which is then written back.

    Raises
    ------
    RuntimeError
        Lightbox's tables are there and no version was kept (a dump of a database no
        Lightbox with this record opened): migrating again would fail on the first table.
    """
    with _immediate(conn):
        # Under the write lock: another process may have migrated a new home meanwhile
        # (the migration steps below then find its version), or be about to.
        (now,) = conn.execute("PRAGMA user_version").fetchone()
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if now or "meta" not in tables:
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise RuntimeError(
                "the study database holds Lightbox's tables but not their schema version (a "
                "copy made with sqlite3's .dump loses it); restore a copy of the file "
                "itself, or move the database out of the home and run 'lightbox check "
                "--repair' to rebuild it from the files")
        conn.execute(f"PRAGMA user_version = {int(row[0])}")
    return int(row[0])


def _record_version(conn: sqlite3.Connection) -> None:
    """Keep the schema version in ``meta`` too, where a copy of the rows keeps it."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is not None and row[0] == str(SCHEMA_VERSION):
        return
    with _immediate(conn):
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                     (str(SCHEMA_VERSION),))


def _renormalise(conn: sqlite3.Connection) -> None:
    """Recompute the folded name and description columns when the normaliser changed.

    Search matches these columns, so rows folded by an older :func:`normalise` would not
    be found by what the current one makes of a query.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'name_normaliser'").fetchone()
    if row is not None and row[0] == str(NORMALISER_VERSION):
        return
    with _immediate(conn):
        conn.executemany("UPDATE patients SET name_norm = ? WHERE pk = ?", [
            (normalise(name), pk)
            for pk, name in conn.execute("SELECT pk, patient_name FROM patients").fetchall()])
        conn.executemany("UPDATE studies SET description_norm = ? WHERE pk = ?", [
            (normalise(text), pk) for pk, text in
            conn.execute("SELECT pk, study_description FROM studies").fetchall()])
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('name_normaliser', ?)",
                     (str(NORMALISER_VERSION),))


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (no other writer can slip in), rolled back
    whole on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
