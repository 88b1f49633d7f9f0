"""The bundled demo study: generated on first use, the same on every machine.

``lightbox open --demo`` and the first-run experience show this study. It is written
once into ``<home>/demo/`` and reused; a marker file names the generator version that
made it, and a different version (or no marker) makes it again. Generation happens in a
temporary folder that is renamed into place only when complete, so a run that was
interrupted is never mistaken for a finished study.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from viewer.dicom.synthetic import GENERATOR_VERSION, StudyIdentity, write_ct_series
from viewer.dicom.synthetic_modalities import write_dx_image, write_mr_series

_log = logging.getLogger(__name__)

DEMO_VERSION = f"demo-3/generator-{GENERATOR_VERSION}"
"""Written into the marker; change the first part when the demo's contents change."""

MARKER_NAME = ".lightbox-demo"
STAGING_PREFIX = ".demo-"
STAGING_MAX_AGE_S = 3600.0
DEMO_PATIENT_NAME = "DEMO^LIGHTBOX"
DEMO_PATIENT_ID = "LB-DEMO-0001"
CT_SLICES = 120
CT_SIZE = 512
CT_SLICE_SPACING = 2.5
MR_SLICES = 24

DEMO_STUDY = StudyIdentity(
    patient_name=DEMO_PATIENT_NAME,
    patient_id=DEMO_PATIENT_ID,
    birth_date="19800101",
    sex="O",
    uid_namespace="lightbox-demo-study-1",
    study_id="DEMO1",
    accession_number="LBDEMO0001",
    study_description="Lightbox demo: CT chest/abdomen, MR head, chest radiograph",
    study_date="20240315",
    study_time="101500",
    referring_physician="REFERRER^DEMO",
)
"""The demo's patient and study: fictitious, with UIDs derived from a fixed namespace."""


def demo_is_current(folder: Path) -> bool:
    """Whether ``folder`` holds a complete demo study from this generator version."""
    marker = folder / MARKER_NAME
    try:
        return marker.read_text(encoding="utf-8").strip() == DEMO_VERSION
    except OSError:
        return False


def generate_demo_study(
    folder: Path, progress: Callable[[str, int, int], None] | None = None
) -> None:
    """Write the demo study's series into ``folder`` (which should be empty).

    The series are ``CT/`` (120 axial slices, 512 x 512, int16, HU = stored - 1024),
    ``MR/`` (24 T1 head slices, uint16) and ``DX/`` (one MONOCHROME1 chest radiograph).
    """

    def report(stage: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(stage, done, total)

    write_ct_series(
        folder / "CT",
        DEMO_STUDY,
        anatomy="torso",
        slices=CT_SLICES,
        rows=CT_SIZE,
        cols=CT_SIZE,
        slice_spacing=CT_SLICE_SPACING,
        series_number=1,
        series_description="CT chest abdomen with contrast",
        seed=1,
        progress=report("CT"),
    )
    write_mr_series(
        folder / "MR",
        DEMO_STUDY,
        slices=MR_SLICES,
        series_number=2,
        series_description="MR head T1 SE axial",
        seed=2,
        progress=report("MR"),
    )
    write_dx_image(
        folder / "DX", DEMO_STUDY, series_number=3, series_description="Chest PA", seed=3
    )


def ensure_demo_study(home: Path, progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Return ``<home>/demo``, generating the demo study there first if needed.

    Parameters
    ----------
    home : Path
        The Lightbox home folder (see :func:`viewer.core.paths.resolve_home`).
    progress : callable, optional
        Called with (series name, files written, files in that series) while generating.

    Returns
    -------
    Path
        The folder holding the complete demo study.
    """
    target = home / "demo"
    if demo_is_current(target):
        return target
    home.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(home)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=home))
    try:
        _log.info("generating the demo study in %s", staging)
        generate_demo_study(staging, progress)
        # The marker is written last: its presence means every file before it is complete.
        (staging / MARKER_NAME).write_text(DEMO_VERSION + "\n", encoding="utf-8")
        _replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _remove_abandoned_staging(home: Path) -> None:
    """Delete staging folders of generations that were killed (older than an hour).

    A younger one may belong to another Lightbox process generating right now.
    """
    limit = time.time() - STAGING_MAX_AGE_S
    for folder in home.glob(STAGING_PREFIX + "*"):
        try:
            if folder.is_dir() and folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _replace(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``, out of the way of an old or concurrent demo."""
    if target.exists():
        if demo_is_current(target):  # another process finished first
            return
        old = target.with_name(f"{STAGING_PREFIX}old-{os.getpid()}")
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        if not demo_is_current(target):
            raise
