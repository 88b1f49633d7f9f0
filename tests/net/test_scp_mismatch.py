"""A C-STORE whose data set is not the instance its request names is answered 0xA900 and
not stored (PS3.4 B.2.3), as dcmtk's storescp answers it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, association

from tests.net.conftest import OUR_AET, FolderSink
from tests.support.series import write_ct_series
from viewer.net.dataset_identity import dataset_uids
from viewer.net.scp import StorageSCP

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def _send(assoc: Any, request: Dataset, body: Dataset, monkeypatch: pytest.MonkeyPatch
          ) -> int:
    """C-STORE whose request names ``request``'s UIDs and whose data set is ``body``."""
    encode = association.encode
    with monkeypatch.context() as patch:
        patch.setattr(association, "encode", lambda ds, *a, **k: encode(body, *a, **k))
        return int(assoc.send_c_store(request).Status)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_a_data_set_that_is_not_the_requested_instance_is_refused(
        modality_scp: StorageSCP, sink: FolderSink, tmp_path: Path, syntax: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    normal, other, third = (pydicom.dcmread(p) for p in write_ct_series(
        tmp_path / "ct", slices=3, rows=16, cols=16, transfer_syntax=syntax))
    as_mr = copy.deepcopy(other)
    as_mr.SOPClassUID = MR
    renamed = copy.deepcopy(third)
    renamed.SOPInstanceUID = generate_uid()
    ae = AE(ae_title="MODALITY")
    for sop_class in (CT, MR):
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate("127.0.0.1", modality_scp.port, ae_title=OUR_AET)
    assert assoc.is_established
    try:
        statuses = [_send(assoc, normal, normal, monkeypatch),
                    _send(assoc, as_mr, other, monkeypatch),
                    _send(assoc, renamed, third, monkeypatch)]
    finally:
        assoc.release()
    assert statuses == [0x0000, 0xA900, 0xA900]
    modality_scp.receiver.drain()
    assert set(sink.files) == {normal.SOPInstanceUID}
    refused = dict(modality_scp.receiver.failures)
    assert f"is of SOP Class {CT}, not the {MR} its C-STORE" in refused[other.SOPInstanceUID]
    assert f"is SOP Instance {third.SOPInstanceUID}, not the {renamed.SOPInstanceUID}" in (
        refused[renamed.SOPInstanceUID])


def test_the_uids_are_read_from_the_first_elements_only(tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16)
    ds = pydicom.dcmread(path)
    data = _data_set_bytes(path)
    assert dataset_uids(data, ExplicitVRLittleEndian, whole=True) == (
        ds.SOPClassUID, ds.SOPInstanceUID)
    # Cut before (0008,0018): a part cannot tell, a whole data set lacks them.
    assert dataset_uids(data[:20], ExplicitVRLittleEndian, whole=False) is None
    assert dataset_uids(b"", ExplicitVRLittleEndian, whole=True) == ("", "")
    # What is not digits and dots was misread: no verdict, the store reads the file.
    misread = b"\x08\x00\x16\x00UI\x04\x00AB.C"
    assert dataset_uids(misread, ExplicitVRLittleEndian, whole=True) is None
    # Deflated and big endian data sets are left to the store.
    assert dataset_uids(data, "1.2.840.10008.1.2.1.99", whole=True) is None


def _data_set_bytes(path: Path) -> bytes:
    """The bytes after a Part 10 file's File Meta Information."""
    with path.open("rb") as f:
        pydicom.filereader.read_preamble(f, False)
        pydicom.filereader._read_file_meta_info(f)
        return f.read()
