"""Display calibration: map P-values to digital driving levels (DDLs) per PS3.14.

Three display cases are supported:

* a display already calibrated to the GSDF in hardware: P-values go straight to DDLs
  (:func:`identity_ddl_table`);
* a measured characteristic curve (a dcmtk-compatible monitor file, parsed by
  :func:`parse_characteristic_file`): a software GSDF table (:func:`gsdf_ddl_table`);
* no measurement: a model curve (:func:`model_curve`, gamma 2.2 between Lmin and Lmax) feeding
  the same software table, an approximation that is better than nothing.

:func:`gsdf_ddl_table` follows dcmtk's ``DiDisplayFunction``/``DiGSDFLUT`` exactly, so the table is
identical to what ``dcmj2pnm +Dm`` applies (PS3.14 chapter 7 and Annex C for the method).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from viewer.core.errors import InputFileError
from viewer.imaging.gsdf import JND_MAX, JND_MIN, jnd_index, luminance

_log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class CharacteristicCurve:
    """A display's characteristic curve: luminance measured per DDL (PS3.14 Annex C).

    Attributes
    ----------
    ddls : numpy.ndarray
        Measured DDLs (int64), strictly increasing, within ``0..max_ddl``.
    luminances : numpy.ndarray
        Luminance in cd/m² measured at each DDL **without** ambient light (float64, >= 0).
    ambient : float
        Ambient light reflected by the screen, cd/m²; added to every measured value.
    max_ddl : int
        Largest DDL the display accepts (255 for an 8-bit frame buffer).
    polynomial_order : int
        0 interpolates missing DDLs with a natural cubic spline; n > 0 fits a least-squares
        polynomial of order n instead (dcmtk's ``ord`` keyword).
    """

    ddls: IntArray
    luminances: FloatArray
    ambient: float = 0.0
    max_ddl: int = 255
    polynomial_order: int = 0


def _problem(source: str, line_no: int, text: str) -> InputFileError:
    return InputFileError(source, f"line {line_no}: {text}")


def parse_characteristic_file(text: str, source: str) -> CharacteristicCurve:
    """Parse a dcmtk monitor characteristic file (the format of ``dcmj2pnm +Dm``).

    Parameters
    ----------
    text : str
        File content. ``#`` starts a comment; ``max <n>`` must be the first keyword;
        ``amb <cd/m²>`` and ``ord <n>`` are optional; then one ``DDL luminance`` pair per line.
    source : str
        The file name, used in error messages.

    Returns
    -------
    CharacteristicCurve
        Sorted by DDL; a DDL given twice keeps its last value; negative luminances are 0.

    Raises
    ------
    InputFileError
        Naming ``source`` and the line, when the file is not in this format (missing ``max``,
        a value that is not a number, a printer file, no data).
    """
    max_ddl: int | None = None
    ambient = 0.0
    order = 0
    seen: set[str] = set()
    points: dict[int, float] = {}
    count = 0
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        key = tokens[0].lower()
        if max_ddl is None:
            if key != "max" or len(tokens) < 2:
                raise _problem(source, line_no, "the first keyword must be 'max <largest DDL>'")
            try:
                max_ddl = int(tokens[1])
            except ValueError:
                problem = f"'max' needs an integer, not {tokens[1]!r}"
                raise _problem(source, line_no, problem) from None
            if not 0 < max_ddl <= 65535:
                raise _problem(source, line_no, f"'max' must be 1..65535, not {max_ddl}")
            seen.add("max")
            continue
        if key.isalpha():
            if key in seen or key not in ("amb", "ord", "lum"):
                raise _problem(source, line_no, f"unknown or repeated keyword {tokens[0]!r}")
            if key == "lum":
                raise _problem(
                    source, line_no, "'lum' marks a printer file; only monitor files are supported"
                )
            seen.add(key)
            if len(tokens) < 2:
                raise _problem(source, line_no, f"{key!r} needs a value")
            try:
                if key == "amb":
                    ambient = float(tokens[1])
                else:
                    order = int(tokens[1])
            except ValueError:
                raise _problem(source, line_no, f"bad value {tokens[1]!r} for {key!r}") from None
            if key == "amb" and ambient < 0:
                _log.warning("%s line %d: negative ambient light, using 0", source, line_no)
                ambient = 0.0
            if key == "ord" and not 0 <= order <= 99:
                raise _problem(source, line_no, f"'ord' must be 0..99, not {order}")
            continue
        if len(tokens) < 2:
            raise _problem(source, line_no, "expected 'DDL luminance'")
        try:
            ddl = int(tokens[0])
            lum = float(tokens[1])
        except ValueError:
            raise _problem(source, line_no, f"expected 'DDL luminance', got {line!r}") from None
        if not math.isfinite(lum):
            raise _problem(source, line_no, f"luminance {tokens[1]!r} is not a number")
        if count > max_ddl:
            # dcmtk ignores surplus lines, with a warning
            _log.warning("%s line %d: more than max+1 values, ignoring the rest", source, line_no)
            break
        if not 0 <= ddl <= max_ddl:
            _log.warning("%s line %d: DDL %d outside 0..%d ignored", source, line_no, ddl, max_ddl)
            continue
        points[ddl] = max(lum, 0.0)
        count += 1
    if max_ddl is None:
        raise InputFileError(source, "no 'max' keyword: not a display characteristic file")
    if not points:
        raise InputFileError(source, "no 'DDL luminance' values")
    ddls = np.array(sorted(points), dtype=np.int64)
    lums = np.array([points[int(d)] for d in ddls], dtype=np.float64)
    if np.any(np.diff(lums) < 0):
        _log.warning("%s: luminance does not increase monotonically with DDL", source)
    return CharacteristicCurve(ddls, lums, ambient, max_ddl, order)


def model_curve(
    lmin: float, lmax: float, gamma: float = 2.2, ambient: float = 0.0, max_ddl: int = 255
) -> CharacteristicCurve:
    """Return a model characteristic curve ``L(d) = lmin + (lmax - lmin) (d / max_ddl)^gamma``.

    Parameters
    ----------
    lmin, lmax : float
        Luminance at DDL 0 and at ``max_ddl`` without ambient light, cd/m².
    gamma : float
        Display gamma (2.2 for a typical sRGB monitor).
    ambient : float
        Ambient light, cd/m².
    max_ddl : int
        Largest DDL.

    Returns
    -------
    CharacteristicCurve
        One point per DDL.
    """
    # "not ... <" refuses NaN too, which every comparison fails.
    if not (0 <= lmin < lmax and math.isfinite(lmax)):
        raise ValueError(f"need 0 <= LMIN < LMAX, finite (cd/m²), got {lmin:g}, {lmax:g}")
    if not (gamma > 0 and math.isfinite(gamma)):
        raise ValueError(f"need a gamma above 0, got {gamma:g}")
    if not (ambient >= 0 and math.isfinite(ambient)):
        raise ValueError(f"need an ambient luminance of 0 or more (cd/m²), got {ambient:g}")
    ddls = np.arange(max_ddl + 1, dtype=np.int64)
    lums = lmin + (lmax - lmin) * (ddls / max_ddl) ** gamma
    return CharacteristicCurve(ddls, lums, float(ambient), max_ddl, 0)


def _natural_spline(x: FloatArray, y: FloatArray) -> FloatArray:
    """Second derivatives of the natural cubic spline through (x, y) (Numerical Recipes ``spline``).

    Kept as the sequential recurrence on purpose: the result must match dcmtk's displint.h to the
    last bit so that nearest-DDL ties resolve the same way.
    """
    n = len(x)
    y2 = np.zeros(n)
    xs = x.tolist()
    ys = y.tolist()
    y2l = [0.0] * n
    ul = [0.0] * n
    for i in range(1, n - 1):
        sig = (xs[i] - xs[i - 1]) / (xs[i + 1] - xs[i - 1])
        p = sig * y2l[i - 1] + 2.0
        y2l[i] = (sig - 1.0) / p
        d = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) - (ys[i] - ys[i - 1]) / (xs[i] - xs[i - 1])
        ul[i] = (6.0 * d / (xs[i + 1] - xs[i - 1]) - sig * ul[i - 1]) / p
    y2l[n - 1] = 0.0  # natural end condition: second derivative 0
    for i in range(n - 1, 0, -1):
        y2l[i - 1] = y2l[i - 1] * y2l[i] + ul[i - 1]
    y2[:] = y2l
    return y2


def _spline_eval(x: FloatArray, y: FloatArray, y2: FloatArray, xs: FloatArray) -> FloatArray:
    """Evaluate the spline at ``xs`` (Numerical Recipes ``splint``; cubic extrapolation outside)."""
    if len(x) == 1:
        return np.full(xs.shape, y[0])
    klo = np.clip(np.searchsorted(x, xs, side="right") - 1, 0, len(x) - 2)
    khi = klo + 1
    h = x[khi] - x[klo]
    a = (x[khi] - xs) / h
    b = (xs - x[klo]) / h
    out = (
        a * y[klo]
        + b * y[khi]
        + ((a * a * a - a) * y2[klo] + (b * b * b - b) * y2[khi]) * (h * h) / 6.0
    )
    exact = x[khi] == xs
    out[exact] = y[khi][exact]
    result: FloatArray = out
    return result


def full_curve(curve: CharacteristicCurve) -> FloatArray:
    """Luminance (without ambient) at every DDL ``0..max_ddl``, interpolated as dcmtk does.

    Parameters
    ----------
    curve : CharacteristicCurve
        The measured curve.

    Returns
    -------
    numpy.ndarray
        ``max_ddl + 1`` luminances; measured points are kept, the others come from a natural
        cubic spline (or the least-squares polynomial of ``polynomial_order``).
    """
    x = curve.ddls.astype(np.float64)
    y = curve.luminances.astype(np.float64)
    all_ddls = np.arange(curve.max_ddl + 1, dtype=np.float64)
    if len(x) == curve.max_ddl + 1:
        return y.copy()
    if curve.polynomial_order > 0:
        order = min(curve.polynomial_order, len(x) - 1)
        poly = np.polynomial.Polynomial.fit(x, y, order)
        fitted: FloatArray = np.maximum(poly(all_ddls), 0.0)
        return fitted
    return _spline_eval(x, y, _natural_spline(x, y), all_ddls)


@cache
def _gsdf_table() -> tuple[FloatArray, FloatArray, FloatArray]:
    j = np.arange(JND_MIN, JND_MAX + 1, dtype=np.float64)
    lum = luminance(j)
    return j, lum, _natural_spline(j, lum)


def jnd_range(curve: CharacteristicCurve) -> tuple[float, float]:
    """Return ``(jmin, jmax)``: JND indices of the darkest and brightest luminance plus ambient.

    As in dcmtk, the extremes are taken from the measured points, not from the interpolated or
    fitted curve (a fitted polynomial may dip below the darkest measurement).
    """
    lum = curve.luminances
    jmin = float(jnd_index(lum.min() + curve.ambient))  # PS3.14 7.2
    jmax = float(jnd_index(lum.max() + curve.ambient))
    # PS3.14 7.1 defines the GSDF on JND indices 1..1023 (0.05 to 3993 cd/m²). Outside
    # it there is no standard to meet: a black level of 0 cd/m² without ambient light
    # (j undefined) made every target NaN and the image two levels, and j beyond 1023
    # runs into the spline's extrapolation, which is not monotonic. The range the
    # display can show is calibrated within the GSDF's.
    if not JND_MIN <= jmin <= jmax <= JND_MAX:
        _log.warning("display luminance %g-%g cd/m² (with ambient light) exceeds the GSDF's "
                    "0.05-3993 cd/m² (PS3.14 7.1); calibrated within it",
                    float(lum.min() + curve.ambient), float(lum.max() + curve.ambient))
        jmin = float(JND_MIN) if math.isnan(jmin) else float(np.clip(jmin, JND_MIN, JND_MAX))
        jmax = float(np.clip(jmax, JND_MIN, JND_MAX))
    return jmin, jmax


def target_luminances(curve: CharacteristicCurve, n_pvalues: int) -> FloatArray:
    """GSDF target luminance for each P-value ``0..n_pvalues-1`` (including ambient light).

    Equal JND steps between the display's jmin and jmax; as in dcmtk, the JND targets are built by
    repeated addition with the last one forced to jmax, and L is interpolated with a natural cubic
    spline through L(1..1023).
    """
    if n_pvalues < 2:
        raise ValueError(f"need at least 2 P-values, got {n_pvalues}")
    jmin, jmax = jnd_range(curve)
    dist = (jmax - jmin) / (n_pvalues - 1)
    # Repeated addition reproduces dcmtk's rounding of the targets exactly.
    steps = np.full(n_pvalues, dist)
    steps[0] = jmin
    targets = np.cumsum(steps)
    targets[-1] = jmax
    j, lum, y2 = _gsdf_table()
    return _spline_eval(j, lum, y2, targets)


def gsdf_ddl_table(curve: CharacteristicCurve, n_pvalues: int) -> IntArray:
    """Return the DDL (0..max_ddl) for each P-value ``0..n_pvalues-1`` (PS3.14 chapter 7).

    Parameters
    ----------
    curve : CharacteristicCurve
        The display's characteristic curve and ambient light.
    n_pvalues : int
        Number of P-values (2**bits of the P-value stage, e.g. 256 or 65536).

    Returns
    -------
    numpy.ndarray
        int64 DDLs, non-decreasing for a monotonic curve.

    Notes
    -----
    For each target luminance the nearest DDL is found by walking forward through the curve
    while ``L(ddl) + ambient < target``, then stepping back one DDL when that one is strictly
    closer (dcmtk ``DiGSDFLUT::createLUT``). The forward-only walk is what makes the table
    non-decreasing. The walk is kept sequential because on a non-monotonic measured curve its
    result depends on where the previous P-value stopped.
    """
    lum = (full_curve(curve) + curve.ambient).tolist()
    targets = target_luminances(curve, n_pvalues).tolist()
    last = len(lum) - 1
    out = [0] * n_pvalues
    j = 0
    for i, target in enumerate(targets):
        while j < last and lum[j] < target:
            j += 1
        if j > 0 and abs(lum[j - 1] - target) < abs(lum[j] - target):
            j -= 1
        out[i] = j
    return np.asarray(out, dtype=np.int64)


def identity_ddl_table(n_pvalues: int, max_ddl: int = 255) -> IntArray:
    """DDLs for a display already calibrated to the GSDF: P-values scaled to ``0..max_ddl``.

    Parameters
    ----------
    n_pvalues : int
        Number of P-values.
    max_ddl : int
        Largest DDL.

    Returns
    -------
    numpy.ndarray
        ``round(p * max_ddl / (n_pvalues - 1))`` for each P-value (PS3.14: P-values are the
        input of a GSDF-conformant display).
    """
    p = np.arange(n_pvalues, dtype=np.float64)
    result: IntArray = np.floor(p * max_ddl / (n_pvalues - 1) + 0.5).astype(np.int64)
    return result


def produced_luminance(curve: CharacteristicCurve, table: IntArray) -> FloatArray:
    """Luminance the display produces for each P-value through ``table`` (ambient included)."""
    result: FloatArray = full_curve(curve)[table] + curve.ambient
    return result
