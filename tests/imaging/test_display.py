"""P-value -> DDL calibration: properties, gsdf.md vectors, dcmtk (dcmdspfn, dcmj2pnm +Dm)."""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.imaging.dcmtk_pnm import dcmj2pnm, monochrome_dataset, require_dcmtk
from viewer.core.errors import InputFileError
from viewer.imaging.display import (
    CharacteristicCurve,
    full_curve,
    gsdf_ddl_table,
    identity_ddl_table,
    jnd_range,
    model_curve,
    parse_characteristic_file,
    produced_luminance,
    target_luminances,
)
from viewer.imaging.gsdf import jnd_index


def _monitor_lut() -> Path:
    found = sorted(glob.glob("/usr/share/dcmtk*/monitor.lut"))
    if not found:
        pytest.skip("dcmtk's sample monitor.lut is not installed (make peers)")
    return Path(found[0])


def _gamma_file(amb: float, step: int = 1, max_ddl: int = 255) -> str:
    """gsdf.md §5.2's synthetic gamma 2.2 monitor (optionally every ``step``-th DDL only)."""
    lines = [f"max {max_ddl}", f"amb {amb}"]
    ddls = list(range(0, max_ddl + 1, step))
    if ddls[-1] != max_ddl:
        ddls.append(max_ddl)
    lines += [f"{d} {0.5 + 249.5 * (d / max_ddl) ** 2.2:.6f}" for d in ddls]
    return "\n".join(lines) + "\n"


def _dcmdspfn(tmp_path: Path, text: str, *options: str) -> np.ndarray:
    """dcmdspfn's DDL/CC/GSDF/PSC table for a monitor file."""
    tool = require_dcmtk("dcmdspfn")
    src = tmp_path / "display.lut"
    src.write_text(text)
    out = tmp_path / "gsdf.txt"
    subprocess.run([tool, "-q", "+Im", str(src), *options, "+Og", str(out)], check=True, timeout=60)
    rows = [
        [float(v) for v in line.split()]
        for line in out.read_text().splitlines()
        if line[:1].isdigit()
    ]
    return np.array(rows)


# --- file format ----------------------------------------------------------------------------


def test_parse_dcmtk_monitor_file() -> None:
    path = _monitor_lut()
    curve = parse_characteristic_file(path.read_text(), str(path))
    assert curve.max_ddl == 255
    assert curve.ambient == 1.0
    assert curve.polynomial_order == 0
    assert len(curve.ddls) == 256
    assert curve.luminances[0] == pytest.approx(0.18626)
    assert curve.luminances[-1] == pytest.approx(115.947, abs=1e-3)


def test_parse_sorts_clamps_and_ignores() -> None:
    text = "# comment\nmax 3 # trailing\n\namb 0.5\nord 0\n3 9.0\n1 -2\n0 1.0\n2 4.0\n9 99\n"
    curve = parse_characteristic_file(text, "x.lut")
    assert curve.ddls.tolist() == [0, 1, 2, 3]
    assert curve.luminances.tolist() == [1.0, 0.0, 4.0, 9.0]
    assert curve.ambient == 0.5


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("amb 1\nmax 255\n0 1\n", 1, "max"),
        ("max 255\n0 abc\n", 2, "DDL luminance"),
        ("max 255\n\n# c\nfoo 3\n", 4, "keyword"),
        ("max 255\nlum 2000\n", 2, "printer"),
        ("max x\n", 1, "integer"),
        ("max 255\n0\n", 2, "DDL luminance"),
    ],
)
def test_parse_errors_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(InputFileError) as info:
        parse_characteristic_file(text, "bad.lut")
    message = str(info.value)
    assert message.startswith("bad.lut: ")
    assert f"line {line}" in message
    assert words in message


def test_parse_without_data_fails() -> None:
    with pytest.raises(InputFileError, match=r"empty\.lut"):
        parse_characteristic_file("# nothing\n", "empty.lut")
    with pytest.raises(InputFileError, match="no 'DDL luminance'"):
        parse_characteristic_file("max 255\namb 1\n", "nodata.lut")


# --- gsdf.md §5.2 test vectors ----------------------------------------------------------------

P_SAMPLES = [0, 1, 2, 16, 32, 64, 128, 192, 254, 255]


@pytest.mark.parametrize(
    ("amb", "jrange", "ddls"),
    [
        (0.0, (46.5578, 604.1122), [0, 5, 6, 18, 28, 48, 96, 162, 253, 255]),
        (2.0, (116.3913, 605.2619), [0, 7, 9, 26, 38, 60, 108, 171, 253, 255]),
    ],
)
def test_gamma_monitor_vectors(amb: float, jrange: tuple[float, float], ddls: list[int]) -> None:
    curve = parse_characteristic_file(_gamma_file(amb), "gamma.lut")
    assert jnd_range(curve) == pytest.approx(jrange, abs=1e-4)
    table = gsdf_ddl_table(curve, 256)
    assert table[P_SAMPLES].tolist() == ddls
    model = gsdf_ddl_table(model_curve(0.5, 250.0, 2.2, amb), 256)
    assert model[P_SAMPLES].tolist() == ddls


