"""Header texts that tell one frame or image from another where the pixels do not: an
NM frame's energy window and detector, a mammogram's side and view."""

from __future__ import annotations

import contextlib
from typing import Any

from viewer.dicom.params import functional_group
from viewer.dicom.values import listed

# PS3.3 C.8.4.8.1.3 (Frame Increment Pointer): the vectors that index an NM image's
# frames, and how the corner names each
_NM_VECTORS = {
    0x00540010: "EW", 0x00540020: "Det", 0x00540030: "Phase", 0x00540050: "Rot",
    0x00540060: "R-R", 0x00540070: "Time slot", 0x00540080: "Slice", 0x00540090: "View",
    0x00540100: "Time slice",
}


def nm_frame_text(ds: Any, frame: int) -> str:
    """What tells an NM frame from the others: its place in each vector the Frame Increment
    Pointer names (PS3.3 C.8.4.8.1.3), e.g. "EW 1 (Tc99m 140 keV)  Det 2"; a photopeak and
    a scatter window, detector 1 and 2, looked alike."""
    parts = []
    for pointer in listed(ds.get("FrameIncrementPointer")):
        label = _NM_VECTORS.get(int(pointer))
        element = ds.get(int(pointer))
        vector = listed(element.value if element is not None else None)
        if label is None or not 0 <= frame < len(vector) or vector[frame] is None:
            continue
        value = vector[frame]
        text = f"{label} {value}"
        if label == "EW":
            windows = ds.get("EnergyWindowInformationSequence") or []
            with contextlib.suppress(TypeError, ValueError, IndexError):
                name = str(windows[int(value) - 1].get("EnergyWindowName", "") or "").strip()
                if name:
                    text += f" ({name})"
        parts.append(text)
    return "  ".join(parts)


def anatomy_texts(ds: Any, frame: int) -> dict[str, str]:
    """An enhanced frame's own laterality (Frame Anatomy, PS3.3 C.7.6.16.2.8), and the
    view a mammogram names only by code (View Code Sequence, C.8.11.7 / C.8.11.5)."""
    out = {}
    anatomy = functional_group(ds, frame, "FrameAnatomySequence")
    laterality = anatomy.get("FrameLaterality") if anatomy is not None else None
    if laterality:
        out["ImageLaterality"] = str(laterality).strip()
    if not str(ds.get("ViewPosition", "") or "").strip():
        codes = ds.get("ViewCodeSequence")
        meaning = codes[0].get("CodeMeaning") if codes else None
        if meaning:
            text = str(meaning).strip()
            out["ViewPosition"] = _MAMMOGRAPHY_VIEWS.get(text.lower(), text)
    return out


# PS3.16 CID 4014 (View for Mammography): the meanings, and the labels readers use
_MAMMOGRAPHY_VIEWS = {
    "cranio-caudal": "CC", "medio-lateral oblique": "MLO", "medio-lateral": "ML",
    "latero-medial": "LM", "latero-medial oblique": "LMO",
    "cranio-caudal exaggerated laterally": "XCCL", "cranio-caudal exaggerated medially": "XCCM",
}


__all__ = ["anatomy_texts", "nm_frame_text"]
