"""C-FIND against Orthanc, dcmqrscp and scripted PACS: levels, matching, charsets, cancel."""

from __future__ import annotations

import threading
import time

import pytest

from tests.net.conftest import node_for
from tests.support.find_peers import ScriptedFindPeer
from tests.support.peers import (
    TEST_STUDIES,
    PeerProcess,
    PynetdicomPeer,
    series_uid,
    study_uid,
)
from viewer.core.errors import PeerError, UsageError
from viewer.core.settings import NetworkSettings
from viewer.net.connection import CancelToken
from viewer.net.nodes import NodeRecord
from viewer.net.query import QuerySpec, TruncatedQueryError, build_identifier, find

pytestmark = pytest.mark.peer


def _studies(peer: PeerProcess, local: NetworkSettings, **keys: object) -> set[str]:
    spec = QuerySpec(**keys)  # type: ignore[arg-type]
    return {r["StudyInstanceUID"] for r in find(node_for(peer), local, spec)}


def test_study_level_returns_every_study(peer: PeerProcess, local: NetworkSettings) -> None:
    results = list(find(node_for(peer), local, QuerySpec()))
    assert {r["StudyInstanceUID"] for r in results} == {study_uid(s.key) for s in TEST_STUDIES}
    by_uid = {r["StudyInstanceUID"]: r for r in results}
    doe = by_uid[study_uid("doe")]
    assert doe["PatientID"] == "LBX-003"
    assert doe["AccessionNumber"] == "ACC1003"
    assert doe["StudyDate"] == "20231201"


def test_non_latin_names_are_decoded_with_each_response_charset(
        peer: PeerProcess, local: NetworkSettings) -> None:
    names = {r["PatientID"]: r["PatientName"] for r in find(node_for(peer), local, QuerySpec())}
    assert names["LBX-001"] == "Yamada^Tarou=山田^太郎"
    assert names["LBX-002"] == "Müller^Jürgen"
    assert names["LBX-003"] == "DOE^JANE"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"patient_name": "Yam*"}, {"yamada"}),
        ({"patient_name": "D?E^JANE"}, {"doe"}),
        ({"patient_name": "*山田*"}, {"yamada"}),
        ({"patient_name": "Müller*"}, {"mueller"}),
        ({"patient_id": "LBX-002"}, {"mueller"}),
        ({"study_date": "20240101-"}, {"yamada", "mueller"}),
        ({"study_date": "-20240131"}, {"yamada", "doe"}),
        ({"study_date": "20240101-20240131"}, {"yamada"}),
        ({"study_date": "20240610"}, {"mueller"}),
        ({"accession_number": "ACC1003"}, {"doe"}),
        ({"study_description": "CT*"}, {"yamada", "doe"}),
        ({"study_uids": (study_uid("doe"), study_uid("mueller"))}, {"doe", "mueller"}),
        ({"patient_name": "Nobody*"}, set()),
    ],
)
def test_study_level_matching(peer: PeerProcess, local: NetworkSettings,
                              keys: dict[str, object], expected: set[str]) -> None:
    assert _studies(peer, local, **keys) == {study_uid(k) for k in expected}


def test_modalities_in_study(orthanc: PeerProcess, local: NetworkSettings) -> None:
    # Modalities in Study is optional (PS3.4 C.6.1.1.2); dcmqrscp ignores it.
    assert _studies(orthanc, local, modality="MR") == {study_uid("mueller")}


def test_series_level(peer: PeerProcess, local: NetworkSettings) -> None:
    spec = QuerySpec(level="series", study_uids=(study_uid("yamada"),))
    series = {r["SeriesInstanceUID"]: r for r in find(node_for(peer), local, spec)}
    assert set(series) == {series_uid("yamada", 0), series_uid("yamada", 1)}
    assert series[series_uid("yamada", 0)]["Modality"] == "CT"
    assert int(series[series_uid("yamada", 0)]["SeriesNumber"]) == 1


def test_series_level_modality_match(peer: PeerProcess, local: NetworkSettings) -> None:
    spec = QuerySpec(level="series", study_uids=(study_uid("mueller"),), modality="CT")
    assert list(find(node_for(peer), local, spec)) == []
    spec = QuerySpec(level="series", study_uids=(study_uid("mueller"),), modality="MR")
    assert [r["SeriesInstanceUID"] for r in find(node_for(peer), local, spec)] == [
        series_uid("mueller", 0)]


