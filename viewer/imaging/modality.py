"""Modality LUT stage: stored values to modality values (PS3.3 C.11.1).

Pure numpy; :mod:`viewer.dicom.params` reads the attributes and builds these parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RescaleParams:
    """Linear modality transform ``MV = slope * SV + intercept`` (PS3.3 C.11.1.1.2).

    Also carries the RT Dose's Dose Grid Scaling (3004,000E), which is the same linear
    transform with intercept 0 (PS3.3 C.8.8.3, Table C.8-39).

    Parameters
    ----------
    slope, intercept : float
        Rescale Slope (0028,1053) and Rescale Intercept (0028,1052), or Dose Grid Scaling
        (3004,000E) and 0.
    rescale_type : str
        Rescale Type (0028,1054), e.g. ``HU``; informational.
    unit : str
        Unit of the modality values when the transform itself defines it, as Dose Units
        (3004,0002) does for Dose Grid Scaling: ``Gy`` or ``relative``. Empty for Rescale
        Slope/Intercept, whose unit is the Rescale Type.
    """

    slope: float = 1.0
    intercept: float = 0.0
    rescale_type: str = ""
    unit: str = ""


@dataclass(frozen=True, eq=False)
class LutParams:
    """A DICOM lookup table: descriptor already decoded, data masked to ``bits``.

    Used for the Modality LUT Sequence (PS3.3 C.11.1), VOI LUT Sequence (C.11.2) and
    Presentation LUT Sequence (C.11.4) alike.

    Parameters
    ----------
    first_mapped : int
        Second descriptor value: the input value mapped to ``data[0]``.
    bits : int
        Third descriptor value: output range is ``0 ... 2**bits - 1``.
    data : numpy.ndarray
        The entries (int64), one per input value starting at ``first_mapped``.
    explanation : str
        LUT Explanation (0028,3003), a label for the user.
    """

    first_mapped: int
    bits: int
    data: npt.NDArray[np.int64] = field(repr=False)
    explanation: str = ""

    @property
    def n_entries(self) -> int:
        """Number of entries."""
        return int(self.data.shape[0])

    @property
    def max_output(self) -> int:
        """Largest output value the descriptor allows, ``2**bits - 1``."""
        return (1 << self.bits) - 1


ModalityParams = RescaleParams | LutParams | None


def lut_lookup(lut: LutParams, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Look ``values`` up in ``lut``, clamping outside the mapped range.

    PS3.3 C.11.1.1: inputs below the first mapped value give the first entry, inputs at or
    above ``first + n - 1`` give the last entry.
    """
    x = np.asarray(values, dtype=np.float64)
    index = np.clip(np.rint(x - lut.first_mapped), 0, lut.n_entries - 1).astype(np.intp)
    return lut.data[index]


def apply_modality(params: ModalityParams, stored: npt.ArrayLike) -> FloatArray:
    """Return modality values for ``stored`` values (PS3.3 C.11.1).

    Parameters
    ----------
    params : RescaleParams or LutParams or None
        ``None`` is the identity.
    stored : array_like
        Stored values (already masked to Bits Stored and sign-extended).
    """
    sv = np.asarray(stored, dtype=np.float64)
    if params is None:
        return sv
    if isinstance(params, RescaleParams):
        return sv * params.slope + params.intercept  # PS3.3 C.11.1.1.2
    return lut_lookup(params, sv).astype(np.float64)  # PS3.3 C.11.1.1.1


def modality_range(params: ModalityParams, sv_min: float, sv_max: float) -> tuple[float, float]:
    """Return the range of modality values the stored range ``[sv_min, sv_max]`` can produce."""
    if params is None:
        return float(sv_min), float(sv_max)
    if isinstance(params, RescaleParams):
        a = sv_min * params.slope + params.intercept
        b = sv_max * params.slope + params.intercept
        return (min(a, b), max(a, b))
    lo = int(np.clip(sv_min - params.first_mapped, 0, params.n_entries - 1))
    hi = int(np.clip(sv_max - params.first_mapped, 0, params.n_entries - 1))
    part = params.data[lo : hi + 1]
    return float(part.min()), float(part.max())
