"""Reading a DICOM file's header up to its pixel data (PS3.5 7.1, A.5; PS3.3 C.7.6.3).

:class:`PixelHeaderReader` is the part of :class:`~viewer.dicom.frames.FrameSource` that
reads the header once: where the pixel data value starts (a deflated data set is inflated
whole, bounded), the transfer syntax, and the Image Pixel facts as a :class:`PixelLayout`,
checked before any frame is decoded.
"""

from __future__ import annotations

import logging
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from viewer.core.errors import InputFileError
from viewer.dicom.structure import inflation_problem, read_meta

# Records keep the name they had in viewer.dicom.frames (the command line's log shows it).
log = logging.getLogger("viewer.dicom.frames")

# Enough of a file for its File Meta Information (PS3.10 7.1).
_META_PEEK = 64 * 1024
_TRANSFER_SYNTAX_TAG = 0x00020010
_DEFLATED = str(DeflatedExplicitVRLittleEndian).encode("ascii")

_PIXEL_TAGS = {
    0x7FE00010: "PixelData",
    0x7FE00008: "FloatPixelData",
    0x7FE00009: "DoubleFloatPixelData",
}
_REQUIRED = (
    (0x00280010, "Rows"),
    (0x00280011, "Columns"),
    (0x00280100, "Bits Allocated"),
)
_INTEGER_TAGS = {
    0x00280002: "Samples per Pixel",
    0x00280010: "Rows",
    0x00280011: "Columns",
    0x00280100: "Bits Allocated",
    0x00280101: "Bits Stored",
    0x00280102: "High Bit",
    0x00280103: "Pixel Representation",
    0x00280006: "Planar Configuration",
}
GRAYSCALE_PHOTOMETRICS = frozenset({"MONOCHROME1", "MONOCHROME2"})


@dataclass(frozen=True)
class PixelLayout:
    """Image Pixel module facts of a file (PS3.3 C.7.6.3)."""

    rows: int
    columns: int
    samples_per_pixel: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    number_of_frames: int
    is_float: bool
    # Where the value's lowest bit is in its cell: High Bit - Bits Stored + 1 (PS3.5
    # 8.1.1). Current files have 0 (PS3.3 C.7.6.3.1.2 asks High Bit = Bits Stored - 1);
    # older native data may store the value in the top bits of its cell, and a decoder's
    # output is always right-aligned.
    low_bit: int = 0

    @property
    def is_grayscale(self) -> bool:
        """MONOCHROME1/2: goes through the grayscale pipeline."""
        return self.samples_per_pixel == 1 and self.photometric in GRAYSCALE_PHOTOMETRICS


