"""Video instances (PS3.5 A.4.5-A.4.8: MPEG-2, MPEG-4 AVC, HEVC) are stored as sent.

Lightbox does not decode video, but a video has no other form a PACS or a modality would
send: refusing its syntax lost the instance from the study and failed the sender's
C-MOVE. The storage SCP accepts the video syntaxes, and a C-GET proposes them for the
video Storage SOP Classes.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import (
    HEVCMP51,
    MPEG2MPML,
    MPEG4HP41,
    ExplicitVRLittleEndian,
    MPEGTransferSyntaxes,
    generate_uid,
)
from pynetdicom import AE
from pynetdicom.sop_class import VideoEndoscopicImageStorage

from tests.net.conftest import (
    OUR_AET,
    FolderSink,
    assert_received_as_sent,
    get_from_a_pynetdicom_peer,
)
from tests.support.series import write_ct_series
from tests.support.video import write_video
from viewer.core.settings import NetworkSettings
from viewer.net.plan import other_storage_classes, storage_contexts
from viewer.net.policy import VIDEO_SYNTAXES
from viewer.net.scp import StorageSCP

pytestmark = pytest.mark.peer


def test_the_storage_scp_stores_a_video_as_sent(modality_scp: StorageSCP, sink: FolderSink,
                                                tmp_path: Path) -> None:
    study = generate_uid()
    videos = [write_video(tmp_path / f"v{n}.dcm", syntax, study)
              for n, syntax in enumerate((MPEG4HP41, HEVCMP51, MPEG2MPML))]
    ae = AE(ae_title="MODALITY")
    for syntax in (MPEG4HP41, HEVCMP51, MPEG2MPML):  # one context each, no alternative
        ae.add_requested_context(VideoEndoscopicImageStorage, syntax)
    assoc = ae.associate("127.0.0.1", modality_scp.port, ae_title=OUR_AET)
    assert assoc.is_established
    try:
        assert len(assoc.accepted_contexts) == 3
        for path in videos:
            assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
    finally:
        assoc.release()
    modality_scp.receiver.drain()
    assert_received_as_sent(sink, videos)


def test_a_sender_offering_video_or_uncompressed_gets_uncompressed(
        modality_scp: StorageSCP) -> None:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(VideoEndoscopicImageStorage, [MPEG4HP41, ExplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", modality_scp.port, ae_title=OUR_AET)
    try:
        assert assoc.is_established
        (context,) = assoc.accepted_contexts
        assert context.transfer_syntax[0] == ExplicitVRLittleEndian  # it can be shown
    finally:
        assoc.release()


def test_a_get_proposes_the_video_syntaxes_for_video_classes_only() -> None:
    contexts = storage_contexts([VideoEndoscopicImageStorage, "1.2.840.10008.5.1.4.1.1.2"])
    video = {str(cx.transfer_syntax[0]) for cx in contexts
             if cx.abstract_syntax == VideoEndoscopicImageStorage}
    assert set(VIDEO_SYNTAXES) == set(MPEGTransferSyntaxes)  # every one pydicom knows
    assert set(VIDEO_SYNTAXES) <= video
    ct = {str(ts) for cx in contexts if cx.abstract_syntax != VideoEndoscopicImageStorage
          for ts in cx.transfer_syntax}
    assert not ct & set(VIDEO_SYNTAXES)
    # The pass over every other class still fits one association (PS3.8 9.3.2.2).
    assert len(storage_contexts(other_storage_classes(()))) <= 127


def test_a_get_receives_a_video_beside_the_images(local: NetworkSettings, sink: FolderSink,
                                                  tmp_path: Path) -> None:
    images = write_ct_series(tmp_path / "ct", slices=2)
    study = str(pydicom.dcmread(images[0]).StudyInstanceUID)
    sent = [*images, write_video(tmp_path / "video.dcm", MPEG4HP41, study)]
    # The peer sends each instance only on a context of its own syntax (pynetdicom does
    # not transcode), and answers no SOP Classes in Study: the first pass proposes the
    # common image classes, a later one the video's class, listed at IMAGE level.
    last = get_from_a_pynetdicom_peer(sent, local, sink, tmp_path / "incoming")
    assert last.ok and last.completed == len(sent), last.message
    assert_received_as_sent(sink, sent)
