"""Series loading: a 400-slice 512x512 CT, uncompressed and in 4 lossless syntaxes, vs peers.

Ours is :func:`viewer.dicom.volume.load_series`: one preallocated volume, a thread per core,
imagecodecs where it decodes (it releases the GIL), pylibjpeg through pydicom otherwise.
The peers read the same files in the same run, timed round-robin: the raw-read bound (the
files' bytes into memory, nothing parsed), a tuned pydicom loop (dcmread + pixel_array
into a preallocated array, with pydicom's first available plugin: GDCM when installed),
SimpleITK's ImageSeriesReader (ITK with GDCM) and a plain python-gdcm loop (ImageReader per
file into a preallocated array). All are warm-cache figures of the whole series in memory
as stored values; the first-frame rows time the first slice ready. Peak memory is the
growth of the resident set while loading, read from /proc/self/status (VmHWM, reset after
the imports) in a fresh subprocess per measurement, against the series' pixel bytes.

SimpleITK and python-gdcm come from the ``bench`` extra (``pip install -e .[bench]``);
their rows are left out when they are missing.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from benchmarks import ROOT, Context, Result, Timing, measure_many
from viewer.dicom import codecs
from viewer.dicom.frames import FrameSource
from viewer.dicom.synthetic import GENERATOR_VERSION
from viewer.dicom.volume import load_series

SLICES = 400
SIZE = 512
FIRST_FRAME_GOAL_MS = 300.0
MEMORY_GOAL = 1.3
SYNTAXES: dict[str, str] = {
    "uncompressed": ExplicitVRLittleEndian,
    "JPEG lossless SV1": JPEGLosslessSV1,
    "JPEG-LS lossless": JPEGLSLossless,
    "JPEG 2000 lossless": JPEG2000Lossless,
    "RLE lossless": RLELossless,
}
# Against GDCM and SimpleITK: at least as fast, and twice as fast where libjpeg-turbo
# and the RLE decoder leave them far behind.
COMPRESSED_RATIO = {
    JPEGLosslessSV1: 0.5,
    RLELossless: 0.5,
    JPEGLSLossless: 1.0,
    JPEG2000Lossless: 1.0,
}

try:
    import SimpleITK as sitk  # noqa: N813 - the name its documentation uses
except ImportError:  # the bench extra is not installed
    sitk = None
try:
    import gdcm
except ImportError:
    gdcm = None


def _series(ctx: Context, syntax: str) -> list[Path]:
    """The 400 files of one syntax, generated once into the cache and reused."""
    from tests.support.series import write_ct_series  # encoders for every syntax

    folder = ctx.folder(f"series-load-ct{SLICES}") / UID(syntax).keyword
    marker = folder / f".complete-{GENERATOR_VERSION}"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"  writing {SLICES} slices, {UID(syntax).name} (once) ...", file=sys.stderr)
        write_ct_series(
            folder, slices=SLICES, rows=SIZE, cols=SIZE, transfer_syntax=syntax, seed=SLICES
        )
        marker.touch()
    return sorted(folder.glob("CT*.dcm"))


class _FirstFrame:
    """Collects, per call, the time from the start to the first slice ready."""

    def __init__(self) -> None:
        self.samples_ns: list[int] = []

    def timing(self) -> Timing:
        return Timing.of(self.samples_ns)


def _ours(paths: list[Path], first: _FirstFrame) -> Callable[[], Any]:
    def run() -> Any:
        start = time.perf_counter_ns()
        stamp: list[int] = []
        volume = load_series(
            paths, 0, on_frame=lambda i: stamp or stamp.append(time.perf_counter_ns())
        )
        volume.wait()
        first.samples_ns.append(stamp[0] - start)
        return volume.array

    return run


def _raw_read(paths: list[Path]) -> Callable[[], Any]:
    size = max(p.stat().st_size for p in paths)
    buffer = bytearray(size * len(paths))
    view = memoryview(buffer)

    def run() -> Any:
        pos = 0
        for path in paths:
            with open(path, "rb", buffering=0) as f:
                pos += f.readinto(view[pos : pos + size])
        return pos

    return run


def _pydicom_loop(paths: list[Path], first: _FirstFrame) -> Callable[[], Any]:
    def run() -> Any:
        start = time.perf_counter_ns()
        volume = None
        for i, path in enumerate(paths):
            pixels = pydicom.dcmread(path).pixel_array
            if volume is None:
                volume = np.empty((len(paths), *pixels.shape), pixels.dtype)
                first.samples_ns.append(time.perf_counter_ns() - start)
            volume[i] = pixels
        return volume

    return run


def _sitk_series(paths: list[Path]) -> Callable[[], Any]:
    names = [str(p) for p in paths]

    def run() -> Any:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(names)
        return sitk.GetArrayViewFromImage(reader.Execute())

    return run


def _gdcm_buffer(path: Path) -> tuple[bytes, tuple[int, int], str]:
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise RuntimeError(f"GDCM cannot read {path}")
    image = reader.GetImage()
    cols, rows = image.GetDimension(0), image.GetDimension(1)
    signed = image.GetPixelFormat().GetPixelRepresentation() == 1
    # python-gdcm hands the buffer over as str; pydicom's GDCM plugin undoes it the same way
    data = image.GetBuffer().encode("utf-8", "surrogateescape")
    return data, (rows, cols), "<i2" if signed else "<u2"


def _gdcm_loop(paths: list[Path]) -> Callable[[], Any]:
    def run() -> Any:
        volume = None
        for i, path in enumerate(paths):
            data, shape, dtype = _gdcm_buffer(path)
            if volume is None:
                volume = np.empty((len(paths), *shape), dtype)
            volume[i] = np.frombuffer(data, dtype, count=shape[0] * shape[1]).reshape(shape)
        return volume

    return run


_MEMORY_SCRIPT = r"""
import json, sys
from pathlib import Path
import numpy as np

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)

