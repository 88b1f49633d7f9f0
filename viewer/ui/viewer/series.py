"""A series being read: its frames in order, decoded lazily and kept for scrolling.

Thread-safe: loader workers call :meth:`SeriesData.load`, the GUI thread reads what is
loaded. Holds stored values (not display values), so a window change never decodes again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewer.core.errors import LightboxError
from viewer.core.records import InstanceRecord
from viewer.dicom.frame_labels import anatomy_texts, nm_frame_text
from viewer.dicom.frame_order import FUNCTIONAL_GROUP_SOP_CLASSES, frame_display_order
from viewer.dicom.geometry import FramePlane, FrameRef, frame_plane, series_frames
from viewer.dicom.header import person_name_text
from viewer.dicom.params import functional_group
from viewer.dicom.real_world import read_real_world
from viewer.dicom.suv import SuvFactor, suv_factor
from viewer.dicom.values import is_multi_valued, listed, positive_number
from viewer.imaging.pipeline import GrayscaleParams
from viewer.imaging.real_world import RealWorldMapping
from viewer.ui.viewer.display import LutCache, ViewerImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameFacts:
    """What the viewport needs to know about one decoded frame."""

    ref: FrameRef
    plane: FramePlane
    params: GrayscaleParams | None  # None for colour frames
    photometric: str
    bits_stored: int
    rows: int
    columns: int
    modality: str = ""
    rescale_type: str = ""
    pet_units: str = ""  # PT: Units (0054,1001), what its rescaled values are
    lossy: str = ""
    text: dict[str, str] = field(default_factory=dict)
    frame_rate: float | None = None  # frames per second the file asks for (Cine Module)
    real_world: tuple[RealWorldMapping, ...] = ()  # PS3.3 C.7.6.16.2.11
    suv: SuvFactor | None = None  # a PET image with Units: its SUVbw, or why none


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if keyword.startswith("Patient") and keyword.endswith("Name"):
        return person_name_text(value)
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


_TEXT_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "StudyDescription", "SeriesNumber", "SeriesDescription", "InstanceNumber", "Modality",
    "InstitutionName", "AccessionNumber", "SOPInstanceUID", "StudyInstanceUID",
    "SeriesInstanceUID", "ImageLaterality", "Laterality", "ViewPosition",
    "PresentationIntentType",
)


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _lossy(ds: Any) -> str:
    # PS3.3 C.7.6.1.1.5: "01" means the image has undergone lossy compression.
    if str(ds.get("LossyImageCompression", "") or "").strip() != "01":
        return ""
    parts = ["LOSSY"]
    ratio = _first(ds.get("LossyImageCompressionRatio"))
    if ratio not in (None, ""):
        with contextlib.suppress(TypeError, ValueError):
            parts.append(f"{float(ratio):g}:1")
    method = _first(ds.get("LossyImageCompressionMethod"))
    if method:
        parts.append(str(method))
    return " ".join(parts)


def cine_rate(ds: Any) -> float | None:
    """Frames per second to play a multi-frame image at, as the file says; None if it does not.

    In the order of PS3.3 C.7.6.5 (Cine Module): Recommended Display Frame Rate (0008,2144)
    is the rate meant for display; else Cine Rate (0018,0040), the rate it was recorded at;
    else the time between frames, Frame Time (0018,1063) in ms, or the mean of the Frame
    Time Vector (0018,1065) increments (its first value is 0: the first frame has none).
    """
    for keyword in ("RecommendedDisplayFrameRate", "CineRate"):
        rate = positive_number(_first(ds.get(keyword)))
        if rate is not None:
            return rate
    frame_time = positive_number(ds.get("FrameTime"))
    if frame_time is None:
        vector = ds.get("FrameTimeVector")
        many = is_multi_valued(vector)
        values = [positive_number(v) for v in (listed(vector)[1:] if many else [])]
        increments = [v for v in values if v is not None]
        if increments and len(increments) == len(values):
            frame_time = sum(increments) / len(increments)
    return 1000.0 / frame_time if frame_time is not None else None


class SeriesData:
    """The frames of one series (or of loose files), in reading order.

    Parameters
    ----------
    refs : sequence of FrameRef
        Display order, e.g. from :func:`viewer.dicom.geometry.series_frames`.
    title : str
        Shown in the viewport and thumbnails (series number and description).
    series_uid, study_uid : str
        Identity, when known.
    patient : tuple of str
        Patient ID and Patient Name, when known: whose images these are.
    enhanced : collection of str
        Files among ``refs`` whose frames are in file order until
        :meth:`order_frames` reads how they are organised (enhanced multi-frame
        images, PS3.3 C.7.6.17).

    Attributes
    ----------
    unreadable : tuple of str
        Files opened together with this series that could not be read, each as
        "name: reason" (:func:`viewer.ui.viewer.opening.read_series` fills it in): the
        reader is told, since one of them may be a slice missing from this very series.
    """

    def __init__(self, refs: Sequence[FrameRef], title: str = "", series_uid: str = "",
                 study_uid: str = "", study_date: str = "",
                 patient: tuple[str, str] = ("", ""),
                 enhanced: Collection[str] = ()) -> None:
        if not refs:
            raise LightboxError("the series has no images")
        self.refs = list(refs)
        self.patient = patient
        self.title = title
        self.series_uid = series_uid
        self.study_uid = study_uid
        self.study_date = study_date
        self.unreadable: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._sources: dict[str, ViewerImage] = {}
        self.luts = LutCache()
        self._source_locks: dict[str, threading.Lock] = {}
        self._stored: list[np.ndarray | None] = [None] * len(self.refs)
        self._facts: list[FrameFacts | None] = [None] * len(self.refs)
        self._errors: dict[int, str] = {}
        self._unordered = set(enhanced)
        self._order_lock = threading.Lock()

    @classmethod
    def from_records(cls, records: Sequence[InstanceRecord], title: str = "") -> SeriesData:
        """Build from the store's records (sorted along the slice normal)."""
        first = records[0]
        if not title:
            number = "" if first.series_number is None else f"{first.series_number}: "
            title = f"{number}{first.series_description or first.modality}".strip()
        enhanced = {r.file_path for r in records
                    if r.number_of_frames > 1 and r.sop_class_uid in FUNCTIONAL_GROUP_SOP_CLASSES}
        return cls(series_frames(records), title, first.series_uid, first.study_uid,
                   first.study_date,
                   (first.patient.patient_id, first.patient.patient_name), enhanced)

    def __len__(self) -> int:
        return len(self.refs)

    # ------------------------------------------------------------------ worker side
    def source(self, path: str) -> ViewerImage:
        """The opened file (header read once; thread-safe)."""
        with self._lock:
            src = self._sources.get(path)
            if src is not None:
                return src
            lock = self._source_locks.setdefault(path, threading.Lock())
        with lock:
            with self._lock:
                src = self._sources.get(path)
            if src is None:
                src = ViewerImage(path, self.luts)
                with self._lock:
                    self._sources[path] = src
        return src

    def order_frames(self) -> None:
        """Put the frames of enhanced multi-frame files in the order to show them.

        Opens those files (their headers say the order: PS3.3 C.7.6.17, see
        :func:`viewer.dicom.frame_order.frame_display_order`); before any frame is
        decoded, since a frame's index in :attr:`refs` is what loading it means. Done
        once; a file that cannot be opened keeps file order, and its frames say why
        when they are loaded.
        """
        with self._order_lock:
            for path in sorted(self._unordered):
                places = [i for i, ref in enumerate(self.refs) if ref.path == path]
                try:
                    order = frame_display_order(self.source(path).source.dataset,
                                                len(places))
                except LightboxError:
                    continue
                except Exception:  # a header bug must not stop the series opening
                    log.exception("%s: frames shown in file order", path)
                    continue
                by_frame = {self.refs[i].frame: self.refs[i] for i in places}
                if sorted(order) != sorted(by_frame):
                    continue
                for place, frame in zip(places, order, strict=True):
                    self.refs[place] = by_frame[frame]
            # emptied last: a loader thread finding it empty finds the refs in order
            self._unordered = set()

    def load(self, index: int) -> None:
        """Decode frame ``index`` and keep it; errors are remembered, never raised."""
        if self.is_loaded(index) or index in self._errors:
            return
        if self._unordered:
            self.order_frames()
        ref = self.refs[index]
        try:
            src = self.source(ref.path)
            stored = src.frames.frame(ref.frame)
            facts = self._facts_of(src, ref, stored)
        except LightboxError as exc:
            log.warning("frame %d of series %s: %s", index + 1, self.series_uid, exc)
            with self._lock:
                self._errors[index] = str(exc)
            return
        except Exception as exc:  # a decoder bug must not kill the worker
            log.exception("frame %d of series %s cannot be read", index + 1, self.series_uid)
            with self._lock:
                self._errors[index] = f"{ref.path}: {exc}"
            return
        with self._lock:
            self._stored[index] = stored
            self._facts[index] = facts

    def adopt(self, index: int, stored: np.ndarray) -> None:
        """Keep ``stored`` (decoded elsewhere, e.g. a slice of a series volume) as frame ``index``.

        ``stored`` is kept as given, not copied: a view of the volume shares its memory.
        Errors are remembered, never raised.
        """
        ref = self.refs[index]
        try:
            src = self.source(ref.path)
            facts = self._facts_of(src, ref, stored)
        except LightboxError as exc:
            self.fail(index, str(exc))
            return
        except Exception as exc:  # a header bug must not kill the worker
            log.exception("frame %d of series %s cannot be read", index + 1, self.series_uid)
            self.fail(index, f"{ref.path}: {exc}")
            return
        with self._lock:
            self._stored[index] = stored
            self._facts[index] = facts

    def fail(self, index: int, message: str) -> None:
        """Remember why frame ``index`` cannot be shown (the message names the file)."""
        log.warning("frame %d of series %s: %s", index + 1, self.series_uid, message)
        with self._lock:
            self._errors[index] = message

    def fail_all(self, message: str) -> None:
        """Every frame not shown yet cannot be: one log line for the series, not one per
        frame (a 30-frame video logged 30 alike)."""
        with self._lock:
            failed = [i for i in range(len(self.refs)) if self._stored[i] is None]
            self._errors.update(dict.fromkeys(failed, message))
        log.warning("series %s (%d frames): %s", self.series_uid, len(failed), message)

    def _facts_of(self, src: ViewerImage, ref: FrameRef, stored: np.ndarray) -> FrameFacts:
        ds = src.source.dataset
        layout = src.layout
        params = src.params(ref.frame) if layout.is_grayscale else None
        text = {k: _text(ds, k) for k in _TEXT_KEYWORDS}
        text.update(anatomy_texts(ds, ref.frame))
        if text["Modality"] == "NM":
            text["NMFrame"] = nm_frame_text(ds, ref.frame)
        return FrameFacts(
            ref=ref,
            plane=frame_plane(ds, ref.frame),
            params=params,
            photometric=layout.photometric,
            bits_stored=layout.bits_stored,
            rows=layout.rows,
            columns=layout.columns,
            modality=text["Modality"],
            rescale_type=_rescale_type(ds, ref.frame),
            pet_units=str(ds.get("Units", "") or "") if text["Modality"] == "PT" else "",
            lossy=_lossy(ds),
            text=text,
            frame_rate=cine_rate(ds),
            real_world=read_real_world(ds, ref.frame) if params is not None else (),
            suv=suv_factor(ds) if text["Modality"] == "PT" and ds.get("Units") else None,
        )

    # ------------------------------------------------------------------ GUI side
    def is_loaded(self, index: int) -> bool:
        """Whether frame ``index`` is decoded."""
        return self._stored[index] is not None

    def error(self, index: int) -> str | None:
        """Why frame ``index`` could not be read, if it could not."""
        return self._errors.get(index)

    def stored(self, index: int) -> np.ndarray | None:
        """Stored values of frame ``index`` (None until loaded)."""
        return self._stored[index]

    def image(self, index: int) -> ViewerImage | None:
        """The opened file of frame ``index`` (None until loaded)."""
        facts = self._facts[index]
        return None if facts is None else self._sources.get(facts.ref.path)

    def facts(self, index: int) -> FrameFacts | None:
        """Facts of frame ``index`` (None until loaded)."""
        return self._facts[index]

    def failed_count(self) -> int:
        """How many frames cannot be read."""
        return len(self._errors)

    def loaded_count(self) -> int:
        """How many frames are decoded (or failed)."""
        return sum(s is not None for s in self._stored) + len(self._errors)

    def pixel_bytes(self) -> int:
        """Bytes of stored values held."""
        return sum(s.nbytes for s in self._stored if s is not None)


def _rescale_type(ds: Any, frame: int) -> str:
    """Rescale Type of a frame: its Pixel Value Transformation functional group's (PS3.3
    C.7.6.16.2.9, where enhanced images carry it), else the top level's."""
    group = functional_group(ds, frame, "PixelValueTransformationSequence")
    value = group.get("RescaleType") if group is not None else None
    if value is None:
        value = ds.get("RescaleType")
    return str(value or "")
