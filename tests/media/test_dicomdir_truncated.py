"""A truncated DICOMDIR (a copy stopped half way, a damaged disc): every directory record
wholly before the cut is read, whatever byte the file ends at and whatever its encoding,
a record cut in two is not, and a file such a record names that the medium lacks is
reported missing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.media.conftest import build_dcmmkdir_medium, build_fileset_medium
from viewer.cli import main
from viewer.media.dicomdir import DirectoryEntry, read_dicomdir

CUTS = list(range(10, 100, 5))  # percent of the file kept
# pydicom's test DICOMDIRs: explicit and implicit VR little endian, explicit VR big
# endian, and offsets missing, in another order, or without PATIENT records.
PYDICOM_DIRECTORIES = ["DICOMDIR", "DICOMDIR-implicit", "DICOMDIR-bigEnd",
                       "DICOMDIR-nooffset", "DICOMDIR-reordered", "DICOMDIR-nopatient"]
BUILDERS: dict[str, Callable[[Path, list[Path]], dict[str, Path]]] = {
    "dcmmkdir": build_dcmmkdir_medium,
    "fileset": build_fileset_medium,
}


@pytest.fixture(scope="module")
def directories(study_files: list[Path], tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, Path]:
    """Source name -> a sound DICOMDIR, in a folder holding the files it names."""
    found: dict[str, Path] = {}
    for builder, build in BUILDERS.items():
        root = tmp_path_factory.mktemp(builder)
        build(root, study_files)
        found[builder] = root / "DICOMDIR"
    tests = tmp_path_factory.mktemp("pydicom") / "dicomdirtests"
    shutil.copytree(Path(get_testdata_file("DICOMDIR")).parent, tests)
    found.update({name: tests / name for name in PYDICOM_DIRECTORIES})
    return found


def _key(entry: DirectoryEntry) -> tuple[object, ...]:
    return entry.file_id, entry.record_type, entry.sop_instance_uid, entry.path


def _leaf_record_ends(dicomdir: Path) -> list[int]:
    """Where each record that names a file ends in the file, in sequence order.

    A record ends where the next one starts (after its Item Delimitation Item when it has
    an undefined length, PS3.5 7.5); the last one where the Directory Record Sequence
    ends, the last element of every DICOMDIR here.
    """
    data = dicomdir.read_bytes()
    ds = pydicom.dcmread(dicomdir)
    assert list(ds.keys())[-1] == 0x00041220
    records = list(ds.DirectoryRecordSequence)
    sequence_end = len(data)
    if ds["DirectoryRecordSequence"].is_undefined_length:
        sequence_end -= 8  # the Sequence Delimitation Item
    starts = [int(r.seq_item_tell) for r in records] + [sequence_end]
    return [starts[i + 1] for i, r in enumerate(records)
            if r.get("ReferencedFileID") and int(r.get("RecordInUseFlag", 0xFFFF))]


@pytest.mark.parametrize("percent", CUTS)
@pytest.mark.parametrize("source", [*BUILDERS, *PYDICOM_DIRECTORIES])
def test_every_whole_record_before_the_cut_is_read(
        source: str, percent: int, directories: dict[str, Path]) -> None:
    dicomdir = directories[source]
    whole = read_dicomdir(dicomdir)
    assert whole.entries and not any("damaged" in note for note in whole.notes)
    ends = _leaf_record_ends(dicomdir)
    assert len(ends) == len(whole.entries)
    data = dicomdir.read_bytes()
    size = len(data) * percent // 100
    # Beside the sound one, so that the records' files are found on the same medium.
    cut = dicomdir.with_name(f"CUT{percent:02d}")
    cut.write_bytes(data[:size])

    contents = read_dicomdir(cut)

    expected = [_key(e) for e, end in zip(whole.entries, ends, strict=True) if end <= size]
    assert [_key(e) for e in contents.entries] == expected
    assert len(contents.notes) == 1, contents.notes
    assert contents.notes[0].startswith(
        f"{cut}: DICOMDIR is damaged (truncated at byte {size}")
    assert contents.notes[0].endswith("medium scanned")


@pytest.mark.parametrize("source", ["dcmmkdir", "DICOMDIR-implicit", "DICOMDIR-bigEnd"])
def test_a_cut_at_any_byte_of_a_record_keeps_the_records_before_it(
        source: str, directories: dict[str, Path], tmp_path: Path) -> None:
    # Every byte from before the sequence's header to past the second record's start:
    # inside element headers, values, item tags and delimiters, each encoding.
    dicomdir = directories[source]
    data = dicomdir.read_bytes()
    records = list(pydicom.dcmread(dicomdir).DirectoryRecordSequence)
    first, second = int(records[0].seq_item_tell), int(records[1].seq_item_tell)
    cut = dicomdir.with_name("CUT")
    for size in range(first - 24, second + 24):
        cut.write_bytes(data[:size])
        contents = read_dicomdir(cut)
        whole = [r for r in records[: 1 if second <= size else 0] if r.get("ReferencedFileID")]
        assert len(contents.entries) == len(whole), size
        assert len(contents.notes) == 1, (size, contents.notes)
        assert "DICOMDIR is damaged (" in contents.notes[0], (size, contents.notes)
        assert "truncated" in contents.notes[0], (size, contents.notes)
        assert contents.readable is False


@pytest.mark.parametrize("source", ["dcmmkdir", "DICOMDIR", "DICOMDIR-bigEnd"])
def test_a_cut_inside_the_file_meta_information_is_named(
        source: str, directories: dict[str, Path]) -> None:
    # Past "DICM" and the Media Storage SOP Class (so it is still known as a DICOMDIR),
    # before the data set the group length says comes next (PS3.10 7.1).
    dicomdir = directories[source]
    data = dicomdir.read_bytes()
    meta = pydicom.dcmread(dicomdir).file_meta
    start = 132 + 12 + int(meta.FileMetaInformationGroupLength)  # where the data set begins
    cut = dicomdir.with_name("CUTMETA")
    for size in (start - 60, start - 1):
        cut.write_bytes(data[:size])
        contents = read_dicomdir(cut)
        assert not contents.entries and contents.readable is False
        assert any(f"truncated at byte {size}, inside the File Meta Information" in note
                   for note in contents.notes), contents.notes


@pytest.mark.parametrize("cut_in", ["item-header", "file-id"])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_file_named_before_the_cut_and_absent_is_missing(
        builder: str, cut_in: str, study_files: list[Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files)
    dicomdir = root / "DICOMDIR"
    data = dicomdir.read_bytes()
    first = read_dicomdir(dicomdir).entries[0]  # the first record that names a file
    assert first.path is not None
    first.path.unlink()
    # Past the middle, in the first record naming a file there: a few bytes into its Item
    # tag (pydicom raised, and every record was dropped), or into its Referenced File ID
    # (pydicom read the record, and its cut File ID named a file the disc lacks).
    named = [int(r.seq_item_tell) for r in pydicom.dcmread(dicomdir).DirectoryRecordSequence
             if r.get("ReferencedFileID")]
    middle = next(start for start in named if start > len(data) // 2)
    file_id = data.index(b"\x04\x00\x00\x15", middle)  # (0004,1500), explicit VR LE
    size = {"item-header": middle + 4, "file-id": file_id + 12}[cut_in]
    dicomdir.write_bytes(data[:size])
    capsys.readouterr()

    status = main(["--home", str(tmp_path / "home"), "import", "--json", str(root)])

    report = json.loads(capsys.readouterr().out)
    assert report["missing"] == [str(first.path)]
    assert status == 1  # the medium lacks a file its DICOMDIR names
    assert report["failed"] == []
    assert report["instances_added"] == len(placed) - 1
    assert any(f"DICOMDIR is damaged (truncated at byte {size}" in note
               for note in report["notes"])
