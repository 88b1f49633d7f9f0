"""Window change: rebuild the display table and apply it, against a bare numpy.take.

A window/level drag rebuilds the composed stored-value -> DDL table and maps the frame
with it. The peer is the least any table-driven viewer must do: one ``numpy.take`` of an
already computed table on the same array. Both are timed alternately in one run.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import numpy as np

from benchmarks import Context, Result, measure, measure_pair
from viewer.dicom.image import DicomImage
from viewer.dicom.synthetic import StudyIdentity, write_ct_series
from viewer.dicom.synthetic_modalities import write_dx_image
from viewer.imaging.pipeline import ViewState, build_display_lut
from viewer.imaging.voi import WindowParams

_STUDY = StudyIdentity(uid_namespace="lightbox-benchmark-display")


def _ct_file(ctx: Context) -> Path:
    folder = ctx.folder("display-ct")
    path = folder / "CT0001.dcm"
    if not path.exists():
        write_ct_series(folder, _STUDY, slices=1, rows=512, cols=512, seed=11)
    return path


def _dx_file(ctx: Context) -> Path:
    folder = ctx.folder("display-dx")
    path = folder / "DX0001.dcm"
    if not path.exists():
        write_dx_image(folder, _STUDY, rows=3000, cols=2500, spacing=0.14, bits_stored=16)
    return path


def _window_change(
    what: str, path: Path, centre: float, width: float, repeats: int, goal_ms: float
) -> Iterator[Result]:
    image = DicomImage(path)
    params = image.params(0)
    stored = image.source.frame(0)
    step = count()

    def ours() -> object:
        # A new centre each time, as during a drag: nothing can be reused.
        view = ViewState(window=WindowParams(centre + next(step) % 200, width))
        return build_display_lut(params, view).apply(stored)

    table = build_display_lut(params, ViewState(window=WindowParams(centre, width))).table
    assert table is not None
    index = stored.view(np.dtype(f"u{stored.dtype.itemsize}"))

    def peer() -> object:
        return np.take(table, index)

    ours_t, peer_t = measure_pair(ours, peer, repeats)
    build_t = measure(
        lambda: build_display_lut(params, ViewState(window=WindowParams(centre + 1, width))),
        repeats,
    )
    lut = build_display_lut(params, ViewState(window=WindowParams(centre, width)))
    apply_t = measure(lambda: lut.apply(stored), repeats)
    chunked_t = measure(lambda: _chunked_take(table, index), repeats)
    shape = f"{stored.shape[1]}x{stored.shape[0]} {stored.dtype}"
    yield Result(
        what=f"window change (rebuild + apply), {what} {shape}",
        ours=ours_t.median,
        peer=peer_t.median,
        peer_name="numpy.take",
        goal=f"< {goal_ms:g} ms and <= 1.5x peer",
        goal_max=goal_ms,
        ratio_max=1.5,
        details={"ours": ours_t, "peer": peer_t, "table_entries": int(table.size)},
    )
    yield Result(
        what=f"  of which table rebuild, {what}",
        ours=build_t.median,
        details={"timing": build_t, "table_entries": int(table.size)},
    )
    yield Result(
        what=f"  of which apply, {what}",
        ours=apply_t.median,
        peer=peer_t.median,
        peer_name="numpy.take",
        details={"timing": apply_t},
    )
    yield Result(
        what=f"  reference: take in 64k-pixel chunks into a preallocated frame, {what}",
        ours=chunked_t.median,
        peer=peer_t.median,
        peer_name="numpy.take",
        details={"timing": chunked_t},
    )


def _chunked_take(table: np.ndarray, index: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """The same lookup with the index conversion kept in cache: a bound for apply()."""
    out = np.empty(index.shape, dtype=table.dtype)
    flat_in, flat_out = index.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, chunk):
        end = start + chunk
        np.take(table, flat_in[start:end], out=flat_out[start:end], mode="clip")
    return out


def run(ctx: Context) -> Iterator[Result]:
    """Window changes on a CT slice and on a large radiograph."""
    yield from _window_change("CT", _ct_file(ctx), 40.0, 400.0, ctx.repeats(300), 2.0)
    yield from _window_change("radiograph", _dx_file(ctx), 35000.0, 50000.0, ctx.repeats(60), 15.0)
