"""Study list queries with 10,000 studies in the database: a filtered page in < 50 ms.

The database is filled through the store's own batch writer with one series and one
instance per study (names in several scripts, dates over ten years, five modalities).
Each row is the median time of one browser request: a page of 100 studies plus the total
count that the browser shows, through ``StudyStore.studies`` and ``study_count``. There is
no peer: the goal is the absolute figure a browser needs to feel instant.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from benchmarks import Context, Result, measure
from viewer.core.records import InstanceRecord, PatientRecord, StudyFilter
from viewer.store import StudyStore
from viewer.store.writer import StoredFile

STUDIES = 10_000
FAMILY = ["Smith", "Müller", "Yamada=山田", "Иванов", "Παπαδόπουλος", "Nguyen", "García", "Kim"]
GIVEN = ["John", "Anna", "Tarou=太郎", "Иван", "Νίκος", "Linh", "José", "Min"]
MODALITIES = ["CT", "MR", "CR", "US", "PT"]


def _name(rng: random.Random) -> str:
    family, given = rng.choice(FAMILY), rng.choice(GIVEN)
    fa, _, fi = family.partition("=")
    ga, _, gi = given.partition("=")
    name = f"{fa}{rng.randint(1, 500)}^{ga}"
    return f"{name}={fi}^{gi}" if fi or gi else name


def _fill(home: Path) -> None:
    rng = random.Random(7)
    with StudyStore.open(home) as store:
        if store.study_count() >= STUDIES:
            return
        batch: list[StoredFile] = []
        for n in range(STUDIES):
            record = InstanceRecord(
                sop_instance_uid=f"2.25.{n}.3",
                sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                transfer_syntax_uid="1.2.840.10008.1.2.1",
                patient=PatientRecord(f"PID{n % 4000:06d}", _name(rng), "19600101", "O"),
                study_uid=f"2.25.{n}.1",
                series_uid=f"2.25.{n}.2",
                study_date=f"{rng.randint(2015, 2024)}{rng.randint(1, 12):02d}"
                f"{rng.randint(1, 28):02d}",
                accession_number=f"ACC{n:07d}",
                study_description=rng.choice(["CHEST", "HEAD", "ABDOMEN", "KNEE"]),
                modality=rng.choice(MODALITIES),
            )
            batch.append(StoredFile(record, f"files/none/{n}.dcm", 0, ""))
            if len(batch) == 500:
                store.commit_files(batch)
                batch = []
        store.commit_files(batch)


QUERIES = {
    "no filter, newest first": StudyFilter(),
    "name wildcard 'smith1*'": StudyFilter(patient_name="smith1*"),
    "name substring (ideographic '山田')": StudyFilter(patient_name="山田"),
    "patient ID": StudyFilter(patient_id="PID000123"),
    "date range (one year)": StudyFilter(date_from="20200101", date_to="20201231"),
    "modality MR": StudyFilter(modality="MR"),
    "modality wildcard 'M?'": StudyFilter(modality="M?"),
    "accession": StudyFilter(accession_number="ACC0004242"),
    "name + date + modality": StudyFilter(
        patient_name="m*", date_from="20180101", date_to="20221231", modality="CT"
    ),
    "sorted by name, page 50": StudyFilter(sort="patient_name", descending=False, offset=5000),
}


def run(ctx: Context) -> Iterator[Result]:
    """Fill 10,000 studies once (cached), then time each browser request."""
    home = ctx.folder("store-10k")
    _fill(home)
    with StudyStore.open(home) as store:
        for label, base in QUERIES.items():
            page = StudyFilter(**{**_as_dict(base), "limit": 100})

            def request(page: StudyFilter = page) -> None:
                store.studies(page)
                store.study_count(page)

            timing = measure(request, ctx.repeats(50))
            yield Result(
                what=f"{STUDIES} studies: {label}",
                ours=timing.median,
                goal="< 50 ms",
                goal_max=50.0,
                details={"ours": timing, "matches": store.study_count(base)},
            )


def _as_dict(study_filter: StudyFilter) -> dict[str, object]:
    return {name: getattr(study_filter, name) for name in study_filter.__dataclass_fields__}