def test_dcmtk_monitor_lut_vector() -> None:
    path = _monitor_lut()
    curve = parse_characteristic_file(path.read_text(), str(path))
    assert jnd_range(curve) == pytest.approx((78.7496, 497.4741), abs=1e-4)
    table = gsdf_ddl_table(curve, 256)
    assert table[:12].tolist() == [0, 3, 6, 9, 11, 13, 14, 16, 17, 18, 20, 21]
    assert table[[64, 128, 192, 255]].tolist() == [63, 112, 174, 255]


def test_ideal_targets() -> None:
    # gsdf.md §5.2: Lmin 0.5, Lmax 250, La 0, 8-bit, no spline: the spline stays within 2.1e-6.
    targets = target_luminances(model_curve(0.5, 250.0), 256)
    expected = {
        0: 0.5005,
        1: 0.5362,
        64: 6.9649,
        128: 29.7612,
        192: 92.7539,
        254: 246.2805,
        255: 250.0441,
    }
    for p, lum in expected.items():
        assert targets[p] == pytest.approx(lum, abs=6e-5)


# --- properties -------------------------------------------------------------------------------

CURVES = {
    "gamma 0.5-250": model_curve(0.5, 250.0),
    "gamma amb 2": model_curve(0.5, 250.0, ambient=2.0),
    "gamma 1-400 amb 0.5": model_curve(1.0, 400.0, ambient=0.5),
    "linear 10-bit": model_curve(0.05, 500.0, gamma=1.0, max_ddl=1023),
}


@pytest.mark.parametrize("name", sorted(CURVES))
@pytest.mark.parametrize("n_pvalues", [256, 1024])
def test_table_properties(name: str, n_pvalues: int) -> None:
    curve = CURVES[name]
    table = gsdf_ddl_table(curve, n_pvalues)
    assert table.shape == (n_pvalues,)
    assert np.all(np.diff(table) >= 0)
    assert table[0] == 0 and table[-1] == curve.max_ddl
    # Perceptual linearity (PS3.14 Annex C): j of the produced luminance is linear in P.
    jmin, jmax = jnd_range(curve)
    j = jnd_index(produced_luminance(curve, table))
    p = np.arange(n_pvalues)
    slope, intercept = np.polyfit(p, j, 1)
    assert slope == pytest.approx((jmax - jmin) / (n_pvalues - 1), rel=0.02)
    residual = j - (slope * p + intercept)
    # Residual bounded by the JND size of one DDL step at the dark end of the curve.
    lum = full_curve(curve) + curve.ambient
    worst_ddl_step = float(np.max(np.diff(jnd_index(lum))))
    assert np.max(np.abs(residual)) < max(worst_ddl_step, 1.0)


def test_ambient_compresses_the_dark_end() -> None:
    dark = gsdf_ddl_table(model_curve(0.5, 250.0, ambient=0.0), 256)
    lit = gsdf_ddl_table(model_curve(0.5, 250.0, ambient=2.0), 256)
    j0 = jnd_range(model_curve(0.5, 250.0, ambient=0.0))
    j2 = jnd_range(model_curve(0.5, 250.0, ambient=2.0))
    assert j2[0] - j0[0] > 50 > 10 * (j2[1] - j0[1])  # jmin rises a lot, jmax a little
    assert np.all(lit[1:40] > dark[1:40])  # dark P-values need higher DDLs to stay visible


def test_identity_table() -> None:
    assert identity_ddl_table(256).tolist() == list(range(256))
    ten_bit = identity_ddl_table(1024, 255)
    assert ten_bit[0] == 0 and ten_bit[-1] == 255
    assert np.all(np.diff(ten_bit) >= 0)
    assert identity_ddl_table(256, 1023)[[0, 1, 255]].tolist() == [0, 4, 1023]


# --- dcmtk as oracle ---------------------------------------------------------------------------


def _polynomial_file() -> str:
    return "max 255\nord 3\n" + "\n".join(_gamma_file(0.0, step=15).splitlines()[2:]) + "\n"


def _non_monotonic_file() -> str:
    """A measured curve with a dip (DDL 100-119 darker than DDL 99): dcmtk warns and goes on."""
    lines = ["max 255", "amb 0.3"]
    for d in range(256):
        lum = 0.5 + 249.5 * (d / 255) ** 2.2
        if 100 <= d < 120:
            lum -= 4.0
        lines.append(f"{d} {lum:.6f}")
    return "\n".join(lines) + "\n"


