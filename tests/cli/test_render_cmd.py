"""``lightbox render`` options that dcmtk cannot judge: float data, display models, PNG modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.support.series import write_dx_with_presentation_lut
from tests.support.testdata import test_file as data_file
from viewer.cli import main as cli_main
from viewer.dicom.frames import FrameSource
from viewer.imaging.display import gsdf_ddl_table, model_curve
from viewer.imaging.voi import WindowParams, window_unit


def _render(path: Path, out: Path, *options: str) -> Image.Image:
    assert cli_main(["render", str(path), "-o", str(out), *options]) == 0
    return Image.open(out)


def test_grayscale_png_is_l_and_colour_is_rgb(tmp_path: Path) -> None:
    assert _render(data_file("CT_small.dcm"), tmp_path / "g.png").mode == "L"
    assert _render(data_file("SC_rgb.dcm"), tmp_path / "c.png").mode == "RGB"
    assert _render(data_file("OT-PAL-8-face.dcm"), tmp_path / "p.png").mode == "RGB"


def test_float_pixel_data_min_max(tmp_path: Path) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.30"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 1, 3, 1
    ds.PhotometricInterpretation, ds.BitsAllocated = "MONOCHROME2", 32
    ds.FloatPixelData = np.array([0.25, 0.5, 0.75], dtype="<f4").tobytes()
    path = tmp_path / "float.dcm"
    ds.save_as(path, enforce_file_format=True)
    out = np.asarray(_render(path, tmp_path / "f.png"))
    assert out.ravel().tolist() == [0, 128, 255]


def test_display_model_applies_the_gsdf_table(tmp_path: Path) -> None:
    path = data_file("JPGLosslessP14SV1_1s_1f_8b.dcm")
    model = np.asarray(_render(path, tmp_path / "b.png", "--window", "127.5", "256",
                               "--display-model", "0.5", "250", "2.2", "2"))
    # PS3.14: P-values (16-bit here) index the display's P-value -> DDL table
    unit = window_unit(FrameSource(path).frame(0), WindowParams(127.5, 256))
    table = gsdf_ddl_table(model_curve(0.5, 250.0, 2.2, 2.0), 65536)
    assert np.array_equal(model, table[np.rint(unit * 65535).astype(int)])


def test_invert_keeps_the_presentation_lut_and_shows_its_negative(tmp_path: Path) -> None:
    # PS3.3 C.11.4: the file's tone curve is part of the picture; Invert turns the picture
    # over. Replacing the shape dropped the curve: 1/4 of the ramp showed 191, not 127.
    path = write_dx_with_presentation_lut(tmp_path / "dx.dcm")
    shown = np.asarray(_render(path, tmp_path / "n.png"), dtype=int)
    inverted = np.asarray(_render(path, tmp_path / "i.png", "--invert"), dtype=int)
    assert shown[0, 64] == 128  # sqrt(1/4) of the way up: the curve is applied
    assert np.array_equal(inverted, 255 - shown)
    replaced = np.asarray(_render(path, tmp_path / "r.png", "--presentation", "inverse"))
    assert replaced[0, 64] == 191  # a chosen shape replaces the curve (C.11.6)


def test_invert_of_a_shape_is_the_other_shape(tmp_path: Path) -> None:
    path = data_file("MR_small.dcm")
    inverted = np.asarray(_render(path, tmp_path / "i.png", "--invert"))
    shape = np.asarray(_render(path, tmp_path / "s.png", "--presentation", "inverse"))
    assert np.array_equal(inverted, shape)


def test_presentation_inverse_flips_monochrome2(tmp_path: Path) -> None:
    path = data_file("MR_small.dcm")
    a = np.asarray(_render(path, tmp_path / "a.png")).astype(int)
    b = np.asarray(_render(path, tmp_path / "b.png", "--presentation", "inverse")).astype(int)
    assert np.array_equal(a + b, np.full_like(a, 255))


def test_options_are_mutually_exclusive(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["render", str(data_file("MR_small.dcm")), "-o", str(tmp_path / "o.png"),
                  "--minmax", "--voi", "1"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_unwritable_output_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing-dir" / "o.png"
    assert cli_main(["render", str(data_file("MR_small.dcm")), "-o", str(out)]) == 2
    assert str(out) in capsys.readouterr().err


def test_bad_display_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lut = tmp_path / "bad.lut"
    lut.write_text("amb 1\n0 0.5\n")
    status = cli_main(["render", str(data_file("MR_small.dcm")), "-o", str(tmp_path / "o.png"),
                       "--display-file", str(lut)])
    assert status == 2 and str(lut) in capsys.readouterr().err


def test_a_stored_window_of_width_0_falls_to_the_next_default(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Found in real files; PS3.3 C.11.2.1.2 needs >= 1 for LINEAR. The default render
    # failed ("window width 0 is not valid") until --minmax was given.
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = [40, 40], [0, 400]
    both = tmp_path / "both.dcm"
    ds.save_as(both)
    shown = np.asarray(_render(both, tmp_path / "both.png"))
    assert np.array_equal(shown, np.asarray(_render(both, tmp_path / "w2.png", "--voi", "2")))
    assert "the file's window C 40 W 0 is not valid for LINEAR" in caplog.text
    ds.WindowCenter, ds.WindowWidth = 40, 0
    alone = tmp_path / "alone.dcm"
    ds.save_as(alone)
    shown = np.asarray(_render(alone, tmp_path / "alone.png"))
    assert np.array_equal(shown, np.asarray(_render(alone, tmp_path / "mm.png", "--minmax")))
    # Asked for by name, it is still refused.
    assert cli_main(["render", str(alone), "-o", str(tmp_path / "x.png"), "--voi", "1"]) == 2



@pytest.mark.parametrize(("window", "words"), [
    (("40", "nan"), "--window 40 nan: both must be finite numbers"),
    (("inf", "400"), "--window inf 400: both must be finite numbers"),
    (("40", "0.5"), "--window 40 0.5: width 0.5 is not valid for LINEAR")])
def test_a_window_the_command_line_got_wrong_is_named_as_such(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], window: tuple[str, str],
        words: str) -> None:
    # It named the (valid) file, with a Python exception: "cannot be rendered
    # (ValueError: cannot convert float NaN to integer)".
    path = data_file("CT_small.dcm")
    assert cli_main(["render", str(path), "-o", str(tmp_path / "x.png"), "--window",
                     *window]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lightbox: {words}") and str(path) not in err, err


@pytest.mark.parametrize("slope", [1.0, 0.001])
def test_a_constant_frame_is_black_whatever_its_rescale_slope(tmp_path: Path,
                                                               slope: float) -> None:
    # Min-max of one value: the integer convention (and dcmtk) shows it black; a finer
    # Rescale Slope showed the same picture mid-grey.
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.PixelData = np.full((ds.Rows, ds.Columns), 1000, dtype="<i2").tobytes()
    ds.RescaleSlope, ds.RescaleIntercept = slope, 0
    path = tmp_path / "flat.dcm"
    ds.save_as(path)
    out = np.asarray(_render(path, tmp_path / "flat.png", "--minmax"))
    assert out.max() == 0


def test_grayscale_options_on_a_colour_image_are_said_to_do_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = data_file("SC_rgb.dcm")
    plain = np.asarray(_render(path, tmp_path / "plain.png"))
    windowed = np.asarray(_render(path, tmp_path / "w.png", "--window", "10", "20",
                                  "--presentation", "inverse"))
    assert np.array_equal(plain, windowed)  # PS3.3 C.7.6.3.1.2: shown as its pixels say
    assert "--window --presentation have no effect on a RGB image" in caplog.text
