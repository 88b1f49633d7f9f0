"""Image plane geometry: slice order, orientation labels, and what a distance is measured in.

Sorting works on :class:`~viewer.core.records.InstanceRecord` (what the store indexes), so a
series is ordered without opening its files again. Orientation labels and the spacing text
follow PS3.3 C.7.6.2 (Image Plane module) and PS3.3 10.7.1 (pixel spacing calibration).
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from viewer.core.records import InstanceRecord
from viewer.dicom.header import frame_count_problem
from viewer.dicom.params import functional_group
from viewer.dicom.us_regions import UltrasoundRegion, read_regions
from viewer.dicom.values import listed, numbers_of, positive_number

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameRef:
    """One displayable frame of a series: a file and a 0-based frame index in it."""

    path: str
    frame: int
    sop_instance_uid: str
    instance_number: int | None = None


def slice_normal(orientation: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Unit normal of an image plane: row cosines x column cosines (PS3.3 C.7.6.2.1.1)."""
    row = np.asarray(orientation[:3], dtype=np.float64)
    col = np.asarray(orientation[3:6], dtype=np.float64)
    normal = np.cross(row, col)
    norm = float(np.linalg.norm(normal))
    return normal / norm if norm > 0 else normal


def location_along_normal(orientation: Sequence[float], position: Sequence[float]) -> float:
    """A slice's location (mm) when the file has no Slice Location (0020,1041).

    The distance of the plane from the origin along its normal (PS3.3 C.7.6.2.1.1), the
    normal taken towards the positive end of the patient axis it is closest to (left,
    posterior, head): an axial slice's location is then its z, whichever way its rows
    run. The plain cross product of the row and column directions turns over with them,
    and the same slice read 159 mm in one file and -159 mm in another.

    Parameters
    ----------
    orientation : sequence of float
        Image Orientation (Patient): row and column direction cosines.
    position : sequence of float
        Image Position (Patient) of the first pixel.

    Returns
    -------
    float
        The location in millimetres.
    """
    normal = slice_normal(orientation)
    if normal[int(np.argmax(np.abs(normal)))] < 0:
        normal = -normal
    return float(np.dot(normal, position))


def stack_ranks(locations: Sequence[Hashable]) -> list[int]:
    """Which stack each image of a series belongs to, where positions repeat.

    ``locations`` are the images' locations along the slice normal, in the order that
    decides among images at one location (Instance Number, or the frames' order in their
    file). The k-th image at a location goes to stack k: a diffusion series with b = 0
    and b = 1000 at the same positions, a multi-echo or a dynamic series is then two or
    more stacks, each in space order, one after the other. Sorted by position alone, the
    contrasts alternated at every step of the scroll (PS3.3 C.7.6.2.1.1 gives the
    positions; no clause fixes how repeated ones are shown).

    Parameters
    ----------
    locations : sequence of hashable
        Locations (rounded, so that equal positions compare equal), or anything else
        that says which images share a place.

    Returns
    -------
    list of int
        The stack index of each image (all 0 when no position repeats).
    """
    seen: dict[Hashable, int] = {}
    ranks = []
    for location in locations:
        rank = seen.get(location, 0)
        seen[location] = rank + 1
        ranks.append(rank)
    return ranks


def sort_instances(records: Iterable[InstanceRecord]) -> list[InstanceRecord]:
    """Order a series' instances for scrolling.

    When every instance has an Image Position and all share one Image Orientation, the order
    is the position along the slice normal (PS3.3 C.7.6.2.1.1); Instance Number only breaks
    ties. Where positions repeat (several images per position), the series is split into
    stacks by :func:`stack_ranks`, shown one after the other. Otherwise Instance Number
    (0020,0013) orders, then the SOP Instance UID, so that the order never depends on file
    names.
    """
    items = list(records)

    def by_number(r: InstanceRecord) -> tuple[int, int, str]:
        n = r.instance_number
        return (0 if n is not None else 1, n if n is not None else 0, r.sop_instance_uid)

    orientations = {r.image_orientation for r in items}
    if (
        len(items) > 1
        and all(r.image_position is not None for r in items)
        and len(orientations) == 1
        and None not in orientations
    ):
        first = next(iter(orientations))
        assert first is not None
        normal = slice_normal(first)
        # one matrix product for the whole series: the first image must not wait on a
        # Python-level dot product per slice
        positions = np.array([r.image_position for r in items], dtype=np.float64)
        distances = np.round(positions @ np.asarray(normal, dtype=np.float64), 4).tolist()
        numbered = sorted(zip(map(by_number, items), distances, items, strict=True),
                          key=lambda t: t[0])
        ranks = stack_ranks([d for _, d, _ in numbered])
        keyed = sorted(zip(ranks, numbered, strict=True), key=lambda t: (t[0], t[1][1], t[1][0]))
        return [item for _, (_, _, item) in keyed]
    return sorted(items, key=by_number)


