"""Damaged files against the header reader: its contract holds whatever the bytes.

Media from elsewhere carry files that are cut short, bit-flipped or written by broken
software. ``read_header_bytes`` may only return a record or raise ``InputFileError``
(``IncompleteHeaderError`` when given part of a file): every caller (an import, a
receive, opening a folder in the viewer) relies on that to name the file and go on.
And reading the first bytes of a large file, as an import does, must reach the same
verdict as reading all of it.

The damaged files come from a seeded mutator over pydicom's own test files: explicit and
implicit VR, big endian, deflated, encapsulated, nested sequences, without meta, a file
larger than the import's first read. The same seeds give the same files on every run.
"""

from __future__ import annotations

import random
import struct
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from viewer.core.errors import InputFileError, LightboxError
from viewer.core.records import InstanceRecord
from viewer.dicom.geometry import series_frames
from viewer.dicom.header import read_header_bytes
from viewer.dicom.structure import IncompleteHeaderError
from viewer.ui.viewer.opening import read_series

SOURCES = (
    "CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "rtstruct.dcm",
    "ExplVR_BigEnd.dcm", "image_dfl.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "no_meta.dcm",
    "nested_priv_SQ.dcm", "waveform_ecg.dcm", "liver.dcm",
)
# What an import reads of a large file before the rest (viewer.store.reading.HEAD_BYTES)
# and shorter beginnings.
PREFIXES = (132, 512, 4096, 65536)
MUTATIONS_PER_SEED = 1500
# A length-like 32-bit value (PS3.5 7.1.1): undefined, zero, huge, plausible.
_LENGTHS = (0, 1, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x10000)
# Bytes that mean something in the structure: VRs, delimiter group, escape, separators.
_TOKENS = (b"SQ", b"UN", b"OB", b"UT", b"PN", b"\xfe\xff", b"\x00\x00", b"\x1b", b"\\")


def _sources() -> dict[str, bytes]:
    return {name: testdata.test_file(name).read_bytes() for name in SOURCES}


