"""One study per series, one patient per study: the information model kept whole.

PS3.3 7.1 (the DICOM model of the real world) places a series in exactly one study and a
study with exactly one patient, and the database follows it: a series row belongs to one
study, a study row to one patient. Files that break this (a Series Instance UID reused
in another study, a Study Instance UID reused for another Patient ID: careless
anonymisers and hand-edited files make them) used to be filed under whichever study or
patient came first, with no word: an image of one patient then showed in another
patient's series, and deleting that study deleted it too. Such files are now refused
with a reason, and what is stored stays as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TypeVar

from viewer.core.records import InstanceRecord
from viewer.store.writer import chunks, series_elsewhere, study_elsewhere

Key = TypeVar("Key")


class HierarchyCheck:
    """Which records would join a series of another study, or a study of another patient.

    One check serves a whole import or retrieve: it remembers the studies and patients
    the records it accepted claimed, before their rows are committed.
    """

    __slots__ = ("_series_study", "_study_patient")

    def __init__(self) -> None:
        self._series_study: dict[str, str] = {}
        self._study_patient: dict[str, str] = {}

    def problems(self, conn: sqlite3.Connection,
                 records: Sequence[tuple[Key, InstanceRecord]]) -> dict[Key, str]:
        """Why each refused record cannot be stored, by its key; accepted ones claim
        their series and study for the records that follow.

        Parameters
        ----------
        conn : sqlite3.Connection
            A connection to the study database, to read what is stored.
        records : sequence of (key, InstanceRecord)
            Records about to be stored, in the order they are taken.

        Returns
        -------
        dict
            Key -> reason, for the records to refuse.
        """
        self._learn(conn, records)
        refused: dict[Key, str] = {}
        for key, record in records:
            study = self._series_study.get(record.series_uid)
            patient = self._study_patient.get(record.study_uid)
            if study is not None and study != record.study_uid:
                refused[key] = series_elsewhere(record.series_uid, study)
            elif patient is not None and patient != record.patient.patient_id:
                refused[key] = study_elsewhere(record.study_uid)
            else:
                self._series_study[record.series_uid] = record.study_uid
                self._study_patient[record.study_uid] = record.patient.patient_id
        return refused

    def _learn(self, conn: sqlite3.Connection,
               records: Sequence[tuple[Key, InstanceRecord]]) -> None:
        """Read the owners of the records' series and studies not seen before."""
        _read_owners(conn, self._series_study, {r.series_uid for _, r in records},
                     "SELECT e.series_uid, s.study_uid FROM series AS e "
                     "JOIN studies AS s ON s.pk = e.study_pk WHERE e.series_uid IN ({})")
        _read_owners(conn, self._study_patient, {r.study_uid for _, r in records},
                     "SELECT s.study_uid, p.patient_id FROM studies AS s "
                     "JOIN patients AS p ON p.pk = s.patient_pk WHERE s.study_uid IN ({})")


def _read_owners(conn: sqlite3.Connection, owners: dict[str, str], uids: set[str],
                 query: str) -> None:
    """Add to ``owners`` what ``query`` (one ``{}`` for the placeholders) says of the
    UIDs not in it yet."""
    for chunk in chunks(sorted(uids - owners.keys())):
        owners.update(conn.execute(query.format(",".join("?" * len(chunk))), chunk))
