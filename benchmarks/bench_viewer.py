"""The reading workstation: first image on screen, whole series, scrolling, window drag, memory.

A 400-slice 512 x 512 CT series (100 with ``--quick``) is opened in the real viewer (Qt
widgets, VTK with software OpenGL on a virtual display), uncompressed and in each lossless
transfer syntax: JPEG Lossless SV1, JPEG-LS, JPEG 2000 and RLE. Each syntax runs in a fresh
process so that its peak memory is its own. Measured:

* time to first image on screen: from the study index records to the first frame drawn
  (goal: under 300 ms whatever the series length); the peer is pydicom's plain way to get
  one windowed frame (dcmread, pixel_array, modality and VOI LUT), without drawing it;
* time to the whole series decoded in the background;
* scrolling frame rate in a 1x1 layout (goal: at least 30 frames/s), and the window/level
  drag frame rate (a new table and redraw per step);
* peak resident memory above the application's baseline with the series loaded (goal: at
  most 1.3 x the series' pixel bytes).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks import Context, Result

FIRST_IMAGE_GOAL_MS = 300.0
SCROLL_GOAL_FPS = 30.0
MEMORY_GOAL = 1.3

SYNTAXES = {
    "uncompressed": "1.2.840.10008.1.2.1",
    "JPEG lossless SV1": "1.2.840.10008.1.2.4.70",
    "JPEG-LS lossless": "1.2.840.10008.1.2.4.80",
    "JPEG 2000 lossless": "1.2.840.10008.1.2.4.90",
    "RLE lossless": "1.2.840.10008.1.2.5",
}


def _series(ctx: Context, name: str, syntax: str, slices: int) -> Path:
    from tests.support.series import write_ct_series

    folder = ctx.folder(f"viewer-ct{slices}-{syntax}")
    marker = folder / ".complete"
    if not marker.exists():
        for old in folder.glob("*.dcm"):
            old.unlink()
        write_ct_series(folder, slices=slices, rows=512, cols=512, transfer_syntax=syntax,
                        seed=7, series_description=f"benchmark {name}")
        marker.touch()
    return folder


def _display_env() -> tuple[dict[str, str], subprocess.Popen[bytes] | None]:
    env = {**os.environ, "LIBGL_ALWAYS_SOFTWARE": "1", "QT_QPA_PLATFORM": "xcb"}
    if os.environ.get("DISPLAY"):
        return env, None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError("no display and no Xvfb: run under xvfb-run")
    for number in range(150, 200):
        if Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1920x1080x24",
                                 "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            env["DISPLAY"] = f":{number}"
            return env, proc
    raise RuntimeError("could not start Xvfb")


def run(ctx: Context) -> Iterator[Result]:
    """One child process per transfer syntax; rows for each figure."""
    slices = 100 if ctx.quick else 400
    env, xvfb = _display_env()
    try:
        for name, syntax in SYNTAXES.items():
            folder = _series(ctx, name, syntax, slices)
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_viewer", str(folder),
                 str(ctx.repeats(50))],
                env=env, capture_output=True, text=True, timeout=1800, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"{name}: viewer child failed\n{out.stderr[-2000:]}")
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            yield from _rows(name, slices, figures)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)


def _rows(name: str, slices: int, f: dict[str, float]) -> Iterator[Result]:
    what = f"CT {slices} x 512x512, {name}"
    yield Result(f"first image on screen, {what}", f["first_ms"], "ms",
                 peer=f["peer_first_ms"], peer_name="pydicom frame, not drawn",
                 goal=f"< {FIRST_IMAGE_GOAL_MS:g} ms", goal_max=FIRST_IMAGE_GOAL_MS,
                 details={"first_samples_ms": f["first_samples_ms"]})
    yield Result(f"whole series decoded, {what}", f["all_s"], "s")
    yield Result(f"scrolling 1x1, {what}", f["scroll_fps"], "frames/s",
                 goal=f">= {SCROLL_GOAL_FPS:g} frames/s", goal_min=SCROLL_GOAL_FPS,
                 details={"viewport": f["viewport"]})
    yield Result(f"window/level drag 1x1, {what}", f["window_fps"], "frames/s",
                 goal=f">= {SCROLL_GOAL_FPS:g} frames/s", goal_min=SCROLL_GOAL_FPS)
    yield Result(f"peak memory above baseline / pixel bytes, {what}", f["memory_ratio"], "x",
                 goal=f"<= {MEMORY_GOAL:g}x", goal_max=MEMORY_GOAL,
                 details={"baseline_mb": f["baseline_mb"], "peak_mb": f["peak_mb"],
                          "pixel_mb": f["pixel_mb"]})


# ---------------------------------------------------------------------- child process
def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(folder: Path, repeats: int) -> dict[str, object]:
    import numpy as np
    from pydicom import dcmread
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    from PySide6.QtWidgets import QApplication

    from viewer.app import _application
    from viewer.dicom.header import read_header
    from viewer.ui.theme import apply_dark_theme
    from viewer.ui.viewer.series import SeriesData
    from viewer.ui.viewer.viewer_widget import ViewerWidget

    app = _application()
    apply_dark_theme(app)  # type: ignore[arg-type]
    files = sorted(folder.glob("*.dcm"))
    records = [read_header(p) for p in files]  # what the study index hands over
    viewer = ViewerWidget()
    viewer.resize(900, 760)
    viewer.show()
    for _ in range(20):
        QApplication.processEvents()
    vp = viewer.viewports[0]

    def first_image() -> tuple[float, SeriesData]:
        start = time.perf_counter()
        series = SeriesData.from_records(records)
        key = viewer.add_series(series)
        viewer.show_series(key, vp)
        while vp._shown_index != 0:
            QApplication.processEvents()
            time.sleep(0.0005)
        if vp._render_timer.isActive():  # the frame is set but not drawn yet
            vp.render_now()
        return (time.perf_counter() - start) * 1000.0, series

    def close() -> None:
        viewer.close_all()
        for loader in list(viewer.loaders.values()):
            loader.wait()

    samples = []
    for _ in range(5):
        ms, series = first_image()
        samples.append(ms)
        loader = viewer.loaders[series.series_uid]
        loader.cancel()
        loader.wait()
        close()

    def peer() -> None:
        ds = dcmread(files[0])
        np.asarray(apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds))

    peer_samples = []
    for _ in range(5):
        start = time.perf_counter()
        peer()
        peer_samples.append((time.perf_counter() - start) * 1000.0)

    # Baseline: the application after it has shown (and closed) the series once, so that
    # libraries loaded on first use and the GL context count as the application's.
    QApplication.processEvents()
    baseline = _rss_now_mb()

    # The measured run: first image, then the whole series in the background.
    start = time.perf_counter()
    first_ms, series = first_image()
    loader = viewer.loaders[series.series_uid]
    while not loader.done:
        QApplication.processEvents()
        time.sleep(0.001)
    all_s = time.perf_counter() - start
    QApplication.processEvents()
    peak = _rss_peak_mb()
    pixel_mb = series.pixel_bytes() / 2**20

    n = len(series)
    frames = max(n, repeats)
    start = time.perf_counter()
    for i in range(frames):
        vp.set_index(i % n)
        vp.render_now()
    scroll_fps = frames / (time.perf_counter() - start)

    vp.set_index(n // 2)
    start = time.perf_counter()
    steps = max(60, repeats)
    for i in range(steps):
        vp.set_window(40 + (i % 20) * 5, 400 + (i % 15) * 10)
        vp.render_now()
    window_fps = steps / (time.perf_counter() - start)
    w, h = vp.view.transform.viewport
    return {
        "first_ms": float(np.median([*samples, first_ms])),
        "first_samples_ms": [round(s, 1) for s in [*samples, first_ms]],
        "peer_first_ms": float(np.median(peer_samples)),
        "all_s": all_s,
        "scroll_fps": scroll_fps,
        "window_fps": window_fps,
        "viewport": f"{w}x{h}",
        "baseline_mb": round(baseline, 1),
        "peak_mb": round(peak, 1),
        "pixel_mb": round(pixel_mb, 1),
        "memory_ratio": (peak - baseline) / pixel_mb if pixel_mb else float("nan"),
    }


if __name__ == "__main__":
    result = _child(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 50)
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # skip Qt/VTK teardown: the figures are out
