"""Measuring inside the regions of an ultrasound image (PS3.3 C.8.5.5).

An ultrasound image has no Pixel Spacing: each region of it (the 2D scan, an M-mode or
Doppler strip, a waveform) says what a pixel is worth along each axis, in its own units
(centimetres, seconds, cm/s, ...). A measurement is calibrated only when all its points
lie in one region, and then in that region's units: a line along an M-mode strip's time
axis is a time, not a length, and a line from one scan of a dual view into the other is
no distance at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]

#: PS3.3 C.8.5.5.1.15 Physical Units X/Y Direction, as they are written beside a value.
UNIT_NAMES = {1: "%", 2: "dB", 3: "cm", 4: "s", 5: "Hz", 6: "dB/s", 7: "cm/s", 8: "cm²",
              9: "cm²/s", 0xA: "cm³", 0xB: "cm³/s", 0xC: "°"}
CM = 3


@dataclass(frozen=True)
class UltrasoundRegion:
    """One region of Sequence of Ultrasound Regions (0018,6011), PS3.3 C.8.5.5.1.

    Attributes
    ----------
    bounds : tuple of int
        Region Location Min X0, Min Y0, Max X1, Max Y1 (0-based pixel columns and rows,
        both ends inside).
    units : tuple of int
        Physical Units X and Y Direction (C.8.5.5.1.15); 0 is none.
    delta : tuple of float
        Physical Delta X and Y: what one pixel is worth along each axis, in ``units``.
    """

    bounds: tuple[int, int, int, int]
    units: tuple[int, int]
    delta: tuple[float, float]

    def contains(self, point: Point) -> bool:
        """Whether ``point`` (col, row; pixel centres at whole numbers) is inside."""
        x0, y0, x1, y1 = self.bounds
        return x0 - 0.5 <= point[0] <= x1 + 0.5 and y0 - 0.5 <= point[1] <= y1 + 0.5

    @property
    def area(self) -> int:
        x0, y0, x1, y1 = self.bounds
        return (x1 - x0 + 1) * (y1 - y0 + 1)

    @property
    def in_cm(self) -> bool:
        """Both axes measure centimetres: lengths and areas are true inside it."""
        return self.units == (CM, CM)

    def axis_text(self, p0: Point, p1: Point) -> str:
        """The horizontal and vertical extent between two points in this region's units,
        for a region whose axes are not both lengths (M-mode: time and depth)."""
        parts = []
        for axis, name in ((0, "horizontal"), (1, "vertical")):
            unit = self.units[axis]
            if unit not in UNIT_NAMES:
                continue
            value = abs(p1[axis] - p0[axis]) * self.delta[axis]
            shown, label = (value * 10.0, "mm") if unit == CM else (value, UNIT_NAMES[unit])
            parts.append(f"{name} {shown:.3g} {label}")
        return ", ".join(parts)


def read_regions(sequence: Any) -> tuple[UltrasoundRegion, ...]:
    """The regions of a Sequence of Ultrasound Regions that state any physical unit.

    A region whose location or deltas cannot be read, or are not positive and finite, is
    left out: nothing measured in it is calibrated.
    """
    regions = []
    for item in sequence or ():
        try:
            bounds = tuple(int(item.get(k)) for k in (
                "RegionLocationMinX0", "RegionLocationMinY0",
                "RegionLocationMaxX1", "RegionLocationMaxY1"))
            units = (int(item.get("PhysicalUnitsXDirection", 0) or 0),
                     int(item.get("PhysicalUnitsYDirection", 0) or 0))
            delta = (abs(float(item.get("PhysicalDeltaX", 0) or 0)),
                     abs(float(item.get("PhysicalDeltaY", 0) or 0)))
        except (TypeError, ValueError):
            continue
        usable = tuple(u if u in UNIT_NAMES and d > 0 and math.isfinite(d) else 0
                       for u, d in zip(units, delta, strict=True))
        if bounds[0] > bounds[2] or bounds[1] > bounds[3] or not any(usable):
            continue
        regions.append(UltrasoundRegion(bounds, (usable[0], usable[1]), delta))  # type: ignore[arg-type]
    return tuple(regions)


def region_of(regions: Sequence[UltrasoundRegion], points: Sequence[Point]
              ) -> UltrasoundRegion | None:
    """The region holding every one of ``points`` (the smallest, where regions nest), or
    None when no single region holds them all."""
    holding = [r for r in regions if all(r.contains(p) for p in points)]
    return min(holding, key=lambda r: r.area) if holding else None
