"""``lightbox query --json``: the value types of ``studies --json``, and partial lists kept.

A match's values follow the attribute's dictionary entry (PS3.6), not how many values
one response holds: Modalities in Study is a list even with one modality, counts are
numbers, and a value the PACS left empty is what ``studies --json`` gives for an
unknown one. A PACS that stops answering mid-list leaves the matches that came, said
to be incomplete, as a capped list does.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pynetdicom.dsutils import decode

from tests.net.conftest import dcmqrscp, move_port, orthanc, peer_files  # noqa: F401
from tests.support.find_peers import ScriptedFindPeer
from tests.support.peers import PeerProcess, series_uid, study_uid
from viewer.cli import main
from viewer.net.query_json import identifier_to_dict

pytestmark = pytest.mark.peer


def _lightbox(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def _json(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> Any:
    capsys.readouterr()
    assert _lightbox(home, *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def pacs(request: pytest.FixtureRequest) -> PeerProcess:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def home(tmp_path: Path, pacs: PeerProcess, move_port: int) -> Path:  # noqa: F811
    h = tmp_path / "home"
    assert _lightbox(h, "node", "add", "pacs", f"{pacs.aet}@127.0.0.1:{pacs.port}") == 0
    assert _lightbox(h, "config", "set", "bind-address", "127.0.0.1") == 0
    assert _lightbox(h, "config", "set", "port", str(move_port)) == 0
    return h


# Optional return keys (PS3.4 C.6.1.1.2-C.6.1.1.4) that dcmqrscp's index leaves empty:
# the values differ from the store's, the JSON types may not.
NOT_ANSWERED = {"dcmqrscp": {"ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                             "NumberOfStudyRelatedInstances", "SeriesDescription",
                             "BodyPartExamined", "NumberOfSeriesRelatedInstances"}}


def _assert_same(queried: dict[str, Any], stored: dict[str, Any], empty_ok: set[str]
                 ) -> None:
    shared = set(queried) & set(stored)
    assert len(shared) >= 6, shared
    for key in sorted(shared):
        q, s = queried[key], stored[key]
        if key in empty_ok and q in (None, "", []):
            # Empty as studies --json shows an unknown value of that type.
            assert q == ([] if isinstance(s, list) else None if isinstance(s, int) else ""
                         ), key
            continue
        assert type(q) is type(s), (key, q, s)
        assert q == s, key


@pytest.mark.parametrize("study", ["yamada", "mueller"])
def test_query_json_gives_the_types_and_values_of_studies_json(
        home: Path, pacs: PeerProcess, study: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    uid = study_uid(study)
    assert _lightbox(home, "retrieve", "pacs", "--study", uid,
                     "--method", "get" if pacs.kind == "orthanc" else "move") == 0
    empty_ok = NOT_ANSWERED.get(pacs.kind, set())
    (queried,) = _json(capsys, home, "query", "pacs", "--study", uid)
    (stored,) = [s for s in _json(capsys, home, "studies") if s["StudyInstanceUID"] == uid]
    _assert_same(queried, stored, empty_ok)
    assert type(queried["ModalitiesInStudy"]) is list
    assert type(queried["SOPClassesInStudy"]) is list
    series = {s["SeriesInstanceUID"]: s
              for s in _json(capsys, home, "query", "pacs", "--level", "series", "--study",
                             uid)}
    for stored_series in _json(capsys, home, "series", uid):
        _assert_same(series[stored_series["SeriesInstanceUID"]], stored_series, empty_ok)
    assert series[series_uid(study, 0)]["SeriesNumber"] == 1


def test_keys_a_pacs_leaves_empty_are_typed_as_studies_json_shows_unknown_values(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Match 1 carries PatientName, PatientID, Modalities in Study and the instance count
    # only: every other key asked for is there, empty, with its type.
    peer = ScriptedFindPeer(1, before=1, after="silent")  # its one match, then Success
    try:
        h = tmp_path / "home"
        assert _lightbox(h, "node", "add", "py", f"{peer.aet}@127.0.0.1:{peer.port}") == 0
        (match,) = _json(capsys, h, "query", "py")
    finally:
        peer.stop()
    assert match["ModalitiesInStudy"] == ["CT"]
    assert match["NumberOfStudyRelatedInstances"] == 1
    assert match["NumberOfStudyRelatedSeries"] is None
    assert match["SOPClassesInStudy"] == []
    assert match["StudyDate"] == "" and match["ReferringPhysicianName"] == ""


def _element(group: int, element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", group, element, len(value)) + value


def test_unusual_values_keep_their_types() -> None:
    # Implicit VR little endian, as a PACS may send them: a junk IS, a DS "NaN", two
    # values in single-valued attributes, a decimal IS, a Person Name with an empty
    # trailing group, an AT, a sequence, an empty multi-valued attribute.
    raw = b"".join([
        _element(0x0008, 0x0005, b"ISO_IR 192"),
        _element(0x0008, 0x0020, b"2024.01.15"),  # the ACR-NEMA form the store reads too
        _element(0x0008, 0x0061, b""),
        _element(0x0008, 0x1030, b"A\\B "),
        _element(0x0010, 0x0010, b"DOE^JANE^^^="),
        _element(0x0018, 0x0050, b"x.y "),
        _element(0x0018, 0x0088, b"NaN "),
        _element(0x0020, 0x0011, b"ab"),
        _element(0x0020, 0x0013, b"7.0 "),
        _element(0x0020, 0x1206, b"3\\4 "),
        _element(0x0020, 0x1208, b"12"),
        _element(0x0028, 0x0030, b"0.5\\0.5 "),
        _element(0x0028, 0x0009, struct.pack("<HH", 0x0054, 0x0080)),
        _element(0x0008, 0x1110, _element(0xFFFE, 0xE000, _element(0x0008, 0x1150,
                                                                   b"1.2.3\0"))),
    ])
    with pytest.warns(UserWarning):
        values = identifier_to_dict(decode(BytesIO(raw), True, True))
    assert values == {
        "StudyDate": "20240115",
        "ModalitiesInStudy": [],
        "StudyDescription": "A\\B",
        "PatientName": "DOE^JANE",
        "SliceThickness": None,
        "SpacingBetweenSlices": None,
        "SeriesNumber": None,
        "InstanceNumber": 7,
        "NumberOfStudyRelatedSeries": None,
        "NumberOfStudyRelatedInstances": 12,
        "PixelSpacing": [0.5, 0.5],
        "FrameIncrementPointer": ["00540080"],
        "ReferencedStudySequence": [{"ReferencedSOPClassUID": "1.2.3"}],
    }


def test_a_value_pydicom_cannot_convert_is_unknown_and_the_match_kept() -> None:
    # An IS past any float ("1e400") and an FL of 3 bytes raise inside pydicom when the
    # value is first read; the rest of the match stands.
    raw = b"".join([
        _element(0x0010, 0x0020, b"PID1"),
        _element(0x0018, 0x9306, b"\x00\x00\x80"),  # FD: 8 bytes a value
        _element(0x0020, 0x1208, b"1e400 "),
    ])
    with pytest.warns(UserWarning):
        values = identifier_to_dict(decode(BytesIO(raw), True, True))
    assert values == {"PatientID": "PID1", "SingleCollimationWidth": None,
                      "NumberOfStudyRelatedInstances": None}


@pytest.fixture
def silent_home(tmp_path: Path) -> Iterator[Path]:
    """A home whose node ``silent`` sends 3 of its 10 matches, then goes silent."""
    peer = ScriptedFindPeer(10, before=3, after="silent")
    try:
        h = tmp_path / "home"
        assert _lightbox(h, "node", "add", "silent", f"{peer.aet}@127.0.0.1:{peer.port}",
                         "--timeout", "2") == 0
        yield h
    finally:
        peer.stop()


WARNING = ("lightbox: silent: no answer to the query within 2 s, or the connection was "
           "lost; it stopped after 3 results: the list is incomplete")


def test_query_json_keeps_the_matches_of_a_pacs_gone_silent(
        silent_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(silent_home, "query", "silent", "--json") == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["truncated"] is True and report["count"] == 3
    assert report["message"] == WARNING.removeprefix("lightbox: silent: ")
    assert [s["PatientID"] for s in report["results"]] == ["ID1", "ID2", "ID3"]
    assert err.strip() == WARNING


def test_query_text_says_the_list_of_a_pacs_gone_silent_is_incomplete(
        silent_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert _lightbox(silent_home, "query", "silent") == 1
    out, err = capsys.readouterr()
    assert [line.split()[-1] for line in out.splitlines()] == [
        f"1.2.826.0.1.3680043.10.2.{n}" for n in (1, 2, 3)]
    assert err.strip() == WARNING


class _EscapingPacs(ScriptedFindPeer):
    """Two whole matches whose study description holds an escape sequence."""

    def match(self, n: int) -> Any:
        ds = super().match(n)
        ds.StudyDescription = "HEAD\x1b]0;owned\x07"
        return ds


def test_query_text_spells_out_control_characters_from_the_pacs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peer = _EscapingPacs(2, before=2, after="silent")
    try:
        assert _lightbox(tmp_path, "node", "add", "p", f"{peer.aet}@127.0.0.1:{peer.port}") == 0
        capsys.readouterr()
        assert _lightbox(tmp_path, "query", "p") == 0
    finally:
        peer.stop()
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert out.count("HEAD\\x1b]0;owned\\x07") == 2