def series_frames(records: Iterable[InstanceRecord]) -> list[FrameRef]:
    """Every frame of a series in display order (each multi-frame file in frame order).

    A record claiming more frames than its file can hold (rows stored before the header
    reader checked that) is left out with a log line: each frame gets a place here
    before any pixel is read.
    """
    frames: list[FrameRef] = []
    for r in sort_instances(records):
        problem = frame_count_problem(r) if r.file_size else ""
        if problem:
            LOGGER.warning("%s left out: %s", r.file_path, problem)
            continue
        for i in range(max(1, r.number_of_frames)):
            frames.append(FrameRef(r.file_path, i, r.sop_instance_uid, r.instance_number))
    return frames


# PS3.3 C.7.6.1.1.1 / C.7.6.2.1.1: the patient coordinate system is LPS
# (+x toward the patient's Left, +y Posterior, +z Head).
_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))


def direction_label(vector: Sequence[float], threshold: float = 0.25) -> str:
    """Letters of the patient direction a vector points to, strongest first (e.g. ``LP``).

    Components weaker than ``threshold`` are left out, so an axial row direction tilted by a
    few degrees still reads ``L``; a true oblique reads ``LPH``.
    """
    v = [float(x) for x in vector[:3]]
    order = sorted(range(3), key=lambda i: -abs(v[i]))
    letters = [_AXIS_LETTERS[i][1 if v[i] > 0 else 0] for i in order if abs(v[i]) >= threshold]
    return "".join(letters)


@dataclass(frozen=True)
class OrientationLabels:
    """The patient direction at each edge of the displayed image."""

    left: str
    right: str
    top: str
    bottom: str

    def transformed(self, matrix: Sequence[Sequence[int]]) -> OrientationLabels:
        """The labels after the image is turned or flipped on screen by ``matrix``.

        ``matrix`` maps image (x right, y down) to screen directions, as
        :class:`viewer.render.transform.ViewTransform` keeps it.
        """
        by_dir = {(1, 0): self.right, (-1, 0): self.left, (0, 1): self.bottom, (0, -1): self.top}
        out: dict[tuple[int, int], str] = {}
        for (dx, dy), label in by_dir.items():
            sx = int(matrix[0][0] * dx + matrix[0][1] * dy)
            sy = int(matrix[1][0] * dx + matrix[1][1] * dy)
            out[(sx, sy)] = label
        return OrientationLabels(out[(-1, 0)], out[(1, 0)], out[(0, -1)], out[(0, 1)])


def orientation_labels(orientation: Sequence[float] | None) -> OrientationLabels | None:
    """Edge labels from Image Orientation (Patient) (0020,0037), PS3.3 C.7.6.2.1.1.

    The row cosines point from the left column toward the right one (screen right), the
    column cosines from the top row down. ``None`` without an orientation.
    """
    if orientation is None or len(orientation) < 6:
        return None
    row = [float(x) for x in orientation[:3]]
    col = [float(x) for x in orientation[3:6]]
    if not any(row) or not any(col):
        return None
    return OrientationLabels(
        left=direction_label([-x for x in row]),
        right=direction_label(row),
        top=direction_label([-x for x in col]),
        bottom=direction_label(col),
    )


_OPPOSITE = str.maketrans("LRAPHF", "RLPAFH")


