"""Plain records that carry DICOM facts between layers (no pydicom here).

Names are the DICOM keywords in snake case; values are already decoded text (Person
Names keep all component groups joined by ``=``, PS3.5 6.2.1.1) or numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """Patient level (PS3.3 C.7.1.1)."""

    patient_id: str
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """Study level (PS3.3 C.7.2.1) plus the counts a browser shows."""

    study_uid: str
    patient: PatientRecord
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician: str = ""
    modalities: tuple[str, ...] = ()
    number_of_series: int = 0
    number_of_instances: int = 0
    expected_instances: int | None = None  # what its source said it has; None: unknown

    @property
    def missing_instances(self) -> int:
        """How many instances its source has that are not here (0 when none or unknown).

        The source is the PACS it was last retrieved from (Number of Study Related
        Instances, PS3.4 C.6.1.1.3) or the DICOMDIR it was imported from: a retrieve or an
        import that was cancelled, failed or stopped on a full disk leaves a study that
        looks whole unless this is said.
        """
        if self.expected_instances is None:
            return 0
        return max(0, self.expected_instances - self.number_of_instances)


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """Series level (PS3.3 C.7.3.1) plus the instance count."""

    series_uid: str
    study_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part: str = ""
    number_of_instances: int = 0


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One SOP instance as the store indexes it: every level, read from the header only.

    ``image_position`` and ``image_orientation`` (PS3.3 C.7.6.2) let a series be sorted
    without opening its files again.
    """

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    patient: PatientRecord
    study_uid: str
    series_uid: str
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician: str = ""
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part: str = ""
    instance_number: int | None = None
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 1
    image_position: tuple[float, float, float] | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    specific_character_set: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    file_path: str = ""
    file_size: int = 0


# Sort keys a study list may use (StudyFilter.sort).
STUDY_SORT_KEYS = (
    "study_date",
    "patient_name",
    "patient_id",
    "accession_number",
    "study_description",
    "modalities",
    "number_of_instances",
    "birth_date",
    "sex",
    "number_of_series",
)


@dataclass(frozen=True, slots=True)
class StudyFilter:
    """What a study browser (GUI or ``lightbox studies``) asks the study database for.

    Empty fields do not filter. Text matching is case-insensitive and ignores accents.
    ``patient_name`` follows DICOM wildcard matching (PS3.4 C.2.2.2.4: ``*`` any run of
    characters, ``?`` one character) against any component group of the name, with ``^``
    and spaces treated alike; without a wildcard it matches any part of the name.
    ``date_from``/``date_to`` are ``YYYYMMDD`` bounds, both inclusive (PS3.4 C.2.2.2.5).

    Parameters
    ----------
    patient_name, patient_id, accession_number, study_description : str
        Text filters (``patient_id`` and ``accession_number`` also accept ``*``/``?``).
    date_from, date_to : str
        Study Date range; either may be empty for an open range.
    modality : str
        A modality that must be among the study's Modalities in Study (e.g. ``CT``).
    sort : str
        One of :data:`STUDY_SORT_KEYS`.
    descending : bool
        Newest (or largest) first when true.
    offset, limit : int
        Paging; ``limit`` 0 means no limit.
    """

    patient_name: str = ""
    patient_id: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""
    accession_number: str = ""
    study_description: str = ""
    sort: str = "study_date"
    descending: bool = True
    offset: int = 0
    limit: int = 0
