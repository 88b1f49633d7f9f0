"""Anatomy of the synthetic phantoms: tissue label maps computed with vectorised numpy.

Every shape is painted inside its own bounding box, so one 512 x 512 slice of the torso
takes a few milliseconds. A slice is a pure function of the phantom's seed and the slice
position: slices can be made in any order, alone or in parallel, and come out the same.
Nothing here knows DICOM; :mod:`viewer.dicom.synthetic` turns labels into stored values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

LabelArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


class Tissue(IntEnum):
    """Tissue classes of the phantoms; the modalities map them to values."""

    AIR = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    SOFT = 4
    LUNG = 5
    LUNG_VESSEL = 6
    CORTICAL_BONE = 7
    CANCELLOUS_BONE = 8
    LIVER = 9
    HEPATIC_VESSEL = 10
    KIDNEY_CORTEX = 11
    KIDNEY_MEDULLA = 12
    RENAL_SINUS = 13
    AORTA = 14
    VEIN = 15
    MYOCARDIUM = 16
    BLOOD_POOL = 17
    SPLEEN = 18
    BOWEL_GAS = 19
    CSF = 20
    GREY_MATTER = 21
    WHITE_MATTER = 22
    DISC = 23
    TABLE = 24


# Mean CT numbers of the phantom (HU). Published ranges for contrast-enhanced portal venous
# phase CT; the aorta is the reference region tests measure.
CT_HU: dict[Tissue, float] = {
    Tissue.AIR: -1000.0,
    Tissue.SKIN: 40.0,
    Tissue.FAT: -100.0,
    Tissue.MUSCLE: 50.0,
    Tissue.SOFT: 30.0,
    Tissue.LUNG: -850.0,
    Tissue.LUNG_VESSEL: 80.0,
    Tissue.CORTICAL_BONE: 850.0,
    Tissue.CANCELLOUS_BONE: 250.0,
    Tissue.LIVER: 60.0,
    Tissue.HEPATIC_VESSEL: 160.0,
    Tissue.KIDNEY_CORTEX: 180.0,
    Tissue.KIDNEY_MEDULLA: 110.0,
    Tissue.RENAL_SINUS: -60.0,
    Tissue.AORTA: 300.0,
    Tissue.VEIN: 150.0,
    Tissue.MYOCARDIUM: 55.0,
    Tissue.BLOOD_POOL: 260.0,
    Tissue.SPLEEN: 55.0,
    Tissue.BOWEL_GAS: -950.0,
    Tissue.CSF: 8.0,
    Tissue.GREY_MATTER: 40.0,
    Tissue.WHITE_MATTER: 27.0,
    Tissue.DISC: 85.0,
    Tissue.TABLE: -350.0,
}

# T1-weighted spin echo signal of the same tissues (arbitrary units, 12-bit range).
MR_T1: dict[Tissue, float] = {
    Tissue.AIR: 0.0,
    Tissue.SKIN: 900.0,
    Tissue.FAT: 1500.0,
    Tissue.MUSCLE: 600.0,
    Tissue.SOFT: 650.0,
    Tissue.CORTICAL_BONE: 40.0,
    Tissue.CANCELLOUS_BONE: 1200.0,
    Tissue.CSF: 180.0,
    Tissue.GREY_MATTER: 700.0,
    Tissue.WHITE_MATTER: 1000.0,
    Tissue.AORTA: 60.0,
    Tissue.VEIN: 60.0,
}


def value_table(values: dict[Tissue, float], default: float = 0.0) -> FloatArray:
    """Return a lookup table from tissue label to value (for ``numpy.take``)."""
    table = np.full(len(Tissue), default, dtype=np.float32)
    for tissue, value in values.items():
        table[int(tissue)] = value
    return table


class Canvas:
    """A label image with its patient coordinates, and shapes painted in millimetres.

    Parameters
    ----------
    rows, cols : int
        Matrix size.
    spacing : float
        Pixel spacing in mm (square pixels).

    Notes
    -----
    ``x`` grows to the right of the image (patient left in an axial HFS slice) and ``y``
    downwards (patient posterior), the directions of PS3.3 C.7.6.2.1.1 for an axial
    slice with orientation ``1\\0\\0\\0\\1\\0``; the centre of the matrix is (0, 0).
    """

    def __init__(self, rows: int, cols: int, spacing: float) -> None:
        self.rows = rows
        self.cols = cols
        self.spacing = spacing
        self.x0 = -(cols - 1) / 2.0 * spacing
        self.y0 = -(rows - 1) / 2.0 * spacing
        self.xs = (self.x0 + spacing * np.arange(cols)).astype(np.float32)
        self.ys = (self.y0 + spacing * np.arange(rows)).astype(np.float32)
        self.labels: LabelArray = np.zeros((rows, cols), dtype=np.uint8)

    def clear(self) -> None:
        """Set every pixel back to air."""
        self.labels.fill(Tissue.AIR)

    def _box(self, cx: float, cy: float, rx: float, ry: float) -> tuple[slice, slice] | None:
        c0 = max(math.floor((cx - rx - self.x0) / self.spacing), 0)
        c1 = min(math.ceil((cx + rx - self.x0) / self.spacing) + 1, self.cols)
        r0 = max(math.floor((cy - ry - self.y0) / self.spacing), 0)
        r1 = min(math.ceil((cy + ry - self.y0) / self.spacing) + 1, self.rows)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)

    def ellipse(
        self,
        tissue: Tissue,
        cx: float,
        cy: float,
        a: float,
        b: float,
        *,
        angle: float = 0.0,
        only: tuple[Tissue, ...] = (),
        wobble: float = 0.0,
        lobes: int = 0,
        phase: float = 0.0,
    ) -> None:
        """Paint an ellipse of semi-axes ``a`` (x) and ``b`` (y) mm, rotated by ``angle``.

        ``only`` restricts the paint to pixels that already hold one of those tissues;
        ``wobble`` makes the outline undulate by that fraction with ``lobes`` lobes (the
        folded outline of white matter).
        """
        if a <= 0.0 or b <= 0.0:
            return
        reach = max(a, b) * (1.0 + abs(wobble))
        box = self._box(cx, cy, reach, reach) if angle or wobble else self._box(cx, cy, a, b)
        if box is None:
            return
        rs, cs = box
        dx = self.xs[cs][np.newaxis, :] - np.float32(cx)
        dy = self.ys[rs][:, np.newaxis] - np.float32(cy)
        if angle:
            cos, sin = np.float32(math.cos(angle)), np.float32(math.sin(angle))
            dx, dy = dx * cos + dy * sin, dy * cos - dx * sin
        u = dx * np.float32(1.0 / a)
        v = dy * np.float32(1.0 / b)
        rho = u * u + v * v
        if wobble:
            limit = 1.0 + np.float32(wobble) * np.cos(lobes * np.arctan2(v, u) + phase)
            inside = rho <= limit * limit
        else:
            inside = rho <= 1.0
        target = self.labels[rs, cs]
        if only:
            allowed = target == only[0]
            for tissue_ in only[1:]:
                allowed |= target == tissue_
            inside &= allowed
        target[inside] = tissue

    def bone(
        self, cx: float, cy: float, a: float, b: float, cortex: float, *, angle: float = 0.0
    ) -> None:
        """Paint a bone section: a cortical shell of ``cortex`` mm around cancellous bone."""
        self.ellipse(Tissue.CORTICAL_BONE, cx, cy, a, b, angle=angle)
        self.ellipse(Tissue.CANCELLOUS_BONE, cx, cy, a - cortex, b - cortex, angle=angle)


@dataclass(frozen=True, slots=True)
class _Track:
    """A tube that runs along z: a vessel seen in cross-section on each slice."""

    u: float  # position in the organ's unit disc at z = 0
    v: float
    du: float  # drift per mm of z
    dv: float
    radius: float  # mm
    z0: float  # extent along z
    z1: float


def _tracks(rng: np.random.Generator, count: int, z0: float, z1: float, r: float) -> list[_Track]:
    out = []
    for _ in range(count):
        angle = rng.uniform(0.0, 2.0 * math.pi)
        dist = math.sqrt(rng.uniform(0.0, 0.8))
        start = rng.uniform(z0, z1 - 20.0)
        out.append(
            _Track(
                u=dist * math.cos(angle),
                v=dist * math.sin(angle),
                du=rng.normal(0.0, 0.004),
                dv=rng.normal(0.0, 0.004),
                radius=r * rng.uniform(0.4, 1.0),
                z0=start,
                z1=start + rng.uniform(20.0, 140.0),
            )
        )
    return out


def _profile(z: float, z0: float, z1: float) -> float:
    """Size factor of an organ between ``z0`` and ``z1``: 0 at the ends, 1 in the middle."""
    if z <= z0 or z >= z1:
        return 0.0
    t = (z - z0) / (z1 - z0)
    return math.sqrt(math.sin(math.pi * t))


class TorsoPhantom:
    """Axial slices of a contrast-enhanced chest and upper abdomen.

    ``z`` is the patient's superior direction in mm, 0 at the dome of the liver; the
    lungs reach about +230, the kidneys about -150. Painting order is the order of
    overlap: later organs cover earlier ones.

    Parameters
    ----------
    seed : int
        Chooses the vessel tracks; the same seed gives the same phantom.
    """

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng([seed, 0x70])
        self.lung_vessels = (
            _tracks(rng, 70, -40.0, 230.0, 3.2),
            _tracks(rng, 70, -40.0, 230.0, 3.2),
        )
        self.liver_vessels = _tracks(rng, 18, -160.0, 10.0, 5.0)
        # Ribs run obliquely, so each appears on a slice at angles that move with z.
        self.rib_phase = rng.uniform(0.0, 30.0, size=9)

    def paint(self, canvas: Canvas, z: float) -> None:
        """Paint the slice at height ``z`` (mm) into ``canvas``."""
        canvas.clear()
        ell = canvas.ellipse
        chest = min(max((z + 60.0) / 80.0, 0.0), 1.0)  # 0 in the abdomen, 1 in the chest
        a, b = 160.0 + 10.0 * chest, 115.0 + 8.0 * chest
        if z > 200.0:  # the shoulders narrow the body towards the neck
            shrink = 1.0 - 0.45 * min((z - 200.0) / 80.0, 1.0)
            a, b = a * shrink, b * (0.5 + 0.5 * shrink)
        ell(Tissue.TABLE, 0.0, b + 22.0, 190.0, 8.0)
        ell(Tissue.SKIN, 0.0, 0.0, a, b)
        ell(Tissue.FAT, 0.0, 0.0, a - 2.0, b - 2.0)
        ell(Tissue.MUSCLE, 0.0, 4.0, a - 16.0, b - 14.0)
        ell(Tissue.SOFT, 0.0, -8.0, a - 38.0, b - 40.0)

        self._paint_lungs_and_heart(canvas, z, a, b)
        self._paint_abdomen(canvas, z)
        self._paint_skeleton(canvas, z, a, b)

    def _paint_lungs_and_heart(self, canvas: Canvas, z: float, a: float, b: float) -> None:
        ell = canvas.ellipse
        s = _profile(z, -40.0, 240.0)
        if s > 0.0:
            drop = 30.0 * (1.0 - s)  # the bases sit posteriorly, behind the liver dome
            for side, tracks in zip((-1.0, 1.0), self.lung_vessels, strict=True):
                cx, cy = side * 0.47 * a, 5.0 + drop
                la, lb = 0.36 * a * s, 0.62 * b * s
                ell(Tissue.LUNG, cx, cy, la, lb, only=(Tissue.SOFT, Tissue.MUSCLE))
                for t in tracks:
                    if t.z0 <= z <= t.z1:
                        vx = cx + (t.u + t.du * z) * la
                        vy = cy + (t.v + t.dv * z) * lb
                        r = t.radius * (0.5 + 0.5 * s)
                        ell(Tissue.LUNG_VESSEL, vx, vy, r, r, only=(Tissue.LUNG,))
        h = _profile(z, -30.0, 100.0)
        if h > 0.0:
            ell(Tissue.MYOCARDIUM, 18.0, -30.0, 62.0 * h, 52.0 * h, angle=-0.5)
            ell(Tissue.BLOOD_POOL, 14.0, -30.0, 42.0 * h, 33.0 * h, angle=-0.5)
        if 20.0 <= z <= 110.0:  # ascending aorta and arch
            ell(Tissue.AORTA, -12.0, -18.0, 15.0, 15.0)
            ell(Tissue.VEIN, -38.0, -22.0, 10.0, 10.0)  # superior vena cava
        if 100.0 <= z <= 118.0:
            ell(Tissue.AORTA, 5.0, 5.0, 30.0, 13.0, angle=0.9)

    def _paint_abdomen(self, canvas: Canvas, z: float) -> None:
        ell = canvas.ellipse
        organs = (Tissue.SOFT, Tissue.MUSCLE, Tissue.LUNG, Tissue.LUNG_VESSEL)
        liver = _profile(z, -170.0, 20.0)
        if liver > 0.0:
            la, lb = 92.0 * liver, 85.0 * liver
            ell(Tissue.LIVER, -52.0, -6.0, la, lb, only=organs, angle=0.3)
            for t in self.liver_vessels:
                if t.z0 <= z <= t.z1:
                    ell(
                        Tissue.HEPATIC_VESSEL,
                        -52.0 + t.u * la,
                        -6.0 + t.v * lb,
                        t.radius,
                        t.radius,
                        only=(Tissue.LIVER,),
                    )
        spleen = _profile(z, -120.0, -10.0)
        if spleen > 0.0:
            ell(Tissue.SPLEEN, 88.0, 38.0, 30.0 * spleen, 48.0 * spleen, angle=-0.6, only=organs)
        stomach = _profile(z, -80.0, 5.0)
        if stomach > 0.0:
            ell(Tissue.SOFT, 45.0, -42.0, 42.0 * stomach, 32.0 * stomach, only=organs)
            ell(Tissue.BOWEL_GAS, 45.0, -58.0, 30.0 * stomach, 14.0 * stomach)
        kidney = _profile(z, -155.0, -50.0)
        if kidney > 0.0:
            for side in (-1.0, 1.0):
                cx, cy, rot = side * 70.0, 48.0, side * 0.45
                ell(Tissue.KIDNEY_CORTEX, cx, cy, 28.0 * kidney, 42.0 * kidney, angle=rot)
                ell(Tissue.KIDNEY_MEDULLA, cx, cy, 19.0 * kidney, 31.0 * kidney, angle=rot)
                ell(Tissue.RENAL_SINUS, cx - side * 10.0, cy - 4.0, 8.0 * kidney, 14.0 * kidney)
        if z < 20.0:
            ell(Tissue.VEIN, -26.0, 16.0, 12.0, 11.0)  # inferior vena cava
        if z < 110.0:
            ell(Tissue.AORTA, 24.0, 14.0, 12.5, 12.5)  # descending aorta: the reference ROI

    def _paint_skeleton(self, canvas: Canvas, z: float, a: float, b: float) -> None:
        ell = canvas.ellipse
        # Vertebrae 30 mm tall with a 6 mm disc between them.
        if (z % 30.0) < 6.0:
            ell(Tissue.DISC, 0.0, 46.0, 22.0, 19.0)
        else:
            canvas.bone(0.0, 46.0, 22.0, 19.0, 2.5)
        ell(Tissue.CORTICAL_BONE, 0.0, 76.0, 13.0, 11.0)
        ell(Tissue.CSF, 0.0, 75.0, 8.5, 7.5)  # spinal canal
        canvas.bone(0.0, 95.0, 5.5, 10.0, 1.5)  # spinous process
        for side in (-1.0, 1.0):
            canvas.bone(side * 27.0, 70.0, 13.0, 5.0, 1.5, angle=side * 0.35)
        if -120.0 <= z <= 230.0:
            ra, rb = a - 22.0, b - 20.0
            for k, phase in enumerate(self.rib_phase):
                for side in (-1.0, 1.0):
                    # Ribs slope down from the spine: the section moves round with z.
                    theta = 0.35 + 0.28 * k + 0.01 * ((z + phase) % 30.0)
                    if ((z + phase + 8.0 * k) % 26.0) > 16.0 or theta > 2.9:
                        continue
                    rx = side * ra * math.sin(theta)
                    ry = rb * math.cos(theta)
                    canvas.bone(rx, ry, 6.0, 4.0, 1.6, angle=-side * theta)
        if 0.0 <= z <= 190.0:
            canvas.bone(0.0, -b + 24.0, 16.0, 7.0, 1.5)  # sternum


class HeadPhantom:
    """Axial slices of a head: scalp, skull, grey and white matter, ventricles.

    ``z`` is the superior direction in mm, 0 at the level of the lateral ventricles'
    bodies; the vertex is near +95 and the skull base near -60.

    Parameters
    ----------
    seed : int
        Chooses the folding of the cortex; the same seed gives the same phantom.
    """

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng([seed, 0x4E])
        self.fold_phase = float(rng.uniform(0.0, 2.0 * math.pi))
        self.fold_lobes = int(rng.integers(11, 15))

    def paint(self, canvas: Canvas, z: float) -> None:
        """Paint the slice at height ``z`` (mm) into ``canvas``."""
        canvas.clear()
        ell = canvas.ellipse
        s = _profile(z, -75.0, 105.0) if z > -75.0 else 0.0
        s = max(s, 0.0)
        if s == 0.0:
            return
        a, b = 74.0 * s, 92.0 * s
        ell(Tissue.TABLE, 0.0, 105.0, 70.0, 6.0)
        ell(Tissue.SKIN, 0.0, 0.0, a, b)
        ell(Tissue.FAT, 0.0, 0.0, a - 2.0, b - 2.0)
        ell(Tissue.CORTICAL_BONE, 0.0, 0.0, a - 5.0, b - 5.0)
        ell(Tissue.CANCELLOUS_BONE, 0.0, 0.0, a - 7.0, b - 7.0)
        ell(Tissue.CORTICAL_BONE, 0.0, 0.0, a - 9.0, b - 9.0)
        ell(Tissue.CSF, 0.0, 0.0, a - 11.0, b - 11.0)
        ell(Tissue.GREY_MATTER, 0.0, 0.0, a - 13.0, b - 13.0)
        wm = _profile(z, -45.0, 80.0)
        if wm > 0.0:
            ell(
                Tissue.WHITE_MATTER,
                0.0,
                2.0,
                (a - 24.0) * wm,
                (b - 26.0) * wm,
                wobble=0.07,
                lobes=self.fold_lobes,
                phase=self.fold_phase + z / 12.0,
            )
        if s > 0.5:  # falx cerebri and the interhemispheric fissure
            ell(Tissue.CSF, 0.0, 0.0, 1.2, b - 12.0, only=(Tissue.GREY_MATTER, Tissue.WHITE_MATTER))
        vent = _profile(z, -12.0, 38.0)
        if vent > 0.0:
            for side in (-1.0, 1.0):
                ell(Tissue.CSF, side * 9.0, -4.0, 5.5 * vent, 24.0 * vent, angle=-side * 0.25)
        third = _profile(z, -22.0, 0.0)
        if third > 0.0:
            ell(Tissue.CSF, 0.0, 4.0, 2.5, 12.0 * third)


def textured_noise(rng: np.random.Generator, rows: int, cols: int) -> FloatArray:
    """Return unit-variance noise with the fine correlation of a reconstructed CT image."""
    n = rng.standard_normal((rows + 1, cols + 1), dtype=np.float32)
    out = n[:-1, :-1] + n[1:, :-1] + n[:-1, 1:] + n[1:, 1:]
    out *= np.float32(0.5)
    return out


def partial_volume(values: FloatArray) -> FloatArray:
    """Soften edges as a scanner's point spread does: a separable [1 2 1] / 4 blur.

    Without it every organ boundary is a one-pixel staircase that no real image has.
    """
    p = np.pad(values, 1, mode="edge")
    rows = p[:-2, :] + p[1:-1, :] * np.float32(2.0) + p[2:, :]
    out = rows[:, :-2] + rows[:, 1:-1] * np.float32(2.0) + rows[:, 2:]
    out *= np.float32(1.0 / 16.0)
    return out