def patient_orientation_labels(values: Sequence[str] | None) -> OrientationLabels | None:
    """Edge labels from Patient Orientation (0020,0020), for images without a plane.

    PS3.3 C.7.6.1.1.1: the first value is the direction of the rows (toward the right of
    the image), the second that of the columns (toward the bottom), e.g. ``L\\F``.
    """
    if not values or len(values) < 2:
        return None
    right, bottom = str(values[0]).strip().upper(), str(values[1]).strip().upper()
    if not right or not bottom:
        return None
    return OrientationLabels(
        left=right.translate(_OPPOSITE), right=right, top=bottom.translate(_OPPOSITE), bottom=bottom
    )


class SpacingKind(enum.Enum):
    """What a measured distance means (PS3.3 10.7.1)."""

    PATIENT = "patient"  # Pixel Spacing of a cross-sectional image
    CALIBRATED = "calibrated"  # projection image, Pixel Spacing corrected or calibrated
    DETECTOR = "detector"  # Imager Pixel Spacing only: at the detector plane
    MAGNIFICATION = "magnification"  # Imager Pixel Spacing / estimated magnification
    ISOCENTRE = "isocentre"  # X-ray projection calibrated at the isocentre (C.8.19.6.9)
    DIGITIZER = "digitizer"  # Nominal Scanned Pixel Spacing of a film digitiser
    UNKNOWN = "unknown"  # projection image, Pixel Spacing alone: calibration unknown
    ULTRASOUND = "ultrasound"  # the physical deltas of the ultrasound image's regions
    PIXELS = "pixels"  # nothing: distances in pixels


@dataclass(frozen=True)
class PixelSpacing:
    """Spacing used for measurements and the scale bar.

    Parameters
    ----------
    row, column : float
        mm between rows (vertical) and between columns (horizontal) (PS3.3 10.7.1.3);
        1.0 with :attr:`SpacingKind.PIXELS`.
    kind : SpacingKind
        Which attribute the values come from.
    calibration : str
        Pixel Spacing Calibration Type (0028,0A02) and its description, if given.
    regions : tuple of UltrasoundRegion
        An ultrasound image's calibrated regions (PS3.3 C.8.5.5): a measurement takes the
        units of the one region holding it (:func:`~viewer.dicom.us_regions.region_of`).
    source : str
        The attributes a detector-plane or isocentre spacing comes from, where they are
        not the usual ones (an RT Image's Image Plane Pixel Spacing).
    """

    row: float = 1.0
    column: float = 1.0
    kind: SpacingKind = SpacingKind.PIXELS
    calibration: str = ""
    regions: tuple[UltrasoundRegion, ...] = ()
    source: str = ""

    @property
    def unit(self) -> str:
        """``mm`` or ``px``."""
        return "px" if self.kind is SpacingKind.PIXELS else "mm"

    @property
    def qualifier(self) -> str:
        """What a distance measured with this spacing carries beside its number: "" where
        it is true in the patient (or the calibration says so), "detector" at the
        detector plane (PS3.3 10.7.1.1), "est." corrected by an estimated magnification
        (10.7.1.2). A screenshot of a length has no corner text to tell."""
        if self.kind is SpacingKind.DETECTOR:
            return "detector"
        if self.kind is SpacingKind.MAGNIFICATION:
            return "est."
        if self.kind is SpacingKind.ISOCENTRE:
            return "at isocentre"
        if self.kind is SpacingKind.UNKNOWN:
            return "calibration unknown"
        return ""

    def describe(self) -> str:
        """One line for the viewport: where the distances are true."""
        if self.kind is SpacingKind.PIXELS and self.regions:
            return "ultrasound regions: measured in the units of the region holding them"
        if self.kind is SpacingKind.PIXELS:
            aspect = f" ({self.calibration})" if self.calibration else ""
            return f"no pixel spacing: distances in pixels{aspect}"
        text = {
            SpacingKind.PATIENT: "",
            SpacingKind.CALIBRATED: "calibrated",
            SpacingKind.DETECTOR: f"at detector ({self.source or 'Imager Pixel Spacing'})",
            SpacingKind.MAGNIFICATION: "Imager Pixel Spacing / magnification",
            SpacingKind.ISOCENTRE: "at the isocentre "
                                   f"({self.source or 'Object Pixel Spacing in Center of Beam'})",
            SpacingKind.DIGITIZER: "film digitiser spacing",
            SpacingKind.UNKNOWN: "Pixel Spacing, calibration unknown",
            SpacingKind.ULTRASOUND: "ultrasound region calibration (true inside the scan)",
        }[self.kind]
        if self.calibration:
            text = f"{text} {self.calibration}".strip()
        return text


