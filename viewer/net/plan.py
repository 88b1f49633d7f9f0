"""What a retrieve asks for: the request, its progress record, and the PACS's inventory.

The request and progress records, the image-level inventory (PS3.4 C.4.1, hierarchical
queries), the C-GET/C-MOVE identifiers (PS3.4 C.4.2.2.1) and the storage presentation
contexts proposed for C-GET (within PS3.8's 128-context limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.presentation import (
    AllStoragePresentationContexts,
    PresentationContext,
    StoragePresentationContexts,
    build_context,
)

from viewer.core.errors import CancelledError, PeerError, PeerUnreachableError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.net.connection import CancelToken
from viewer.net.nodes import NodeRecord
from viewer.net.policy import (
    COMMON_STORAGE_CLASSES,
    GET_COMPRESSED_SYNTAXES,
    GET_UNCOMPRESSED_SYNTAXES,
    MAX_PRESENTATION_CONTEXTS,
    VIDEO_STORAGE_CLASSES,
    VIDEO_SYNTAXES,
)
from viewer.net.query import (
    QuerySpec,
    TruncatedQueryError,
    check_uid,
    find,
    find_identifiers,
)

AlreadyHave = Callable[[Iterable[str]], set[str]]
# held(study_uid, series_uids): how many instances of them the store holds.
Held = Callable[[str, tuple[str, ...]], int]

# PS3.4 C.4.2.1.5 / C.4.3.1.4 statuses.
PENDING = (0xFF00, 0xFF01)
CANCELLED = 0xFE00
WARNING = 0xB000
MOVE_DESTINATION_UNKNOWN = 0xA801


@dataclass(frozen=True, slots=True)
class RetrieveRequest:
    """What to fetch: a study, some of its series, or instances of one series.

    ``patient_id`` is needed only with the Patient Root model (PS3.4 C.6.1.2.1).
    """

    study_uid: str
    series_uids: tuple[str, ...] = ()
    sop_uids: tuple[str, ...] = ()
    model: str = "study"
    patient_id: str = ""

    @property
    def root_patient_id(self) -> str:
        """The Patient ID to send: the Patient Root's unique key (PS3.4 C.6.1.2.1), and
        no key at all in the Study Root, where a C-FIND below study level refuses it."""
        return self.patient_id if self.model == "patient" else ""

    @property
    def level(self) -> str:
        """``STUDY``, ``SERIES`` or ``IMAGE`` (PS3.4 C.6.2.2)."""
        if self.sop_uids:
            return "IMAGE"
        return "SERIES" if self.series_uids else "STUDY"

    def describe(self) -> str:
        """The request in words, by its UIDs (no patient data), for messages."""
        study = f"study {self.study_uid}"
        if self.sop_uids:
            count = len(self.sop_uids)
            what = (f"instance {self.sop_uids[0]}" if count == 1
                    else f"the {count} instances asked for")
            return f"{what} of series {self.series_uids[0]} of {study}"
        if self.series_uids:
            return f"series {', '.join(self.series_uids)} of {study}"
        return study

    def validated(self) -> RetrieveRequest:
        """Check the unique keys fit the level (PS3.4 C.4.2.2.1), or raise UsageError."""
        if not self.study_uid:
            raise UsageError("a retrieve needs a study UID (--study)")
        if self.sop_uids and len(self.series_uids) != 1:
            raise UsageError("retrieving instances needs exactly one series UID (--series)")
        if self.model == "patient" and not self.patient_id:
            raise UsageError("a Patient Root retrieve needs --patient-id")
        for uid in (self.study_uid, *self.series_uids, *self.sop_uids):
            check_uid(uid)
        return self


@dataclass(frozen=True, slots=True)
class InventoryItem:
    """One instance the PACS reports for the request (image-level C-FIND)."""

    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str


@dataclass(slots=True)
class RetrieveProgress:
    """A snapshot of a running retrieve, as the GUI or the CLI shows it.

    Counters are those of the PACS's pending responses (PS3.4 C.4.2.1.4), summed over
    the requests of this retrieve; ``received`` counts files written on our side.
    """

    method: str = ""  # get or move once one is used; "" until then
    phase: str = "plan"  # plan, wait (for our C-MOVE port), transfer, done
    expected: int | None = None
    already_present: int = 0
    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    received: int = 0
    status: int | None = None
    failed_instances: list[str] = field(default_factory=list)
    message: str = ""
    cancelled: bool = False
    stopped: str = ""  # why it stopped on its own before the end (our disk is full)
    error_comment: str = ""
    not_imported: int = 0  # received, but the sink (the store) did not take them
    # Their SOP Instance UIDs: arrived, so no later pass of the retrieve asks for them
    # again (the store would refuse them alike: another Patient ID, a damaged file).
    not_imported_instances: list[str] = field(default_factory=list)

    def snapshot(self) -> RetrieveProgress:
        """A copy that another thread may read while the retrieve goes on."""
        return replace(self, failed_instances=list(self.failed_instances),
                       not_imported_instances=list(self.not_imported_instances))

    @property
    def done(self) -> bool:
        """The retrieve has ended (successfully or not)."""
        return self.phase == "done"

    @property
    def ok(self) -> bool:
        """Ended with every instance retrieved."""
        return self.done and not self.cancelled and self.failed == 0 and (
            self.status in (0x0000, None)
        ) and not self.message


def study_expectation(request: RetrieveRequest, progress: RetrieveProgress) -> dict[str, int]:
    """How many instances the PACS says the study has, for the store's record of it.

    Only a whole-study retrieve says it (the PACS's Number of Study Related Instances or
    its sub-operation counts, PS3.4 C.4.2.3.1, C.6.1.1.3); a series or instance retrieve
    says nothing of the rest of the study. Empty when not known.
    """
    if request.level != "STUDY" or progress.expected is None:
        return {}
    return {request.study_uid: progress.expected}


def inventory(node: NodeRecord, local: NetworkSettings, request: RetrieveRequest,
              cancel: CancelToken | None = None,
              series_counts: dict[str, int | None] | None = None) -> list[InventoryItem]:
    """Ask the PACS which instances ``request`` covers, with their SOP classes.

    Series are found at SERIES level first, then each series at IMAGE level, following
    the hierarchical rule (PS3.4 C.4.1.3.1: one value for every key above the level).
    ``series_counts`` gets each series found and its Number of Series Related Instances
    (None where the PACS leaves it empty) once the SERIES level answer is complete.

    Raises
    ------
    TruncatedQueryError
        The PACS cut one of these C-FINDs short (PS3.4 C.4.1.1.4: Cancel without our
        C-CANCEL): a partial list is no inventory, so none is returned.
    """
    series = list(request.series_uids)
    model = request.model
    if not series:
        spec = QuerySpec(level="series", model=model, patient_id=request.root_patient_id,
                         study_uids=(request.study_uid,))
        answers = [(_uid(r, "SeriesInstanceUID"), _count(r, "NumberOfSeriesRelatedInstances"))
                   for r in find_identifiers(node, local, spec, cancel)]
        series = [s for s, _ in answers if s]
        if series_counts is not None and not (cancel and cancel.cancelled):
            series_counts.update((s, n) for s, n in answers if s)
    items: list[InventoryItem] = []
    for s in series:
        spec = QuerySpec(level="image", model=model, patient_id=request.root_patient_id,
                         study_uids=(request.study_uid,), series_uids=(s,),
                         sop_uids=request.sop_uids)
        # Only the UIDs are read of each answer: decoding all of its elements took most
        # of the time of listing a few hundred instances.
        for r in find_identifiers(node, local, spec, cancel):
            uid = _uid(r, "SOPInstanceUID")
            if uid:
                items.append(InventoryItem(s, uid, _uid(r, "SOPClassUID")))
    return items


def _count(identifier: Dataset, keyword: str) -> int | None:
    """A count of a C-FIND answer (IS), None when absent, empty or not a number."""
    try:
        value = identifier.get(keyword)
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _uid(identifier: Dataset, keyword: str) -> str:
    """A UID of a C-FIND answer, "" when absent or empty (PS3.4 C.4.1.2.3)."""
    value = identifier.get(keyword)
    return str(value).strip() if value else ""


def identifiers(request: RetrieveRequest, missing: list[InventoryItem] | None
                 ) -> list[Dataset]:
    """C-GET/C-MOVE identifiers: the request itself, or the missing instances per series."""
    def base(level: str) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = level
        if request.model == "patient":
            ds.PatientID = request.patient_id
        ds.StudyInstanceUID = request.study_uid
        return ds

    if missing is None:
        ds = base(request.level)
        if request.series_uids:
            ds.SeriesInstanceUID = (list(request.series_uids) if len(request.series_uids) > 1
                                    else request.series_uids[0])
        if request.sop_uids:
            ds.SOPInstanceUID = (list(request.sop_uids) if len(request.sop_uids) > 1
                                 else request.sop_uids[0])
        return [ds]
    by_series: dict[str, list[str]] = {}
    for item in missing:
        by_series.setdefault(item.series_uid, []).append(item.sop_instance_uid)
    out = []
    for series_uid, uids in by_series.items():
        # PS3.4 C.4.2.2.1: IMAGE level, one series, a list of SOP Instance UIDs.
        for start in range(0, len(uids), 500):
            ds = base("IMAGE")
            ds.SeriesInstanceUID = series_uid
            chunk = uids[start:start + 500]
            ds.SOPInstanceUID = chunk if len(chunk) > 1 else chunk[0]
            out.append(ds)
    return out


def proposed_classes(sop_classes: Iterable[str]) -> list[str]:
    """The storage classes a C-GET proposes for ``sop_classes``: those given, or the
    common set when the PACS did not say (PS3.4 B.5), within one association's budget."""
    classes = sorted({c for c in sop_classes if c}) or list(COMMON_STORAGE_CLASSES)
    return classes[:MAX_PRESENTATION_CONTEXTS - 1]  # one context carries the GET model


