"""A small Query/Retrieve SCP made with pynetdicom, for what Orthanc cannot be made to do.

It answers C-FIND at STUDY, SERIES and IMAGE level and C-GET over the instances it was
given, and it can be slowed down on purpose: a pause between study matches (to watch
results stream in), and a gate that holds a C-GET after a number of instances until the
requestor sends C-CANCEL (PS3.7 9.3.2.3), so a cancel lands mid-way every time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

STUDY_KEYS = ("PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber",
              "StudyID", "StudyDescription", "StudyInstanceUID", "SpecificCharacterSet")
SERIES_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber",
               "SeriesDescription", "SpecificCharacterSet")
IMAGE_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
              "InstanceNumber")


def _values(ds: Dataset, keyword: str) -> set[str]:
    """The values of a unique key: one UID, or a list of UIDs (PS3.4 C.2.2.2.2)."""
    if keyword not in ds or ds[keyword].value in (None, ""):
        return set()
    value = ds[keyword].value
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}


class QRPeer:
    """A Study Root Q/R SCP (FIND, GET) on 127.0.0.1, over the given files.

    Attributes
    ----------
    study_delay : float
        Seconds to wait before each STUDY-level match.
    gate_after : int or None
        Hold each C-GET after this many instances until C-CANCEL arrives.
    """

    def __init__(self, files: list[Path], aet: str = "QRPEER") -> None:
        self.aet = aet
        self.datasets = [dcmread(p) for p in files]
        self.study_delay = 0.0
        self.gate_after: int | None = None
        self.cancels = 0
        ae = AE(ae_title=aet)
        ae.add_supported_context(Verification)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
        for cx in StoragePresentationContexts:
            # PS3.7 D.3.3.4: accept the requestor's SCP role so C-STOREs go back to it.
            ae.add_supported_context(cx.abstract_syntax, scu_role=False, scp_role=True)
        self._server = ae.start_server(
            ("127.0.0.1", 0), block=False,
            evt_handlers=[(evt.EVT_C_FIND, self._find), (evt.EVT_C_GET, self._get)])
        self.port = int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()

    def _matching(self, ident: Dataset, level: str) -> list[Dataset]:
        studies = _values(ident, "StudyInstanceUID")
        series = _values(ident, "SeriesInstanceUID") if level in ("SERIES", "IMAGE") else set()
        sops = _values(ident, "SOPInstanceUID") if level == "IMAGE" else set()
        patient = str(ident.get("PatientID", "") or "")
        out = []
        for ds in self.datasets:
            if patient and str(ds.PatientID) != patient:
                continue
            if studies and str(ds.StudyInstanceUID) not in studies:
                continue
            if series and str(ds.SeriesInstanceUID) not in series:
                continue
            if sops and str(ds.SOPInstanceUID) not in sops:
                continue
            out.append(ds)
        return out

    def _find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        ident = event.identifier
        level = str(ident.QueryRetrieveLevel)
        keys, unique = {"STUDY": (STUDY_KEYS, "StudyInstanceUID"),
                        "SERIES": (SERIES_KEYS, "SeriesInstanceUID"),
                        "IMAGE": (IMAGE_KEYS, "SOPInstanceUID")}[level]
        seen: set[str] = set()
        cancelled = False  # pynetdicom forgets a C-CANCEL once is_cancelled reported it
        for ds in self._matching(ident, level):
            uid = str(ds[unique].value)
            if uid in seen:
                continue
            seen.add(uid)
            if level == "STUDY" and self.study_delay:
                end = time.monotonic() + self.study_delay
                while time.monotonic() < end and not cancelled:
                    cancelled = event.is_cancelled
                    time.sleep(0.01)
            if cancelled or event.is_cancelled:
                self.cancels += 1
                yield 0xFE00, None
                return
            match = Dataset()
            match.QueryRetrieveLevel = level
            for keyword in keys:
                if keyword in ds:
                    setattr(match, keyword, ds[keyword].value)
            yield 0xFF00, match

    def _get(self, event: Any) -> Iterator[Any]:
        ident = event.identifier
        matches = self._matching(ident, str(ident.QueryRetrieveLevel))
        yield len(matches)
        cancelled = False  # pynetdicom forgets a C-CANCEL once is_cancelled reported it
        for n, ds in enumerate(matches):
            if self.gate_after is not None and n == self.gate_after:
                end = time.monotonic() + 30
                while not cancelled and time.monotonic() < end:
                    cancelled = event.is_cancelled
                    time.sleep(0.01)
            if cancelled or event.is_cancelled:
                self.cancels += 1
                yield 0xFE00, None
                return
            yield 0xFF00, ds