def _pair(value: Any) -> tuple[float, float] | None:
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(values) < 2 or not all(math.isfinite(v) and v > 0 for v in values[:2]):
        return None
    return (values[0], values[1])


#: PS3.3 C.8.5.5.1.1 Region Spatial Format 1 (2D: tissue or colour flow), and
#: C.8.5.5.1.15 Physical Units 3 (cm).
_REGION_2D, _UNITS_CM = 1, 3


def _ultrasound_spacing(regions: Any) -> tuple[float, float] | None:
    """Row and column spacing (mm) of an ultrasound image's 2D regions (PS3.3 C.8.5.5),
    or None.

    Ultrasound images carry no Pixel Spacing: each region of the image (the scan, a
    Doppler strip) says how long a pixel is in it. When every 2D region measures in
    centimetres with the same deltas (one scan, or a dual view of two), that holds for
    any distance measured inside them; otherwise distances stay in pixels.
    """
    found: set[tuple[float, float]] = set()
    for region in regions or ():
        try:
            if int(region.get("RegionSpatialFormat", 0)) != _REGION_2D:
                continue  # M-mode, spectral Doppler, waveforms: time along an axis
            units = (int(region.get("PhysicalUnitsXDirection", 0)),
                     int(region.get("PhysicalUnitsYDirection", 0)))
            delta_x = float(region.get("PhysicalDeltaX"))
            delta_y = float(region.get("PhysicalDeltaY"))
        except (TypeError, ValueError):
            return None
        if units != (_UNITS_CM, _UNITS_CM) or not (delta_x > 0 and delta_y > 0) or not (
                math.isfinite(delta_x) and math.isfinite(delta_y)):
            return None
        found.add((round(delta_y * 10, 9), round(delta_x * 10, 9)))
    return found.pop() if len(found) == 1 else None


# PS3.3 10.7.1: the projection radiography IODs, by SOP Class (CR, DX, MG and IO for
# presentation and processing, XA, XRF and their enhanced forms) or by Modality.
_PROJECTION_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1",
    "1.2.840.10008.5.1.4.1.1.1.3", "1.2.840.10008.5.1.4.1.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.1.1",
    "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.12.2.1",
})
_PROJECTION_MODALITIES = frozenset({"CR", "DX", "MG", "IO", "XA", "RF", "PX"})


def _is_projection(attributes: dict[str, Any]) -> bool:
    return (str(attributes.get("SOPClassUID") or "").strip() in _PROJECTION_CLASSES
            or str(attributes.get("Modality") or "").strip().upper() in _PROJECTION_MODALITIES)


