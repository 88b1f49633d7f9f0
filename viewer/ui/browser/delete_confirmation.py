"""The delete confirmation of the study browser: whose studies go, so that no wrong ones do."""

from __future__ import annotations

from viewer.core.records import StudyRecord
from viewer.ui.viewer.annotate import dicom_date, display_name

#: Studies a delete confirmation names one by one; more are counted ("and N more").
DELETE_LIST_LIMIT = 10


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def study_line(study: StudyRecord) -> str:
    """One study for a reader who must not mistake it for another: patient name as the
    browser shows it, Patient ID, study date, modalities, description, number of images."""
    name = display_name(study.patient.patient_name) or "(no name)"
    patient_id = study.patient.patient_id or "no Patient ID"
    date = dicom_date(study.study_date) or "no study date"
    parts = [f"{name} (ID {patient_id})", date, "/".join(study.modalities),
             study.study_description or "no description",
             _plural(study.number_of_instances, "image")]
    return ", ".join(part for part in parts if part)


def delete_question(studies: list[StudyRecord], open_in_viewer: set[str]) -> str:
    """The delete confirmation: which patients' studies go, so that the wrong ones are not.

    Parameters
    ----------
    studies : list of StudyRecord
        The selected studies, in the browser's order.
    open_in_viewer : set of str
        Study Instance UIDs open in the viewer (they are closed before their files go).
    """
    opened = sum(1 for s in studies if s.study_uid in open_in_viewer)
    if len(studies) == 1:
        (study,) = studies
        lines = [
            "Delete this study and its files from this computer?",
            "",
            f"Patient: {display_name(study.patient.patient_name) or '(no name)'}",
            f"Patient ID: {study.patient.patient_id or '(none)'}",
            f"Study date: {dicom_date(study.study_date) or '(none)'}",
            f"Description: {study.study_description or '(none)'}",
            f"Images: {study.number_of_instances}",
        ]
        if opened:
            lines += ["", "It is open in the viewer and will be closed."]
    else:
        patients = {(s.patient.patient_id, s.patient.patient_name) for s in studies}
        lines = [f"Delete these {len(studies)} studies of {_plural(len(patients), 'patient')} "
                 "and their files from this computer?", ""]
        lines += [f"\u2022 {study_line(s)}" for s in studies[:DELETE_LIST_LIMIT]]
        if len(studies) > DELETE_LIST_LIMIT:
            lines.append(f"and {len(studies) - DELETE_LIST_LIMIT} more")
        if opened:
            lines += ["", f"{opened} of them {'is' if opened == 1 else 'are'} open in the "
                      "viewer and will be closed."]
    lines += ["", "This cannot be undone."]
    return "\n".join(lines)
