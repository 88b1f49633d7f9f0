"""Time to first frame: from a series' index records to the first 8-bit frame on screen.

Opening a series must not cost more for 400 slices than for 100: the records come from
the study index, the slices are ordered from their positions, and only the first file is
opened and decoded. Measured warm (files in the page cache) and cold (the series' files
evicted with posix_fadvise before each repeat), for 100 and 400 slices of 512 x 512 CT.
The peer is the plain pydicom way to show one file: dcmread, pixel_array, modality and
VOI LUT.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from benchmarks import Context, Result, Timing, measure, measure_pair
from viewer.core.records import InstanceRecord
from viewer.dicom.geometry import series_frames
from viewer.dicom.header import read_header
from viewer.dicom.image import DicomImage
from viewer.dicom.synthetic import GENERATOR_VERSION, StudyIdentity, write_ct_series

GOAL_MS = 100.0


def _series(ctx: Context, slices: int) -> list[Path]:
    folder = ctx.folder(f"first-frame-ct{slices}")
    marker = folder / f".complete-{GENERATOR_VERSION}"
    if not marker.exists():
        study = StudyIdentity(uid_namespace=f"lightbox-benchmark-first-frame-{slices}")
        write_ct_series(folder, study, slices=slices, rows=512, cols=512, seed=slices)
        os.sync()  # dirty pages cannot be evicted: the cold runs would read the cache
        marker.touch()
    return sorted(folder.glob("CT*.dcm"))


def _evict(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache (clean pages only; nothing is lost)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _first_frame(records: list[InstanceRecord]) -> np.ndarray:
    frames = series_frames(records)
    image = DicomImage(frames[0].path)
    return image.render(frames[0].frame)


def _pydicom_first_frame(records: list[InstanceRecord]) -> np.ndarray:
    first = min(records, key=lambda r: r.image_position[2] if r.image_position else 0.0)
    ds = dcmread(first.file_path)
    values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    lo = float(ds.WindowCenter[0]) - float(ds.WindowWidth[0]) / 2
    return np.clip((values - lo) * (255.0 / float(ds.WindowWidth[0])), 0, 255).astype(np.uint8)


def run(ctx: Context) -> Iterator[Result]:
    """First frame of 100- and 400-slice series, warm and cold."""
    medians: dict[tuple[int, str], Timing] = {}
    for slices in (100, 400):
        paths = _series(ctx, slices)
        # The index hands records over in no particular order.
        records = [read_header(p) for p in paths]
        random.Random(slices).shuffle(records)
        for state in ("warm", "cold"):
            setup = (lambda p=paths: _evict(p)) if state == "cold" else None
            ours, peer = measure_pair(
                lambda r=records: _first_frame(r),
                lambda r=records: _pydicom_first_frame(r),
                ctx.repeats(40),
                setup=setup,
            )
            medians[(slices, state)] = ours
            yield Result(
                what=f"first frame, {slices} slices 512x512, {state} cache",
                ours=ours.median,
                peer=peer.median,
                peer_name="pydicom dcmread+LUTs",
                goal=f"< {GOAL_MS:g} ms",
                goal_max=GOAL_MS,
                details={"ours": ours, "peer": peer, "slices": slices},
            )
    for state in ("warm", "cold"):
        ratio = medians[(400, state)].median / medians[(100, state)].median
        yield Result(
            what=f"first frame 400 / 100 slices, {state} cache",
            ours=ratio,
            unit="x",
            goal="<= 1.5x (independent of length)",
            goal_max=1.5,
        )
    paths = _series(ctx, 400)
    scan = measure(lambda: [read_header(p) for p in paths], ctx.repeats(5), warmup=1)
    yield Result(
        what="  for scale: reading all 400 headers (what the index saves)",
        ours=scan.median,
        details={"timing": scan},
    )