@contextmanager
def pydicom_warnings_to_log(name: str) -> Iterator[None]:
    """Turn pydicom's warnings about a file into log records (shown with ``-v``).

    Not thread-safe (``warnings.catch_warnings`` is process-wide): used around the one-time
    header read and by the single-threaded command line.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for item in caught:
        log.info("%s: %s", name, item.message)


def usable_high_bit(ds: Dataset, bits_stored: int, bits_allocated: int) -> int | None:
    """High Bit (0028,0102) when its cell can hold Bits Stored bits below it (PS3.5
    8.1.1: Bits Stored - 1 <= High Bit < Bits Allocated), else None (absent or wrong)."""
    high = ds.get("HighBit")
    if isinstance(high, int) and bits_stored - 1 <= high < bits_allocated:
        return high
    return None


class PixelHeaderReader:
    """The header of a :class:`~viewer.dicom.frames.FrameSource`'s file, read once.

    A base of ``FrameSource``, which sets the attributes declared here in its ``__init__``.
    """

    path: Path
    _name: str
    _full: Dataset | None

    # -- header ---------------------------------------------------------------------------

    def _error(self, problem: str) -> InputFileError:
        return InputFileError(self._name, problem)

    def _read_header(self) -> tuple[Dataset, int, str, str]:
        try:
            f = self.path.open("rb")
        except OSError as exc:
            raise self._error(exc.strerror or "cannot be opened") from None
        with f, pydicom_warnings_to_log(self._name):
            # pydicom inflates a deflated data set whole, even to stop before the pixels:
            # look at the transfer syntax first, and bound the inflation (_read_deflated).
            _, meta_values = read_meta(f.read(_META_PEEK))
            f.seek(0)
            if meta_values.get(_TRANSFER_SYNTAX_TAG, b"").rstrip(b" \0") == _DEFLATED:
                return self._read_deflated()
            ds = self._parse(f)
            meta = getattr(ds, "file_meta", None)
            if meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian:
                return self._read_deflated()
            tag_start = f.tell()
            head = f.read(12)
            if len(head) < 8:
                raise self._error("has no Pixel Data (7FE0,0010)")
            implicit, little = self._encoding(ds)
            end = "<" if little else ">"
            group, element = struct.unpack(f"{end}HH", head[:4])
            tag = (group << 16) | element
            if tag not in _PIXEL_TAGS:
                raise self._error("has no Pixel Data (7FE0,0010)")
            vr = ""
            # Some writers switch to implicit VR for the pixel data element; trust the bytes.
            if implicit or not head[4:6].isalpha():
                value_offset = tag_start + 8
            else:
                vr = head[4:6].decode("ascii", "replace")
                if vr not in ("OB", "OW", "OF", "OD", "UN", "OL", "OV"):
                    raise self._error(f"Pixel Data has VR {vr}, expected OB or OW")
                value_offset = tag_start + 12
            if head[value_offset - tag_start - 4:value_offset - tag_start] == b"\xff" * 4:
                self._check_encapsulated_allowed(ds)
            return ds, value_offset, _PIXEL_TAGS[tag], vr

    def _check_encapsulated_allowed(self, ds: Dataset) -> None:
        """Refuse Pixel Data of undefined length (encapsulated, PS3.5 A.4) under a
        transfer syntax that is not compressed: a file whose File Meta Information names
        the wrong syntax, reported as "truncated" before."""
        meta = getattr(ds, "file_meta", None)
        syntax = UID(str(meta.get("TransferSyntaxUID", ""))) if meta is not None else UID("")
        if syntax.is_transfer_syntax and not syntax.is_compressed:
            raise self._error(f"its Pixel Data is encapsulated (compressed), but its "
                              f"transfer syntax {syntax.name} is not: the File Meta "
                              f"Information names the wrong transfer syntax (0002,0010)")

    def _read_deflated(self) -> tuple[Dataset, int, str, str]:
        # A deflated stream cannot be entered mid-way: inflate once, keep it (PS3.5 A.5).
        try:
            problem = inflation_problem(self.path.read_bytes())
        except OSError as exc:
            raise self._error(f"cannot be read ({exc.strerror or exc})") from None
        if problem:
            raise self._error(problem)
        try:
            full = pydicom.dcmread(self.path)
        except Exception as exc:
            raise self._error(f"cannot be inflated ({exc})") from None
        for tag, keyword in _PIXEL_TAGS.items():
            if tag in full:
                self._full = full
                return full, -1, keyword, ""
        raise self._error("has no Pixel Data (7FE0,0010)")

    def _parse(self, f: BinaryIO) -> Dataset:
        try:
            return pydicom.dcmread(f, stop_before_pixels=True)
        except InvalidDicomError:
            f.seek(0)
            try:
                ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
            except Exception:
                raise self._error("is not a DICOM file") from None
            if not any(tag.group in (0x0008, 0x0010, 0x0020, 0x0028) for tag in ds.keys()):  # noqa: SIM118
                raise self._error("is not a DICOM file") from None
            return ds
        except (EOFError, struct.error, OSError) as exc:
            raise self._error(f"is truncated or unreadable ({exc})") from None
        except Exception as exc:
            raise self._error(f"cannot be parsed ({type(exc).__name__}: {exc})") from None

    @staticmethod
    def _encoding(ds: Dataset) -> tuple[bool, bool]:
        implicit, little = ds.original_encoding
        return bool(implicit), bool(little) if little is not None else True

    def _transfer_syntax(self, ds: Dataset) -> UID:
        meta = getattr(ds, "file_meta", None)
        uid = meta.get("TransferSyntaxUID") if meta is not None else None
        if uid:
            return UID(str(uid))
        implicit, little = self._encoding(ds)
        if implicit:
            return ImplicitVRLittleEndian
        return ExplicitVRLittleEndian if little else ExplicitVRBigEndian

    def _low_bit(self, ds: Dataset, bits_allocated: int, bits_stored: int,
                 is_float: bool) -> int:
        """High Bit - Bits Stored + 1 for native integer data (PS3.5 8.1.1), else 0.

        A High Bit that cannot hold Bits Stored bits in the cell (below Bits Stored - 1,
        or not within Bits Allocated) is noted and taken as Bits Stored - 1.
        """
        if is_float or ds.get("HighBit") in (None, "") or bits_allocated == 1:
            return 0
        high = usable_high_bit(ds, bits_stored, bits_allocated)
        if high is None:
            log.warning("%s: High Bit %s does not fit Bits Stored %d in Bits Allocated %d; "
                        "taken as %d", self._name, ds.get("HighBit"), bits_stored,
                        bits_allocated, bits_stored - 1)
            return 0
        if self._transfer_syntax(ds).is_encapsulated or high == bits_stored - 1:
            return 0  # decoders return values right-aligned
        if bits_allocated not in (8, 16) or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            log.warning("%s: High Bit %d with Bits Stored %d in Bits Allocated %d is not "
                        "read; taken as %d", self._name, high, bits_stored, bits_allocated,
                        bits_stored - 1)
            return 0
        return high - bits_stored + 1

    def _check_layout(self, ds: Dataset, keyword: str) -> PixelLayout:
        for tag, name in _INTEGER_TAGS.items():
            if tag in ds:
                elem = ds[tag]
                if elem.VR not in ("US", "SS", "UL", "SL", "US or SS", "UN") or (
                    elem.VM == 1 and not isinstance(elem.value, int)
                ):
                    raise self._error(
                        f"{name} ({tag >> 16:04X},{tag & 0xFFFF:04X}) has VR {elem.VR}, expected US"
                    )
        for tag, name in _REQUIRED:
            if tag not in ds or ds[tag].value in (None, b""):
                raise self._error(f"has no {name} ({tag >> 16:04X},{tag & 0xFFFF:04X})")
        is_float = keyword != "PixelData"
        bits_allocated = int(ds.BitsAllocated)
        bits_stored = int(ds.get("BitsStored", bits_allocated) or bits_allocated)
        if is_float:
            bits_stored = bits_allocated
        if bits_stored > bits_allocated or bits_stored < 1:
            raise self._error(
                f"Bits Stored {bits_stored} is not within 1..Bits Allocated {bits_allocated}"
            )
        if bits_allocated not in (1, 8, 16, 32, 64) or (bits_allocated == 64 and not is_float):
            raise self._error(f"Bits Allocated {bits_allocated} is not supported")
        frames_text = ds.get("NumberOfFrames", 1)
        try:
            frames = int(frames_text) if frames_text not in (None, "") else 1
        except (TypeError, ValueError):
            raise self._error(f"Number of Frames {frames_text!r} is not a number") from None
        photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        if not photometric:
            photometric = "MONOCHROME2" if samples == 1 else "RGB"
            log.warning("%s: no Photometric Interpretation, assuming %s", self._name, photometric)
        return PixelLayout(
            low_bit=self._low_bit(ds, bits_allocated, bits_stored, is_float),
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            samples_per_pixel=samples,
            photometric=photometric,
            bits_allocated=bits_allocated,
            bits_stored=bits_stored,
            signed=int(ds.get("PixelRepresentation", 0) or 0) == 1 and not is_float,
            number_of_frames=max(frames, 1),
            is_float=is_float,
        )