DCMDSPFN_CASES = {
    "monitor.lut": None,
    "gamma amb 0": _gamma_file(0.0),
    "gamma amb 2": _gamma_file(2.0),
    "gamma sparse (spline)": _gamma_file(0.7, step=17),
    "gamma 10-bit sparse": _gamma_file(0.0, step=31, max_ddl=1023),
    "polynomial order 3": _polynomial_file(),
    "non-monotonic": _non_monotonic_file(),
}


@pytest.mark.parametrize("name", sorted(DCMDSPFN_CASES))
def test_against_dcmdspfn(tmp_path: Path, name: str) -> None:
    text = DCMDSPFN_CASES[name] or _monitor_lut().read_text()
    oracle = _dcmdspfn(tmp_path, text)
    curve = parse_characteristic_file(text, name)
    n = curve.max_ddl + 1
    assert oracle.shape == (n, 4)
    table = gsdf_ddl_table(curve, n)
    np.testing.assert_allclose(full_curve(curve) + curve.ambient, oracle[:, 1], atol=5e-7)
    np.testing.assert_allclose(target_luminances(curve, n), oracle[:, 2], atol=5e-7)
    # PSC = luminance produced at the chosen DDL: equal columns mean equal DDLs.
    np.testing.assert_allclose(produced_luminance(curve, table), oracle[:, 3], atol=5e-7)


@pytest.mark.parametrize(
    "name",
    ["monitor.lut", "gamma amb 2", "gamma sparse (spline)", "polynomial order 3", "non-monotonic"],
)
def test_against_dcmj2pnm_on_a_ramp(tmp_path: Path, name: str) -> None:
    text = DCMDSPFN_CASES[name] or _monitor_lut().read_text()
    lut = tmp_path / "display.lut"
    lut.write_text(text)
    ramp = tmp_path / "ramp.dcm"
    monochrome_dataset(np.arange(256, dtype=np.uint8).reshape(1, 256)).save_as(
        ramp, enforce_file_format=True
    )
    out = dcmj2pnm(ramp, tmp_path / "ramp.pgm", "+Dm", str(lut), "+Dg")
    table = gsdf_ddl_table(parse_characteristic_file(text, name), 256)
    assert out.shape == (1, 256)
    assert out[0].tolist() == table.tolist()


def test_polynomial_order_is_used() -> None:
    curve = parse_characteristic_file(_polynomial_file(), "poly.lut")
    assert curve.polynomial_order == 3
    fitted = full_curve(curve)
    spline = full_curve(
        CharacteristicCurve(curve.ddls, curve.luminances, curve.ambient, curve.max_ddl, 0)
    )
    assert fitted.shape == (256,)
    assert not np.allclose(fitted, spline)
    assert np.max(np.abs(fitted - spline)) < 5.0  # a cubic follows a gamma 2.2 curve closely


@pytest.mark.parametrize(("lmin", "lmax", "ambient"), [
    (0.0, 250.0, 0.0),  # a black level of 0 cd/m²: j(0) is undefined
    (0.01, 5000.0, 0.0),  # both ends beyond the GSDF's 0.05..3993 cd/m²
    (1.0, 6000.0, 0.0),
])
def test_a_display_beyond_the_gsdf_range_is_calibrated_within_it(
        lmin: float, lmax: float, ambient: float, caplog: pytest.LogCaptureFixture) -> None:
    # PS3.14 7.1 defines the GSDF on j = 1..1023. Outside it, a black level of 0 turned
    # every target into NaN (a two-level image), and j beyond 1023 ran into the spline's
    # extrapolation (the brightest P-values painted black).
    curve = model_curve(lmin, lmax, 2.2, ambient)
    table = gsdf_ddl_table(curve, 4096)
    assert np.all(np.diff(table) >= 0), "brighter input must never be shown darker"
    assert len(np.unique(table)) > 150
    # The ends are the display's levels nearest the GSDF's ends, or its own within them.
    shown = produced_luminance(curve, table)
    assert shown[0] == pytest.approx(max(lmin, 0.05), rel=0.5, abs=0.02)
    assert shown[-1] == pytest.approx(min(lmax, 3993.4), rel=0.03)
    assert "exceeds the GSDF's 0.05-3993 cd/m²" in caplog.text


@pytest.mark.parametrize(("args", "words"), [
    ((0.5, 250.0, 0.0, 0.0), "gamma above 0"), ((0.5, 250.0, -2.0, 0.0), "gamma above 0"),
    ((0.5, 250.0, float("nan"), 0.0), "gamma above 0"),
    ((0.5, float("inf"), 2.2, 0.0), "finite"), ((0.5, 250.0, 2.2, -5.0), "ambient"),
    ((float("nan"), 250.0, 2.2, 0.0), "LMIN < LMAX")])
def test_a_display_model_that_means_nothing_is_refused(
        args: tuple[float, float, float, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        model_curve(*args)