def pixel_spacing(attributes: dict[str, Any]) -> PixelSpacing:
    """Choose the spacing a measurement uses, by PS3.3 10.7.1.

    Parameters
    ----------
    attributes : dict
        Keyword -> value of the image (or of the frame's Pixel Measures functional group):
        ``PixelSpacing``, ``ImagerPixelSpacing``, ``NominalScannedPixelSpacing``,
        ``PixelSpacingCalibrationType``, ``PixelSpacingCalibrationDescription``,
        ``EstimatedRadiographicMagnificationFactor``, ``PixelAspectRatio``,
        ``SequenceOfUltrasoundRegions``, ``ObjectPixelSpacingInCenterOfBeam``,
        ``ImagePlanePixelSpacing``, ``RTImageSID``, ``RadiationMachineSAD``,
        ``SOPClassUID``, ``Modality``; absent keys may be missing or None.

    Returns
    -------
    PixelSpacing
    """
    ps = _pair(attributes.get("PixelSpacing"))
    imager = _pair(attributes.get("ImagerPixelSpacing"))
    calibration = " ".join(
        str(attributes.get(k) or "").strip()
        for k in ("PixelSpacingCalibrationType", "PixelSpacingCalibrationDescription")
    ).strip()
    if ps is not None:
        if imager is None and _is_projection(attributes):
            if calibration:  # 10.7.1.2: a Calibration Type says it was calibrated
                return PixelSpacing(ps[0], ps[1], SpacingKind.CALIBRATED, calibration)
            scanned = _pair(attributes.get("NominalScannedPixelSpacing"))
            if scanned is not None and all(math.isclose(a, b, rel_tol=1e-6)
                                           for a, b in zip(ps, scanned, strict=True)):
                return PixelSpacing(ps[0], ps[1], SpacingKind.DIGITIZER)  # the film's plane
            # 10.7.1.1: with neither Imager Pixel Spacing, Nominal Scanned Pixel Spacing nor
            # a Calibration Type, "it cannot be determined whether or not correction or
            # calibration have been performed" (a CR's Pixel Spacing, often the plate's).
            return PixelSpacing(ps[0], ps[1], SpacingKind.UNKNOWN)
        if imager is None:
            return PixelSpacing(ps[0], ps[1], SpacingKind.PATIENT, calibration)
        same = all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(ps, imager, strict=True))
        if same and not str(attributes.get("PixelSpacingCalibrationType") or "").strip():
            # 10.7.1.1: equal values mean no correction was made: still at the detector.
            # A Calibration Type (10.7.1.2) says they were calibrated, equal or not.
            return PixelSpacing(ps[0], ps[1], SpacingKind.DETECTOR, calibration)
        return PixelSpacing(ps[0], ps[1], SpacingKind.CALIBRATED, calibration)
    isocentre = _pair(attributes.get("ObjectPixelSpacingInCenterOfBeam"))
    if imager is not None and isocentre is not None:
        # PS3.3 C.8.19.6.9: an enhanced X-ray frame's spacing in the plane through the
        # isocentre, what a vessel at the centre of rotation is measured in
        return PixelSpacing(isocentre[0], isocentre[1], SpacingKind.ISOCENTRE, calibration)
    if imager is not None:
        factor = positive_number(attributes.get("EstimatedRadiographicMagnificationFactor"))
        if factor is not None and not math.isclose(factor, 1.0):
            return PixelSpacing(
                imager[0] / factor, imager[1] / factor, SpacingKind.MAGNIFICATION, calibration
            )
        return PixelSpacing(imager[0], imager[1], SpacingKind.DETECTOR, calibration)
    plane = _pair(attributes.get("ImagePlanePixelSpacing"))
    if plane is not None:
        return _rt_image_spacing(plane, attributes, calibration)
    scanned = _pair(attributes.get("NominalScannedPixelSpacing"))
    if scanned is not None:
        return PixelSpacing(scanned[0], scanned[1], SpacingKind.DIGITIZER, calibration)
    regions = read_regions(attributes.get("SequenceOfUltrasoundRegions"))
    region = _ultrasound_spacing(attributes.get("SequenceOfUltrasoundRegions"))
    if region is not None:
        return PixelSpacing(region[0], region[1], SpacingKind.ULTRASOUND, calibration,
                            regions)
    if regions:
        return PixelSpacing(regions=regions)
    # PS3.3 C.7.6.3.1.7: without any spacing, Pixel Aspect Ratio (vertical \ horizontal
    # size) still shapes the pixels; distances stay in (horizontal) pixels.
    aspect = _pair(attributes.get("PixelAspectRatio"))
    if aspect is not None and not math.isclose(aspect[0], aspect[1]):
        return PixelSpacing(aspect[0] / aspect[1], 1.0, SpacingKind.PIXELS,
                            f"pixel aspect ratio {aspect[0]:g}:{aspect[1]:g}")
    return PixelSpacing()


