"""Run dcmtk's ``dcmj2pnm`` as the independent oracle and read its PGM/PPM output."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

DCMJ2PNM = shutil.which("dcmj2pnm")
DCML2PNM = shutil.which("dcml2pnm")  # same tool built with the JPEG-LS codecs
JPEG_LS = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")


class DcmtkError(RuntimeError):
    """dcmj2pnm refused or failed; the message carries its stderr."""


def parse_pnm(data: bytes) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
    """Parse a binary PGM (P5) or PPM (P6), 8 or 16 bit, into ``rows x cols (x 3)``."""
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1  # the single whitespace after maxval
    magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    channels = {b"P5": 1, b"P6": 3}[magic]
    dtype = ">u2" if maxval > 255 else "u1"
    pixels = np.frombuffer(data, dtype=dtype, count=width * height * channels, offset=pos)
    shape = (height, width) if channels == 1 else (height, width, 3)
    if maxval > 255:
        return pixels.reshape(shape).astype(np.uint16)
    return pixels.reshape(shape).copy()


def read_pnm(data: bytes) -> npt.NDArray[np.uint8]:
    """Parse an 8-bit binary PGM (P5) or PPM (P6) into ``rows x cols`` or ``rows x cols x 3``."""
    pixels = parse_pnm(data)
    if pixels.dtype != np.uint8:
        raise ValueError("only 8-bit PNM is supported")
    return pixels


def dcmj2pnm(path: str | Path, *options: str, jpeg_ls: bool = False, timeout: float = 60
             ) -> npt.NDArray[np.uint8]:
    """Render ``path`` with ``dcmj2pnm <options>`` (``dcml2pnm`` for JPEG-LS) as 8-bit PGM/PPM."""
    tool = DCML2PNM if jpeg_ls else DCMJ2PNM
    if tool is None:
        raise DcmtkError("dcmj2pnm/dcml2pnm is not installed")
    with tempfile.TemporaryDirectory(prefix="lightbox-dcmtk-") as tmp:
        out = Path(tmp) / "out.pnm"
        result = subprocess.run(
            [tool, *options, "+op", str(path), str(out)],
            capture_output=True, text=True, timeout=timeout,
        )
        if result.returncode != 0 or not out.exists():
            raise DcmtkError(f"dcmj2pnm {' '.join(options)} {path}: {result.stderr.strip()}")
        return read_pnm(out.read_bytes())