def test_image_level(peer: PeerProcess, local: NetworkSettings,
                     peer_files: dict[str, object]) -> None:
    spec = QuerySpec(level="image", study_uids=(study_uid("yamada"),),
                     series_uids=(series_uid("yamada", 1),))
    results = list(find(node_for(peer), local, spec))
    assert len(results) == 12
    # SOP Class UID is an optional key: Orthanc returns it, dcmqrscp does not.
    assert {r.get("SOPClassUID", "") for r in results} <= {"1.2.840.10008.5.1.4.1.1.2", ""}
    if peer.kind == "orthanc":
        assert {r["SOPClassUID"] for r in results} == {"1.2.840.10008.5.1.4.1.1.2"}
    assert {r["SOPInstanceUID"] for r in results} <= set(peer_files)


def test_image_level_uid_list(peer: PeerProcess, local: NetworkSettings) -> None:
    spec = QuerySpec(level="image", study_uids=(study_uid("yamada"),),
                     series_uids=(series_uid("yamada", 1),))
    some = sorted(r["SOPInstanceUID"] for r in find(node_for(peer), local, spec))[:3]
    spec = QuerySpec(level="image", study_uids=(study_uid("yamada"),),
                     series_uids=(series_uid("yamada", 1),), sop_uids=tuple(some))
    assert sorted(r["SOPInstanceUID"] for r in find(node_for(peer), local, spec)) == some


def test_patient_root_model(peer: PeerProcess, local: NetworkSettings) -> None:
    spec = QuerySpec(level="study", model="patient", patient_id="LBX-001")
    assert _studies(peer, local, level="study", model="patient", patient_id="LBX-001") == {
        study_uid("yamada")}
    patients = list(find(node_for(peer), local,
                         QuerySpec(level="patient", model="patient", patient_name="*")))
    assert {p["PatientID"] for p in patients} == {"LBX-001", "LBX-002", "LBX-003"}
    assert spec.level == "study"


def test_results_stream_and_cancel_from_another_thread(
        peer: PeerProcess, local: NetworkSettings) -> None:
    token = CancelToken()
    spec = QuerySpec(level="image", study_uids=(study_uid("yamada"),),
                     series_uids=(series_uid("yamada", 0),))
    seen = []
    for result in find(node_for(peer), local, spec, token):
        seen.append(result)
        if len(seen) == 5:
            threading.Thread(target=token.cancel).start()
    # No bound on the count: a real PACS may send all 200 matches before it reads the
    # C-CANCEL (that the C-CANCEL is sent, and stops a PACS that reads it, is
    # test_a_cancel_reaches_the_pacs_which_stops). The query ends as cancelled, without
    # an error, and the PACS still answers the next one.
    assert len(seen) >= 5
    assert token.cancelled
    assert _studies(peer, local, patient_id="LBX-001") == {study_uid("yamada")}


def test_a_cancel_reaches_the_pacs_which_stops(local: NetworkSettings) -> None:
    # The PACS sends 5 of its 50 matches, then waits (up to 20 s) for a C-CANCEL before
    # it sends the rest. PS3.7 9.3.2.3: the C-CANCEL reaches it, and it ends with Cancel.
    pacs = ScriptedFindPeer(50, before=5, after="await-cancel")
    try:
        node = NodeRecord("py", pacs.aet, "127.0.0.1", pacs.port, dimse_timeout=60.0)
        token = CancelToken()
        seen = []
        for result in find(node, local, QuerySpec(), token):
            seen.append(result)
            if len(seen) == 5:
                threading.Thread(target=token.cancel).start()
        assert pacs.saw_cancel
        assert pacs.sent == len(seen) == 5
        assert token.cancelled
    finally:
        pacs.stop()


