"""A PACS that caps C-FIND results: the list is said to be incomplete, never trusted.

Orthanc with ``LimitFindResults`` / ``LimitFindInstances`` ends a C-FIND that reached its
limit with status Cancel (0xFE00), although no C-CANCEL was sent. PS3.4 C.4.1.1.4: Cancel
answers a C-CANCEL only, so the matches that came are not all there are. A query says so
(and ``lightbox query`` exits 1); a retrieve does not plan from such a list (it asks for
the study or series itself, and expects what the PACS's C-GET/C-MOVE counts say).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net.conftest import OUR_AET, FolderSink, node_for
from tests.support.peers import (
    PeerProcess,
    StudySpec,
    series_uid,
    start_orthanc,
    store_files,
    study_uid,
    write_peer_studies,
)
from viewer.cli import main
from viewer.core.settings import NetworkSettings
from viewer.net import explain_dimse
from viewer.net.query import QuerySpec, TruncatedQueryError, find
from viewer.net.retrieve import RetrieveProgress, RetrieveRequest, retrieve
from viewer.store.study_store import StudyStore

LIMIT = 5
# Six series (one more than the limit); the first has more instances than the limit.
CAPPED = StudySpec("capped", "CAPPED^PATIENT", "LBX-CAP", "", "20240301", "ACC1004",
                   "CT CAPPED", (("CT", 8, 16, "explicit"),) + (("CT", 2, 16, "explicit"),) * 5)
SERIES = [series_uid("capped", i) for i in range(len(CAPPED.series))]
STUDY = study_uid("capped")
TOTAL = sum(slices for _, slices, _, _ in CAPPED.series)


@pytest.fixture(scope="module")
def capped_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{SOP Instance UID: file}`` of the six-series study."""
    return write_peer_studies(tmp_path_factory.mktemp("capped-files"), [CAPPED])


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory, capped_files: dict[str, Path],
           move_port: int) -> Iterator[PeerProcess]:
    """Orthanc answering at most ``LIMIT`` matches per C-FIND, at every level."""
    peer = start_orthanc(tmp_path_factory.mktemp("orthanc-capped"),
                         destinations={OUR_AET: ("127.0.0.1", move_port)},
                         settings={"LimitFindResults": LIMIT, "LimitFindInstances": LIMIT})
    try:
        store_files(peer, sorted(capped_files.values()))
        yield peer
    finally:
        peer.stop()


def _collect(matches: Iterator[dict[str, object]]) -> tuple[list[dict[str, object]],
                                                           TruncatedQueryError | None]:
    out: list[dict[str, object]] = []
    try:
        for match in matches:
            out.append(match)
    except TruncatedQueryError as exc:
        return out, exc
    return out, None


@pytest.mark.parametrize(("level", "series", "count"), [
    ("series", (), LIMIT),  # LimitFindResults: 5 of the 6 series
    ("image", (SERIES[0],), LIMIT),  # LimitFindInstances: 5 of the 8 instances
])
def test_a_capped_find_yields_what_came_then_says_it_is_incomplete(
        capped: PeerProcess, local: NetworkSettings, level: str, series: tuple[str, ...],
        count: int) -> None:
    spec = QuerySpec(level=level, study_uids=(STUDY,), series_uids=series)
    matches, truncated = _collect(find(node_for(capped), local, spec))
    assert len(matches) == count
    assert truncated is not None and truncated.count == count
    assert truncated.peer == "orthanc"
    assert truncated.problem == (
        f"the PACS stopped after {count} results (it may limit query results): the list "
        "is incomplete; narrow the query")


def test_the_explanation_counts_one_result_as_one() -> None:
    assert explain_dimse.query_truncated(1).startswith("the PACS stopped after 1 result (")


def test_an_answer_within_the_limit_is_complete(capped: PeerProcess,
                                                local: NetworkSettings) -> None:
    spec = QuerySpec(level="image", study_uids=(STUDY,), series_uids=(SERIES[1],))
    matches, truncated = _collect(find(node_for(capped), local, spec))
    assert truncated is None and len(matches) == 2


def _retrieve(peer: PeerProcess, local: NetworkSettings, request: RetrieveRequest,
              sink: FolderSink, method: str) -> RetrieveProgress:
    def held(study: str, series: tuple[str, ...]) -> int:
        return len(sink.files)  # the sink holds this study only

    *_, last = retrieve(node_for(peer), local, request, sink, sink.folder.parent / "in",
                        method=method, already_have=sink.have, held=held)
    return last


@pytest.mark.parametrize("method", ["get", "move"])
def test_a_retry_does_not_plan_from_a_capped_list(
        capped: PeerProcess, local: NetworkSettings, sink: FolderSink,
        capped_files: dict[str, Path], method: str) -> None:
    # Part of the study is here: the retry of the whole study would list the instances
    # (5 of the 6 series, 5 of the first series' 8 instances) and fetch only those.
    first = _retrieve(capped, local, RetrieveRequest(STUDY, series_uids=(SERIES[3],)), sink,
                      method)
    assert first.ok and len(sink.files) == 2
    last = _retrieve(capped, local, RetrieveRequest(STUDY), sink, method)
    assert last.ok, last.message
    assert set(sink.files) == set(capped_files)
    # The PACS's own count of the study, not the length of the partial list.
    assert last.expected == TOTAL


