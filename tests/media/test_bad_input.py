"""Bad input never stops an import: each bad file or folder is named in the report.

"Without permission" must be a real condition, and the tests run as root in CI, where
file modes do not stop reads (CAP_DAC_OVERRIDE). So as root the import runs in a forked
child that has dropped to the unprivileged ``nobody`` user (``setgid``/``setuid``) after
everything is imported and warmed up, and reports back through a pipe: the kernel then
refuses the reads exactly as it would for a clinician's account. As a normal user the
modes alone do it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.series import write_ct_series
from tests.support.unprivileged import run_unprivileged
from viewer.core.imports import ImportReport
from viewer.media import import_media
from viewer.store import StudyStore


@pytest.fixture
def medium() -> Iterator[Path]:
    """A world-traversable folder (outside pytest's private tmp) for the unprivileged child."""
    folder = Path(tempfile.mkdtemp(prefix="lightbox-medium-"))
    os.chmod(folder, 0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            os.chmod(path, 0o755)
    shutil.rmtree(folder, ignore_errors=True)


def _import_job(medium: Path, home: Path) -> Callable[[], dict[str, object]]:
    def job() -> dict[str, object]:
        with StudyStore.open(home) as store:
            report: ImportReport = import_media([medium], store)
            return {**report.to_dict(), "stored": store.counts()["instances"]}

    return job


def test_bad_input_is_named_and_never_stops_the_import(medium: Path) -> None:
    good = write_ct_series(medium / "good", slices=4, rows=16, cols=16)
    source = good[0].read_bytes()
    # A file truncated in the middle of its Pixel Data element.
    write_ct_series(medium / "cut", slices=1, rows=16, cols=16, file_prefix="CUT")
    truncated = medium / "cut" / "CUT0001.dcm"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    # A file truncated in the middle of a header element (Patient's Name value cut).
    header_cut = medium / "cut" / "HEAD.dcm"
    header_cut.write_bytes(source[: source.index(b"TEST^CT") + 3])
    not_dicom = medium / "notes.txt"
    not_dicom.write_text("a letter from the referring physician\n")
    video = medium / "movie.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4096)
    locked_file = medium / "good" / "LOCKED.dcm"
    write_ct_series(medium / "tmp", slices=1, rows=16, cols=16)
    (medium / "tmp" / "CT0001.dcm").rename(locked_file)
    shutil.rmtree(medium / "tmp")
    locked_folder = medium / "locked"
    write_ct_series(locked_folder, slices=2, rows=16, cols=16)
    os.chmod(locked_file, 0o000)
    os.chmod(locked_folder, 0o000)
    home = Path(tempfile.mkdtemp(prefix="lightbox-home-"))
    # Load every module an import touches while still privileged: the unprivileged child
    # may not be allowed to read the interpreter's own library folder.
    warm = Path(tempfile.mkdtemp(prefix="lightbox-warm-"))
    shutil.copy(good[0], warm / "one.dcm")
    (warm / "two.txt").write_text("not DICOM")
    with StudyStore.open(warm / "home") as warm_store:
        import_media([warm], warm_store).to_dict()
    shutil.rmtree(warm)
    try:
        if os.geteuid() == 0:
            os.chown(home, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
        result = run_unprivileged(_import_job(medium, home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    failed = {p["path"]: p["reason"] for p in result["failed"]}  # type: ignore[attr-defined]
    skipped = {p["path"]: p["reason"] for p in result["skipped"]}  # type: ignore[attr-defined]
    assert set(failed) == {str(truncated), str(header_cut), str(locked_file), str(locked_folder)}
    assert "truncated" in failed[str(truncated)]
    assert "ermission" in failed[str(locked_file)]
    assert "ermission" in failed[str(locked_folder)]
    assert set(skipped) == {str(not_dicom), str(video)}
    assert result["instances_added"] == len(good) == result["stored"]
    assert result["safe_to_eject"] is False
