"""The study-level query form: patient, dates with quick choices, modality, accession."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date, timedelta

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from viewer.core.errors import UsageError
from viewer.net.query import QuerySpec

#: (key, label) of the date quick choices, in menu order.
DATE_CHOICES = (
    ("any", "Any date"),
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("last7", "Last 7 days"),
    ("last30", "Last 30 days"),
    ("range", "Between ..."),
)
MODALITIES = ("", "CT", "MR", "CR", "DX", "MG", "US", "NM", "PT", "XA", "RF", "OT", "SR")


def _da(day: date) -> str:
    return day.strftime("%Y%m%d")


def date_range(choice: str, today: date, start: date | None = None,
               end: date | None = None) -> str:
    """The Study Date matching value of a quick choice (PS3.4 C.2.2.2.5 range matching).

    Parameters
    ----------
    choice : str
        A key of :data:`DATE_CHOICES`.
    today : date
        The local date the choice is relative to.
    start, end : date, optional
        The bounds of ``range``; either may be missing for an open range.

    Returns
    -------
    str
        ``""`` (universal matching), ``YYYYMMDD`` (single value) or ``A-B``, ``A-``,
        ``-B`` (inclusive ranges).
    """
    if choice == "any":
        return ""
    if choice == "today":
        return _da(today)
    if choice == "yesterday":
        return _da(today - timedelta(days=1))
    if choice in ("last7", "last30"):
        days = 7 if choice == "last7" else 30
        # "Last 7 days" includes today: six days back, then today.
        return f"{_da(today - timedelta(days=days - 1))}-{_da(today)}"
    if choice == "range":
        if start and end and start > end:
            start, end = end, start
        if start and end and start == end:
            return _da(start)
        if not (start or end):
            return ""
        return f"{_da(start) if start else ''}-{_da(end) if end else ''}"
    raise UsageError(f"unknown date choice {choice!r}")


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def name_matching_value(text: str) -> str:
    """The Patient Name matching value for a name as a clinician types it.

    Without ``*`` or ``?`` a value is single value matching (PS3.4 C.2.2.2.1): the PACS
    lists only names equal to it, so "smith" finds no "SMITH^JOHN", where the local
    browser finds it. A typed name is therefore taken as the beginning of the name and
    sent with a trailing ``*`` (wildcard matching, PS3.4 C.2.2.2.4). The name as people
    write it, "Smith, John" or "Smith John", becomes the Person Name's components
    (PS3.5 6.2.1.1, family name ``^`` given name): ``Smith^John*``. A family name of
    several words needs the comma ("van der Berg, Jan"). A value with a wildcard, or
    already written with ``^`` or ``=``, is sent as typed (plus the trailing ``*`` for
    the latter). The command line (``lightbox query --patient``) keeps the exact DICOM
    semantics.

    Parameters
    ----------
    text : str
        What was typed.

    Returns
    -------
    str
        ``""`` for an empty field (universal matching, PS3.4 C.2.2.2.3), else the value
        to send.

    Examples
    --------
    >>> name_matching_value("smith")
    'smith*'
    >>> name_matching_value("Smith, John")
    'Smith^John*'
    >>> name_matching_value("Smith John")
    'Smith^John*'
    >>> name_matching_value("DOE*")
    'DOE*'
    >>> name_matching_value("山田")
    '*山田*'
    """
    text = " ".join(text.split())
    if not text or _has_wildcard(text):
        return text
    if "^" in text or "=" in text:
        value = text + "*"
    elif "," in text:
        family, _, given = (part.strip() for part in text.partition(","))
        value = _components(family, given)
    else:
        family, _, given = text.partition(" ")
        value = _components(family, given)
    # Japanese and Korean names are written ideographic and phonetic in the second and
    # third component groups (PS3.5 6.2.1.2, "Yamada^Tarou=山田^太郎=やまだ^たろう"), so a
    # name typed in those scripts begins a group, not the value: matched from its start,
    # "山田*" finds nothing. It is looked for anywhere in the value instead.
    return "*" + value if _ideographic_or_phonetic(value) else value


def _components(family: str, given: str) -> str:
    if not given:
        return family + "*"
    # An empty family name (", John") matches any: the given name still narrows it.
    return f"{family or '*'}^{given}*"


def _ideographic_or_phonetic(text: str) -> bool:
    # Han ideographs, kana and hangul are the wide characters of Unicode's East Asian
    # Width (UAX #11), half-width katakana its half-width ones.
    return any(unicodedata.east_asian_width(c) in ("W", "H") for c in text)


def text_matching_value(text: str) -> str:
    """The matching value of a free-text key (Study Description) as a user types it.

    As for the name (:func:`name_matching_value`): without ``*`` or ``?`` the PACS would
    match only the whole description (single value matching, PS3.4 C.2.2.2.1), so
    "CHEST" is sent as ``CHEST*``, the descriptions that begin with it (wildcard
    matching, PS3.4 C.2.2.2.4). With a wildcard the text is sent as typed. The case is
    kept: PS3.4 C.2.2.2.1 allows matching regardless of case for PN only, and Orthanc,
    for one, matches an LO such as Study Description case-sensitively.
    """
    text = text.strip()
    return text if not text or _has_wildcard(text) else text + "*"


NAME_TIP = (
    "A name without * or ? finds the names that begin with it: smith is sent as smith*, "
    "and \"Smith, John\" or \"Smith John\" as Smith^John* (family name, then given name; "
    "a family name of several words needs the comma). A name in kanji, kana or hangul is "
    "looked for anywhere in the name (山田 as *山田*): such names follow the romanized one. "
    "With * or ? the text is sent as typed (DICOM wildcard matching). Whether case and "
    "accents matter depends on the PACS."
)
DESCRIPTION_TIP = (
    "A description without * or ? finds the descriptions that begin with it: CHEST is "
    "sent as CHEST*, and finds CHEST CT; *CHEST* finds it anywhere (CT CHEST). With * or ? "
    "the text is sent as typed. Most PACS match descriptions case-sensitively (only "
    "names may be matched regardless of case): CHEST does not find Chest PA."
)


class QueryFormWidget(QWidget):
    """The keys of a study-level C-FIND (PS3.4 C.6.2.1.2), as a user types them.

    Signals
    -------
    submitted()
        Return was pressed in one of the text fields.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__(parent)
        self._today = today
        self.patient_name_edit = QLineEdit(self)
        self.patient_name_edit.setPlaceholderText("smith, or Smith, John: names that begin so")
        self.patient_name_edit.setToolTip(NAME_TIP)
        self.patient_id_edit = QLineEdit(self)
        self.accession_edit = QLineEdit(self)
        self.description_edit = QLineEdit(self)
        self.description_edit.setPlaceholderText("CHEST: descriptions that begin so (case matters)")
        self.description_edit.setToolTip(DESCRIPTION_TIP)
        self.modality_combo = QComboBox(self)
        self.modality_combo.setEditable(True)
        self.modality_combo.addItems(list(MODALITIES))
        self.date_choice = QComboBox(self)
        for key, label in DATE_CHOICES:
            self.date_choice.addItem(label, key)
        now = today()
        qtoday = QDate(now.year, now.month, now.day)
        self.date_from = QDateEdit(qtoday.addDays(-7), self)
        self.date_to = QDateEdit(qtoday, self)
        for date_edit in (self.date_from, self.date_to):
            date_edit.setCalendarPopup(True)
            date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_choice.currentIndexChanged.connect(self._date_choice_changed)
        self._date_choice_changed()
        for edit in (self.patient_name_edit, self.patient_id_edit, self.accession_edit,
                     self.description_edit):
            edit.returnPressed.connect(self.submitted)
        modality_line = self.modality_combo.lineEdit()
        if modality_line is not None:
            modality_line.returnPressed.connect(self.submitted)

        dates = QHBoxLayout()
        dates.setContentsMargins(0, 0, 0, 0)
        dates.addWidget(self.date_choice)
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to", self))
        dates.addWidget(self.date_to)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("Patient name", self), 0, 0)
        grid.addWidget(self.patient_name_edit, 0, 1)
        grid.addWidget(QLabel("Patient ID", self), 0, 2)
        grid.addWidget(self.patient_id_edit, 0, 3)
        grid.addWidget(QLabel("Study date", self), 0, 4)
        grid.addLayout(dates, 0, 5)
        grid.addWidget(QLabel("Modality", self), 1, 0)
        grid.addWidget(self.modality_combo, 1, 1)
        grid.addWidget(QLabel("Accession", self), 1, 2)
        grid.addWidget(self.accession_edit, 1, 3)
        grid.addWidget(QLabel("Description", self), 1, 4)
        grid.addWidget(self.description_edit, 1, 5)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        grid.setColumnStretch(5, 2)

    def _date_choice_changed(self, *_: object) -> None:
        custom = self.date_choice.currentData() == "range"
        self.date_from.setEnabled(custom)
        self.date_to.setEnabled(custom)

    def set_date_choice(self, key: str) -> None:
        """Select a quick choice by its key (``today``, ``last7`` ...)."""
        index = self.date_choice.findData(key)
        if index < 0:
            raise UsageError(f"unknown date choice {key!r}")
        self.date_choice.setCurrentIndex(index)

    def study_date(self) -> str:
        """The Study Date matching value the form asks for."""
        choice = str(self.date_choice.currentData())
        start = self.date_from.date().toPython() if choice == "range" else None
        end = self.date_to.date().toPython() if choice == "range" else None
        return date_range(choice, self._today(), start, end)  # type: ignore[arg-type]

    def spec(self) -> QuerySpec:
        """The study-level query; raises :class:`UsageError` when a key is malformed.

        The name and the description are searched by their beginning unless they hold a
        wildcard (:func:`name_matching_value`, PS3.4 C.2.2.2.4); identifiers (Patient ID,
        Accession Number) are matched as typed.
        """
        return QuerySpec(
            level="study",
            model="study",
            patient_name=name_matching_value(self.patient_name_edit.text()),
            patient_id=self.patient_id_edit.text().strip(),
            study_date=self.study_date(),
            modality=self.modality_combo.currentText().strip().upper(),
            accession_number=self.accession_edit.text().strip(),
            study_description=text_matching_value(self.description_edit.text()),
        ).validated()

    def clear(self) -> None:
        """Empty every key (any date)."""
        for edit in (self.patient_name_edit, self.patient_id_edit, self.accession_edit,
                     self.description_edit):
            edit.clear()
        self.modality_combo.setCurrentIndex(0)
        self.set_date_choice("any")
