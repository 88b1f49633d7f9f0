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

from benchmarks import Context, Result, measure, measure_many
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
    """First frame of 100- and 400-slice series, warm and cold, timed round-robin."""
    paths = {n: _series(ctx, n) for n in (100, 400)}
    records = {}
    for n, files in paths.items():
        records[n] = [read_header(p) for p in files]
        random.Random(n).shuffle(records[n])  # the index hands records over in no order
    everything = [*paths[100], *paths[400]]
    for state in ("warm", "cold"):
        times = measure_many(
            {
                "ours100": lambda: _first_frame(records[100]),
                "ours400": lambda: _first_frame(records[400]),
                "peer100": lambda: _pydicom_first_frame(records[100]),
                "peer400": lambda: _pydicom_first_frame(records[400]),
            },
            ctx.repeats(40),
            setup=(lambda: _evict(everything)) if state == "cold" else None,
        )
        for n in (100, 400):
            ours, peer = times[f"ours{n}"], times[f"peer{n}"]
            yield Result(
                what=f"first frame, {n} slices 512x512, {state} cache",
                ours=ours.median,
                peer=peer.median,
                peer_name="pydicom dcmread+LUTs",
                goal=f"< {GOAL_MS:g} ms",
                goal_max=GOAL_MS,
                details={"ours": ours, "peer": peer, "slices": n},
            )
        yield Result(
            what=f"first frame 400 / 100 slices, {state} cache",
            ours=times["ours400"].median / times["ours100"].median,
            unit="x",
            goal="<= 1.5x (independent of length)",
            goal_max=1.5,
        )
    order = measure(lambda: series_frames(records[400]), ctx.repeats(40))
    yield Result(
        what="  of which ordering 400 records along the normal",
        ours=order.median,
        details={"timing": order},
    )
    scan = measure(lambda: [read_header(p) for p in paths[400]], ctx.repeats(5), warmup=1)
    yield Result(
        what="  for scale: reading all 400 headers (what the index saves)",
        ours=scan.median,
        details={"timing": scan},
    )
