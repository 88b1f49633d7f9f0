"""C-FIND (PS3.4 C.4.1) in the Study Root and Patient Root models, streamed, cancellable.

:func:`find` is a generator: each match is yielded as soon as its pending response
arrives, so a GUI worker can show results while the PACS is still searching, and
:meth:`CancelToken.cancel` from any thread sends C-CANCEL (PS3.7 9.3.2.3).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.presentation import build_context

from viewer.core.dates import parse_date_range
from viewer.core.errors import NoAcceptedContextError, PeerError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.net import explain_dimse
from viewer.net.connection import (
    CancelToken,
    abort_waiting,
    end_association,
    note_lost,
    open_association,
)
from viewer.net.nodes import NodeRecord
from viewer.net.policy import (
    DEFAULT_POLICY,
    FIND_MODELS,
    PATIENT_LEVEL_KEYS,
    QUERY_CHARACTER_SET,
    QUERY_RETURN_KEYS,
    UNCOMPRESSED_SYNTAXES,
)
from viewer.net.query_json import empty_values, identifier_to_dict

LEVELS = ("patient", "study", "series", "image")
_DATE_RANGE = re.compile(r"([0-9]{8})?(-)?([0-9]{8})?")
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")

# PS3.4 C.4.1.1.4 C-FIND status codes.
PENDING = (0xFF00, 0xFF01)
SUCCESS = 0x0000
CANCELLED = 0xFE00


class TruncatedQueryError(PeerError):
    """The PACS ended a C-FIND with Cancel (0xFE00) that we never asked for, with a
    failure after some matches, or stopped answering after some matches.

    PS3.4 C.4.1.1.4 / C.4.1.2.3: Cancel is the answer to a C-CANCEL request, so without
    ours the PACS stopped answering before the end (Orthanc does so past its
    ``LimitFindResults`` / ``LimitFindInstances``). Raised once every match that arrived
    has been yielded: a caller has them, and knows the list is incomplete.

    Parameters
    ----------
    peer, problem : str
        As for :class:`PeerError`.
    count : int
        How many matches arrived (and were yielded) before the PACS stopped.
    """

    def __init__(self, peer: str, problem: str, count: int) -> None:
        super().__init__(peer, problem)
        self.count = count


def check_uid(uid: str) -> None:
    """Raise UsageError unless ``uid`` is a UID (PS3.5 9.1: digits and dots, 64 at most).

    A key with anything else would go to the PACS as it is: a wildcard there matches
    every study in some archives (PS3.4 C.2.2.2.2 allows none in a UID), and a refused
    C-MOVE would be explained as our AE title's fault.
    """
    if not _UID.fullmatch(uid) or len(uid) > 64:
        raise UsageError(f"{uid!r} is not a UID")


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """What to look for; empty fields are not matched (universal matching, PS3.4 C.2.2.2.3).

    Attributes
    ----------
    level : str
        ``patient`` (Patient Root only), ``study``, ``series`` or ``image``.
    model : str
        ``study`` (Study Root) or ``patient`` (Patient Root) information model.
    patient_name : str
        Wildcards ``*`` and ``?`` allowed (PS3.4 C.2.2.2.4).
    study_date : str
        ``YYYYMMDD``, ``A-``, ``-B`` or ``A-B`` (range matching, PS3.4 C.2.2.2.5).
    modality : str
        Modalities in Study at study level, Modality below.
    study_uids, series_uids, sop_uids : tuple of str
        List of UID matching (PS3.4 C.2.2.2.2); one value at levels above the query level.
    """

    level: str = "study"
    model: str = "study"
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modality: str = ""
    accession_number: str = ""
    study_description: str = ""
    study_uids: tuple[str, ...] = ()
    series_uids: tuple[str, ...] = ()
    sop_uids: tuple[str, ...] = ()

    def validated(self) -> QuerySpec:
        """Return self after checking the keys fit the level, or raise UsageError."""
        if self.level not in LEVELS:
            raise UsageError(f"query level must be one of {', '.join(LEVELS)}")
        if self.model not in FIND_MODELS:
            raise UsageError("query model must be study or patient")
        if self.level == "patient" and self.model != "patient":
            raise UsageError("the PATIENT level exists only in the Patient Root model")
        if self.study_date and not _DATE_RANGE.fullmatch(self.study_date):
            raise UsageError(f"date {self.study_date!r}: use YYYYMMDD, A-, -B or A-B")
        # An impossible date (20241301) or a reversed range would be sent as it is and
        # match nothing, or be refused by the PACS (PS3.5 6.2: DA is a calendar date).
        parse_date_range(self.study_date, "date")
        for uid in (*self.study_uids, *self.series_uids, *self.sop_uids):
            check_uid(uid)
        for option, value in (("--patient", self.patient_name), ("--patient-id", self.patient_id),
                              ("--accession", self.accession_number),
                              ("--description", self.study_description)):
            if "\\" in value:
                # A backslash separates values (PS3.5 6.2); a PACS takes a list of values
                # for UIDs only (PS3.4 C.2.2.2.2), and dcmqrscp answers "no matches".
                raise UsageError(f"{option} {value}: a backslash would send several values, "
                                 "which a PACS matches as a list only for UIDs; search for "
                                 "one value at a time")
        depth = LEVELS.index(self.level)
        self._check_keys_fit_the_level(depth)
        # PS3.4 C.4.1.2.2.1: below STUDY, the keys of each higher level hold one value.
        if depth >= 2 and len(self.study_uids) != 1:
            article = "an" if self.level == "image" else "a"
            raise UsageError(
                f"{article} {self.level} query needs exactly one study UID (--study)")
        if depth >= 3 and len(self.series_uids) != 1:
            raise UsageError("an image query needs exactly one series UID (--series)")
        if self.model == "patient" and depth >= 1:
            if not self.patient_id:
                raise UsageError("a Patient Root query below PATIENT level needs --patient-id")
            # PS3.4 C.4.1.2.1: above the query level, the patient's unique key holds one
            # value, and no other patient key travels. Sent, dcmqrscp ignored the name
            # and Orthanc matched it: two PACS, two lists.
            if "*" in self.patient_id or "?" in self.patient_id:
                raise UsageError(f"--patient-id {self.patient_id}: a Patient Root query "
                                 f"below PATIENT level takes one patient, without wildcards; "
                                 "find the patient with --level patient first")
            if self.patient_name and depth == 1:
                raise UsageError("--patient cannot be matched in a Patient Root study query, "
                                 "which takes only the patient's ID (PS3.4 C.4.1.2.1): "
                                 "--patient-id names the patient; leave --patient out, or "
                                 "query the Study Root model")
        return self

    def _check_keys_fit_the_level(self, depth: int) -> None:
        """Refuse keys of a level below the query's (PS3.4 C.4.1.2.1: the identifier holds
        keys of the query level and above). Sent, the answer depends on the PACS (one
        matches nothing, another ignores the key and lists everything); left out, the
        query would list what the user meant to exclude. Either way the wrong list."""
        if self.sop_uids and depth < 3:
            raise UsageError("--instance is an image key: query with --level image")
        if self.series_uids and depth < 2:
            raise UsageError("--series is a series key: query with --level series or image")
        if depth == 0:
            given = [option for option, value in (
                ("--study", self.study_uids), ("--date", self.study_date),
                ("--accession", self.accession_number), ("--description",
                                                         self.study_description),
                ("--modality", self.modality)) if value]
            if given:
                keys = " and ".join(given)
                raise UsageError(
                    f"{keys} {'are study keys' if len(given) > 1 else 'is a study key'}, "
                    "which a patient-level query cannot match: query at study level "
                    "(--level study), whose matches name their patients")
        if depth >= 2:
            # Above the query level only the unique keys travel (PS3.4 C.4.1.2.1): the
            # study (and series) UIDs already name what is listed.
            above = [option for option, value in (
                ("--patient", self.patient_name),
                ("--patient-id", self.patient_id if self.model == "study" else ""),
                ("--date", self.study_date), ("--accession", self.accession_number),
                ("--description", self.study_description),
                ("--modality", self.modality if depth == 3 else "")) if value]
            if above:
                raise UsageError(
                    f"{' and '.join(above)} cannot be matched in a {self.level} query, "
                    "which takes only the UIDs of the levels above it (PS3.4 C.4.1.2.1): "
                    "--study names the study; leave them out, or query at study level")


def build_identifier(spec: QuerySpec) -> Dataset:
    """Return the C-FIND identifier for ``spec`` (PS3.4 C.6.1.1 / C.6.2.1 keys)."""
    spec.validated()
    ds = Dataset()
    ds.QueryRetrieveLevel = spec.level.upper()
    keys = PATIENT_LEVEL_KEYS if spec.level == "patient" else QUERY_RETURN_KEYS[spec.level]
    for keyword in keys:
        setattr(ds, keyword, None)  # zero length: return this key (PS3.4 C.2.2.2.3)
    ds.SpecificCharacterSet = QUERY_CHARACTER_SET
    if spec.patient_name:
        ds.PatientName = spec.patient_name
    if spec.patient_id:
        ds.PatientID = spec.patient_id
    if spec.study_date:
        ds.StudyDate = spec.study_date
    if spec.accession_number:
        ds.AccessionNumber = spec.accession_number
    if spec.study_description:
        ds.StudyDescription = spec.study_description
    if spec.modality:
        # PS3.5 6.2: a CS value is upper case, and a PACS matches it exactly: "ct" would
        # find nothing, where the local study list takes it for CT.
        modality = spec.modality.strip().upper()
        if spec.level == "study":
            ds.ModalitiesInStudy = modality
        else:
            ds.Modality = modality
    if spec.study_uids:
        ds.StudyInstanceUID = list(spec.study_uids) if len(spec.study_uids) > 1 else (
            spec.study_uids[0])
    if spec.series_uids:
        ds.SeriesInstanceUID = list(spec.series_uids) if len(spec.series_uids) > 1 else (
            spec.series_uids[0])
    if spec.sop_uids:
        ds.SOPInstanceUID = list(spec.sop_uids) if len(spec.sop_uids) > 1 else spec.sop_uids[0]
    return ds


def find(
    node: NodeRecord,
    local: NetworkSettings,
    spec: QuerySpec,
    cancel: CancelToken | None = None,
) -> Iterator[dict[str, Any]]:
    """Run a C-FIND on ``node`` and yield each match as a ``{keyword: value}`` dict.

    Values are typed by the attribute's dictionary entry, as ``lightbox studies --json``
    gives them (:func:`viewer.net.query_json.element_value`): a multi-valued attribute
    is always a list, a count a number.

    Parameters
    ----------
    cancel : CancelToken, optional
        Cancelling sends C-CANCEL; the generator then ends after the PACS's final
        response (PS3.7 9.3.2.3) without raising. Before the association is established
        there is nothing to send it on: the request is given up at once instead.

    Raises
    ------
    TruncatedQueryError
        After the last match that arrived: the PACS ended the C-FIND with Cancel
        (0xFE00) although we sent no C-CANCEL, or with a failure status after some
        matches, so the matches are not all there (PS3.4 C.4.1.1.4; a PACS that caps
        its results); or the PACS stopped answering (the DIMSE timeout) or the
        connection was lost after some matches.
    PeerError
        Association failure, a failure status before any match, or the PACS stopped
        answering before any match.
    CancelledError
        Cancelled before or while the association was set up (a PACS that accepts the
        connection and never answers no longer holds a cancel for the ACSE timeout).
    """
    # Every key asked for is in each match, empty if the PACS left it out.
    asked = empty_values(elem.keyword for elem in build_identifier(spec))
    with contextlib.closing(find_identifiers(node, local, spec, cancel)) as identifiers:
        for ident in identifiers:
            yield {**asked, **identifier_to_dict(ident)}


def find_identifiers(
    node: NodeRecord,
    local: NetworkSettings,
    spec: QuerySpec,
    cancel: CancelToken | None = None,
) -> Generator[Dataset, None, None]:
    """:func:`find`, yielding each match's identifier as pydicom left it (PS3.4 C.4.1.2.3).

    pydicom decodes an element when it is first read: a caller that needs a few of them
    (the retrieve's list of instances needs three UIDs) skips decoding the rest, most of
    the work of an image-level query.
    """
    identifier = build_identifier(spec)
    model = FIND_MODELS[spec.model]
    try:
        assoc = open_association(
            node, local, [build_context(model, list(UNCOMPRESSED_SYNTAXES))], cancel=cancel
        )
    except NoAcceptedContextError:
        # PS3.8 9.3.3.2: it accepted the association, not this model's context. A plain
        # PeerError: a retrieve's planning goes on without the answer.
        raise PeerError(node.name, f"the PACS does not offer C-FIND in the {spec.model} "
                        "root model; try --model patient or study") from None
    msg_id = 1
    matches = 0
    timers: list[threading.Timer] = []

    def on_cancel() -> None:
        # PS3.7 9.3.2.3: C-CANCEL; a PACS that goes on (or stays silent) past the grace
        # period loses the association: a query that hung on a stalled PACS ignored
        # Ctrl-C until its answer came, 20 s, and a second one waited out the release.
        assoc.send_c_cancel(msg_id, query_model=model)
        timer = threading.Timer(DEFAULT_POLICY.cancel_grace, abort_waiting, (assoc,))
        timer.daemon = True
        timers.append(timer)
        timer.start()

    unregister = cancel.on_cancel(on_cancel) if cancel else None
    try:
        if not assoc.accepted_contexts:
            raise PeerError(node.name, f"the PACS does not offer C-FIND in the {spec.model} "
                            "root model; try --model patient or study")
        for status, ident in assoc.send_c_find(identifier, model, msg_id=msg_id):
            if "Status" not in status:
                note_lost(assoc)
                if cancel is not None and cancel.cancelled:
                    return  # aborted after our C-CANCEL: the cancel, not a failure
                why = (f"no answer to the query within {node.dimse_timeout:g} s, or the "
                       "connection was lost")
                if matches:
                    # What came matched, but no final response (PS3.4 C.4.1.1.4: only a
                    # status other than Pending ends the list): a caller keeps the
                    # matches, marked partial, instead of losing them to the error.
                    results = "1 result" if matches == 1 else f"{matches} results"
                    raise TruncatedQueryError(
                        node.name, f"{why}; it stopped after {results}: the list is "
                        "incomplete", matches)
                raise PeerError(node.name, why)
            code = int(status.Status)
            if code in PENDING:
                if ident is not None:
                    matches += 1
                    yield ident
                continue
            if code == SUCCESS:
                return
            if code == CANCELLED:
                if cancel is not None and cancel.cancelled:
                    return  # the answer to our C-CANCEL (PS3.7 9.3.2.3)
                # PS3.4 C.4.1.1.4: Cancel answers only a C-CANCEL. Without ours, the PACS
                # cut the list short (a result limit); ending quietly made a query, and
                # a retrieve planned from it, take part of a study for all of it.
                raise TruncatedQueryError(node.name, explain_dimse.query_truncated(matches),
                                          matches)
            comment = str(status.get("ErrorComment", "")).strip()
            problem = explain_dimse.query_failed(code, comment, matches)
            if matches:
                # What came before the failure matched, but is not every match.
                raise TruncatedQueryError(node.name, problem, matches)
            raise PeerError(node.name, problem)
    finally:
        if unregister:
            unregister()
        for timer in timers:
            timer.cancel()
        end_association(assoc)
