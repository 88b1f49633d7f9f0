"""Measurements of a viewport: drawn with the mouse, kept with their image, labelled in mm/HU/Gy."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from viewer.dicom.geometry import PixelSpacing, SpacingKind
from viewer.dicom.params import DOSE_UNITS
from viewer.dicom.us_regions import UltrasoundRegion, region_of
from viewer.imaging.modality import RescaleParams
from viewer.imaging.real_world import RealWorldMapping
from viewer.render.graphics import Graphic
from viewer.render.measure import (
    MeasureKind,
    Point,
    RoiStats,
    angle,
    length,
    roi_area,
    roi_mask,
    roi_stats,
)
from viewer.ui.viewer.tools import Tool

if TYPE_CHECKING:
    from viewer.ui.viewer.series import FrameFacts
    from viewer.ui.viewer.viewport import ViewportWidget

_KIND = {
    Tool.LENGTH: MeasureKind.LENGTH,
    Tool.ANGLE: MeasureKind.ANGLE,
    Tool.RECTANGLE: MeasureKind.RECTANGLE,
    Tool.ELLIPSE: MeasureKind.ELLIPSE,
    Tool.PROBE: MeasureKind.PROBE,
}
_keys = itertools.count(1)


# PS3.3 C.8.9.1.1.3: the defined terms of a PET image's Units (0054,1001), as read.
_PET_UNITS = {
    "CNTS": "counts", "NONE": "", "CM2": "cm²", "CM2ML": "cm²/ml", "PCNT": "%",
    "CPS": "counts/s", "BQML": "Bq/ml", "MGMINML": "mg/min/ml", "UMOLMINML": "µmol/min/ml",
    "MLMING": "ml/min/g", "MLG": "ml/g", "1CM": "1/cm", "UMOLML": "µmol/ml",
    "PROPCNTS": "proportional counts", "PROPCPS": "proportional counts/s",
    "MLMINML": "ml/min/ml", "MLML": "ml/ml", "GML": "g/ml", "STDDEV": "SD",
}


def _measured_in(spacing: PixelSpacing, points: list[Point]
                 ) -> tuple[PixelSpacing, UltrasoundRegion | None]:
    """The spacing a measurement through ``points`` uses, and the ultrasound region
    holding it (PS3.3 C.8.5.5). Across two regions, or outside any, an ultrasound
    measurement is in pixels; inside a region measured in cm, in that region's spacing,
    whatever the other regions say."""
    if not spacing.regions:
        return spacing, None
    region = region_of(spacing.regions, points)
    if region is None or not region.in_cm:
        return PixelSpacing(), region
    return PixelSpacing(region.delta[1] * 10.0, region.delta[0] * 10.0,
                        SpacingKind.ULTRASOUND), region


def _shape_text(g: Graphic, spacing: PixelSpacing, pair: tuple[float, float]) -> str:
    """Area of a rectangle or ellipse as drawn, and an ellipse's circumference (the head
    and abdominal circumferences of obstetric ultrasound), in cm², mm or pixels."""
    area = roi_area(g.kind, g.points[0], g.points[1], pair)
    mm = spacing.unit == "mm"
    text = (f"Area {area / 100.0:.2f} cm²" if mm and area >= 100 else
            f"Area {area:.1f} {'mm²' if mm else 'px²'}")
    if g.kind is MeasureKind.ELLIPSE:
        a = abs(g.points[1][0] - g.points[0][0]) / 2 * pair[1]
        b = abs(g.points[1][1] - g.points[0][1]) / 2 * pair[0]
        # Ramanujan's approximation, within 0.04% up to a 5:1 ellipse
        around = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
        text += f"  Circumference {around:.1f} {'mm' if mm else 'px'}"
    if spacing.qualifier:
        text += f" ({spacing.qualifier})"
    return text


def unit_of(facts: FrameFacts) -> str:
    """Unit of modality values.

    The frame's Rescale Type (PS3.3 C.11.1.1.2, C.7.6.16.2.9) when it names one; else a
    PET image's Units (C.8.9.1.1.3); else the unit the modality transform carries (``Gy``
    or ``relative`` from Dose Units for an RT Dose's Dose Grid Scaling, PS3.3 C.8.8.3);
    else HU for a CT that gives no Rescale Type.
    """
    rescale_type = facts.rescale_type.strip()
    if rescale_type and rescale_type.upper() != "US":
        # An Enhanced PET's Rescale Type takes the terms of a PET image's Units (C.8.22.5)
        return (_PET_UNITS.get(rescale_type.upper(), rescale_type) if facts.modality == "PT"
                else rescale_type)
    if facts.pet_units:
        return _PET_UNITS.get(facts.pet_units.upper(), facts.pet_units)
    modality = facts.params.modality if facts.params is not None else None
    if isinstance(modality, RescaleParams) and modality.unit:
        return modality.unit
    if facts.modality == "CT" and not rescale_type:
        # C.8.2.1: a CT's Rescale Type is required only when its values are not HU, so
        # none means HU, identity rescale (signed HU stored as they are) included; "US"
        # (unspecified) says they are not.
        return "HU"
    same = _same_as_modality(facts)
    return same.unit if same is not None else ""


def _same_as_modality(facts: FrameFacts) -> RealWorldMapping | None:
    """A Real World Value Mapping whose values are the modality values (an Enhanced PET's
    mapping repeats its rescale in Bq/ml, C.8.22.5): it names their unit."""
    modality = facts.params.modality if facts.params is not None else None
    if modality is None:
        slope, intercept = 1.0, 0.0
    elif isinstance(modality, RescaleParams):
        slope, intercept = modality.slope, modality.intercept
    else:
        return None  # a Modality LUT: no line to compare with
    for mapping in facts.real_world:
        if (mapping.table is None and math.isclose(mapping.slope, slope, rel_tol=1e-6)
                and math.isclose(mapping.intercept, intercept, rel_tol=1e-6, abs_tol=1e-9)):
            return mapping
    return None


def real_world_mapping(facts: FrameFacts) -> RealWorldMapping | None:
    """The Real World Value Mapping to show beside the modality values (PS3.3
    C.7.6.16.2.11): the first whose values are not the modality values themselves
    (an ADC map's stored 850 is 0.00085 mm²/s)."""
    same = _same_as_modality(facts)
    return next((m for m in facts.real_world if m is not same), None)


def _suv_stats(facts: FrameFacts, stats: RoiStats) -> str:
    """A line of an ROI's SUVbw (a PET reading's mean and maximum), or none."""
    if facts.suv is None or not facts.suv.usable:
        return ""
    factor = facts.suv.factor
    return (f"SUVbw Mean {stats.mean * factor:.2f}  SD {stats.sd * factor:.2f}  "
            f"Max {stats.maximum * factor:.2f}\n")


def _real_world_stats(facts: FrameFacts, stored: np.ndarray) -> str:
    """A line of an ROI's statistics in its Real World Value Mapping's quantity, or none."""
    mapping = real_world_mapping(facts)
    if mapping is None:
        return ""
    sv = np.asarray(stored, dtype=np.float64)
    sv = sv[(sv >= mapping.first) & (sv <= mapping.last)]
    if not sv.size:
        return ""
    if mapping.table is None:
        # through the stored values' own statistics: SD of a flat region in mm²/s came
        # out 2.7e-20, the rounding of a million products
        mean = mapping.slope * float(sv.mean()) + mapping.intercept
        sd = abs(mapping.slope) * float(sv.std())
    else:
        values = mapping.apply(sv)
        mean, sd = float(values.mean()), float(values.std())
    unit = f" {mapping.unit}" if mapping.unit else ""
    name = f"{mapping.label} " if mapping.label else ""
    return f"{name}Mean {_fmt(mean, mapping.unit)}{unit}  SD {_fmt(sd, mapping.unit)}\n"


def _fmt(value: float, unit: str = "") -> str:
    if unit in DOSE_UNITS.values() and abs(value) < 10:
        # a relative dose of 0.795 or 1.5 Gy to an organ is read to three digits, not one
        return f"{value:.3g}"
    if 0 < abs(value) < 1:
        # an ADC map in mm²/s (0.0008) or a ratio read to one decimal showed "0.0"
        return f"{value:.3g}"
    return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


class MeasureController:
    """Creates and keeps measurements, one list per frame (SOP Instance UID + frame)."""

    tools = frozenset(_KIND)

    def __init__(self, viewport: ViewportWidget) -> None:
        self.viewport = viewport
        self._by_frame: dict[tuple[str, int], list[Graphic]] = {}
        self._active: Graphic | None = None
        self._angle_stage = 0

    # ------------------------------------------------------------------ state
    def _key(self) -> tuple[str, int] | None:
        vp = self.viewport
        if vp.series is None:
            return None
        ref = vp.series.refs[vp.index]
        return (ref.sop_instance_uid or ref.path, ref.frame)

    def current(self) -> list[Graphic]:
        """Measurements of the frame shown."""
        key = self._key()
        return list(self._by_frame.get(key, [])) if key else []

    def frame_changed(self) -> None:
        """Draw the measurements of the new frame."""
        self._push()

    def _push(self) -> None:
        items = self.current()
        if self._active is not None and self._active not in items:
            items.append(self._active)
        self.viewport.graphics_layer.set_graphics(items)
        self.viewport.request_render()

    def _image_point(self, pos: tuple[float, float]) -> Point:
        p = self.viewport.view.transform.display_to_image([pos])[0]
        return (float(p[0]), float(p[1]))

    # ------------------------------------------------------------------ mouse
    def press(self, pos: tuple[float, float]) -> None:
        """Start (or, for the angle's third point, finish) a measurement."""
        vp = self.viewport
        if vp._facts is None:
            return
        point = self._image_point(pos)
        if self._active is not None and self._angle_stage == 2:
            self._active.points[2] = point
            self._finish()
            return
        kind = _KIND[vp.tool]
        points = [point] if kind is MeasureKind.PROBE else [point, point]
        for g in self.current():
            g.selected = False
        self._active = Graphic(kind, points, selected=True, key=next(_keys))
        self._angle_stage = 1 if kind is MeasureKind.ANGLE else 0
        self._label(self._active)
        self._push()

    def drag(self, pos: tuple[float, float]) -> None:
        """Move the point being placed."""
        g = self._active
        if g is None:
            return
        point = self._image_point(pos)
        if g.kind is MeasureKind.PROBE:
            g.points[0] = point
        elif g.kind is MeasureKind.ANGLE and self._angle_stage == 2:
            g.points[2] = point
        else:
            g.points[1] = point
        self._label(g)
        self._push()

    def hover(self, pos: tuple[float, float]) -> None:
        """Mouse moves without a button: the angle's third arm follows."""
        if self._active is not None and self._angle_stage == 2:
            self.drag(pos)

    def release(self, pos: tuple[float, float]) -> None:
        """End the drag: most tools are done; the angle waits for its third point."""
        g = self._active
        if g is None:
            return
        self.drag(pos)
        if g.kind is MeasureKind.ANGLE and self._angle_stage == 1:
            # First arm drawn end -> vertex; the next click places the other end.
            g.points.append(g.points[1])
            self._angle_stage = 2
            self._label(g)
            self._push()
            return
        self._finish()

    def _finish(self) -> None:
        g = self._active
        key = self._key()
        self._active = None
        self._angle_stage = 0
        if g is None or key is None:
            return
        if g.kind not in (MeasureKind.PROBE, MeasureKind.ANGLE) and length(
                g.points[0], g.points[1]) < 1.0:
            self._push()  # a click, not a drag: nothing measured
            return
        self._label(g)
        self._by_frame.setdefault(key, []).append(g)
        self._push()
        self.viewport.status_message.emit(g.label.replace("\n", "  "))

    def cancel(self) -> None:
        """Drop the measurement being drawn."""
        if self._active is not None:
            self._active = None
            self._angle_stage = 0
            self._push()

    def delete_selected(self) -> None:
        """Delete the selected measurement of this frame."""
        key = self._key()
        if key is None:
            return
        items = self._by_frame.get(key, [])
        self._by_frame[key] = [g for g in items if not g.selected]
        self._push()

    def delete_all(self) -> None:
        """Delete every measurement of this frame."""
        key = self._key()
        if key is not None:
            self._by_frame.pop(key, None)
        self._push()

    # ------------------------------------------------------------------ values
    def _label(self, g: Graphic) -> None:
        vp = self.viewport
        facts = vp._facts
        series = vp.series
        if facts is None or series is None:
            return
        spacing, region = _measured_in(facts.plane.spacing, g.points)
        pair = (spacing.row, spacing.column)
        if g.kind is MeasureKind.LENGTH and region is not None and not region.in_cm:
            # PS3.3 C.8.5.5.1.15: an M-mode or Doppler strip's axes are time, velocity...
            g.label = region.axis_text(g.points[0], g.points[1])
        elif g.kind is MeasureKind.LENGTH:
            qualifier = f" ({spacing.qualifier})" if spacing.qualifier else ""
            outside = (" (not inside one calibrated region)"
                       if facts.plane.spacing.regions and region is None else "")
            g.label = (f"{length(g.points[0], g.points[1], pair):.1f} "
                       f"{spacing.unit}{qualifier}{outside}")
        elif g.kind is MeasureKind.ANGLE:
            if len(g.points) >= 3:
                g.label = f"{angle(g.points[1], g.points[0], g.points[2], pair):.1f}°"
            else:
                g.label = ""
        elif g.kind in (MeasureKind.RECTANGLE, MeasureKind.ELLIPSE):
            stored = series.stored(vp.index)
            shape_text = _shape_text(g, spacing, pair)
            if stored is None or stored.ndim != 2 or not facts.photometric.startswith("MONO"):
                # PS3.3 C.7.6.3.1.5: a palette colour value is an index into the colour
                # tables, an RGB triple no quantity: only the shape measures anything.
                g.label, g.stats = shape_text, None
                return
            mask = roi_mask(g.kind, g.points[0], g.points[1], stored.shape)
            # Padding (outside a CT's field of view, PS3.3 C.7.5.1.1.2) is no value of the
            # patient's: -3024 HU in a box at the edge made its mean and SD meaningless.
            padding = self._padding(stored)
            left_out = int(np.count_nonzero(mask & padding)) if padding is not None else 0
            if left_out:
                mask = mask & ~padding
            # Mean and SD over the pixels whose centres are inside; the area of the shape
            # as drawn (a pixel count overstated a 20 x 20 px box as 21 x 21).
            stats = roi_stats(self._modality(stored), mask,
                              roi_area(g.kind, g.points[0], g.points[1], pair))
            if stats is None:
                g.label = "Padding only" if left_out else ""
                g.stats = None
                return
            unit = unit_of(facts)
            g.label = (f"Mean {_fmt(stats.mean, unit)}{f' {unit}' if unit else ''}  "
                       f"SD {_fmt(stats.sd, unit)}\n"
                       f"Min {_fmt(stats.minimum, unit)}  Max {_fmt(stats.maximum, unit)}\n"
                       f"{_suv_stats(facts, stats)}{_real_world_stats(facts, stored[mask])}"
                       f"{shape_text}").replace("  \n", "\n")
            if left_out:
                g.label += f"\n{left_out} padding px left out"
            g.stats = stats
        elif g.kind is MeasureKind.PROBE:
            g.label = self._value_text(g.points[0]) or ""

    def _padding(self, stored: np.ndarray) -> np.ndarray | None:
        """Where ``stored`` holds Pixel Padding Value (or its range), or None."""
        vp = self.viewport
        image = vp.series.image(vp.index) if vp.series is not None else None
        if image is None or vp._facts is None or stored.ndim != 2:
            return None
        return image.params(vp._facts.ref.frame).padding_mask(stored)

    def _modality(self, stored: np.ndarray) -> np.ndarray:
        vp = self.viewport
        image = vp.series.image(vp.index) if vp.series is not None else None
        if image is None or vp._facts is None:
            return np.asarray(stored)
        return image.modality_values(vp._facts.ref.frame, stored)

    def _value_text(self, point: Point) -> str | None:
        vp = self.viewport
        facts = vp._facts
        series = vp.series
        if facts is None or series is None:
            return None
        stored = series.stored(vp.index)
        if stored is None:
            return None
        col, row = int(np.floor(point[0] + 0.5)), int(np.floor(point[1] + 0.5))
        if not (0 <= row < stored.shape[0] and 0 <= col < stored.shape[1]):
            return None
        value = stored[row, col]
        if stored.ndim == 3:
            return f"({col}, {row})  RGB {tuple(int(v) for v in value)}"
        sv = f"{value:g}" if stored.dtype.kind == "f" else f"{int(value)}"
        padding = self._padding(stored[row:row + 1, col:col + 1])
        if padding is not None and padding[0, 0]:
            return f"({col}, {row})  SV {sv}  padding"
        mv = float(self._modality(np.asarray([value]))[0])
        unit = unit_of(facts)
        text = f"({col}, {row})  SV {sv}  {_fmt(mv, unit)} {unit}".rstrip()
        if facts.suv is not None and facts.suv.usable:
            text += f"  SUVbw {mv * facts.suv.factor:.2f}"
        mapping = real_world_mapping(facts)
        real = float(mapping.apply([value])[0]) if mapping is not None else math.nan
        if mapping is not None and math.isfinite(real):
            name = f"{mapping.label} " if mapping.label else ""
            text += f"  {name}{_fmt(real, mapping.unit)} {mapping.unit}".rstrip()
        return text

    def probe_text(self, pos: tuple[float, float]) -> str | None:
        """Stored and modality value under a display position (for the status bar)."""
        return self._value_text(self._image_point(pos))
