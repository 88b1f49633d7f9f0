"""Media built in the tests: a multi-patient, multi-study file-set written with dcmtk's
``dcmmkdir`` or pydicom's FileSet, and the ways real discs damage them."""

from __future__ import annotations

import shutil
import subprocess
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.fileset import FileSet

from tests.support.series import write_study_set
from viewer.store import StudyStore


def sop_uid(path: Path) -> str:
    """The SOP Instance UID of a test file."""
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


@pytest.fixture(scope="session")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Five patients (ASCII, Latin-1, UTF-8 CJK, Cyrillic, Greek), two studies each,
    two series of two slices per study: 40 instances."""
    folder = tmp_path_factory.mktemp("studies")
    written = write_study_set(folder, studies_per_patient=2, slices=2, compressed=False)
    return [p for series in written for p in series.paths]


def build_dcmmkdir_medium(root: Path, files: list[Path]) -> dict[str, Path]:
    """Copy ``files`` under PS3.10 File IDs (``IMAGES/Pnn/IMnnnnnn``) and write a DICOMDIR
    with ``dcmmkdir`` (STD-GEN-CD). Returns SOP Instance UID -> file on the medium."""
    if shutil.which("dcmmkdir") is None:
        pytest.skip("dcmtk's dcmmkdir is not installed (apt-get install dcmtk)")
    placed: dict[str, Path] = {}
    for index, source in enumerate(files):
        target = root / "IMAGES" / f"P{index // 10:02d}" / f"IM{index:06d}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        placed[sop_uid(source)] = target
    subprocess.run(
        ["dcmmkdir", "+r", "-Pgp", "+id", str(root), "+D", str(root / "DICOMDIR"), "IMAGES"],
        check=True,
        capture_output=True,
        cwd=root,
    )
    return placed


def build_fileset_medium(root: Path, files: list[Path]) -> dict[str, Path]:
    """Write a file-set with pydicom's FileSet (``PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn``)."""
    fs = FileSet()
    for path in files:
        fs.add(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fs.write(root)
    placed: dict[str, Path] = {}
    for instance in FileSet(root / "DICOMDIR"):
        placed[str(instance.SOPInstanceUID)] = Path(instance.path)
    return placed


def lower_case_names(root: Path) -> None:
    """What a Linux mount of an ISO 9660 disc without Rock Ridge shows (``map=normal``)."""
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.rename(path.with_name(path.name.lower()))


def add_version_suffix(root: Path) -> None:
    """``map=off``: every file name ends in ``;1``."""
    for path in [p for p in root.rglob("*") if p.is_file()]:
        path.rename(path.with_name(path.name + ";1"))


def zip_medium(root: Path, archive: Path) -> None:
    """The whole medium in one zip, DICOMDIR included."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StudyStore]:
    """An empty store in a fresh home folder."""
    with StudyStore.open(tmp_path / "home") as opened:
        yield opened