def test_a_series_count_is_not_summed_from_a_capped_list(
        capped: PeerProcess, local: NetworkSettings, sink: FolderSink,
        capped_files: dict[str, Path]) -> None:
    # Six series asked for: the series-level check answers for five of them.
    last = _retrieve(capped, local, RetrieveRequest(STUDY, series_uids=tuple(SERIES)), sink,
                     "get")
    assert last.ok, last.message
    assert set(sink.files) == set(capped_files)
    assert last.expected == TOTAL


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


@pytest.fixture
def home(tmp_path: Path, capped: PeerProcess, move_port: int) -> Path:
    h = tmp_path / "home"
    assert _lightbox(h, "node", "add", "lim", f"ORTHANC@127.0.0.1:{capped.port}",
                     "--method", "get") == 0
    assert _lightbox(h, "config", "set", "bind-address", "127.0.0.1") == 0
    assert _lightbox(h, "config", "set", "port", str(move_port)) == 0
    return h


WARNING = ("lightbox: lim: the PACS stopped after 5 results (it may limit query results): "
           "the list is incomplete; narrow the query")


def test_query_prints_what_came_warns_and_fails(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(home, "query", "lim", "--level", "series", "--study", STUDY) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == LIMIT and all(line.split()[-1] in SERIES for line in lines)
    assert err.strip() == WARNING


def test_query_json_carries_the_flag(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(home, "query", "lim", "--level", "series", "--study", STUDY,
                     "--json") == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["truncated"] is True and report["count"] == LIMIT
    assert report["message"] == WARNING.removeprefix("lightbox: lim: ")
    assert {s["SeriesInstanceUID"] for s in report["results"]} < set(SERIES)
    assert len(report["results"]) == LIMIT
    assert err.strip() == WARNING


def test_retrieve_of_a_partly_stored_study_fetches_it_all_and_expects_it_all(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _lightbox(home, "retrieve", "lim", "--study", STUDY, "--series", SERIES[3]) == 0
    capsys.readouterr()
    assert _lightbox(home, "retrieve", "lim", "--study", STUDY, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["expected"] == TOTAL and report["message"] == ""
    with StudyStore.open(home) as store:
        assert store.held_instances(STUDY) == TOTAL
        assert store.held_instances(STUDY, (SERIES[5],)) == 2
        (study,) = [s for s in store.studies() if s.study_uid == STUDY]
        assert study.expected_instances == TOTAL


# Series listed in full (with their counts), instances capped: the first series has more
# instances than the limit.
NARROW = StudySpec("narrow", "NARROW^PATIENT", "LBX-NAR", "", "20240302", "ACC1005",
                   "CT NARROW", (("CT", 8, 16, "explicit"), ("CT", 2, 16, "explicit"),
                                 ("CT", 2, 16, "explicit")))
NARROW_SERIES = [series_uid("narrow", i) for i in range(len(NARROW.series))]


@pytest.fixture(scope="module")
def narrow_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{SOP Instance UID: file}`` of the three-series study."""
    return write_peer_studies(tmp_path_factory.mktemp("narrow-files"), [NARROW])


@pytest.fixture(scope="module")
def instances_capped(tmp_path_factory: pytest.TempPathFactory, narrow_files: dict[str, Path],
                     move_port: int) -> Iterator[PeerProcess]:
    """Orthanc answering every series, but at most ``LIMIT`` instances per C-FIND."""
    peer = start_orthanc(tmp_path_factory.mktemp("orthanc-instances-capped"),
                         destinations={OUR_AET: ("127.0.0.1", move_port)},
                         settings={"LimitFindInstances": LIMIT})
    try:
        store_files(peer, sorted(narrow_files.values()))
        yield peer
    finally:
        peer.stop()


@pytest.mark.parametrize("method", ["get", "move"])
def test_a_retry_leaves_out_the_series_held_in_full_by_their_counts(
        instances_capped: PeerProcess, local: NetworkSettings, sink: FolderSink,
        narrow_files: dict[str, Path], method: str) -> None:
    series_of = {uid: NARROW_SERIES[int(path.name.split("_")[1])]
                 for uid, path in narrow_files.items()}

    def held(study: str, series: tuple[str, ...]) -> int:
        return sum(1 for uid in sink.files if not series or series_of[uid] in series)

    def run(request: RetrieveRequest) -> RetrieveProgress:
        *_, last = retrieve(node_for(instances_capped), local, request, sink,
                            sink.folder.parent / "in", method=method,
                            already_have=sink.have, held=held)
        return last

    study = study_uid("narrow")
    assert run(RetrieveRequest(study, series_uids=(NARROW_SERIES[1],))).ok
    # The first series' instance list is cut short (8 instances, a limit of 5): no list,
    # but the series list counts each series, and the second is here in full.
    last = run(RetrieveRequest(study))
    assert last.ok, last.message
    assert set(sink.files) == set(narrow_files)
    held_first = [uid for uid, s in series_of.items() if s == NARROW_SERIES[1]]
    assert all(sink.deliveries[uid] == 1 for uid in held_first)  # not fetched again
    assert last.expected == len(narrow_files) and last.already_present == 2