def _mutate(rng: random.Random, data: bytes) -> bytes:
    damaged = bytearray(data)
    kind = rng.randrange(5)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(damaged))
        if kind == 0:
            damaged[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            damaged[at:at + 4] = struct.pack("<I", rng.choice((*_LENGTHS, len(data))))
        elif kind == 2:
            del damaged[rng.randrange(len(damaged)):]
            if not damaged:
                return bytes(data[:8])
        elif kind == 3:
            damaged[at:at + 2] = rng.choice(_TOKENS)
        else:
            damaged[at:at] = rng.randbytes(rng.randint(1, 16))
    return bytes(damaged)


def _verdict(data: bytes, file_size: int | None = None) -> InstanceRecord | str:
    """The record, "error" for InputFileError, "incomplete"; anything else propagates."""
    try:
        return read_header_bytes(data, "damaged.dcm", file_size)
    except IncompleteHeaderError:
        return "incomplete"
    except InputFileError:
        return "error"


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns of each damaged value
@pytest.mark.parametrize("seed", range(4))
def test_damaged_files_give_a_record_or_a_named_problem(seed: int) -> None:
    sources = _sources()
    names = sorted(sources)
    rng = random.Random(seed)
    mismatches = []
    for _ in range(MUTATIONS_PER_SEED):
        name = rng.choice(names)
        data = _mutate(rng, sources[name])
        whole = _verdict(data)  # raises if the contract is broken
        assert whole != "incomplete"
        for size in PREFIXES:
            if size >= len(data):
                break
            first = _verdict(data[:size], len(data))
            if first != "incomplete" and first != whole:
                mismatches.append((name, size, first, whole))
    assert not mismatches


def test_meta_cut_inside_a_long_element_header_is_named() -> None:
    meta = b"\x02\x00\x01\x00OB\x00\x00"  # (0002,0001) OB: its 4-byte length is missing
    data = b"\x00" * 128 + b"DICM" + meta + b"\x01"
    with pytest.raises(InputFileError, match=r"damaged\.dcm"):
        read_header_bytes(data, "damaged.dcm")


def test_trailing_padding_beyond_the_first_read_is_read_before_judging() -> None:
    # 3 zero bytes after the last element: too short for an element header, accepted as
    # padding when the file is in memory; from its first 64 KiB alone, undecided.
    data = testdata.test_file("liver.dcm").read_bytes() + b"\x00" * 3
    assert len(data) > 65536
    with pytest.raises(IncompleteHeaderError):
        read_header_bytes(data[:65536], "liver.dcm", len(data))
    assert isinstance(read_header_bytes(data, "liver.dcm"), InstanceRecord)


def _with_unknown_meta_vr(path: Path) -> bytes:
    # (0002,0010) with VR "U\\": pydicom, which reads big endian files for us, raises
    # NotImplementedError when it decodes it.
    data = path.read_bytes()
    at = data.index(b"\x02\x00\x10\x00UI")
    return data[:at + 4] + b"U\\" + data[at + 6:]


def test_opening_a_folder_skips_a_file_pydicom_cannot_decode(tmp_path: Path) -> None:
    source = testdata.test_file("ExplVR_BigEnd.dcm")
    (tmp_path / "damaged.dcm").write_bytes(_with_unknown_meta_vr(source))
    with pytest.raises(InputFileError, match=r"damaged\.dcm"):
        read_header_bytes((tmp_path / "damaged.dcm").read_bytes(), "damaged.dcm")
    good = pydicom.dcmread(testdata.test_file("MR_small.dcm"))
    good.save_as(tmp_path / "good.dcm")
    series = read_series([tmp_path])
    assert [s.series_uid for s in series] == [good.SeriesInstanceUID]


@pytest.mark.parametrize(("name", "frames"), [
    ("CT_small.dcm", 2_000_000_000),  # native: 128x128 pixels of at least one bit each
    ("JPEG2000.dcm", 100_000),  # encapsulated: an 8-byte item header per frame at least
])
def test_more_frames_than_the_file_can_hold_is_named_before_any_is_placed(
        name: str, frames: int, tmp_path: Path) -> None:
    # Opening such a file gave every claimed frame a place in the viewer: two billion
    # frames took all the memory there was before a pixel was read.
    ds = pydicom.dcmread(testdata.test_file(name))
    ds.NumberOfFrames = frames
    ds.save_as(tmp_path / "frames.dcm")
    data = (tmp_path / "frames.dcm").read_bytes()
    with pytest.raises(InputFileError, match=f"Number of Frames {frames} cannot fit"):
        read_header_bytes(data, "frames.dcm")
    with pytest.raises(LightboxError, match=f"frames.dcm: Number of Frames {frames} cannot fit"):
        read_series([tmp_path])


def test_multi_frame_test_files_keep_their_frames() -> None:
    frames = []
    for path in testdata.all_test_files():
        try:
            frames.append(read_header_bytes(path.read_bytes(), str(path)).number_of_frames)
        except InputFileError as exc:  # pydicom's deliberately broken files
            assert "Number of Frames" not in str(exc)
    assert sum(n > 1 for n in frames) >= 20  # native (1-bit too), big endian, RLE, JPEG


def test_a_stored_record_with_impossible_frames_is_left_out_of_its_series(
        caplog: pytest.LogCaptureFixture) -> None:
    # Rows imported before the header reader checked the frame count come back from the
    # store as they were: the series is built without them. (5 million frames: enough to
    # show it, few enough that a regression fails here without exhausting memory.)
    path = testdata.test_file("CT_small.dcm")
    good = read_header_bytes(path.read_bytes(), str(path))
    bad = replace(good, sop_instance_uid="1.2.3.4", number_of_frames=5_000_000,
                  file_path="/stored/bad.dcm")
    frames = series_frames([good, bad])
    assert [f.sop_instance_uid for f in frames] == [good.sop_instance_uid]
    assert "/stored/bad.dcm left out: Number of Frames 5000000 cannot fit" in caplog.text


def _content_tree(depth: int) -> pydicom.Dataset:
    """A CT whose Content Sequence nests ``depth`` levels (an SR-like tree), undefined
    lengths throughout, as deep CAD and measurement reports are written."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"))
    node = Dataset()
    node.TextValue = "leaf"
    for _ in range(depth):
        parent = Dataset()
        parent.ContentSequence = Sequence([node])
        parent["ContentSequence"].is_undefined_length = True
        node.is_undefined_length_sequence_item = True
        node = parent
    ds.ContentSequence = node.ContentSequence
    ds["ContentSequence"].is_undefined_length = True
    return ds


@pytest.mark.parametrize("depth", [30, 40, 100])
def test_deep_but_sound_nesting_is_read_not_called_truncated(tmp_path: Path,
                                                            depth: int) -> None:
    ds = _content_tree(depth)
    path = tmp_path / "deep.dcm"
    ds.save_as(path, implicit_vr=False, little_endian=True)
    data = path.read_bytes()
    assert data.count(b"\xfe\xff\xdd\xe0") == depth  # a delimiter closing each level
    record = read_header_bytes(data, str(path))
    assert record.sop_instance_uid == ds.SOPInstanceUID


def test_a_wanted_value_declaring_a_gigabyte_is_named_without_reading_it(
        tmp_path: Path) -> None:
    # A Series Description of 1 GiB in a sparse file, 8 kB on disk: the header reader read
    # on until it held it, twice over (2 GB of memory).
    from viewer.store import StudyStore

    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"))
    ds.SeriesDescription = "PLACEHOLDER"
    path = tmp_path / "in" / "sparse.dcm"
    path.parent.mkdir()
    ds.save_as(path, implicit_vr=False, little_endian=True)
    data = bytearray(path.read_bytes())
    at = data.index(b"\x08\x00\x3e\x10LO")  # (0008,103E) LO, a 2-byte length
    data[at + 4:at + 8] = b"UN\x00\x00"  # as UN: a 4-byte length follows
    data[at + 8:at + 8] = struct.pack("<I", 1 << 30)
    path.write_bytes(bytes(data))
    with open(path, "r+b") as fh:
        fh.truncate(len(data) + (1 << 30))  # sparse: nothing is written
    with StudyStore.open(tmp_path / "home") as store:
        report = store.import_files([path])
    (problem,) = report.failed
    assert "(0008,103E) declares 1073741824 bytes" in problem.reason