mode, paths = sys.argv[1], [Path(p) for p in sys.argv[2:]]
if mode == "ours":
    from viewer.dicom.volume import load_series
elif mode == "pydicom":
    import pydicom
else:
    import SimpleITK as sitk  # noqa: N813 - the name its documentation uses
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM: imports are the baseline
base = status("VmRSS")
if mode == "ours":
    volume = load_series(paths, 0)
    volume.wait()
    pixel_bytes = volume.array.nbytes
elif mode == "pydicom":
    arr = None
    for i, p in enumerate(paths):
        px = pydicom.dcmread(p).pixel_array
        if arr is None:
            arr = np.empty((len(paths), *px.shape), px.dtype)
        arr[i] = px
    pixel_bytes = arr.nbytes
else:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in paths])
    arr = sitk.GetArrayFromImage(reader.Execute())
    pixel_bytes = len(paths) * arr[0].size * 2
print(json.dumps({"base": base, "peak": status("VmHWM"), "pixel_bytes": pixel_bytes}))
"""


def _memory(mode: str, paths: list[Path]) -> dict[str, float]:
    """Peak resident growth while loading, in a fresh interpreter (C allocations included)."""
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, mode, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT.parent,
        timeout=600,
    )
    facts: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    facts["growth"] = facts["peak"] - facts["base"]
    facts["ratio"] = facts["growth"] / facts["pixel_bytes"]
    return facts


def _check_equal(paths: list[Path], volume: np.ndarray, label: str) -> bool:
    """Sanity, not timing: the middle slice equals FrameSource's decode."""
    mid = len(paths) // 2
    same = bool(np.array_equal(volume[mid], FrameSource(paths[mid]).frame(0)))
    if not same:
        print(f"  WARNING: {label} differs from FrameSource on slice {mid + 1}", file=sys.stderr)
    return same


def _cpu_timed(fn: Callable[[], Any], samples: list[float]) -> Callable[[], Any]:
    """``fn``, also noting the process CPU time of each call (all threads, C included)."""

    def run() -> Any:
        start = time.process_time()
        try:
            return fn()
        finally:
            samples.append(time.process_time() - start)

    return run


