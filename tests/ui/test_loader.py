"""SeriesLoader: the series decoded into one volume, slices handed to SeriesData as views."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pydicom
from PySide6.QtCore import QCoreApplication, QEvent, QObject

from tests.support.enhanced import frame_value, write_enhanced
from tests.ui.conftest import wait_until
from tests.ui.phantom import write_phantom
from viewer.dicom.frames import FrameSource
from viewer.dicom.header import read_header
from viewer.ui.viewer.loader import SeriesLoader
from viewer.ui.viewer.series import SeriesData


def test_every_slice_equals_its_file_odd_slices_included(qtbot, tmp_path):
    phantom = write_phantom(tmp_path / "ph", slices=12)
    small, cut = phantom.paths[3], phantom.paths[7]
    ds = pydicom.dcmread(small)  # another size than the series: decoded on its own
    half = ds.pixel_array[::2, ::2].copy()
    ds.Rows, ds.Columns = half.shape
    ds.PixelData = half.tobytes()
    ds.save_as(small)
    records = [read_header(p) for p in phantom.paths]
    cut.write_bytes(cut.read_bytes()[:-30000])  # cut short after it was indexed

    series = SeriesData.from_records(records)
    loader = SeriesLoader(series)
    seen: list[tuple[int, bool]] = []
    loader.frame_loaded.connect(
        lambda i: seen.append((i, threading.current_thread() is threading.main_thread())))
    loader.start(5)
    wait_until(qtbot, lambda: loader.done and len(seen) == len(series))

    assert seen[0][0] == 5 and all(in_gui for _, in_gui in seen)
    for i, ref in enumerate(series.refs):
        if ref.path == str(cut):
            assert not series.is_loaded(i) and "truncated" in (series.error(i) or "")
            continue
        want = FrameSource(ref.path).frame(ref.frame)
        got = series.stored(i)
        assert got is not None and got.dtype == want.dtype and np.array_equal(got, want)
        assert series.facts(i) is not None
    assert series.stored(phantom.paths.index(small)).shape == half.shape


def test_closing_while_loading_frees_the_series(qtbot, tmp_path):
    phantom = write_phantom(tmp_path / "ph", slices=40)
    series = SeriesData.from_records([read_header(p) for p in phantom.paths])
    owner = QObject()  # as the viewer owns its loaders
    loader = SeriesLoader(series, parent=owner)
    loader.start(20)
    alive = weakref.ref(series)
    wait_until(qtbot, lambda: alive().loaded_count() >= 1)  # type: ignore[union-attr]
    loader.cancel()  # what closing the series does
    assert loader.wait(30000) and loader.done
    del series, loader

    def freed() -> bool:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        return alive() is None

    wait_until(qtbot, freed)
    assert not owner.children()
    wait_until(qtbot, lambda: not any(t.name.startswith("series-load")
                                      for t in threading.enumerate()))


def test_a_video_says_once_that_it_is_not_played(qtbot, tmp_path, caplog):
    # Videos are stored (import, the storage SCP) but not decoded: each of its frames
    # says so in words, and the log says it once for the series, not once per frame.
    from pydicom.uid import MPEG4HP41, generate_uid

    from tests.support.video import write_video

    path = write_video(tmp_path / "video.dcm", MPEG4HP41, generate_uid())
    series = SeriesData.from_records([read_header(path)])
    assert len(series) == 30
    loader = SeriesLoader(series)
    with caplog.at_level("WARNING", logger="viewer.ui.viewer.series"):
        loader.start(0)
        wait_until(qtbot, lambda: loader.done)
    message = series.error(0) or ""
    assert "a video (MPEG-4 AVC/H.264 High Profile / Level 4.1), which Lightbox stores " \
           "but does not play" in message
    assert message.count(str(path)) == 1  # not once per frame tried
    assert all(series.error(i) == message for i in range(len(series)))
    lines = [r for r in caplog.records if r.name == "viewer.ui.viewer.series"]
    assert len(lines) == 1 and "(30 frames)" in lines[0].getMessage()


def test_enhanced_frames_are_decoded_in_the_order_they_are_shown(qtbot, tmp_path):
    # Stored at z = 10, 0, 30, 20 mm (In-Stack Position 2, 1, 4, 3): scrolled in file
    # order the anatomy jumped back and forth (PS3.3 C.7.6.17).
    path = write_enhanced(tmp_path / "enhanced.dcm", [10.0, 0.0, 30.0, 20.0],
                          index_values=[[1, 2], [1, 1], [1, 4], [1, 3]])
    series = SeriesData.from_records([read_header(path)])
    loader = SeriesLoader(series)
    loader.start(0)
    wait_until(qtbot, lambda: loader.done and series.loaded_count() == len(series))

    assert [series.facts(i).plane.location for i in range(4)] == [0.0, 10.0, 20.0, 30.0]
    assert [int(series.stored(i)[0, 0]) for i in range(4)] == [
        frame_value(1), frame_value(0), frame_value(3), frame_value(2)]
    assert [series.facts(i).ref.frame for i in range(4)] == [1, 0, 3, 2]