def storage_contexts(sop_classes: Iterable[str], again: Iterable[str] = ()
                     ) -> list[PresentationContext]:
    """Storage contexts for C-GET within the 128-context limit (PS3.8 9.3.2.2).

    The given classes (or the common set when the PACS did not say) each get one
    context with the uncompressed syntaxes and, as the budget allows, one context per
    compressed syntax, so the PACS can send each instance as stored; video classes get
    one context per video syntax (PS3.5 A.4.5-A.4.8) before that. Classes in
    ``again`` had an uncompressed context on an earlier association: they get the
    compressed ones alone (the pass for a PACS that sends every instance of a class on
    the first context it accepted for that class).
    """
    classes = proposed_classes(sop_classes)
    repeated = set(again)
    fresh = [c for c in classes if c not in repeated]
    room = MAX_PRESENTATION_CONTEXTS - 1 - len(fresh)
    # Video classes get the video syntaxes first, the most used first: a PACS has no
    # other form of a video to send.
    video = [c for c in classes if c in VIDEO_STORAGE_CLASSES]
    videos = [build_context(c, s) for s in VIDEO_SYNTAXES for c in video][:room]
    room -= len(videos)
    compressed = min(len(GET_COMPRESSED_SYNTAXES), room // len(classes))
    contexts = [build_context(c, list(GET_UNCOMPRESSED_SYNTAXES)) for c in fresh]
    for syntax in GET_COMPRESSED_SYNTAXES[:compressed]:
        contexts.extend(build_context(c, syntax) for c in classes)
    return contexts + videos


def with_uncompressed(contexts: Iterable[PresentationContext]) -> set[str]:
    """The classes that ``contexts`` offer uncompressed."""
    return {str(cx.abstract_syntax) for cx in contexts
            if GET_UNCOMPRESSED_SYNTAXES[0] in cx.transfer_syntax}


# Every storage class pynetdicom knows, those in current use first (retired ones after).
_STORAGE_CLASSES = tuple(dict.fromkeys(
    str(cx.abstract_syntax) for cx in (*StoragePresentationContexts,
                                        *AllStoragePresentationContexts)))


def other_storage_classes(offered: Iterable[str]) -> list[str]:
    """Storage classes not yet proposed, as many as one C-GET association carries.

    For instances still missing whose classes the PACS will not say (dcmtk's dcmqrscp
    answers neither SOP Classes in Study nor SOP Class UID). A C-GET sub-operation for a
    class without an accepted context fails (PS3.4 C.4.3), so these get associations of
    their own (strategy (c) for PS3.8 9.3.2.2's limit: at most 127 storage contexts next
    to the GET model's), uncompressed.
    """
    done = set(offered)
    return [c for c in _STORAGE_CLASSES if c not in done][:MAX_PRESENTATION_CONTEXTS - 1]


class Plan:
    """What the PACS says the request covers, asked for as late as possible."""

    def __init__(self, node: NodeRecord, local: NetworkSettings, request: RetrieveRequest,
                 token: CancelToken) -> None:
        self.node, self.local, self.request, self.token = node, local, request, token
        self.listed: list[InventoryItem] | None = None
        self.todo: list[InventoryItem] | None = None
        self.classes: set[str] = set()
        # Whether a C-FIND at the request's own level matched anything; None: not asked,
        # or the PACS would not say.
        self.found: bool | None = None
        # The PACS cut a planning C-FIND short (a result limit): what it listed, or the
        # count it gave, is not the request's.
        self.truncated = False
        # The series of the study and their instance counts, from a complete SERIES
        # level answer while listing the instances (empty if not asked, or cut short).
        self.series_counts: dict[str, int | None] = {}
        self._asked = False

    def items(self) -> list[InventoryItem] | None:
        """The image-level inventory, or None if the PACS will not give it in full.

        A list the PACS cut short (PS3.4 C.4.1.1.4: Cancel without our C-CANCEL) counts
        as none: the retrieve then asks for the request itself (PS3.4 C.4.2.2.1, the
        study or series without an instance list) and takes the PACS's count, instead
        of fetching and expecting only what the partial list named.
        """
        if not self._asked:
            self._asked = True
            try:
                self.listed = inventory(self.node, self.local, self.request, self.token,
                                        self.series_counts)
            except PeerUnreachableError:
                raise  # the retrieve could not reach it either: say so now, not twice
            except TruncatedQueryError:
                if self.token.cancelled:
                    raise
                self.truncated = True
                self.listed = None
            except PeerError:
                if self.token.cancelled:
                    raise
                self.listed = None  # the PACS will not list instances: retrieve blind
        return self.listed

    def narrowed(self, held: Held) -> tuple[RetrieveRequest, int, int] | None:
        """The series to fetch when the instance list was cut short, by their counts.

        A PACS that caps image-level answers (Orthanc's ``LimitFindInstances``) gives no
        instance list, but its series list, when whole, counts each series' instances
        (Number of Series Related Instances, PS3.4 C.6.1.1.3). The series the store
        holds in full are left out: a retry fetches the others whole, instead of the
        study again. Returns the narrowed request, the study's instance count and how
        many instances the series left out hold; None when the counts do not tell
        (a count missing, every series or none incomplete).

        Parameters
        ----------
        held : callable
            ``held(study_uid, series_uids)``: how many instances of them the store holds.
        """
        counts = self.series_counts
        if not self.truncated or not counts or self.request.level != "STUDY":
            return None
        known = {s: n for s, n in counts.items() if n is not None}
        if len(known) != len(counts):
            return None
        study = self.request.study_uid
        missing = tuple(s for s, n in known.items() if held(study, (s,)) < n)
        if not missing or len(missing) == len(known):
            return None
        complete = sum(n for s, n in known.items() if s not in missing)
        return replace(self.request, series_uids=missing), sum(known.values()), complete

    def summarize(self, classes: bool = True) -> int | None:
        """Ask for SOP Classes in Study and the instance count (PS3.4 C.6.1.1.2, optional
        keys a PACS may leave empty); return the count if known.

        Sets :attr:`found` from the answer at the request's level. With ``classes``
        False (a C-MOVE, whose storage SCP takes any class) a series request is only
        asked at series level. An answer the PACS cut short (PS3.4 C.4.1.1.4) gives no
        count: the sum of some series is not the request's.
        """
        r = self.request
        if r.sop_uids:
            return len(r.sop_uids)
        try:
            studies: list[dict[str, Any]] = []
            if classes or not r.series_uids:
                spec = QuerySpec(level="study", model=r.model, patient_id=r.root_patient_id,
                                 study_uids=(r.study_uid,))
                studies = list(find(self.node, self.local, spec, self.token))
                if self.token.cancelled:
                    return None  # a cancelled C-FIND ends early: its answer says nothing
                for study in studies:
                    value = study.get("SOPClassesInStudy", "")
                    self.classes |= set(value if isinstance(value, list) else [value]) - {""}
                if not studies:
                    self.found = False  # no study: none of its series either
                    return None
            if not r.series_uids:
                self.found = True
                counts = [study.get("NumberOfStudyRelatedInstances") for study in studies]
            else:
                # PS3.4 C.4.1.3.1: the study key is matched too, so a series of another
                # study is not found (some PACS move a series by its UID alone).
                spec = QuerySpec(level="series", model=r.model, patient_id=r.root_patient_id,
                                 study_uids=(r.study_uid,), series_uids=r.series_uids)
                series = list(find(self.node, self.local, spec, self.token))
                if self.token.cancelled:
                    return None
                self.found = bool(series)
                counts = [s.get("NumberOfSeriesRelatedInstances") for s in series]
        except PeerUnreachableError:
            raise  # the retrieve could not reach it either: say so now, not twice
        except TruncatedQueryError as exc:
            if self.token.cancelled:
                raise
            self.truncated = True
            if exc.count:
                self.found = True  # some of it matched, which is all `found` says
            return None
        except PeerError:
            if self.token.cancelled:
                raise
            return None
        if not counts or any(c in (None, "") for c in counts):
            return None
        try:
            return sum(int(str(c)) for c in counts)
        except (TypeError, ValueError):
            return None

    def has_any(self) -> bool | None:
        """Whether the PACS has anything for the request; None if it will not say.

        What planning learnt is used; otherwise one C-FIND at the request's level with
        its unique keys (PS3.4 C.4.1.3.1). Called when a C-GET or C-MOVE sent nothing,
        to tell a wrong UID from a PACS that cannot send.
        """
        r = self.request
        if self.found is None and r.level == "IMAGE" and self.listed is not None:
            self.found = bool(self.listed)  # the inventory was that same C-FIND
        if self.found is not None:
            return self.found
        try:
            spec = QuerySpec(level=r.level.lower(), model=r.model, patient_id=r.root_patient_id,
                             study_uids=(r.study_uid,), series_uids=r.series_uids,
                             sop_uids=r.sop_uids).validated()
            # Every answer is read: leaving the C-FIND mid-way would release the
            # association while the PACS is still answering.
            matches = sum(1 for _ in find_identifiers(self.node, self.local, spec, self.token))
        except TruncatedQueryError as exc:
            # Cut short (PS3.4 C.4.1.1.4), but what came matched: it has something.
            matches = exc.count
            if not matches:
                return None
        except (CancelledError, PeerError, UsageError):
            return None  # cancelled, the PACS would not answer, or a key is not a UID
        if self.token.cancelled:
            return None  # a cancelled C-FIND ends early: its answer says nothing
        self.found = matches > 0
        return self.found

