"""``lightbox render``: one frame of a DICOM file through the display pipeline into a PNG."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image

from viewer.core.errors import InputFileError, LightboxError, UsageError
from viewer.dicom.image import DicomImage
from viewer.dicom.pixel_header import pydicom_warnings_to_log
from viewer.imaging.display import gsdf_ddl_table, model_curve, parse_characteristic_file
from viewer.imaging.pipeline import PVALUE_BITS, DisplayCalibration, ViewState
from viewer.imaging.presentation import PresentationShape
from viewer.imaging.voi import VoiFunction, WindowParams

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``render`` sub-command."""
    p = subparsers.add_parser(
        "render",
        help="render one frame of a DICOM file to PNG",
        description="Render one frame through Modality LUT, VOI LUT, Presentation LUT and "
        "display calibration into an 8-bit PNG (grayscale, or RGB for colour images). "
        "Default window: the file's first usable window, else its first VOI LUT, else min-max.",
    )
    p.add_argument("input", metavar="INPUT", help="DICOM file")
    p.add_argument("-o", "--output", metavar="OUT.png", required=True, help="PNG to write")
    p.add_argument("--frame", type=int, default=1, metavar="N", help="frame number, 1-based")
    voi = p.add_mutually_exclusive_group()
    voi.add_argument("--window", nargs=2, type=float, metavar=("CENTER", "WIDTH"),
                     help="explicit window in modality units")
    voi.add_argument("--voi", type=int, metavar="N", help="the file's N-th window (1-based)")
    voi.add_argument("--voi-lut", type=int, metavar="N", help="the file's N-th VOI LUT")
    voi.add_argument("--minmax", action="store_true", help="window over the frame's min..max")
    p.add_argument("--voi-function", choices=("linear", "linear_exact", "sigmoid"),
                   help="VOI LUT Function for the window (default: the file's; linear "
                   "for --window)")
    p.add_argument("--presentation", choices=("identity", "inverse"),
                   help="Presentation LUT shape (default: the file's, MONOCHROME1 inverted)")
    p.add_argument("--invert", action="store_true",
                   help="the negative of what the file's presentation gives (the viewer's "
                   "Invert)")
    disp = p.add_mutually_exclusive_group()
    disp.add_argument("--display-file", metavar="FILE",
                      help="monitor characteristic file (dcmtk .lut format) for GSDF calibration")
    # Two to four numbers; a metavar of several words made argparse's usage suggest
    # that the group repeats.
    disp.add_argument("--display-model", nargs="+", type=float, metavar="L",
                      help="LMIN LMAX [GAMMA] [AMBIENT]: a model display (cd/m²; gamma 2.2 "
                      "and no ambient light by default)")
    p.add_argument("--no-overlays", action="store_true", help="do not draw overlays")
    p.add_argument("--no-shutters", action="store_true", help="do not apply display shutters")
    p.set_defaults(handler=run)


def view_state_from_args(args: argparse.Namespace) -> ViewState:
    """Translate the command-line choices into a :class:`ViewState`."""
    function = VoiFunction(args.voi_function.upper()) if args.voi_function else None
    window = None
    if args.window is not None:
        center, width = args.window
        window = WindowParams(center, width, function or VoiFunction.LINEAR, "command line")
        # Checked here, not when the frame is rendered: the value is the command line's
        # mistake, and the message must not name the file as if it were broken.
        if not (math.isfinite(center) and math.isfinite(width)):
            raise UsageError(f"--window {center:g} {width:g}: both must be finite numbers")
        if problem := window.width_problem():
            raise UsageError(f"--window {center:g} {width:g}: {problem}")
    for name in ("voi", "voi_lut"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} counts from 1")
    return ViewState(
        window=window,
        window_index=args.voi - 1 if args.voi is not None else None,
        voi_lut_index=args.voi_lut - 1 if args.voi_lut is not None else None,
        min_max=bool(args.minmax),
        voi_function=function,
        presentation=PresentationShape(args.presentation.upper()) if args.presentation else None,
        display=_calibration(args),
        negative=args.invert,
    )


