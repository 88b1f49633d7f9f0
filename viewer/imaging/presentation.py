"""Presentation LUT stage: normalised VOI output to normalised P-values (PS3.3 C.11.4, C.11.6)."""

from __future__ import annotations

import enum
import logging

import numpy as np
import numpy.typing as npt

from viewer.imaging.modality import FloatArray, LutParams

log = logging.getLogger(__name__)


class PresentationShape(enum.Enum):
    """Presentation LUT Shape (2050,0020)."""

    IDENTITY = "IDENTITY"
    INVERSE = "INVERSE"
    LIN_OD = "LIN OD"

    @classmethod
    def parse(cls, text: str | None) -> PresentationShape | None:
        """Return the shape named by ``text``, or ``None`` when absent or not recognised."""
        value = (text or "").strip().upper().replace("_", " ")
        for member in cls:
            if member.value == value:
                return member
        if value:
            log.warning("unknown Presentation LUT Shape %r ignored", value)
        return None


def is_inverted(shape: PresentationShape | None, photometric: str) -> bool:
    """Polarity rule: the shape decides when present, else MONOCHROME1 inverts.

    PS3.3 C.8.11.3.1.6 / C.11.6.1: the image's Presentation LUT Shape already accounts for
    MONOCHROME1 (INVERSE goes with MONOCHROME1), so the two are never combined.
    """
    if shape is not None:
        return shape is PresentationShape.INVERSE
    return photometric.strip().upper() == "MONOCHROME1"


def presentation_unit(
    voi_unit: npt.ArrayLike,
    *,
    invert: bool,
    lut: LutParams | None = None,
) -> FloatArray:
    """Map the normalised VOI output ``u`` in [0, 1] to a normalised P-value in [0, 1].

    Parameters
    ----------
    voi_unit : array_like
        VOI output scaled to [0, 1].
    invert : bool
        INVERSE shape: ``P = Pmax - input`` over the full range (PS3.3 C.11.6.1).
    lut : LutParams, optional
        Presentation LUT Sequence (PS3.3 C.11.4): the input is scaled to
        ``0 ... n_entries - 1``, the output is ``0 ... 2**bits - 1``. Wins over ``invert``.
    """
    u = np.clip(np.asarray(voi_unit, dtype=np.float64), 0.0, 1.0)
    if lut is not None:
        index = np.rint(u * (lut.n_entries - 1)).astype(np.intp)  # PS3.3 C.11.4.1
        out: FloatArray = lut.data[index].astype(np.float64) / float(lut.max_output)
        return np.clip(out, 0.0, 1.0)
    if invert:
        return 1.0 - u
    return u
