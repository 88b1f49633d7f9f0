"""HTJ2K test files (PS3.5 A.4.11), encoded by OpenJPH's ``ojph_compress``.

Neither pydicom nor dcmtk encodes High-Throughput JPEG 2000 here; Debian's
``openjph-tools`` does, but the OpenJPH of Debian 12 (0.9) writes negative samples in a
form other decoders read differently (OpenJPH issue #102). Signed frames are therefore
encoded as unsigned ones with the sign bit of the SIZ marker set afterwards: ISO/IEC
15444-1 G.1.2 shifts unsigned samples by -2^(P-1) before the wavelet and leaves signed
ones as they are, so the code-blocks of ``x + 2^(P-1)`` encoded unsigned are those of
``x`` encoded signed, and only Ssiz tells them apart (A.5.1).

Usage::

    (path,) = write_mr_series(tmp_path / "mr", slices=1)   # uncompressed
    recompress_htj2k(path, HTJ2KLossless)                   # the same pixels, reversible
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import HTJ2K, HTJ2KLossless, HTJ2KLosslessRPCL

HTJ2K_SYNTAXES = (HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K)
OJPH_COMPRESS = "ojph_compress"
_SIZ = b"\xff\x51"
# ISO/IEC 15444-1 A.5.1: SIZ is Lsiz, Rsiz, eight 4-byte sizes and offsets, Csiz, then
# Ssiz (bit 7: signed; bits 0-6: precision - 1) of the first component.
_SSIZ_OFFSET = 2 + 2 + 2 + 8 * 4 + 2


def can_write_htj2k() -> bool:
    """Whether OpenJPH's encoder is installed (``make test`` installs openjph-tools)."""
    return shutil.which(OJPH_COMPRESS) is not None


def htj2k_codestream(frame: npt.NDArray[np.integer], bits_stored: int, work: Path, *,
                     rpcl: bool = False) -> bytes:
    """A reversible (lossless) HTJ2K codestream of one grayscale frame.

    A frame of a signed dtype holds ``bits_stored``-bit signed values; it is encoded as
    described in the module notes.
    """
    rows, cols = frame.shape
    signed = frame.dtype.kind == "i"
    values = frame.astype(np.int64) + (1 << (bits_stored - 1)) if signed else frame
    raw, out = work / "frame.raw", work / "frame.j2c"
    sample = "<u2" if frame.dtype.itemsize == 2 else "u1"
    np.ascontiguousarray(values, dtype=sample).tofile(raw)
    command = [OJPH_COMPRESS, "-i", str(raw), "-o", str(out), "-reversible", "true",
               "-dims", f"{{{cols},{rows}}}", "-num_comps", "1", "-signed", "false",
               "-bit_depth", str(bits_stored), "-downsamp", "{1,1}"]
    # PS3.5 A.4.11: the RPCL syntax requires RPCL progression (OpenJPH's default too).
    command += ["-prog_order", "RPCL" if rpcl else "LRCP"]
    subprocess.run(command, check=True, capture_output=True)
    codestream = bytearray(out.read_bytes())
    if signed:
        at = codestream.index(_SIZ) + _SSIZ_OFFSET
        if codestream[at] != bits_stored - 1:
            raise ValueError(f"unexpected Ssiz {codestream[at]:#x} for {bits_stored} bits")
        codestream[at] |= 0x80
    return bytes(codestream)


def recompress_htj2k(path: Path, transfer_syntax: str = HTJ2KLossless) -> Path:
    """Rewrite an uncompressed single-sample file as HTJ2K, frame by frame (reversible)."""
    ds = pydicom.dcmread(path)
    if int(ds.SamplesPerPixel) != 1:
        raise ValueError(f"{path}: only grayscale is encoded here")
    frames = ds.pixel_array.reshape(-1, int(ds.Rows), int(ds.Columns))
    with tempfile.TemporaryDirectory() as work:
        fragments = [htj2k_codestream(frame, int(ds.BitsStored), Path(work),
                                      rpcl=transfer_syntax == HTJ2KLosslessRPCL)
                     for frame in frames]
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.save_as(path, enforce_file_format=True)
    return path
