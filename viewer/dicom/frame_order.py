"""The order in which the frames of an enhanced multi-frame image are shown.

The frames of an enhanced image are not stored in space order: a scanner may write them
by another dimension first (echo, time, b-value), or in the order it acquired
interleaved slices. PS3.3 C.7.6.17 (Multi-frame Dimension Module) says how they are
organised: each item of the Dimension Index Sequence (0020,9222) names an attribute
that indexes the frames, the first item the most significant, and each frame's Frame
Content (C.7.6.16.2.2) gives its Dimension Index Values (0020,9157), one per item.
"Receiving applications shall use the order of dimensions for guidance when presenting
images" (PS3.3 7.5.2).

The order used here: the dimensions other than the position in space, in the order of
their items (Stack ID first, as files organise it); within them, the position along the
slice normal, as a series of single-frame slices is sorted
(:func:`viewer.dicom.geometry.sort_instances`). A multi-echo or dynamic image is then
one stack after another, each running the same way as every other stack of the study.
"""

from __future__ import annotations

import logging
from typing import Any

from viewer.dicom.geometry import location_along_normal, stack_ranks
from viewer.dicom.params import functional_group
from viewer.dicom.values import numbers_of

LOGGER = logging.getLogger(__name__)

#: Image Storage SOP classes whose IODs include the Multi-frame Functional Groups and
#: Multi-frame Dimension modules (PS3.3 C.7.6.16, C.7.6.17), as listed in PS3.4 B.5.
FUNCTIONAL_GROUP_SOP_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.4.3",  # Enhanced MR Color
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR
    "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
    "1.2.840.10008.5.1.4.1.1.6.3",  # Photoacoustic
    "1.2.840.10008.5.1.4.1.1.12.1.1",  # Enhanced XA
    "1.2.840.10008.5.1.4.1.1.12.2.1",  # Enhanced XRF
    "1.2.840.10008.5.1.4.1.1.13.1.1",  # X-Ray 3D Angiographic
    "1.2.840.10008.5.1.4.1.1.13.1.2",  # X-Ray 3D Craniofacial
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis
    "1.2.840.10008.5.1.4.1.1.13.1.4",  # Breast Projection X-Ray, For Presentation
    "1.2.840.10008.5.1.4.1.1.13.1.5",  # Breast Projection X-Ray, For Processing
    "1.2.840.10008.5.1.4.1.1.14.1",  # Intravascular OCT, For Presentation
    "1.2.840.10008.5.1.4.1.1.14.2",  # Intravascular OCT, For Processing
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.77.1.5.4",  # Ophthalmic Tomography
    "1.2.840.10008.5.1.4.1.1.77.1.5.8",  # Ophthalmic OCT B-scan Volume Analysis
    "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET
    "1.2.840.10008.5.1.4.1.1.481.23",  # Enhanced RT Image
    "1.2.840.10008.5.1.4.1.1.481.24",  # Enhanced Continuous RT Image
})

#: Dimension Index Pointers (0020,9165) that index a frame's place in space (PS3.3
#: C.7.6.17.1): In-Stack Position Number and Image Position (Patient).
_SPATIAL_POINTERS = frozenset({0x00209057, 0x00200032})

# Sort keys of frames compare as tuples; values of one dimension may be numbers or text
# (Stack ID is a CS), never both compared together.
_Key = tuple[Any, ...]


def _dimension_pointers(ds: Any) -> list[int] | None:
    items = ds.get("DimensionIndexSequence")
    if not items:
        return None
    pointers = []
    for item in items:
        pointer = item.get("DimensionIndexPointer")
        try:
            pointers.append(int(pointer))
        except (TypeError, ValueError):  # missing, or several values where one belongs
            return None
    return pointers


def _index_values(ds: Any, frame: int, count: int) -> tuple[int, ...] | None:
    content = functional_group(ds, frame, "FrameContentSequence")
    if content is None:
        return None
    raw = content.get("DimensionIndexValues")
    if raw is None:
        return None
    values = [raw] if isinstance(raw, int) else list(raw)
    try:
        numbers = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def _locations(ds: Any, frames: int) -> list[float] | None:
    """Each frame's location along its plane's normal, or None unless every frame has its
    plane in the functional groups and all share one orientation (C.7.6.16.2.3/4)."""
    locations = []
    orientations = set()
    for frame in range(frames):
        position_item = functional_group(ds, frame, "PlanePositionSequence")
        orientation_item = functional_group(ds, frame, "PlaneOrientationSequence")
        if position_item is None or orientation_item is None:
            return None
        position = numbers_of(position_item.get("ImagePositionPatient"), 3)
        orientation = numbers_of(orientation_item.get("ImageOrientationPatient"), 6)
        if position is None or orientation is None:
            return None
        orientations.add(tuple(round(v, 4) for v in orientation))
        locations.append(round(location_along_normal(orientation, position), 4))
    return locations if len(orientations) == 1 else None


def frame_display_order(ds: Any, frames: int) -> list[int]:
    """The 0-based frames of a multi-frame image in the order to show them.

    Parameters
    ----------
    ds : pydicom.Dataset
        The image's header, with its functional groups (PS3.3 C.7.6.16).
    frames : int
        Number of Frames.

    Returns
    -------
    list of int
        A permutation of ``range(frames)``: file order for an image without
        functional groups, or whose dimensions cannot be read.
    """
    identity = list(range(frames))
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if frames < 2 or per_frame is None or len(per_frame) != frames:
        return identity
    locations = _locations(ds, frames)
    pointers = _dimension_pointers(ds)
    values = None
    if pointers is not None:
        values = [_index_values(ds, frame, len(pointers)) for frame in identity]
        if any(v is None for v in values):
            LOGGER.warning("%s: Dimension Index Values do not match the Dimension Index "
                           "Sequence; ignored",
                           getattr(ds, "filename", None) or "an enhanced image")
            values = None
    keys: list[_Key]
    if values is not None and pointers is not None:
        spatial = [i for i, p in enumerate(pointers) if p in _SPATIAL_POINTERS]
        others = [i for i in range(len(pointers)) if i not in spatial]
        groups = [tuple(v[i] for i in others) for v in values if v is not None]
        if locations is not None and spatial:
            places: list[_Key] = [(location,) for location in locations]
        else:
            places = [tuple(v[i] for i in spatial) for v in values if v is not None]
    elif locations is not None:
        groups = [()] * frames
        places = [(location,) for location in locations]
    else:
        return identity
    # Frames the dimensions leave at one place (no echo dimension in a multi-echo
    # image, or no dimensions at all) are stacks in file order, not interleaved.
    ranks = stack_ranks(list(zip(groups, places, strict=True)))
    keys = [(group, rank, place, frame) for frame, (group, rank, place)
            in enumerate(zip(groups, ranks, places, strict=True))]
    return [key[3] for key in sorted(keys)]


__all__ = ["FUNCTIONAL_GROUP_SOP_CLASSES", "frame_display_order"]
