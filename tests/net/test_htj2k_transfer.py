"""HTJ2K instances (PS3.5 A.4.11) travel as stored: accepted by our storage SCP, proposed
by our C-GET. A PACS that archives HTJ2K otherwise has to transcode each instance for us,
or fails its sub-operations when it cannot."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import UID
from pynetdicom import AE

from tests.net.conftest import (
    OUR_AET,
    FolderSink,
    assert_received_as_sent,
    get_from_a_pynetdicom_peer,
)
from tests.support.htj2k import HTJ2K_SYNTAXES, can_write_htj2k, recompress_htj2k
from tests.support.series import write_mr_series
from viewer.core.settings import NetworkSettings
from viewer.net.scp import StorageSCP

pytestmark = [pytest.mark.peer,
              pytest.mark.skipif(not can_write_htj2k(),
                                 reason="needs OpenJPH's ojph_compress (openjph-tools)")]


@pytest.fixture
def htj2k_study(tmp_path: Path) -> list[Path]:
    """One MR study of three slices, one per HTJ2K syntax."""
    paths = write_mr_series(tmp_path / "mr", slices=len(HTJ2K_SYNTAXES), rows=32, cols=48)
    for path, syntax in zip(paths, HTJ2K_SYNTAXES, strict=True):
        recompress_htj2k(path, syntax)
    return paths


def test_the_storage_scp_accepts_each_htj2k_syntax(modality_scp: StorageSCP, sink: FolderSink,
                                                   htj2k_study: list[Path]) -> None:
    ae = AE(ae_title="MODALITY")
    for path in htj2k_study:  # each syntax proposed on its own: no uncompressed fallback
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", modality_scp.port, ae_title=OUR_AET)
    assert assoc.is_established
    try:
        accepted = {str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        assert accepted == set(HTJ2K_SYNTAXES), [UID(s).name for s in accepted]
        for path in htj2k_study:
            assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
    finally:
        assoc.release()
    modality_scp.receiver.drain()
    assert_received_as_sent(sink, htj2k_study)


def test_a_get_receives_htj2k_as_the_pacs_holds_it(local: NetworkSettings, sink: FolderSink,
                                                   tmp_path: Path,
                                                   htj2k_study: list[Path]) -> None:
    # The peer sends each instance only on a context of its own syntax (pynetdicom does
    # not transcode): without HTJ2K contexts in our C-GET its sub-operations fail.
    last = get_from_a_pynetdicom_peer(htj2k_study, local, sink, tmp_path / "incoming")
    assert last.ok and last.completed == len(htj2k_study), last.message
    assert_received_as_sent(sink, htj2k_study)
