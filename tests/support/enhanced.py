"""Enhanced multi-frame images whose frames are not stored in space order (PS3.3 C.7.6.16,
C.7.6.17), as scanners write them: by another dimension first, or interleaved.

Each frame's pixels are all ``frame_value(k)`` for file frame ``k``, so a test can tell
which stored frame is on screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from tests.support.images import grey_image

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
#: Dimension Index Pointers (PS3.3 C.7.6.17.1)
STACK_ID = 0x00209056
IN_STACK_POSITION = 0x00209057
EFFECTIVE_ECHO_TIME = 0x00189082
_FRAME_CONTENT = 0x00209111
_MR_ECHO = 0x00189114


def frame_value(frame: int) -> int:
    """The value every pixel of file frame ``frame`` holds."""
    return 100 * (frame + 1)


def _item(**values: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def enhanced_dataset(z: Sequence[float], *, index_values: Sequence[Sequence[int]] | None,
                     pointers: Sequence[int] = (STACK_ID, IN_STACK_POSITION),
                     orientations: Sequence[Sequence[float]] | None = None,
                     echo_times: Sequence[float] | None = None,
                     size: int = 8) -> Dataset:
    """An Enhanced CT (in memory) with one frame per ``z`` (mm), in that file order.

    ``index_values`` are each frame's Dimension Index Values for ``pointers`` (None: no
    Multi-frame Dimension module); ``orientations`` each frame's Image Orientation (Patient)
    (default: all axial).
    """
    ds = grey_image(ENHANCED_CT, "CT", "LB-TEST-0031", rows=size, columns=size,
                    frames=len(z))
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber, ds.InstanceNumber = 3, 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    if index_values is not None:
        organisation = generate_uid()
        ds.DimensionOrganizationSequence = DicomSequence(
            [_item(DimensionOrganizationUID=organisation)])
        ds.DimensionIndexSequence = DicomSequence([
            _item(DimensionOrganizationUID=organisation, DimensionIndexPointer=pointer,
                  FunctionalGroupPointer=_MR_ECHO if pointer == EFFECTIVE_ECHO_TIME
                  else _FRAME_CONTENT)
            for pointer in pointers])
    ds.SharedFunctionalGroupsSequence = DicomSequence([_item(
        PixelMeasuresSequence=DicomSequence([_item(PixelSpacing=[0.5, 0.5],
                                                   SliceThickness=2.0)]),
        PixelValueTransformationSequence=DicomSequence([_item(
            RescaleSlope=1, RescaleIntercept=-1024, RescaleType="HU")]),
    )])
    per_frame = []
    for k, location in enumerate(z):
        content = _item()
        if index_values is not None:
            content.DimensionIndexValues = list(index_values[k])
        group = _item(
            FrameContentSequence=DicomSequence([content]),
            PlanePositionSequence=DicomSequence([_item(
                ImagePositionPatient=[-2.0, -2.0, location])]),
            PlaneOrientationSequence=DicomSequence([_item(
                ImageOrientationPatient=list(orientations[k]) if orientations
                else [1, 0, 0, 0, 1, 0])]),
        )
        if echo_times is not None:
            group.MREchoSequence = DicomSequence([_item(EffectiveEchoTime=echo_times[k])])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    pixels = np.stack([np.full((size, size), frame_value(k)) for k in range(len(z))])
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def write_enhanced(path: Path, z: Sequence[float], **kwargs: Any) -> Path:
    """:func:`enhanced_dataset` saved as a DICOM file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    enhanced_dataset(z, **kwargs).save_as(path, enforce_file_format=True)
    return path
