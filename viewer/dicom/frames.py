"""Lazy, per-frame pixel decoding of one DICOM file (PS3.5 8, A.4; PS3.3 C.7.6.3).

:class:`FrameSource` reads the header once (:mod:`viewer.dicom.pixel_header`), remembers where
the pixel data value starts and decodes ONE frame on request by seeking into the file: opening a
file never touches its pixel data, so the first frame of a long series shows as soon as its own
file is read.

Lossless grayscale frames are decoded by :mod:`viewer.dicom.codecs` (imagecodecs, which
releases the GIL) when it can, else by pydicom with pylibjpeg preferred; both give the same
values. :meth:`FrameSource.frame_into` writes a frame into a caller's array (a slice of a
series volume) with no copy: uncompressed pixels are read from the file straight into it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MPEGTransferSyntaxes,
)

from viewer.core.errors import InputFileError
from viewer.dicom import codecs
from viewer.dicom.codecs import mask_stored, mask_stored_inplace
from viewer.dicom.codestream import frame_problem
from viewer.dicom.pixel_header import PixelHeaderReader, PixelLayout
from viewer.imaging.color import expand_ybr_422, ybr_full_to_rgb, ybr_partial_to_rgb

__all__ = [
    "FrameMismatchError",
    "FrameSource",
    "PixelLayout",
    "mask_stored",
    "mask_stored_inplace",
]

log = logging.getLogger(__name__)

# PS3.3 C.7.6.3.1.2: two samples per pixel in file order, Y1 Y2 Cb Cr per pair of pixels.
_YBR_422 = frozenset({"YBR_FULL_422", "YBR_PARTIAL_422"})
_LITTLE_ENDIAN_NATIVE = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})


class FrameMismatchError(InputFileError):
    """A frame does not fit the array it was asked into (another size or type of image)."""


class FrameSource(PixelHeaderReader):
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
        if layout.photometric in _YBR_422:
            samples = 2  # PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr for each pair of pixels
        bits = layout.rows * layout.columns * samples * layout.bits_allocated
        start = self._value_offset + (index * bits) // 8
        end = self._value_offset + ((index + 1) * bits + 7) // 8
        size = self.path.stat().st_size
        if size < end:
            raise self._truncated(index, max(0, size - start), end - start, size)

    def _truncated(self, index: int, held: int, needed: int, size: int) -> InputFileError:
        return self._error(f"is truncated: frame {index + 1} has {held} of its {needed} "
                           f"bytes (the file ends at byte {size})")

    def _decode(self, index: int, raw: bool) -> npt.NDArray[Any]:
        self._check_index(index)
        if self._decoder.is_native and self._full is None:
            self._check_native_length(index)
        elif self._full is None:
            self._check_encoded(index, self._encoded_and_named(index))
        try:
            arr = self._pydicom_decode_any(index, raw)
        except InputFileError:
            raise
        except Exception as exc:  # decoders raise many types; one bad file must not crash
            fallback = self._lossy_jpeg_fallback(index)
            if fallback is None:
                detail = " ".join(str(exc).split())  # decoders report one line per plugin
                if len(detail) > 300:
                    detail = detail[:297] + "..."
                raise self._error(f"frame {index + 1} cannot be decoded ({detail})") from None
            arr = fallback
        expected = self.layout.rows * self.layout.columns * self.layout.samples_per_pixel
        if arr.size != expected:
            raise self._error(f"frame {index + 1} is truncated ({arr.size} of {expected} values)")
        return arr

    def _lossy_jpeg_fallback(self, index: int) -> npt.NDArray[Any] | None:
        """Frame ``index`` decoded by :func:`codecs.lossy_jpeg_fallback`, or None."""
        layout = self.layout
        decode = codecs.lossy_jpeg_fallback(str(self.transfer_syntax),
                                            samples_per_pixel=layout.samples_per_pixel,
                                            bits_allocated=layout.bits_allocated)
        if decode is None or self._full is not None:
            return None
        out = np.empty((layout.rows, layout.columns), self._spec.dtype)
        try:
            decode(self._encoded_and_named(index), out, self._spec)
        except InputFileError:
            raise
        except Exception as exc:
            log.debug("%s: frame %d: libjpeg-turbo refused it too (%s)", self._name,
                      index + 1, exc)
            return None
        log.info("%s: frame %d decoded by libjpeg-turbo: pydicom's plugins refused it",
                 self._name, index + 1)
        return out

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

    def _encoded_and_named(self, index: int) -> bytes:
        """:meth:`_encoded_frame`, pydicom's complaints about the items (fewer frames than
        Number of Frames, Pixel Data not encapsulated at all) naming the file and frame."""
        try:
            return self._encoded_frame(index)
        except (ValueError, EOFError) as exc:
            detail = " ".join(str(exc).split())
            raise self._error(f"frame {index + 1} cannot be found in its encapsulated Pixel "
                              f"Data (PS3.5 A.4: {detail})") from None

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
        mask_stored_inplace(out, self.layout.bits_stored, self.layout.signed,
                            self.layout.low_bit)

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
            raise self._truncated(index, got or 0, size, self.path.stat().st_size)

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
                return mask_stored_inplace(out, self.layout.bits_stored, self.layout.signed,
                                           self.layout.low_bit)
        if self.layout.bits_allocated == 1 and self._decoder.is_native:
            return self._one_bit_frame(index)
        if self.layout.low_bit:
            # pydicom takes the value from bit 0 of its cell whatever High Bit says.
            return mask_stored(self.raw_words(index), self.layout.bits_stored,
                               self.layout.signed, self.layout.low_bit)
        if self.layout.photometric == "YBR_FULL" and self.layout.bits_allocated > 8:
            # pydicom converts 8-bit YCbCr only; the standard's conversion (PS3.3
            # C.7.6.3.1.2, ITU-T T.871) holds for any Bits Stored.
            ybr = mask_stored(self._decode(index, raw=True), self.layout.bits_stored, False)
            return ybr_full_to_rgb(ybr, self.layout.bits_stored)
        if self.layout.photometric == "YBR_PARTIAL_422" and self._decoder.is_native:
            return self._ybr_partial_422_frame(index)
        arr = self._decode(index, raw=False)
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if self.layout.samples_per_pixel == 1 and not self.layout.is_float:
            arr = mask_stored(arr, self.layout.bits_stored, self.layout.signed,
                              self.layout.low_bit)
        return arr

    def _ybr_partial_422_frame(self, index: int) -> npt.NDArray[Any]:
        """Native YBR_PARTIAL_422 frame ``index`` as RGB (PS3.3 C.7.6.3.1.2, retired but
        still written by old ultrasound machines): pydicom expands YBR_FULL_422 only."""
        self._check_index(index)
        layout = self.layout
        if layout.bits_allocated not in (8, 16):
            raise self._error(f"YBR_PARTIAL_422 with Bits Allocated {layout.bits_allocated} "
                              f"is not supported (8 or 16 are)")
        if self._full is None:
            self._check_native_length(index)
        size = layout.bits_allocated // 8
        count = layout.rows * layout.columns * 2
        little = self.transfer_syntax != ExplicitVRBigEndian
        dtype = np.dtype(f"{'<' if little else '>'}u{size}")
        data = self._native_bytes(index * count * size, count * size)
        if len(data) < count * size:
            raise self._error(f"frame {index + 1} is truncated")
        samples = mask_stored(np.frombuffer(data, dtype).astype(dtype.newbyteorder("=")),
                              layout.bits_stored, False)
        try:
            ybr = expand_ybr_422(samples, layout.rows, layout.columns)
        except ValueError as exc:
            raise self._error(str(exc)) from None
        return ybr_partial_to_rgb(ybr, layout.bits_stored)

    def _one_bit_frame(self, index: int) -> npt.NDArray[Any]:
        """Frame ``index`` of native 1-bit data, which need not start on a byte (PS3.5
        8.1.1: frames follow one another bit after bit, the first pixel in the least
        significant bit). pydicom 3.0 reads one such frame from the wrong bytes."""
        self._check_index(index)
        layout = self.layout
        count = layout.rows * layout.columns * layout.samples_per_pixel
        start = index * count
        first, end = start // 8, (start + count + 7) // 8
        if self._full is None:
            self._check_native_length(index)
        data = self._native_bytes(first, end - first)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        skip = start - first * 8
        if bits.size < skip + count:
            raise self._error(f"frame {index + 1} is truncated")
        return bits[skip:skip + count].reshape(layout.rows, layout.columns)

    def _native_bytes(self, offset: int, size: int) -> bytes:
        """``size`` bytes of native Pixel Data from ``offset`` into its value (fewer at
        its end): from the file, or from the data set a deflated file was inflated to."""
        if self._full is not None:
            return bytes(self._full.PixelData[offset:offset + size])
        with self.path.open("rb") as f:
            f.seek(self._value_offset + offset)
            return f.read(size)

    def raw_words(self, index: int) -> npt.NDArray[Any]:
        """Frame ``index`` as unmasked pixel cells, for embedded overlays (PS3.3 C.9.2.1.1).

        For native transfer syntaxes the bits above Bits Stored are kept; encapsulated data
        carry no embedded overlays, so the decoded frame is returned.
        """
        layout = self.layout
        if self._decoder.is_native and layout.bits_allocated in (8, 16):
            self._check_index(index)
            size = layout.bits_allocated // 8
            n = layout.rows * layout.columns * layout.samples_per_pixel
            little = self.transfer_syntax != ExplicitVRBigEndian
            dtype = np.dtype(f"{'<' if little else '>'}u{size}")
            data = self._native_bytes(index * n * size, n * size)
            if len(data) < n * size:
                raise self._error(f"frame {index + 1} is truncated")
            shape = (
                (layout.rows, layout.columns)
                if layout.samples_per_pixel == 1
                else (layout.rows, layout.columns, layout.samples_per_pixel)
            )
            return np.frombuffer(data, dtype=dtype).astype(f"u{size}").reshape(shape)
        return self._decode(index, raw=True)