def _rt_image_spacing(plane: tuple[float, float], attributes: dict[str, Any],
                      calibration: str) -> PixelSpacing:
    """An RT Image's spacing (PS3.3 C.8.8.2): Image Plane Pixel Spacing (3002,0011) is
    at the image receptor, RT Image SID (3002,0026) from the source; the isocentre lies
    Radiation Machine SAD (3002,0022) from it, so its spacing is the receptor's times
    SAD / SID (a portal image's field is planned and measured there)."""
    sid = positive_number(attributes.get("RTImageSID"))
    sad = positive_number(attributes.get("RadiationMachineSAD"))
    if sid is not None and sad is not None:
        scale = sad / sid
        return PixelSpacing(plane[0] * scale, plane[1] * scale, SpacingKind.ISOCENTRE,
                            calibration, source="Image Plane Pixel Spacing x SAD / RT Image SID")
    return PixelSpacing(plane[0], plane[1], SpacingKind.DETECTOR, calibration,
                        source="Image Plane Pixel Spacing, at the RT Image SID")


@dataclass(frozen=True)
class FramePlane:
    """Where one frame lies and how big its pixels are.

    Parameters
    ----------
    spacing : PixelSpacing
        For measurements and the scale bar.
    position : tuple of float or None
        Image Position (Patient) (0020,0032), mm.
    orientation : tuple of float or None
        Image Orientation (Patient) (0020,0037).
    thickness : float or None
        Slice Thickness (0018,0050), mm.
    location : float or None
        Slice Location (0020,1041), else the position along the slice normal, mm.
    """

    spacing: PixelSpacing
    position: tuple[float, ...] | None = None
    orientation: tuple[float, ...] | None = None
    thickness: float | None = None
    location: float | None = None
    patient_orientation: tuple[str, ...] | None = None

    def labels(self) -> OrientationLabels | None:
        """Edge labels: from the plane's orientation, else from Patient Orientation."""
        return orientation_labels(self.orientation) or patient_orientation_labels(
            self.patient_orientation
        )


_SPACING_KEYWORDS = (
    "PixelSpacing",
    "ImagerPixelSpacing",
    "NominalScannedPixelSpacing",
    "PixelSpacingCalibrationType",
    "PixelSpacingCalibrationDescription",
    "EstimatedRadiographicMagnificationFactor",
    "PixelAspectRatio",
    "SequenceOfUltrasoundRegions",
    "ImagePlanePixelSpacing",
    "RTImageSID",
    "RadiationMachineSAD",
    "SOPClassUID",
    "Modality",
)


def frame_plane(ds: Any, frame_index: int = 0) -> FramePlane:
    """Read a frame's plane from a header, functional groups first (PS3.3 C.7.6.16.2).

    Parameters
    ----------
    ds : pydicom.Dataset
        The header (anything with ``get(keyword)``).
    frame_index : int
        0-based frame.
    """
    attributes = {k: ds.get(k) for k in _SPACING_KEYWORDS}
    thickness = positive_number(ds.get("SliceThickness"))
    # PS3.3 C.8.19.6.4 / C.8.19.6.9: an enhanced X-ray frame's detector spacing and its
    # isocentre calibration live in functional groups, not at the top level
    properties = functional_group(ds, frame_index, "FramePixelDataPropertiesSequence")
    if properties is not None and properties.get("ImagerPixelSpacing") is not None:
        attributes["ImagerPixelSpacing"] = properties.get("ImagerPixelSpacing")
    projection = functional_group(ds, frame_index, "ProjectionPixelCalibrationSequence")
    if projection is not None:
        attributes["ObjectPixelSpacingInCenterOfBeam"] = projection.get(
            "ObjectPixelSpacingInCenterOfBeam")
    measures = functional_group(ds, frame_index, "PixelMeasuresSequence")
    if measures is not None:  # C.7.6.16.2.1 replaces the top-level values
        if measures.get("PixelSpacing") is not None:
            attributes["PixelSpacing"] = measures.get("PixelSpacing")
        thickness = positive_number(measures.get("SliceThickness")) or thickness
    position_item = functional_group(ds, frame_index, "PlanePositionSequence")
    orientation_item = functional_group(ds, frame_index, "PlaneOrientationSequence")
    position = (
        numbers_of((position_item or ds).get("ImagePositionPatient"), 3)
        if (position_item or ds).get("ImagePositionPatient") is not None
        else None
    )
    orientation = (
        numbers_of((orientation_item or ds).get("ImageOrientationPatient"), 6)
        if (orientation_item or ds).get("ImageOrientationPatient") is not None
        else None
    )
    shifted = False
    if position is None and orientation is None:
        position, orientation = _nm_tomo_plane(ds, frame_index)
        shifted = position is not None
    elif position_item is None and position and orientation and frame_index > 0:
        position, shifted = _grid_frame_position(ds, frame_index, position, orientation)
    location: float | None
    try:
        raw_location = ds.get("SliceLocation")
        location = float(raw_location) if raw_location not in (None, "") else None
    except (TypeError, ValueError):
        location = None
    if (position_item is not None or shifted or location is None) and position and orientation:
        location = location_along_normal(orientation, position)
    # C.7.6.16.2.15: an enhanced X-ray frame's Patient Orientation is in its group
    in_frame = functional_group(ds, frame_index, "PatientOrientationInFrameSequence")
    raw_po = (in_frame.get("PatientOrientation") if in_frame is not None else None
              ) or ds.get("PatientOrientation")
    patient_orientation = None
    if raw_po is not None and not isinstance(raw_po, str | bytes):
        patient_orientation = tuple(str(v) for v in raw_po)
    return FramePlane(
        pixel_spacing(attributes), position, orientation, thickness, location, patient_orientation
    )


