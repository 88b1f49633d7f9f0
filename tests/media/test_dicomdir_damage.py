"""DICOMDIRs damaged in ways that stopped an import: directory record offsets that loop or
lead nowhere (PS3.3 F.3.2.1), an orphan record naming a FIFO, a file named DICOMDIR that
is none (PS3.10 7.1) or is far larger than any. Each is noted, named by its path, and the
files of the medium are imported all the same."""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.media.conftest import build_dcmmkdir_medium, build_fileset_medium
from viewer.media import dicomdir as dicomdir_module
from viewer.media import import_media
from viewer.media.dicomdir import read_dicomdir
from viewer.store import StudyStore

# A safety net, not a measure: a loop among the offsets kept pydicom's FileSet going for
# ever, and a FIFO named by an orphan record blocked its open(); each test here takes a
# second or two.
pytestmark = pytest.mark.timeout(30)

BUILDERS: dict[str, Callable[[Path, list[Path]], dict[str, Path]]] = {
    "dcmmkdir": build_dcmmkdir_medium,
    "fileset": build_fileset_medium,
}

FIRST = "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity"  # (0004,1200)
NEXT = "OffsetOfTheNextDirectoryRecord"  # (0004,1400)
LOWER = "OffsetOfReferencedLowerLevelDirectoryEntity"  # (0004,1420)


