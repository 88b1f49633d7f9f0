"""Read the display shutter of an image (PS3.3 C.7.6.11, enhanced: Frame Display Shutter)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydicom.dataset import Dataset

from viewer.dicom.params import functional_group
from viewer.imaging.shutters import ShutterSpec

_log = logging.getLogger(__name__)


def _as_list(value: object) -> list[object]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def _ints(ds: Dataset, keyword: str, count: int | None) -> list[int] | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    values = _as_list(value)
    try:
        ints = [round(float(str(v))) for v in values]
    except (TypeError, ValueError):
        return None
    if count is not None and len(ints) != count:
        return None
    return ints


def _shutter_source(ds: Dataset, frame_index: int) -> Dataset | None:
    """The dataset level that carries the shutter: top level, else the frame's functional group."""
    if "ShutterShape" in ds:
        return ds
    shutter = functional_group(ds, frame_index, "FrameDisplayShutterSequence")
    return shutter if shutter is not None and "ShutterShape" in shutter else None


def read_shutter(ds: Dataset, frame_index: int = 0) -> ShutterSpec | None:
    """Return the display shutter of an image or presentation state, or None.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Image (Display Shutter module) or presentation state; enhanced images carry it in the
        Frame Display Shutter Sequence (0018,9472) of their functional groups.
    frame_index : int
        0-based frame, for per-frame shutters.

    Returns
    -------
    ShutterSpec or None
        None when there is no shutter. A shape whose attributes are missing or malformed is
        left out with a warning; the others still apply.
    """
    src = _shutter_source(ds, frame_index)
    if src is None:
        return None
    shapes = {str(shape).strip().upper() for shape in _as_list(src.get("ShutterShape"))}
    name = str(getattr(ds, "filename", None) or "dataset")
    rectangle = circle = polygon = None
    if "RECTANGULAR" in shapes:
        edges = [
            _ints(src, kw, 1)
            for kw in (
                "ShutterLeftVerticalEdge",
                "ShutterRightVerticalEdge",
                "ShutterUpperHorizontalEdge",
                "ShutterLowerHorizontalEdge",
            )
        ]
        if all(e is not None for e in edges):
            left, right, upper, lower = (e[0] for e in edges if e is not None)
            rectangle = (left, right, upper, lower)
        else:
            _log.warning("%s: rectangular shutter without its four edges, ignored", name)
    if "CIRCULAR" in shapes:
        centre = _ints(src, "CenterOfCircularShutter", 2)
        radius = _ints(src, "RadiusOfCircularShutter", 1)
        if centre is not None and radius is not None:
            circle = (centre[0], centre[1], radius[0])
        else:
            _log.warning("%s: circular shutter without centre or radius, ignored", name)
    if "POLYGONAL" in shapes:
        vertices = _ints(src, "VerticesOfThePolygonalShutter", None)
        if vertices is not None and len(vertices) >= 6 and len(vertices) % 2 == 0:
            polygon = tuple(zip(vertices[0::2], vertices[1::2], strict=True))
        else:
            _log.warning("%s: polygonal shutter needs at least 3 row\\column pairs, ignored", name)
    value = src.get("ShutterPresentationValue", ds.get("ShutterPresentationValue"))
    spec = ShutterSpec(rectangle, circle, polygon, int(value) if value is not None else None)
    return None if spec.empty else spec
