"""HTJ2K test files (PS3.5 A.4.11), encoded by OpenJPH's ``ojph_compress``.

Neither pydicom nor dcmtk encodes High-Throughput JPEG 2000 here; Debian's
``openjph-tools`` does. Only unsigned samples are encoded: the OpenJPH of Debian 12 (0.9)
writes negative samples in a form other decoders read differently (OpenJPH issue #102),
so a signed file made with it would test OpenJPH, not Lightbox.

Usage::

    (path,) = write_mr_series(tmp_path / "mr", slices=1)   # unsigned, uncompressed
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


def can_write_htj2k() -> bool:
    """Whether OpenJPH's encoder is installed (``make test`` installs openjph-tools)."""
    return shutil.which(OJPH_COMPRESS) is not None


def htj2k_codestream(frame: npt.NDArray[np.unsignedinteger], bits_stored: int,
                     work: Path, *, rpcl: bool = False) -> bytes:
    """A reversible (lossless) HTJ2K codestream of one unsigned grayscale frame."""
    rows, cols = frame.shape
    raw, out = work / "frame.raw", work / "frame.j2c"
    sample = "<u2" if frame.dtype.itemsize == 2 else "u1"
    np.ascontiguousarray(frame, dtype=sample).tofile(raw)
    command = [OJPH_COMPRESS, "-i", str(raw), "-o", str(out), "-reversible", "true",
               "-dims", f"{{{cols},{rows}}}", "-num_comps", "1", "-signed", "false",
               "-bit_depth", str(bits_stored), "-downsamp", "{1,1}"]
    # PS3.5 A.4.11: the RPCL syntax requires RPCL progression (OpenJPH's default too).
    command += ["-prog_order", "RPCL" if rpcl else "LRCP"]
    subprocess.run(command, check=True, capture_output=True)
    return out.read_bytes()


def recompress_htj2k(path: Path, transfer_syntax: str = HTJ2KLossless) -> Path:
    """Rewrite an uncompressed, unsigned, single-sample file as HTJ2K, frame by frame."""
    ds = pydicom.dcmread(path)
    if int(ds.PixelRepresentation) != 0 or int(ds.SamplesPerPixel) != 1:
        raise ValueError(f"{path}: only unsigned grayscale is encoded (see module notes)")
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