def _gil_probe(decode: Callable[[], Any], seconds: float = 0.5) -> float:
    """p90 wake-up delay (ms) of a Python thread asking for 0.5 ms sleeps while ``decode``
    loops in another thread: about the decode time when the codec holds the GIL, about
    the scheduler's delay when it releases it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            decode()

    worker = threading.Thread(target=loop)
    worker.start()
    delays = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        time.sleep(0.0005)
        delays.append(time.perf_counter() - start)
    stop.set()
    worker.join()
    return float(np.percentile(delays, 90)) * 1000


def _pylibjpeg_frame(path: Path) -> Callable[[], Any]:
    ds = pydicom.dcmread(path)
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    return lambda: decoder.as_array(ds, index=0, decoding_plugin="pylibjpeg")


def _per_slice(samples: list[float], slices: int) -> float:
    """Median CPU milliseconds per slice."""
    return float(np.median(samples)) * 1000 / slices


def run(ctx: Context) -> Iterator[Result]:
    """Whole series and first frame per syntax, then peak memory."""
    repeats_light = 5 if ctx.quick else 15
    repeats_heavy = 1 if ctx.quick else 3
    for label, syntax in SYNTAXES.items():
        paths = _series(ctx, syntax)
        for p in paths:  # warm cache for everyone
            p.read_bytes()
        decoder = FrameSource(paths[0]).decoder_name
        first_ours, first_pydicom = _FirstFrame(), _FirstFrame()
        fns: dict[str, Callable[[], Any]] = {
            "ours": _ours(paths, first_ours),
            "raw": _raw_read(paths),
            "pydicom": _pydicom_loop(paths, first_pydicom),
        }
        if sitk is not None:
            fns["sitk"] = _sitk_series(paths)
        if gdcm is not None:
            fns["gdcm"] = _gdcm_loop(paths)
        equal = {"pydicom": _check_equal(paths, fns["pydicom"](), "pydicom loop")}
        ours_volume = fns["ours"]()
        equal["ours"] = _check_equal(paths, ours_volume, "ours")
        if gdcm is not None:
            equal["gdcm"] = bool(np.array_equal(fns["gdcm"](), ours_volume))
        compressed = syntax != ExplicitVRLittleEndian
        repeats = repeats_heavy if compressed else repeats_light
        cpu: dict[str, list[float]] = {name: [] for name in fns}
        timed = {name: _cpu_timed(fn, cpu[name]) for name, fn in fns.items()}
        times = measure_many(timed, repeats, warmup=0)
        first_ours.samples_ns = first_ours.samples_ns[-repeats:]
        first_pydicom.samples_ns = first_pydicom.samples_ns[-repeats:]
        first, first_peer = first_ours.timing(), first_pydicom.timing()
        ours = times["ours"]
        what = f"whole series, {SLICES} CT {SIZE}x{SIZE}, {label} [{decoder}]"
        if not compressed:
            yield Result(
                what=what,
                ours=ours.median,
                peer=times["pydicom"].median,
                peer_name="tuned pydicom loop",
                goal="<= 1.5x tuned pydicom loop",
                ratio_max=1.5,
                details={"times": times, "equal": equal},
            )
        else:
            ratio = COMPRESSED_RATIO[syntax]
            goal = "<= 0.5x (2x faster)" if ratio < 1 else "<= 1x (as fast)"
            if gdcm is not None:
                yield Result(
                    what=what,
                    ours=ours.median,
                    peer=times["gdcm"].median,
                    peer_name="python-gdcm loop",
                    goal=goal,
                    ratio_max=ratio,
                    details={"times": times, "equal": equal},
                )
            if sitk is not None:
                yield Result(
                    what=f"whole series, {label}, vs SimpleITK",
                    ours=ours.median,
                    peer=times["sitk"].median,
                    peer_name="SimpleITK ImageSeriesReader",
                    goal=goal,
                    ratio_max=ratio,
                )
        for name, peer_name in (
            ("raw", "raw read of the files (bound)"),
            ("pydicom", "tuned pydicom loop"),
            ("sitk", "SimpleITK ImageSeriesReader"),
            ("gdcm", "python-gdcm loop"),
        ):
            if name in times and (compressed or name != "pydicom"):
                yield Result(
                    what=f"  {label}: {peer_name}",
                    ours=times[name].median,
                    details={"timing": times[name]},
                )
        ours_cpu = _per_slice(cpu["ours"], len(paths))
        yield Result(
            what=f"  {label}: our CPU time / wall time (2 = both cores busy)",
            ours=ours_cpu * len(paths) / ours.median,
            unit="x",
        )
        peer = "gdcm" if "gdcm" in cpu else "pydicom"
        yield Result(
            what=f"  {label}: CPU time per slice, all threads",
            ours=ours_cpu,
            peer=_per_slice(cpu[peer], len(paths)),
            peer_name="python-gdcm loop" if peer == "gdcm" else "tuned pydicom loop",
        )
        if compressed:
            source = FrameSource(paths[len(paths) // 2])
            out = source.frame(0)  # the array to decode into, of the right shape and type
            yield Result(
                what=f"  {label}: GIL held while decoding? p90 wake-up delay of a Python thread",
                ours=_gil_probe(functools.partial(source.frame_into, 0, out)),
                peer=_gil_probe(_pylibjpeg_frame(source.path)),
                peer_name="pylibjpeg via pydicom",
            )
        yield Result(
            what=f"first frame, {SLICES} slices, {label}",
            ours=first.median,
            peer=first_peer.median,
            peer_name="pydicom first file",
            goal=f"< {FIRST_FRAME_GOAL_MS:g} ms",
            goal_max=FIRST_FRAME_GOAL_MS,
            details={"ours": first, "peer": first_peer},
        )
    yield from _memory_rows(ctx)


def _memory_rows(ctx: Context) -> Iterator[Result]:
    for label, syntax in SYNTAXES.items():
        paths = _series(ctx, syntax)
        facts = _memory("ours", paths)
        yield Result(
            what=f"peak memory growth / pixel bytes, {label}",
            ours=facts["ratio"],
            unit="x",
            goal=f"<= {MEMORY_GOAL}x",
            goal_max=MEMORY_GOAL,
            details=facts,
        )
    paths = _series(ctx, ExplicitVRLittleEndian)
    for mode, name in (("pydicom", "tuned pydicom loop"), ("sitk", "SimpleITK")):
        if mode == "sitk" and sitk is None:
            continue
        facts = _memory(mode, paths)
        yield Result(
            what=f"  uncompressed, {name}: growth / pixel bytes",
            ours=facts["ratio"],
            unit="x",
            details=facts,
        )
    yield Result(
        what="  cores on this machine (decoders per syntax in the JSON details)",
        ours=float(os.cpu_count() or 1),
        unit="cores",
        details={"decoders": codecs.decoder_names()},
    )
