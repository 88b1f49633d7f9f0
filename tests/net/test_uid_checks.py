"""UID checks remembered across associations give the answers the checks give."""

from __future__ import annotations

import re
import warnings

import pydicom
import pytest
from pydicom.uid import UID
from pynetdicom import _config as pynetdicom_config
from pynetdicom.presentation import PresentationContext
from pynetdicom.utils import set_uid

import viewer.net  # noqa: F401  (installs the remembered checks)
from viewer.net.uid_checks import remember_uid_checks

# PS3.5 9.1: components of digits without leading zeros, at most 64 characters.
PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
VALUES = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1", "0", "1.02.3", "1..2", "1.2.",
          "1.2.a", "", " 1.2", "1.2 ", "1." + "2" * 62, "1." + "2" * 63, "1.2\\3",
          "1.2.840.10008.1.2.4.50"]


@pytest.mark.parametrize("value", VALUES)
def test_conformance_is_the_pattern_every_time(value: str) -> None:
    uid = UID(value, validation_mode=pydicom.config.IGNORE)
    text = str(uid)  # a UID drops surrounding spaces
    expected = len(text) <= 64 and PATTERN.match(text) is not None
    assert [uid.is_valid, UID(value, validation_mode=pydicom.config.IGNORE).is_valid] == [
        expected, expected]


def test_installing_twice_wraps_once() -> None:
    installed = (pynetdicom_config.VALIDATORS["UI"], UID.__dict__["is_valid"])
    assert not isinstance(installed[1], property)  # the remembered one is in place
    remember_uid_checks()
    assert (pynetdicom_config.VALIDATORS["UI"], UID.__dict__["is_valid"]) == installed


def test_pynetdicom_still_refuses_what_it_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):
        assert set_uid("1.2.840.10008.1.2", "uid") == "1.2.840.10008.1.2"
        with pytest.raises(ValueError, match="exceed 64"):
            set_uid("1." + "2" * 70, "uid")
        with pytest.raises(ValueError, match="exceed 64"):
            PresentationContext().abstract_syntax = "1." + "2" * 70
    monkeypatch.setattr(pynetdicom_config, "ENFORCE_UID_CONFORMANCE", True)
    for _ in range(2):
        with pytest.raises(ValueError, match="non-conformant"):
            set_uid("1.2.a", "uid")


def test_pynetdicom_conformance_switch_is_part_of_the_answer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-conformant UID (a leading zero) passes unless conformance is enforced."""
    check = pynetdicom_config.VALIDATORS["UI"]
    monkeypatch.setattr(pynetdicom_config, "ENFORCE_UID_CONFORMANCE", False)
    assert check(UID("1.02.3", validation_mode=pydicom.config.IGNORE))[0]
    monkeypatch.setattr(pynetdicom_config, "ENFORCE_UID_CONFORMANCE", True)
    assert not check(UID("1.02.3", validation_mode=pydicom.config.IGNORE))[0]
    monkeypatch.setattr(pynetdicom_config, "ENFORCE_UID_CONFORMANCE", False)
    assert check(UID("1.02.3", validation_mode=pydicom.config.IGNORE))[0]


def test_pydicom_still_raises_and_warns_each_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match=r"1\.02\.3"):
            UID("1.02.3", validation_mode=pydicom.config.RAISE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        UID("1.2.x", validation_mode=pydicom.config.WARN)
        UID("1.2.x", validation_mode=pydicom.config.WARN)
    assert len([w for w in caught if "1.2.x" in str(w.message)]) == 2
    assert UID("1.2.3", validation_mode=pydicom.config.RAISE) == "1.2.3"