# PS3.3 C.8.4.8.1 (Image Type value 3): the NM images whose frames are slices.
_NM_TOMO_TYPES = frozenset({"RECON TOMO", "RECON GATED TOMO"})


def _nm_tomo_plane(ds: Any, frame_index: int
                   ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """A frame's position and orientation in an NM tomographic image (PS3.3 C.8.4.10).

    An NM image keeps Image Position and Image Orientation (Patient) in its Detector
    Information Sequence (0054,0022), one item for a reconstruction; the position is
    the first slice's. Slice k (Slice Vector (0054,0080), else the frame's own order)
    lies k - 1 times Spacing Between Slices (0018,0088) further along the normal. (None,
    None) for any other image, or when the values are missing.
    """
    values = [str(v).strip().upper() for v in listed(ds.get("ImageType"))]
    if str(ds.get("Modality") or "").strip().upper() != "NM" or len(values) < 3 or (
            values[2] not in _NM_TOMO_TYPES):
        return None, None
    detectors = ds.get("DetectorInformationSequence") or []
    if len(detectors) < 1:
        return None, None
    first = numbers_of(detectors[0].get("ImagePositionPatient"), 3)
    orientation = numbers_of(detectors[0].get("ImageOrientationPatient"), 6)
    if first is None or orientation is None:
        return None, orientation
    slices = listed(ds.get("SliceVector"))
    slice_number = frame_index + 1
    if frame_index < len(slices):
        number = positive_number(slices[frame_index])
        slice_number = int(number) if number is not None else slice_number
    spacing = positive_number(ds.get("SpacingBetweenSlices"))
    if spacing is None or slice_number == 1:
        return first, orientation
    normal = slice_normal(orientation)
    offset = (slice_number - 1) * spacing
    return tuple(float(p + offset * n) for p, n in zip(first, normal, strict=True)), orientation


def _grid_frame_position(ds: Any, frame_index: int, position: tuple[float, ...],
                         orientation: tuple[float, ...]) -> tuple[tuple[float, ...], bool]:
    """Where a frame of a multi-frame dose grid lies (PS3.3 C.8.8.3.2), and whether it
    was moved from the first frame's Image Position.

    Grid Frame Offset Vector (3004,000C) gives each frame's plane along the normal,
    relative to the first (its first value 0) or as z coordinates (its first value the
    first frame's z); either way the offset from the first frame is the difference.
    Without it, every frame of an RT Dose read the first frame's location.
    """
    try:
        offsets = [float(v) for v in ds.get("GridFrameOffsetVector") or ()]
    except (TypeError, ValueError):
        return position, False
    if frame_index >= len(offsets) or not all(math.isfinite(v) for v in offsets):
        return position, False
    shift = (offsets[frame_index] - offsets[0]) * slice_normal(orientation)
    return tuple(float(p + d) for p, d in zip(position, shift, strict=True)), True

