"""Texts that tell frames apart where the pixels do not (PS3.3 C.8.4.8.1.3, C.7.6.16.2.8)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from viewer.dicom.frame_labels import nm_frame_text


def _window(name: str) -> Dataset:
    item = Dataset()
    item.EnergyWindowName = name
    return item


def test_an_nm_frame_is_named_by_its_energy_window_and_detector() -> None:
    ds = Dataset()
    ds.Modality = "NM"
    ds.FrameIncrementPointer = [0x00540010, 0x00540020]
    ds.EnergyWindowVector = [1, 1, 2, 2]
    ds.DetectorVector = [1, 2, 1, 2]
    ds.EnergyWindowInformationSequence = Sequence([_window("Tc99m 140 keV"),
                                                   _window("scatter 120 keV")])
    assert [nm_frame_text(ds, frame) for frame in range(4)] == [
        "EW 1 (Tc99m 140 keV)  Det 1", "EW 1 (Tc99m 140 keV)  Det 2",
        "EW 2 (scatter 120 keV)  Det 1", "EW 2 (scatter 120 keV)  Det 2"]


def test_a_gated_tomo_frame_and_vectors_short_of_the_frames() -> None:
    ds = Dataset()
    ds.FrameIncrementPointer = 0x00540080  # one pointer, not a list
    ds.SliceVector = [1, 2]
    assert nm_frame_text(ds, 1) == "Slice 2"
    assert nm_frame_text(ds, 2) == ""  # the vector says nothing of this frame
    ds.FrameIncrementPointer = [0x00540010]  # a window with no Energy Window Information
    ds.EnergyWindowVector = [3]
    assert nm_frame_text(ds, 0) == "EW 3"
    assert nm_frame_text(Dataset(), 0) == ""
