"""Lazy, per-frame pixel decoding of one DICOM file (PS3.5 8, A.4; PS3.3 C.7.6.3).

:class:`FrameSource` reads the header once, remembers where the pixel data value starts and
decodes ONE frame on request by seeking into the file: opening a file never touches its pixel
data, so the first frame of a long series shows as soon as its own file is read.

Lossless grayscale frames are decoded by :mod:`viewer.dicom.codecs` (imagecodecs, which
releases the GIL) when it can, else by pydicom with pylibjpeg preferred; both give the same
values. :meth:`FrameSource.frame_into` writes a frame into a caller's array (a slice of a
series volume) with no copy: uncompressed pixels are read from the file straight into it.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MPEGTransferSyntaxes,
)

from viewer.core.errors import InputFileError
from viewer.dicom import codecs
from viewer.dicom.codecs import mask_stored, mask_stored_inplace
from viewer.dicom.codestream import frame_problem
from viewer.dicom.structure import inflation_problem, read_meta

__all__ = [
    "FrameMismatchError",
    "FrameSource",
    "PixelLayout",
    "mask_stored",
    "mask_stored_inplace",
]

log = logging.getLogger(__name__)
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
_LITTLE_ENDIAN_NATIVE = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})


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

    @property
    def is_grayscale(self) -> bool:
        """MONOCHROME1/2: goes through the grayscale pipeline."""
        return self.samples_per_pixel == 1 and self.photometric in GRAYSCALE_PHOTOMETRICS


class FrameMismatchError(InputFileError):
    """A frame does not fit the array it was asked into (another size or type of image)."""


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


class FrameSource:
    """One DICOM file whose frames are decoded one at a time.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Raises
    ------
    InputFileError
        Not DICOM, truncated header, no pixel data, inconsistent Image Pixel attributes,
        or a transfer syntax no installed decoder handles.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._name = str(path)
        self._full: Dataset | None = None
        self.dataset, self._value_offset, keyword, vr = self._read_header()
        self.transfer_syntax = self._transfer_syntax(self.dataset)
        if self.transfer_syntax in MPEGTransferSyntaxes:
            # PS3.5 A.4.5-A.4.8: stored whole (import, the storage SCP), not played here.
            raise self._error(
                f"a video ({self.transfer_syntax.name}), which Lightbox stores but does not "
                "play: open the file in a video-capable DICOM viewer")
        try:
            self._decoder = get_decoder(self.transfer_syntax)
        except NotImplementedError:
            raise self._error(
                f"transfer syntax {self.transfer_syntax} ({self.transfer_syntax.name}) "
                "is not supported"
            ) from None
        if not self._decoder.is_available:
            raise self._error(f"no installed decoder for {self.transfer_syntax.name}")
        self.layout = self._check_layout(self.dataset, keyword)
        opts: dict[str, Any] = as_pixel_options(self.dataset)
        opts["number_of_frames"] = self.layout.number_of_frames
        # defaults for old files that leave out type 1 attributes (ACR-NEMA style)
        opts.setdefault("photometric_interpretation", self.layout.photometric)
        opts.setdefault("samples_per_pixel", self.layout.samples_per_pixel)
        opts.setdefault("bits_stored", self.layout.bits_stored)
        opts.setdefault("pixel_representation", int(self.layout.signed))
        opts["transfer_syntax_uid"] = self.transfer_syntax
        opts["pixel_keyword"] = keyword
        if vr:
            opts["pixel_vr"] = vr
        self._opts = opts
        # pylibjpeg first whatever else is installed, so results do not depend on GDCM/Pillow
        self._plugins = codecs.pydicom_plugins(self.transfer_syntax)
        self._fast: codecs.FrameDecoder | None = None
        self.decoder_name = f"pydicom ({', '.join(self._plugins) or 'native'})"
        layout = self.layout
        fast = codecs.fast_decoder(
            self.transfer_syntax,
            samples_per_pixel=layout.samples_per_pixel,
            photometric=layout.photometric,
            bits_allocated=layout.bits_allocated,
            is_float=layout.is_float,
        )
        if fast is not None and self._full is None:
            self.decoder_name, self._fast = fast
        elif self._native_direct:
            self.decoder_name = "read into place"
        self._spec = codecs.FrameSpec(
            layout.rows, layout.columns, layout.bits_allocated, layout.bits_stored, layout.signed
        )

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
            head = f.read(8)
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
            return ds, value_offset, _PIXEL_TAGS[tag], vr

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

    # -- frames ---------------------------------------------------------------------------

    @property
    def number_of_frames(self) -> int:
        """Number of frames in the file."""
        return self.layout.number_of_frames

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.layout.number_of_frames:
            n = self.layout.number_of_frames
            raise self._error(
                f"frame {index + 1} asked for, the file has {n} frame{'s' if n != 1 else ''}"
            )

    def _check_native_length(self, index: int) -> None:
        layout = self.layout
        samples = layout.samples_per_pixel
        if layout.photometric == "YBR_FULL_422":
            samples = 2  # PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr for each pair of pixels
        bits = layout.rows * layout.columns * samples * layout.bits_allocated
        end = self._value_offset + ((index + 1) * bits + 7) // 8
        size = self.path.stat().st_size
        if size < end:
            raise self._error(
                f"is truncated: frame {index + 1} needs {end} bytes, the file has {size}"
            )

    def _decode(self, index: int, raw: bool) -> npt.NDArray[Any]:
        self._check_index(index)
        if self._decoder.is_native and self._full is None:
            self._check_native_length(index)
        elif self._full is None:
            self._check_encoded(index, self._encoded_frame(index))
        try:
            arr = self._pydicom_decode_any(index, raw)
        except InputFileError:
            raise
        except Exception as exc:  # decoders raise many types; one bad file must not crash
            detail = " ".join(str(exc).split())  # decoders report one line per plugin
            if len(detail) > 300:
                detail = detail[:297] + "..."
            raise self._error(f"frame {index + 1} cannot be decoded ({detail})") from None
        expected = self.layout.rows * self.layout.columns * self.layout.samples_per_pixel
        if arr.size != expected:
            raise self._error(f"frame {index + 1} is truncated ({arr.size} of {expected} values)")
        return arr

    def _pydicom_decode_any(self, index: int, raw: bool) -> npt.NDArray[Any]:
        if not self._plugins:
            return self._pydicom_decode(index, raw, None)
        failures = []
        for plugin in self._plugins:
            try:
                return self._pydicom_decode(index, raw, plugin)
            except Exception as exc:
                if len(self._plugins) == 1:
                    raise
                failures.append(f"{plugin}: {' '.join(str(exc).splitlines()[-1:])}")
        raise RuntimeError("; ".join(failures))

    def _pydicom_decode(self, index: int, raw: bool, plugin: str | None) -> npt.NDArray[Any]:
        opts = dict(self._opts)
        if plugin is not None:
            opts["decoding_plugin"] = plugin
        if self._full is not None:
            opts.pop("pixel_vr", None)
            arr, _ = self._decoder.as_array(self._full, index=index, raw=raw, **opts)
            return arr
        with self.path.open("rb") as f:
            f.seek(self._value_offset)
            arr, _ = self._decoder.as_array(f, index=index, raw=raw, **opts)
        return arr

    def _fast_into(self, index: int, out: npt.NDArray[Any]) -> bool:
        """Decode frame ``index`` into ``out`` with the fast codec; False if it declined."""
        if self._fast is None:
            return False
        try:
            encoded = self._encoded_frame(index)
        except Exception as exc:  # pydicom then reads it, or reports why it cannot
            log.debug("%s: frame %d left to pydicom (%s)", self._name, index + 1, exc)
            return False
        self._check_encoded(index, encoded)
        try:
            self._fast(encoded, out, self._spec)
        except Exception as exc:  # pydicom then decodes it, or reports why it cannot
            log.debug("%s: frame %d left to pydicom (%s)", self._name, index + 1, exc)
            return False
        return True

    def _encoded_frame(self, index: int) -> bytes:
        with self.path.open("rb") as f:
            f.seek(self._value_offset)
            return bytes(get_frame(
                f,
                index,
                number_of_frames=self.layout.number_of_frames,
                extended_offsets=self._opts.get("extended_offsets"),
            ))

    def _check_encoded(self, index: int, encoded: bytes) -> None:
        """Refuse a frame whose decoding would allocate what the file cannot justify."""
        layout = self.layout
        decoded = (layout.rows * layout.columns * layout.samples_per_pixel
                   * max(1, layout.bits_allocated // 8))
        problem = frame_problem(str(self.transfer_syntax), encoded, layout.rows,
                                layout.columns, decoded)
        if problem:
            raise self._error(f"frame {index + 1} {problem}")

    @property
    def direct(self) -> bool:
        """Whether frames go into :meth:`frame_into`'s array with no intermediate copy."""
        return self._fast is not None or self._native_direct

    @property
    def decodes_without_gil(self) -> bool:
        """Whether decoding runs outside the GIL (the fast codecs), so threads add cores."""
        return self._fast is not None

    def frame_geometry(self) -> tuple[tuple[int, int], np.dtype[Any]] | None:
        """Shape and dtype of :meth:`frame`'s result when frames go in directly, else None."""
        if not self.direct:
            return None
        return (self.layout.rows, self.layout.columns), self._spec.dtype

    @property
    def _native_direct(self) -> bool:
        layout = self.layout
        return (
            self._full is None
            and self.transfer_syntax in _LITTLE_ENDIAN_NATIVE
            and layout.samples_per_pixel == 1
            and layout.bits_allocated in (8, 16)
            and not layout.is_float
        )

    def frame_into(self, index: int, out: npt.NDArray[Any]) -> None:
        """Write frame ``index``'s stored values into ``out``, as :meth:`frame` returns them.

        ``out`` must have the shape and dtype of :meth:`frame`'s result (C-contiguous), e.g.
        one slice of a preallocated series volume. Uncompressed grayscale pixels are read
        from the file into it, lossless grayscale frames decoded into it, others copied.

        Raises
        ------
        InputFileError
            As :meth:`frame`.
        """
        self._check_index(index)
        if self._native_direct:
            self._read_native_into(index, out)
        elif not self._fast_into(index, out):
            arr = self.frame(index)
            if arr.shape != out.shape or arr.dtype != out.dtype:
                raise self._mismatch(index, arr.shape, arr.dtype, out)
            out[...] = arr
            return
        mask_stored_inplace(out, self.layout.bits_stored, self.layout.signed)

    def _mismatch(
        self, index: int, shape: tuple[int, ...], dtype: np.dtype[Any], out: npt.NDArray[Any]
    ) -> FrameMismatchError:
        want = "x".join(map(str, out.shape))
        return FrameMismatchError(
            self._name,
            f"frame {index + 1} is {'x'.join(map(str, shape))} {dtype}, "
            f"the series {want} {out.dtype}",
        )

    def _read_native_into(self, index: int, out: npt.NDArray[Any]) -> None:
        shape = (self.layout.rows, self.layout.columns)
        if out.dtype != self._spec.dtype or out.shape != shape:
            raise self._mismatch(index, shape, self._spec.dtype, out)
        if not out.flags.c_contiguous:
            raise ValueError("out must be C-contiguous")
        size = out.nbytes
        with self.path.open("rb", buffering=0) as f:
            f.seek(self._value_offset + index * size)
            got = f.readinto(out.data.cast("B"))  # the kernel copies into the volume
        if got != size:
            raise self._error(
                f"is truncated: frame {index + 1} needs {size} bytes, the file has {got or 0}"
            )

    def frame(self, index: int) -> npt.NDArray[Any]:
        """Return frame ``index`` (0-based) as stored values (PS3.3 C.7.6.3.1).

        Grayscale and palette frames are ``(rows, columns)`` integers masked to Bits Stored and
        sign-extended per Pixel Representation (or floats for Float Pixel Data); colour frames
        are ``(rows, columns, 3)`` RGB (YBR_FULL / YBR_FULL_422 converted).
        """
        if self._fast is not None:
            self._check_index(index)
            out = np.empty((self.layout.rows, self.layout.columns), self._spec.dtype)
            if self._fast_into(index, out):
                return mask_stored_inplace(out, self.layout.bits_stored, self.layout.signed)
        arr = self._decode(index, raw=False)
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if self.layout.samples_per_pixel == 1 and not self.layout.is_float:
            arr = mask_stored(arr, self.layout.bits_stored, self.layout.signed)
        return arr

    def raw_words(self, index: int) -> npt.NDArray[Any]:
        """Frame ``index`` as unmasked pixel cells, for embedded overlays (PS3.3 C.9.2.1.1).

        For native transfer syntaxes the bits above Bits Stored are kept; encapsulated data
        carry no embedded overlays, so the decoded frame is returned.
        """
        layout = self.layout
        if self._decoder.is_native and layout.bits_allocated in (8, 16) and self._full is None:
            self._check_index(index)
            size = layout.bits_allocated // 8
            n = layout.rows * layout.columns * layout.samples_per_pixel
            little = self.transfer_syntax != ExplicitVRBigEndian
            dtype = np.dtype(f"{'<' if little else '>'}u{size}")
            with self.path.open("rb") as f:
                f.seek(self._value_offset + index * n * size)
                data = f.read(n * size)
            if len(data) < n * size:
                raise self._error(f"frame {index + 1} is truncated")
            shape = (
                (layout.rows, layout.columns)
                if layout.samples_per_pixel == 1
                else (layout.rows, layout.columns, layout.samples_per_pixel)
            )
            return np.frombuffer(data, dtype=dtype).astype(f"u{size}").reshape(shape)
        return self._decode(index, raw=True)