class Records:
    """The records of a sound DICOMDIR, found by their offsets, to damage one of them."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.at = {int(r.seq_item_tell): r for r in ds.DirectoryRecordSequence}

    def chain(self, offset: int) -> list[Dataset]:
        """The records linked by (0004,1400) from ``offset`` (a sound DICOMDIR's, so it ends)."""
        found: list[Dataset] = []
        while offset:
            found.append(self.at[offset])
            offset = int(self.at[offset].get(NEXT) or 0)
        return found

    def below(self, record: Dataset) -> list[Dataset]:
        return self.chain(int(record[LOWER].value))

    @property
    def patients(self) -> list[Dataset]:
        return self.chain(int(self.ds[FIRST].value))


def tell(record: Dataset) -> int:
    return int(record.seq_item_tell)


def _damage(records: Records, damage: str) -> str:
    """Change one offset of the records as ``damage`` says; returns the problem to expect.

    Offsets are UL, 4 bytes: a new value leaves every record where it was.
    """
    patient = records.patients[0]
    series = records.below(records.below(patient)[0])
    images = records.below(series[0])
    if damage == "image-ring":  # the last image of a series leads back to its first
        images[-1][NEXT].value = tell(images[0])
        return (f"(0004,1400) of the record at byte {tell(images[-1])} points back at the "
                f"record at byte {tell(images[0])}: the offsets loop")
    if damage == "patient-itself":
        patient[NEXT].value = tell(patient)
        return (f"(0004,1400) of the record at byte {tell(patient)} points back at the "
                f"record at byte {tell(patient)}: the offsets loop")
    if damage == "patient-ring":  # the last patient leads back to the first
        last = records.patients[-1]
        last[NEXT].value = tell(patient)
        return (f"(0004,1400) of the record at byte {tell(last)} points back at the "
                f"record at byte {tell(patient)}: the offsets loop")
    if damage == "lower-up":  # an image's lower level is its own patient
        images[0][LOWER] = pydicom.DataElement(LOWER, "UL", tell(patient))
        return (f"(0004,1420) of the record at byte {tell(images[0])} points back at the "
                f"record at byte {tell(patient)}: the offsets loop")
    if damage == "shared":  # two series list the same images: no loop, still no tree
        series[1][LOWER].value = tell(images[0])
        return (f"(0004,1420) of the record at byte {tell(series[1])} points at the record "
                f"at byte {tell(images[0])}, already reached")
    assert damage == "nowhere"  # into the middle of a record
    images[0][NEXT].value = tell(images[0]) + 2
    return (f"(0004,1400) of the record at byte {tell(images[0])} points at byte "
            f"{tell(images[0]) + 2}, where no record starts")


def _damaged_medium(builder: str, damage: str, files: list[Path], root: Path
                    ) -> tuple[dict[str, Path], Path, str]:
    """A medium whose DICOMDIR has ``damage``: (files placed, the DICOMDIR, the note)."""
    placed = BUILDERS[builder](root, files)
    dicomdir = root / "DICOMDIR"
    ds = pydicom.dcmread(dicomdir)
    before = [tell(r) for r in ds.DirectoryRecordSequence]
    problem = _damage(Records(ds), damage)
    ds.save_as(dicomdir)
    # The offsets name records by position: the damage is meant only if none moved.
    assert [tell(r) for r in pydicom.dcmread(dicomdir).DirectoryRecordSequence] == before
    note = (f"{dicomdir}: DICOMDIR structure is inconsistent ({problem}); "
            "records read in sequence order")
    return placed, dicomdir, note


DAMAGES = ["image-ring", "patient-itself", "patient-ring", "lower-up", "shared", "nowhere"]


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_offsets_that_loop_or_lead_nowhere_are_noted_and_every_record_is_read(
        builder: str, damage: str, study_files: list[Path], tmp_path: Path) -> None:
    placed, dicomdir, note = _damaged_medium(builder, damage, study_files, tmp_path / "disc")
    contents = read_dicomdir(dicomdir)
    assert contents.notes == [note]
    assert contents.readable and contents.missing == []
    assert {e.sop_instance_uid: e.path for e in contents.entries} == placed
    for entry in contents.entries:  # the sequence order still says which study
        own = pydicom.dcmread(placed[entry.sop_instance_uid], stop_before_pixels=True)
        assert entry.study_uid == own.StudyInstanceUID


@pytest.mark.parametrize("damage", ["image-ring", "lower-up"])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_medium_whose_dicomdir_loops_is_imported_whole(
        builder: str, damage: str, study_files: list[Path], tmp_path: Path,
        store: StudyStore) -> None:
    root = tmp_path / "disc"
    placed, _, note = _damaged_medium(builder, damage, study_files, root)
    report = import_media([root], store)
    assert store.has_instances(set(placed)) == set(placed)
    assert report.instances_added == len(placed)
    assert report.notes == [note]
    assert (report.failed, report.missing, report.not_in_dicomdir) == ([], [], [])
    assert report.safe_to_eject


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_a_sound_dicomdir_is_read_without_a_note(
        builder: str, study_files: list[Path], tmp_path: Path) -> None:
    placed = BUILDERS[builder](tmp_path / "disc", study_files)
    contents = read_dicomdir(tmp_path / "disc" / "DICOMDIR")
    assert contents.notes == [] and contents.readable
    assert {e.sop_instance_uid: e.path for e in contents.entries} == placed


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_an_orphan_record_naming_a_fifo_is_not_opened(
        builder: str, study_files: list[Path], tmp_path: Path) -> None:
    # An orphan record: no offset reaches it (PS3.3 F.3.2.1). pydicom's FileSet opens the
    # file such a record names, and open() of a FIFO waits for a writer.
    root = tmp_path / "disc"
    placed = BUILDERS[builder](root, study_files[:4])
    ds = pydicom.dcmread(root / "DICOMDIR")
    orphan = copy.deepcopy(ds.DirectoryRecordSequence[-1])
    orphan.ReferencedFileID = "FIFO"
    orphan[NEXT].value = 0
    ds.DirectoryRecordSequence.append(orphan)
    ds.save_as(root / "DICOMDIR")
    os.mkfifo(root / "FIFO")
    contents = read_dicomdir(root / "DICOMDIR")
    assert contents.notes == []
    assert [e.file_id for e in contents.missing] == [("FIFO",)]
    assert {e.sop_instance_uid: e.path for e in contents.present} == placed


def _stick(tmp_path: Path, files: list[Path]) -> Path:
    """A folder holding ``files`` as IM000000, IM000001, ... and no DICOMDIR."""
    root = tmp_path / "stick"
    root.mkdir()
    for index, path in enumerate(files):
        shutil.copy(path, root / f"IM{index:06d}")
    return root


def test_zeros_named_dicomdir_are_refused_unparsed(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # A damaged FAT stick: the DICOMDIR's clusters read back as zeros.
    root = _stick(tmp_path, study_files[:4])
    dicomdir = root / "DICOMDIR"
    with open(dicomdir, "wb") as fh:
        fh.truncate(4 << 20)
    contents = read_dicomdir(dicomdir)
    note = f"{dicomdir}: not a DICOMDIR: no File Meta Information (PS3.10 7.1); medium scanned"
    assert (contents.notes, contents.entries, contents.readable) == ([note], [], False)
    report = import_media([root], store)
    assert report.instances_added == 4 and report.notes == [note]
    assert report.failed == [] and report.safe_to_eject
    # A DICOMDIR that lists nothing forgot nothing: its note says the medium was scanned.
    assert report.not_in_dicomdir == []


def test_an_image_named_dicomdir_is_not_read_as_one(
        study_files: list[Path], tmp_path: Path) -> None:
    dicomdir = tmp_path / "DICOMDIR"
    shutil.copy(study_files[0], dicomdir)
    sop_class = pydicom.dcmread(dicomdir, stop_before_pixels=True).file_meta.MediaStorageSOPClassUID
    contents = read_dicomdir(dicomdir)
    assert contents.notes == [
        f"{dicomdir}: not a DICOMDIR: its Media Storage SOP Class UID is {sop_class}, not "
        "Media Storage Directory Storage 1.2.840.10008.1.3.10; medium scanned"]
    assert contents.entries == [] and not contents.readable


def test_a_dicomdir_larger_than_any_is_not_parsed(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # A sound DICOMDIR's File Meta Information, then zeros to one byte past the limit (a
    # sparse file: no disk space taken).
    root = tmp_path / "disc"
    placed = build_fileset_medium(root, study_files[:4])
    dicomdir = root / "DICOMDIR"
    limit = dicomdir_module.MOST_DIRECTORY_BYTES
    os.truncate(dicomdir, limit + 1)
    note = (f"{dicomdir}: DICOMDIR not read: larger than {limit >> 20} MiB, "
            "more than the DICOMDIR of any medium; medium scanned")
    contents = read_dicomdir(dicomdir)
    assert (contents.notes, contents.entries, contents.readable) == ([note], [], False)
    report = import_media([root], store)
    assert store.has_instances(set(placed)) == set(placed)
    assert report.notes == [note] and report.failed == [] and report.safe_to_eject


def test_an_image_named_dicomdir_is_imported_as_an_image(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    root = _stick(tmp_path, study_files[:2])
    shutil.copy(study_files[2], root / "DICOMDIR")  # saved under the wrong name
    report = import_media([root], store)
    assert report.instances_added == 3, report.skipped
    assert store.has_instances(report.instance_uids) == report.instance_uids
    assert report.failed == [] and report.not_in_dicomdir == [] and report.safe_to_eject
    assert len(report.notes) == 1 and "not a DICOMDIR" in report.notes[0]


def test_a_deflated_dicomdir_is_not_inflated_and_the_medium_scanned(
        study_files: list[Path], tmp_path: Path, store: StudyStore) -> None:
    # pydicom inflates a data set whole: 2 MB of deflated zeros took 4.3 GB. No writer
    # deflates a DICOMDIR (PS3.10 8.6: Explicit VR Little Endian).
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    root = tmp_path / "disc"
    placed = build_fileset_medium(root, study_files[:4])
    ds = pydicom.dcmread(root / "DICOMDIR")
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(root / "DICOMDIR")
    contents = read_dicomdir(root / "DICOMDIR")
    assert not contents.readable and contents.entries == []
    assert "deflated" in contents.notes[0] and "PS3.10 8.6" in contents.notes[0]
    report = import_media([root], store)
    assert store.has_instances(set(placed)) == set(placed)
    assert report.failed == [] and report.instances_added == 4
