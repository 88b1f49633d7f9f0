"""Series volume loading: equal to FrameSource per slice, nearest first, cancel, bad files."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID, ExplicitVRBigEndian, RLELossless

from tests.support.series import ALL_SYNTAXES, can_write, write_ct_series
from tests.support.testdata import test_file as data_file
from viewer.core.errors import LightboxError
from viewer.dicom.frames import FrameSource
from viewer.dicom.geometry import FrameRef
from viewer.dicom.volume import SliceRef, load_series, load_series_blocking, nearest_first


def _syntax_id(uid: str) -> str:
    return UID(uid).keyword or uid


@pytest.mark.parametrize("syntax", ALL_SYNTAXES, ids=_syntax_id)
def test_every_slice_equals_frame_source(tmp_path: Path, syntax: str) -> None:
    if not can_write(syntax):
        pytest.skip(f"no encoder for {syntax} here")
    paths = write_ct_series(tmp_path / "ct", slices=6, bits_stored=12, transfer_syntax=syntax)
    volume = load_series_blocking(paths, start=3)
    assert volume.array.shape == (6, 64, 64)
    assert volume.array.dtype == np.int16
    assert volume.loaded_count() == 6 and not volume.failures and volume.done
    for i, path in enumerate(paths):
        assert volume.is_loaded(i)
        assert np.array_equal(volume.array[i], FrameSource(path).frame(0)), f"slice {i + 1}"


def test_big_endian_and_multi_frame_files(tmp_path: Path) -> None:
    multi = data_file("emri_small_big_endian.dcm")  # 10 frames, 12 of 16 bits, big endian
    source = FrameSource(multi)
    assert source.transfer_syntax == ExplicitVRBigEndian
    refs = [FrameRef(str(multi), i, f"1.2.3.{i}") for i in range(source.number_of_frames)]
    volume = load_series_blocking(refs, start=9)
    for i in range(source.number_of_frames):
        assert np.array_equal(volume.array[i], source.frame(i))


def test_colour_frames_fill_a_colour_volume() -> None:
    path = data_file("SC_rgb_rle_2frame.dcm")
    volume = load_series_blocking([SliceRef(str(path), 1), SliceRef(str(path), 0)])
    source = FrameSource(path)
    assert volume.array.shape == (2, source.layout.rows, source.layout.columns, 3)
    assert np.array_equal(volume.array[0], source.frame(1))
    assert np.array_equal(volume.array[1], source.frame(0))


def test_nearest_first_order() -> None:
    assert nearest_first(6, 2) == [2, 3, 1, 4, 0, 5]
    assert nearest_first(4, 0) == [0, 1, 2, 3]
    assert nearest_first(4, 3) == [3, 2, 1, 0]


def test_slices_arrive_nearest_first_from_the_start(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=7)
    order: list[int] = []
    volume = load_series_blocking(paths, start=4, workers=1, on_frame=order.append)
    assert order == [4, 5, 3, 6, 2, 1, 0]
    assert volume.loaded_count() == 7


def test_focus_change_reorders_the_rest(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=8)
    order: list[int] = []
    assigned = threading.Event()

    def on_frame(index: int) -> None:
        assigned.wait(10)  # the worker may finish slice 0 before load_series returns
        order.append(index)
        if index == 0:
            volume.set_focus(7)  # the reader jumped to the far end

    volume = load_series(paths, 0, workers=1, on_frame=on_frame)
    assigned.set()
    assert volume.wait(30)
    assert order == [0, 7, 6, 5, 4, 3, 2, 1]


def test_cancel_from_another_thread_stops_loading(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=8)
    first = threading.Event()
    release = threading.Event()

    def opener(path: str) -> FrameSource:
        if Path(path) != paths[0]:
            # Every slice but the first waits until the test has cancelled: at most one
            # per worker is then in flight. (Holding only after the first slice arrived
            # let the other worker finish a slice before it, now and then.)
            release.wait(10)
        return FrameSource(path)

    cancel = threading.Event()
    volume = load_series(
        paths, 0, workers=2, on_frame=lambda i: first.set(), cancel=cancel, opener=opener
    )
    assert first.wait(10)
    cancel.set()
    release.set()
    assert volume.wait(30)
    assert volume.cancelled
    assert 1 <= volume.loaded_count() <= 3  # the first, and at most one in flight per worker
    assert np.array_equal(volume.array[0], FrameSource(paths[0]).frame(0))
    unloaded = [i for i in range(8) if not volume.is_loaded(i)]
    assert unloaded and all(not volume.array[i].any() for i in unloaded)


def test_broken_file_in_the_middle_is_named_and_the_rest_loads(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=6)
    paths[2].write_bytes(b"not a dicom file at all" * 10)
    data = paths[4].read_bytes()
    paths[4].write_bytes(data[: len(data) - 1000])  # pixel data cut short
    failures: list[Any] = []
    volume = load_series_blocking(paths, start=0, on_failure=failures.append)
    assert sorted(f.index for f in volume.failures) == [2, 4]
    assert sorted(f.index for f in failures) == [2, 4]
    assert all(f.fits for f in failures)
    by_index = {f.index: f for f in volume.failures}
    assert "CT0003.dcm" in by_index[2].message and "not a DICOM file" in by_index[2].message
    assert "CT0005.dcm" in by_index[4].message and "truncated" in by_index[4].message
    assert by_index[4].path == str(paths[4])
    assert volume.loaded_count() == 4
    for i in (0, 1, 3, 5):
        assert np.array_equal(volume.array[i], FrameSource(paths[i]).frame(0))
    assert not volume.array[2].any()


def test_broken_start_file_takes_the_size_from_a_neighbour(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=4)
    paths[1].write_bytes(b"\x00" * 300)
    volume = load_series_blocking(paths, start=1)
    assert volume.array.shape == (4, 64, 64)
    assert [f.index for f in volume.failures] == [1]
    assert volume.loaded_count() == 3


def test_slice_of_another_size_fails_alone(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=3)
    (small,) = write_ct_series(tmp_path / "small", slices=1, rows=32, cols=32)
    volume = load_series_blocking([*paths, small])
    (failure,) = volume.failures
    assert failure.index == 3 and not failure.fits  # the viewer loads it on its own
    assert "32x32" in failure.message and "64x64" in failure.message
    assert volume.loaded_count() == 3


def test_nothing_readable_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"nothing")
    with pytest.raises(LightboxError, match=r"bad\.dcm"):
        load_series([bad])
    with pytest.raises(LightboxError, match="no images"):
        load_series([])


def test_callback_errors_do_not_stop_loading(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=3)

    def broken(index: int) -> None:
        raise RuntimeError("listener bug")

    done = threading.Event()
    volume = load_series(paths, on_frame=broken, on_done=done.set)
    assert volume.wait(30) and done.wait(5)
    assert volume.loaded_count() == 3


def test_unsigned_data_keeps_its_dtype(tmp_path: Path) -> None:
    path = data_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    ds.PixelRepresentation = 0
    ds.save_as(tmp_path / "u.dcm")
    volume = load_series_blocking([tmp_path / "u.dcm"])
    assert volume.array.dtype == np.uint16
    assert np.array_equal(volume.array[0], FrameSource(tmp_path / "u.dcm").frame(0))


def test_threads_only_where_the_codec_releases_the_gil(tmp_path: Path) -> None:
    plain = write_ct_series(tmp_path / "plain", slices=4)
    assert load_series_blocking(plain).threads == 1  # Python-bound: one thread
    packed = write_ct_series(tmp_path / "rle", slices=4, transfer_syntax=RLELossless)
    assert FrameSource(packed[0]).decodes_without_gil
    assert load_series_blocking(packed).threads == min(os.cpu_count() or 1, 4)
    assert load_series_blocking(plain, workers=3).threads == 3