@pytest.mark.parametrize("after", ["silent", "abort"])
def test_a_pacs_lost_mid_answer_leaves_the_matches_that_came_marked_incomplete(
        local: NetworkSettings, after: str) -> None:
    pacs = ScriptedFindPeer(10, before=3, after=after)
    try:
        node = NodeRecord("py", pacs.aet, "127.0.0.1", pacs.port, dimse_timeout=2.0)
        got: list[dict[str, object]] = []
        with pytest.raises(TruncatedQueryError) as err:
            for match in find(node, local, QuerySpec()):
                got.append(match)
    finally:
        pacs.stop()
    assert [m["StudyInstanceUID"] for m in got] == [pacs.match(n).StudyInstanceUID
                                                     for n in (1, 2, 3)]
    assert err.value.count == 3 and err.value.peer == "py"
    assert err.value.problem == (
        "no answer to the query within 2 s, or the connection was lost; it stopped "
        "after 3 results: the list is incomplete")


def test_a_pacs_silent_before_any_match_is_a_failure(local: NetworkSettings) -> None:
    pacs = ScriptedFindPeer(10, before=0, after="silent")
    try:
        node = NodeRecord("py", pacs.aet, "127.0.0.1", pacs.port, dimse_timeout=2.0)
        with pytest.raises(PeerError) as err:
            list(find(node, local, QuerySpec()))
    finally:
        pacs.stop()
    assert not isinstance(err.value, TruncatedQueryError)
    assert err.value.problem == ("no answer to the query within 2 s, or the connection "
                                 "was lost")


def test_the_identifier_declares_utf8_and_only_level_keys() -> None:
    ds = build_identifier(QuerySpec(level="series", study_uids=("1.2.3",), modality="CT"))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.QueryRetrieveLevel == "SERIES"
    assert ds.Modality == "CT"
    assert "PatientName" not in ds


@pytest.mark.parametrize(
    "keys",
    [
        {"level": "series"},
        {"level": "image", "study_uids": ("1.2",)},
        {"level": "patient"},
        {"study_date": "2024-01-01"},
        {"study_uids": ("not a uid",)},
        {"model": "patient", "level": "study"},
        {"series_uids": ("1.2",)},  # keys below the level: the answer depends on the PACS
        {"level": "series", "study_uids": ("1.2",), "sop_uids": ("1.2.3",)},
        {"level": "patient", "model": "patient", "accession_number": "A1"},
        {"level": "patient", "model": "patient", "modality": "CT"},
        {"level": "patient", "model": "patient", "study_uids": ("1.2",)},
        # non-unique keys above the level: only the UIDs above it travel (C.4.1.2.1)
        {"level": "series", "study_uids": ("1.2",), "patient_name": "DOE*"},
        {"level": "series", "study_uids": ("1.2",), "patient_id": "P1"},
        {"level": "image", "study_uids": ("1.2",), "series_uids": ("1.2.3",),
         "modality": "CT"},
        # Patient Root below PATIENT: one patient by its ID alone (dcmqrscp ignored the
        # name, Orthanc matched it; both took the wildcard ID as a pattern)
        {"level": "study", "model": "patient", "patient_id": "P1", "patient_name": "X*"},
        {"level": "study", "model": "patient", "patient_id": "P*"},
        {"level": "series", "model": "patient", "patient_id": "P?", "study_uids": ("1.2",)},
    ],
)
def test_invalid_queries_are_refused_before_sending(keys: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        QuerySpec(**keys).validated()  # type: ignore[arg-type]


def test_the_unique_keys_above_the_level_are_taken() -> None:
    QuerySpec(level="series", model="patient", patient_id="P1", study_uids=("1.2",)).validated()
    QuerySpec(level="series", study_uids=("1.2",), modality="CT").validated()


def test_cancelling_a_query_to_a_stalled_pacs_ends_it_after_the_grace_period(
        local: NetworkSettings) -> None:
    # The PACS takes a minute to answer and ignores C-CANCEL meanwhile. The query waited
    # for its answer (Ctrl-C did nothing until then) and then for the release; now the
    # association is aborted once the grace period (5 s) has passed, and the query ends
    # as cancelled, not as a failure.
    peer = PynetdicomPeer(stall=60.0)
    try:
        node = NodeRecord("py", "PYPEER", "127.0.0.1", peer.port, dimse_timeout=120.0)
        token = CancelToken()
        threading.Timer(0.5, token.cancel).start()
        started = time.monotonic()
        assert list(find(node, local, QuerySpec(), token)) == []
        assert time.monotonic() - started < 45  # well before the PACS's answer at 60 s
    finally:
        peer.stop()