def _calibration(args: argparse.Namespace) -> DisplayCalibration | None:
    if args.display_file:
        path = Path(args.display_file)
        try:
            text = path.read_text(encoding="latin-1")
        except OSError as exc:
            raise InputFileError(str(path), exc.strerror or "cannot be read") from None
        curve = parse_characteristic_file(text, str(path))
        name = path.name
    elif args.display_model:
        values = list(args.display_model)
        if not 2 <= len(values) <= 4:
            raise UsageError("--display-model takes LMIN LMAX [GAMMA] [AMBIENT]")
        lmin, lmax = values[0], values[1]
        gamma = values[2] if len(values) > 2 else 2.2
        ambient = values[3] if len(values) > 3 else 0.0
        try:
            curve = model_curve(lmin, lmax, gamma, ambient)
        except ValueError as exc:
            raise UsageError(f"--display-model: {exc}") from None
        name = f"model {lmin:g}-{lmax:g} cd/m²"
    else:
        return None
    table = gsdf_ddl_table(curve, 1 << PVALUE_BITS)
    return DisplayCalibration(ddl=table, max_ddl=curve.max_ddl, name=name)


def run(args: argparse.Namespace) -> int:
    """Render the frame and write the PNG; errors name the file and the problem."""
    # pydicom logs decoder failures with tracebacks; the user gets our one line instead
    # (``-v`` shows pydicom's own records again).
    pydicom_log = logging.getLogger("pydicom")
    level = pydicom_log.level
    if not getattr(args, "verbose", 0):
        pydicom_log.setLevel(logging.CRITICAL)
    try:
        with pydicom_warnings_to_log(args.input):
            return _run(args)
    finally:
        pydicom_log.setLevel(level)


def _run(args: argparse.Namespace) -> int:
    view = view_state_from_args(args)
    image = DicomImage(args.input)
    n = image.number_of_frames
    if not 1 <= args.frame <= n:
        raise InputFileError(args.input, f"frame {args.frame} asked for, the file has {n} "
                             f"frame{'s' if n != 1 else ''}")
    if not image.layout.is_grayscale:
        _note_grayscale_options(args, image.layout.photometric)
    try:
        pixels = image.render(args.frame - 1, view, overlays=not args.no_overlays,
                              shutters=not args.no_shutters)
    except UsageError as exc:
        raise InputFileError(args.input, str(exc)) from None
    except LightboxError:
        raise
    except Exception as exc:  # one line for the user, the details in the debug log
        log.debug("rendering %s failed", args.input, exc_info=True)
        raise InputFileError(args.input, f"cannot be rendered ({type(exc).__name__}: {exc})"
                             ) from None
    mode = "RGB" if pixels.ndim == 3 else "L"
    try:
        Image.fromarray(np.ascontiguousarray(pixels), mode=mode).save(args.output, format="PNG")
    except OSError as exc:
        raise InputFileError(args.output, f"cannot be written ({exc.strerror or exc})") from None
    return 0


# The grayscale pipeline's options (PS3.3 C.11): a colour image is shown as its pixels
# say (C.7.6.3.1.2), so these change nothing for it.
_GRAYSCALE_OPTIONS = {"window": "--window", "voi": "--voi", "voi_lut": "--voi-lut",
                      "minmax": "--minmax", "voi_function": "--voi-function",
                      "presentation": "--presentation", "invert": "--invert",
                      "display_file": "--display-file",
                      "display_model": "--display-model"}


def _note_grayscale_options(args: argparse.Namespace, photometric: str) -> None:
    """Warn that grayscale options were given for a colour image, where they do nothing:
    a reader must not believe a window was applied."""
    given = [option for name, option in _GRAYSCALE_OPTIONS.items() if getattr(args, name, None)]
    if given:
        log.warning("%s: %s %s no effect on a %s image (grayscale only)", args.input,
                    " ".join(given), "has" if len(given) == 1 else "have", photometric)

