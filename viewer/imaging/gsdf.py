"""PS3.14 Grayscale Standard Display Function: luminance from JND index and back.

Both functions are evaluated in double precision, as PS3.14 chapter 7 recommends. They are
independent fits and not exact inverses of each other: ``jnd_index(luminance(j)) - j`` stays
below 0.1 JND over 1..1023.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# PS3.14 7.1, equation 1: rational polynomial in ln(j); the standard skips the letters i and l.
_A = -1.3011877
_B = -2.5840191e-2
_C = 8.0242636e-2
_D = -1.0320229e-1
_E = 1.3646699e-1
_F = 2.8745620e-2
_G = -2.5468404e-2
_H = -3.1978977e-3
_K = 1.2992634e-4
_M = 1.3635334e-3

# PS3.14 7.1, equation 2: polynomial in log10(L), coefficients A..I.
_J_COEFFS = (
    71.498068,
    94.593053,
    41.912053,
    9.8247004,
    0.28175407,
    -1.1878455,
    -0.18014349,
    0.14710899,
    -0.017046845,
)

#: Smallest and largest JND index of the GSDF (PS3.14 7.1).
JND_MIN = 1
JND_MAX = 1023

FloatArray = npt.NDArray[np.float64]


def luminance(j: npt.ArrayLike) -> FloatArray:
    """Return the GSDF luminance L(j) in cd/m² for JND index ``j``.

    Parameters
    ----------
    j : array_like
        JND index, meaningful on 1..1023 (fractional values allowed).

    Returns
    -------
    numpy.ndarray
        Luminance in cd/m², float64, same shape as ``j``.

    Notes
    -----
    PS3.14 7.1 equation 1: ``log10 L = (a + c x + e x² + g x³ + m x⁴) /
    (1 + b x + d x² + f x³ + h x⁴ + k x⁵)`` with ``x = ln j``.
    """
    x = np.log(np.asarray(j, dtype=np.float64))
    x2 = x * x
    x3 = x2 * x
    x4 = x3 * x
    num = _A + _C * x + _E * x2 + _G * x3 + _M * x4  # PS3.14 7.1 eq. 1
    den = 1.0 + _B * x + _D * x2 + _F * x3 + _H * x4 + _K * x4 * x
    result: FloatArray = np.power(10.0, num / den)
    return result


def jnd_index(lum: npt.ArrayLike) -> FloatArray:
    """Return the JND index j(L) for luminance ``lum`` in cd/m².

    Parameters
    ----------
    lum : array_like
        Luminance in cd/m², > 0 (meaningful on 0.05..4000).

    Returns
    -------
    numpy.ndarray
        JND index, float64, same shape as ``lum``; NaN where ``lum <= 0``.

    Notes
    -----
    PS3.14 7.1 equation 2: ``j = A + B y + C y² + ... + I y⁸`` with ``y = log10 L``.
    """
    arr = np.asarray(lum, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(arr > 0, np.log10(np.where(arr > 0, arr, 1.0)), np.nan)
    result = np.zeros_like(y)
    for coeff in reversed(_J_COEFFS):  # PS3.14 7.1 eq. 2, Horner form
        result = result * y + coeff
    return result
