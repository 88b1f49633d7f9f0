"""Slice order, orientation labels and the spacing a measurement uses (PS3.3 C.7.6.2, 10.7.1)."""

from __future__ import annotations

import random

import pydicom
import pytest

from tests.support import testdata
from viewer.core.records import InstanceRecord, PatientRecord
from viewer.dicom.geometry import (
    OrientationLabels,
    SpacingKind,
    direction_label,
    frame_plane,
    orientation_labels,
    patient_orientation_labels,
    pixel_spacing,
    series_frames,
    sort_instances,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def _record(uid: str, *, number: int | None = None, z: float | None = None,
            orientation: tuple[float, ...] | None = AXIAL, frames: int = 1) -> InstanceRecord:
    return InstanceRecord(
        sop_instance_uid=uid, sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax_uid="1.2.840.10008.1.2.1", patient=PatientRecord("P"),
        study_uid="1", series_uid="1.1", instance_number=number,
        image_position=None if z is None else (-100.0, -100.0, z),
        image_orientation=orientation,  # type: ignore[arg-type]
        number_of_frames=frames, file_path=f"/data/{uid}.dcm",
    )


def test_position_along_the_normal_wins_over_instance_numbers() -> None:
    # Instance numbers run against the table position: position decides (feet first scan).
    records = [_record(f"1.{i}", number=20 - i, z=-5.0 * i) for i in range(20)]
    random.Random(4).shuffle(records)
    ordered = sort_instances(records)
    assert [r.image_position[2] for r in ordered] == sorted(  # type: ignore[index]
        -5.0 * i for i in range(20))


def test_oblique_stack_sorts_along_its_own_normal() -> None:
    # Rows along x, columns along (0, cos30, -sin30): the normal is (0, sin30, cos30).
    orientation = (1.0, 0.0, 0.0, 0.0, 0.8660254, -0.5)
    records = [
        InstanceRecord(
            sop_instance_uid=f"2.{i}", sop_class_uid="x", transfer_syntax_uid="x",
            patient=PatientRecord("P"), study_uid="1", series_uid="1",
            image_position=(0.0, 0.5 * i, 0.8660254 * i), image_orientation=orientation,
            instance_number=100 - i,
        )
        for i in range(6)
    ]
    assert [r.sop_instance_uid for r in sort_instances(reversed(records))] == [
        f"2.{i}" for i in range(6)]


def test_without_positions_instance_number_orders_and_missing_numbers_go_last() -> None:
    records = [_record("9", number=None), _record("3", number=3, orientation=None),
               _record("1", number=1), _record("2", number=2)]
    assert [r.sop_instance_uid for r in sort_instances(records)] == ["1", "2", "3", "9"]


def test_mixed_orientations_fall_back_to_instance_number() -> None:
    records = [_record("a", number=2, z=0.0), _record("b", number=1, z=5.0, orientation=CORONAL)]
    assert [r.sop_instance_uid for r in sort_instances(records)] == ["b", "a"]


def test_repeated_positions_make_stacks_shown_one_after_the_other() -> None:
    # A diffusion trace series: instances 1-3 are b = 0, 4-6 b = 1000, at the same three
    # positions. By position alone the two contrasts alternated at every step.
    records = [_record(f"{n}", number=n, z=5.0 * ((n - 1) % 3)) for n in range(1, 7)]
    random.Random(2).shuffle(records)
    assert [r.sop_instance_uid for r in sort_instances(records)] == ["1", "2", "3", "4", "5",
                                                                     "6"]


def test_stacks_follow_the_slice_normal() -> None:
    # A dynamic series written slice by slice (instances 1, 2 at the top slice...), with
    # the slices against the table: each time point is a stack along the normal.
    records = [_record(f"{n}", number=n, z=10.0 - 5.0 * ((n - 1) // 2)) for n in range(1, 7)]
    assert [r.sop_instance_uid for r in sort_instances(records)] == ["5", "3", "1", "6", "4",
                                                                     "2"]


def test_a_slice_scanned_again_comes_after_the_stack() -> None:
    records = [_record(f"{n}", number=n, z=5.0 * n) for n in range(1, 5)]
    records.append(_record("again", number=5, z=10.0))
    assert [r.sop_instance_uid for r in sort_instances(records)] == ["1", "2", "3", "4",
                                                                     "again"]


def test_multiframe_files_expand_to_one_reference_per_frame() -> None:
    refs = series_frames([_record("m", number=1, frames=3), _record("s", number=2)])
    assert [(r.sop_instance_uid, r.frame) for r in refs] == [("m", 0), ("m", 1), ("m", 2),
                                                             ("s", 0)]


@pytest.mark.parametrize(("orientation", "expected"), [
    (AXIAL, OrientationLabels(left="R", right="L", top="A", bottom="P")),
    (SAGITTAL, OrientationLabels(left="A", right="P", top="H", bottom="F")),
    (CORONAL, OrientationLabels(left="R", right="L", top="H", bottom="F")),
])
def test_standard_planes(orientation: tuple[float, ...], expected: OrientationLabels) -> None:
    assert orientation_labels(orientation) == expected


def test_oblique_label_lists_the_strongest_direction_first() -> None:
    assert direction_label((0.8, -0.6, 0.0)) == "LA"
    assert direction_label((0.05, 0.0, 0.99)) == "H"
    assert orientation_labels(None) is None


def test_labels_follow_rotation_and_flip() -> None:
    labels = OrientationLabels(left="R", right="L", top="A", bottom="P")
    clockwise = ((0, -1), (1, 0))
    assert labels.transformed(clockwise) == OrientationLabels(left="P", right="A", top="R",
                                                              bottom="L")
    mirror = ((-1, 0), (0, 1))
    assert labels.transformed(mirror) == OrientationLabels(left="L", right="R", top="A",
                                                           bottom="P")


def test_spacing_is_row_then_column() -> None:
    s = pixel_spacing({"PixelSpacing": ["0.30", "0.25"]})
    assert (s.row, s.column, s.kind) == (0.30, 0.25, SpacingKind.PATIENT)
    assert s.unit == "mm"


def test_projection_spacing_rules() -> None:
    same = pixel_spacing({"PixelSpacing": [0.1, 0.1], "ImagerPixelSpacing": [0.1, 0.1]})
    assert same.kind is SpacingKind.DETECTOR
    corrected = pixel_spacing({"PixelSpacing": [0.08, 0.08], "ImagerPixelSpacing": [0.1, 0.1],
                               "PixelSpacingCalibrationType": "GEOMETRY"})
    assert corrected.kind is SpacingKind.CALIBRATED and "GEOMETRY" in corrected.describe()
    imager = pixel_spacing({"ImagerPixelSpacing": [0.2, 0.2]})
    assert imager.kind is SpacingKind.DETECTOR and "detector" in imager.describe()
    magnified = pixel_spacing({"ImagerPixelSpacing": [0.2, 0.2],
                               "EstimatedRadiographicMagnificationFactor": "1.25"})
    assert magnified.kind is SpacingKind.MAGNIFICATION
    assert magnified.row == pytest.approx(0.16)
    # What a length carries beside its number, where no corner text is seen with it.
    assert (imager.qualifier, magnified.qualifier, corrected.qualifier) == (
        "detector", "est.", "")
    assert pixel_spacing({"PixelSpacing": ["0.30", "0.25"]}).qualifier == ""
    # Equal to Imager Pixel Spacing but calibrated (GEOMETRY: the magnification happened
    # to be 1): "at detector (Imager Pixel Spacing) GEOMETRY" said both things.
    equal_calibrated = pixel_spacing({"PixelSpacing": [0.1, 0.1],
                                      "ImagerPixelSpacing": [0.1, 0.1],
                                      "PixelSpacingCalibrationType": "GEOMETRY"})
    assert equal_calibrated.kind is SpacingKind.CALIBRATED
    assert equal_calibrated.describe() == "calibrated GEOMETRY"


def test_projection_pixel_spacing_alone_is_of_unknown_calibration() -> None:
    # PS3.3 10.7.1.1: without Imager Pixel Spacing, Nominal Scanned Pixel Spacing or a
    # Calibration Type "it cannot be determined whether or not correction or calibration
    # have been performed"; a CR's length read like a CT's
    cr = {"PixelSpacing": [0.1, 0.1], "Modality": "CR"}
    unknown = pixel_spacing(cr)
    assert unknown.kind is SpacingKind.UNKNOWN and unknown.unit == "mm"
    assert unknown.qualifier == "calibration unknown"
    by_class = pixel_spacing({"PixelSpacing": [0.1, 0.1],
                              "SOPClassUID": "1.2.840.10008.5.1.4.1.1.1.2"})  # MG
    assert by_class.kind is SpacingKind.UNKNOWN
    calibrated = pixel_spacing({**cr, "PixelSpacingCalibrationType": "FIDUCIAL"})
    assert calibrated.kind is SpacingKind.CALIBRATED and calibrated.qualifier == ""
    film = pixel_spacing({**cr, "NominalScannedPixelSpacing": [0.1, 0.1]})
    assert film.kind is SpacingKind.DIGITIZER
    ct = pixel_spacing({"PixelSpacing": [0.1, 0.1], "Modality": "CT"})
    assert ct.kind is SpacingKind.PATIENT and ct.qualifier == ""


def test_no_spacing_measures_in_pixels() -> None:
    s = pixel_spacing({"PixelSpacing": ["0", "abc"]})
    assert s.kind is SpacingKind.PIXELS and s.unit == "px" and (s.row, s.column) == (1.0, 1.0)


def test_patient_orientation_labels_projection_images() -> None:
    # PS3.3 C.7.6.1.1.1: rows toward the patient's left, columns toward the feet (a PA chest).
    assert patient_orientation_labels(["L", "F"]) == OrientationLabels(
        left="R", right="L", top="H", bottom="F")
    assert patient_orientation_labels(["AL", "F"]).left == "PR"
    assert patient_orientation_labels(None) is None


def test_frame_plane_prefers_functional_groups() -> None:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.PixelSpacing = ["1", "1"]
    ds.SliceThickness = "5"
    measures = Dataset()
    measures.PixelSpacing = ["0.5", "0.4"]
    measures.SliceThickness = "1.25"
    position = Dataset()
    position.ImagePositionPatient = ["0", "0", "12.5"]
    orientation = Dataset()
    orientation.ImageOrientationPatient = list(AXIAL)
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [orientation]
    frame = Dataset()
    frame.PlanePositionSequence = [position]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PerFrameFunctionalGroupsSequence = [frame]
    plane = frame_plane(ds, 0)
    assert (plane.spacing.row, plane.spacing.column) == (0.5, 0.4)
    assert plane.thickness == 1.25 and plane.location == pytest.approx(12.5)
    assert plane.labels() == orientation_labels(AXIAL)


def test_an_enhanced_xa_frame_is_measured_at_its_detector_or_isocentre() -> None:
    # PS3.3 C.8.19.6.4 / C.8.19.6.9 / C.7.6.16.2.15: the spacing and the orientation of an
    # Enhanced XA frame are in its functional groups; lengths read in pixels, no labels.
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.12.1.1", "XA"
    properties = Dataset()
    properties.ImagerPixelSpacing = [0.2, 0.2]
    orientation = Dataset()
    orientation.PatientOrientation = ["L", "F"]
    shared = Dataset()
    shared.FramePixelDataPropertiesSequence = [properties]
    shared.PatientOrientationInFrameSequence = [orientation]
    calibration = Dataset()
    calibration.ObjectPixelSpacingInCenterOfBeam = [0.15, 0.15]
    calibrated = Dataset()
    calibrated.ProjectionPixelCalibrationSequence = [calibration]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PerFrameFunctionalGroupsSequence = [Dataset(), calibrated]

    at_detector = frame_plane(ds, 0)
    assert (at_detector.spacing.row, at_detector.spacing.kind) == (0.2, SpacingKind.DETECTOR)
    assert at_detector.labels() == patient_orientation_labels(["L", "F"])
    at_isocentre = frame_plane(ds, 1).spacing
    assert (at_isocentre.row, at_isocentre.column) == (0.15, 0.15)
    assert at_isocentre.qualifier == "at isocentre"


def test_a_derived_location_does_not_turn_over_with_the_rows() -> None:
    # Without Slice Location, the location came from the cross product of the row and
    # column directions: rows running right to left made z = -75.7 read +75.7 mm.
    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"), stop_before_pixels=True)
    del ds.SliceLocation
    z = float(ds.ImagePositionPatient[2])
    as_stored = frame_plane(ds).location
    ds.ImageOrientationPatient = [-1, 0, 0, 0, 1, 0]
    assert as_stored == pytest.approx(z) and frame_plane(ds).location == pytest.approx(z)
    # A sagittal slice reads its x (towards the left), a coronal one its y.
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    assert frame_plane(ds).location == pytest.approx(float(ds.ImagePositionPatient[0]))
    ds.ImageOrientationPatient = [-1, 0, 0, 0, 0, -1]
    assert frame_plane(ds).location == pytest.approx(float(ds.ImagePositionPatient[1]))


def test_pixel_aspect_ratio_shapes_pixels_without_spacing() -> None:
    # PS3.3 C.7.6.3.1.7: pydicom-data's color-pl.dcm (256 x 120, 4\3, no spacing) was
    # shown 2.13:1 wide instead of 1.6:1.
    spacing = pixel_spacing({"PixelAspectRatio": [4, 3]})
    assert (spacing.row, spacing.column, spacing.kind) == (4 / 3, 1.0, SpacingKind.PIXELS)
    assert spacing.describe() == ("no pixel spacing: distances in pixels "
                                  "(pixel aspect ratio 4:3)")
    assert pixel_spacing({"PixelAspectRatio": [1, 1]}) == pixel_spacing({})
    # A spacing, when there is one, says it all.
    spacing = pixel_spacing({"PixelSpacing": [0.5, 0.5], "PixelAspectRatio": [4, 3]})
    assert (spacing.row, spacing.column) == (0.5, 0.5)


def test_each_frame_of_a_dose_grid_lies_at_its_offset() -> None:
    # PS3.3 C.8.8.3.2: pydicom's rtdose.dcm, 15 frames 5 mm apart; every frame read the
    # first frame's -761.87 mm.
    ds = pydicom.dcmread(testdata.test_file("rtdose.dcm"), stop_before_pixels=True)
    locations = [frame_plane(ds, i).location for i in range(int(ds.NumberOfFrames))]
    assert locations == pytest.approx([-761.87 + 5 * i for i in range(15)])
    assert frame_plane(ds, 3).position == pytest.approx((189.43125, 199.43125, -746.87))
    # Offsets given as z coordinates (the first one the first frame's z) mean the same.
    ds.GridFrameOffsetVector = [-761.87 + 5 * i for i in range(15)]
    assert frame_plane(ds, 14).location == pytest.approx(-691.87)


def test_ultrasound_regions_give_the_spacing_of_their_scan() -> None:
    # PS3.3 C.8.5.5: ultrasound images have no Pixel Spacing; their regions say how long
    # a pixel is. Lengths on pydicom's OBXXXX1A (a scan and a Doppler strip) were in
    # pixels.
    ds = pydicom.dcmread(testdata.test_file("OBXXXX1A.dcm"), stop_before_pixels=True)
    spacing = frame_plane(ds).spacing
    assert spacing.kind is SpacingKind.ULTRASOUND and spacing.unit == "mm"
    assert (spacing.row, spacing.column) == pytest.approx((0.2622878766, 0.2622878766))
    # A dual view: two scans with the same deltas.
    dual = pydicom.dcmread(testdata.test_file("gdcm-US-ALOKA-16.dcm"), stop_before_pixels=True)
    assert frame_plane(dual).spacing.row == pytest.approx(0.3826530650)
    # Scans that disagree, or that do not measure in centimetres, leave pixels.
    dual.SequenceOfUltrasoundRegions[1].PhysicalDeltaX = 0.05
    assert frame_plane(dual).spacing.kind is SpacingKind.PIXELS
    ds.SequenceOfUltrasoundRegions[0].PhysicalUnitsXDirection = 0
    assert frame_plane(ds).spacing.kind is SpacingKind.PIXELS


def test_ultrasound_regions_measure_in_their_own_units() -> None:
    # PS3.3 C.8.5.5.1: each region its deltas and units; a measurement in one region only
    from viewer.dicom.us_regions import UltrasoundRegion, read_regions, region_of

    dual = pydicom.dcmread(testdata.test_file("gdcm-US-ALOKA-16.dcm"), stop_before_pixels=True)
    left, right = read_regions(dual.SequenceOfUltrasoundRegions)  # the third states no unit
    assert left.bounds == (32, 24, 335, 415) and left.in_cm
    assert region_of((left, right), [(100, 100), (300, 400)]) is left
    assert region_of((left, right), [(100, 100), (400, 100)]) is None  # scan to scan
    assert frame_plane(dual).spacing.regions == (left, right)
    m_mode = UltrasoundRegion((0, 300, 639, 479), (4, 3), (0.005, 0.05))  # time, depth
    assert not m_mode.in_cm
    assert m_mode.axis_text((10, 310), (110, 350)) == "horizontal 0.5 s, vertical 20 mm"
    inner = UltrasoundRegion((40, 40, 60, 60), (3, 3), (0.01, 0.01))
    assert region_of((left, inner), [(45, 45), (50, 50)]) is inner  # the smallest holding


def test_an_rt_image_is_measured_at_the_isocentre_or_at_its_receptor() -> None:
    # PS3.3 C.8.8.2: Image Plane Pixel Spacing is at the receptor, RT Image SID from the
    # source; the isocentre is Radiation Machine SAD from it. Lengths were in pixels.
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.481.1", "RTIMAGE"
    ds.ImagePlanePixelSpacing = [0.784, 0.784]
    ds.RTImageSID = 1500.0
    ds.RadiationMachineSAD = 1000.0
    spacing = frame_plane(ds).spacing
    assert spacing.kind is SpacingKind.ISOCENTRE
    assert spacing.row == pytest.approx(0.784 * 1000 / 1500)
    assert spacing.column == pytest.approx(0.784 * 1000 / 1500)
    assert spacing.qualifier == "at isocentre"
    assert spacing.describe() == (
        "at the isocentre (Image Plane Pixel Spacing x SAD / RT Image SID)")
    del ds.RadiationMachineSAD  # the receptor's plane is all that is known
    spacing = frame_plane(ds).spacing
    assert (spacing.row, spacing.kind) == (0.784, SpacingKind.DETECTOR)
    assert spacing.describe() == "at detector (Image Plane Pixel Spacing, at the RT Image SID)"


def test_an_nm_reconstruction_has_its_plane_and_a_location_per_slice() -> None:
    # PS3.3 C.8.4.10: an NM tomographic image keeps its plane in the Detector
    # Information Sequence; it showed no orientation labels and no slice location.
    from pydicom.dataset import Dataset

    detector = Dataset()
    detector.ImagePositionPatient = [-200.0, -200.0, -100.0]
    detector.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds = Dataset()
    ds.Modality = "NM"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.DetectorInformationSequence = [detector]
    ds.SpacingBetweenSlices = 4.0
    ds.SliceVector = [1, 2, 3]
    ds.NumberOfFrames = 3
    planes = [frame_plane(ds, k) for k in range(3)]
    assert [p.position for p in planes] == [(-200.0, -200.0, -100.0 + 4.0 * k)
                                           for k in range(3)]
    assert [p.location for p in planes] == [-100.0, -96.0, -92.0]
    assert planes[0].labels() == orientation_labels((1, 0, 0, 0, 1, 0))
    # A planar (STATIC) NM image is not a stack of slices: no plane is made up.
    ds.ImageType = ["ORIGINAL", "PRIMARY", "STATIC", "EMISSION"]
    assert frame_plane(ds, 1).position is None and frame_plane(ds, 1).labels() is None
