"""Standardized Uptake Value, body weight (SUVbw) of a PET image.

SUVbw = activity concentration (Bq/ml) x body weight (g) / injected activity (Bq),
the injected activity decayed to the time the image's values are decay corrected to.
The attributes are those of PS3.3 C.8.9.1 (PET Series: Units, Corrected Image, Decay
Correction) and C.8.9.2 (PET Isotope: Radiopharmaceutical Information Sequence), and
Patient's Weight (C.7.2.2); the order of the checks follows the QIBA FDG-PET profile's
SUV computation (the image must be attenuation and decay corrected, in Bq/ml).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from pydicom.valuerep import DA, DT, TM

from viewer.dicom.values import positive_number


@dataclass(frozen=True)
class SuvFactor:
    """What turns a PET image's modality values (Bq/ml) into SUVbw (g/ml).

    Attributes
    ----------
    factor : float
        SUVbw = modality value x ``factor``.
    problem : str
        Why there is no factor (``factor`` is then NaN): the attribute missing or wrong.
    """

    factor: float
    problem: str = ""

    @property
    def usable(self) -> bool:
        """Whether SUVbw can be shown."""
        return not self.problem and math.isfinite(self.factor)


def _datetime(date: Any, time: Any) -> dt.datetime | None:
    try:
        day = DA(str(date).strip()) if date else None
        clock = TM(str(time).strip()) if time else None
    except (TypeError, ValueError):
        return None
    if not isinstance(day, dt.date) or not isinstance(clock, dt.time):
        return None
    return dt.datetime.combine(day, clock.replace(tzinfo=None))


def _injection(drug: Any, scan: dt.datetime) -> dt.datetime | None:
    start = drug.get("RadiopharmaceuticalStartDateTime")
    if start:
        try:
            when = DT(str(start).strip())
        except (TypeError, ValueError):
            when = None
        if isinstance(when, dt.datetime):
            return when.replace(tzinfo=None)
    injected = _datetime(scan.strftime("%Y%m%d"), drug.get("RadiopharmaceuticalStartTime"))
    if injected is not None and injected > scan:
        # a time alone, after the scan started: injected the day before (scan past midnight)
        injected -= dt.timedelta(days=1)
    return injected


def suv_factor(ds: Any) -> SuvFactor:
    """The SUVbw factor of a PET image, or why there is none.

    Parameters
    ----------
    ds : pydicom.Dataset
        The image's header.
    """
    def missing(problem: str) -> SuvFactor:
        return SuvFactor(math.nan, problem)

    units = str(ds.get("Units", "") or "").strip().upper()
    if units != "BQML":
        return missing(f"values are in {units or 'no stated unit'}, not Bq/ml")
    corrected = {str(v).strip().upper() for v in (ds.get("CorrectedImage") or [])}
    if not {"ATTN", "DECY"} <= corrected:
        return missing("not attenuation and decay corrected (Corrected Image)")
    weight = positive_number(ds.get("PatientWeight"))
    if weight is None:
        return missing("no Patient's Weight")
    drugs = ds.get("RadiopharmaceuticalInformationSequence")
    if not drugs:
        return missing("no Radiopharmaceutical Information")
    drug = drugs[0]
    dose = positive_number(drug.get("RadionuclideTotalDose"))
    if dose is None:
        return missing("no Radionuclide Total Dose")
    decay = str(ds.get("DecayCorrection", "") or "").strip().upper()
    if decay == "ADMIN":  # values decay corrected to the injection: the dose as injected
        return SuvFactor(weight * 1000.0 / dose)
    if decay != "START":
        return missing(f"Decay Correction {decay or 'missing'}")
    half_life = positive_number(drug.get("RadionuclideHalfLife"))
    if half_life is None:
        return missing("no Radionuclide Half Life")
    # START: decay corrected to the series' start (C.8.9.1.1.6)
    scan = _datetime(ds.get("SeriesDate"), ds.get("SeriesTime"))
    if scan is None:
        scan = _datetime(ds.get("AcquisitionDate"), ds.get("AcquisitionTime"))
    if scan is None:
        return missing("no Series Date and Time")
    injected = _injection(drug, scan)
    if injected is None:
        return missing("no Radiopharmaceutical Start Time")
    elapsed = (scan - injected).total_seconds()
    if elapsed < 0:
        return missing("injected after the series started")
    decayed = dose * math.exp(-math.log(2.0) * elapsed / half_life)
    return SuvFactor(weight * 1000.0 / decayed)


__all__ = ["SuvFactor", "suv_factor"]
