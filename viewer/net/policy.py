"""What Lightbox proposes and accepts on the network, as data the conformance statement reads.

Nothing here opens a socket: the modules that do (``echo``, ``query``, ``retrieve``,
``scp``) build their application entities from these tables, so the DICOM Conformance
Statement generated from this module says exactly what the code does.
"""

from __future__ import annotations

from dataclasses import dataclass

# PS3.4 C.6 Query/Retrieve information models (SOP Class UIDs).
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
VERIFICATION = "1.2.840.10008.1.1"

FIND_MODELS = {"study": STUDY_ROOT_FIND, "patient": PATIENT_ROOT_FIND}
MOVE_MODELS = {"study": STUDY_ROOT_MOVE, "patient": PATIENT_ROOT_MOVE}
GET_MODELS = {"study": STUDY_ROOT_GET, "patient": PATIENT_ROOT_GET}

# PS3.5 A.2 / A.4: transfer syntaxes Lightbox can decode (pydicom + pylibjpeg plugins).
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
UNCOMPRESSED_SYNTAXES = (EXPLICIT_VR_LE, IMPLICIT_VR_LE)
# PS3.5 A.4.5-A.4.8 (MPEG-2, MPEG-4 AVC/H.264, HEVC/H.265), the most used first. Nothing
# here decodes them, but a video has no other form a sender would use: refusing the syntax
# loses the instance from the study (and fails the PACS's C-MOVE), where storing it keeps
# the study whole and lets the user open the file elsewhere.
VIDEO_SYNTAXES = (
    "1.2.840.10008.1.2.4.102",  # MPEG-4 AVC/H.264 High Profile / Level 4.1
    "1.2.840.10008.1.2.4.104",  # MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video
    "1.2.840.10008.1.2.4.107",  # HEVC/H.265 Main Profile / Level 5.1
    "1.2.840.10008.1.2.4.108",  # HEVC/H.265 Main 10 Profile / Level 5.1
    "1.2.840.10008.1.2.4.100",  # MPEG2 Main Profile / Main Level
    "1.2.840.10008.1.2.4.101",  # MPEG2 Main Profile / High Level
    "1.2.840.10008.1.2.4.103",  # MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1
    "1.2.840.10008.1.2.4.105",  # MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video
    "1.2.840.10008.1.2.4.106",  # MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2
    "1.2.840.10008.1.2.4.102.1",  # the same, fragmentable (PS3.5 8.2.5.1)
    "1.2.840.10008.1.2.4.104.1",
    "1.2.840.10008.1.2.4.100.1",
    "1.2.840.10008.1.2.4.101.1",
    "1.2.840.10008.1.2.4.103.1",
    "1.2.840.10008.1.2.4.105.1",
    "1.2.840.10008.1.2.4.106.1",
)
# The Storage SOP Classes of video (PS3.4 B.5): a C-GET proposes them the video syntaxes.
VIDEO_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.77.1.1.1",  # Video Endoscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.2.1",  # Video Microscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.4.1",  # Video Photographic Image
)
# Accepted by our storage SCP, in order of preference when one context proposes several
# (PS3.8 9.3.3.2: the acceptor picks one): uncompressed first, as dcmtk's storescp does.
# Every sender can send the default syntax (PS3.5 10.1), while one that lists compressed
# syntaxes beside it may not be able to compress: dcmqrscp proposes RLE with the
# uncompressed syntaxes for every file and fails each uncompressed one sent on RLE.
# Then lossless compression; lossy syntaxes and video only if proposed alone.
_UNCOMPRESSED_STORAGE = (EXPLICIT_VR_LE, IMPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE,
                         EXPLICIT_VR_BE)
_LOSSLESS_STORAGE = (
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless, First-Order Prediction (Process 14 SV1)
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless Only
    "1.2.840.10008.1.2.4.202",  # HTJ2K with RPCL Options Lossless Only
)
_LOSSY_STORAGE = (
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.203",  # HTJ2K (lossy or lossless)
    *VIDEO_SYNTAXES,  # stored and listed, not displayed: no decoder (see VIDEO_SYNTAXES)
)
STORAGE_TRANSFER_SYNTAXES = (*_UNCOMPRESSED_STORAGE, *_LOSSLESS_STORAGE, *_LOSSY_STORAGE)
# The second choice, for a C-MOVE pass that fetches what the first pass could not get:
# from a sender that holds a file compressed and cannot decompress it.
STORAGE_SYNTAXES_COMPRESSED_FIRST = (*_LOSSLESS_STORAGE, *_UNCOMPRESSED_STORAGE,
                                     *_LOSSY_STORAGE)

# For C-GET the PACS picks, per instance, an accepted context whose transfer syntax is
# the stored one; so each compressed syntax gets a context of its own (in this order,
# as many as the 128-context budget allows per SOP class), next to one context that
# carries the uncompressed syntaxes. Otherwise the PACS transcodes or fails.
GET_UNCOMPRESSED_SYNTAXES = (
    EXPLICIT_VR_LE, IMPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE,
)
GET_COMPRESSED_SYNTAXES = (
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless Process 14
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless Only
    "1.2.840.10008.1.2.4.202",  # HTJ2K with RPCL Options Lossless Only
    "1.2.840.10008.1.2.4.203",  # HTJ2K
)

# Storage SOP classes proposed for C-GET when the PACS does not say which classes a study
# has (PS3.4 B.5). Image classes a reading workstation shows, plus the few non-image
# objects that travel with studies. Kept well under the 127 storage contexts one
# association can carry next to the GET model (PS3.8 9.3.2.2: odd context IDs 1-255).
COMMON_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image - For Processing
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # Digital Mammography X-Ray Image - For Processing
    "1.2.840.10008.5.1.4.1.1.1.3",  # Digital Intra-Oral X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color Secondary Capture
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic Image
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis Image
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
    "1.2.840.10008.5.1.4.1.1.77.1.4",  # VL Photographic Image
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
)

# PS3.8 9.3.2.2: presentation context IDs are odd integers 1-255.
MAX_PRESENTATION_CONTEXTS = 128


@dataclass(frozen=True, slots=True)
class AssociationPolicy:
    """Limits and timeouts of every association Lightbox opens or accepts.

    Attributes
    ----------
    max_pdu : int
        Maximum PDU length we announce (PS3.8 D.1 Maximum Length sub-item); 0 = unlimited.
    connect_timeout, acse_timeout, dimse_timeout, network_timeout : float
        Seconds to wait for the TCP connection, the A-ASSOCIATE/A-RELEASE answer, each
        DIMSE message, and any traffic on an idle association.
    max_associations : int
        Simultaneous associations the storage SCP accepts.
    cancel_grace : float
        Seconds a peer has to end a C-GET/C-MOVE after our C-CANCEL before we abort.
    artim_timeout : float
        Seconds the storage SCP gives a new connection, TLS handshake included, to deliver
        its whole A-ASSOCIATE-RQ (PS3.8 9.1.5 and 9.2, AE-5: the ARTIM timer runs from the
        transport connection's acceptance until the request has arrived); then it closes
        the connection. A total, not a wait per read: one byte a second is not a request.
    max_pending_connections : int
        Connections the storage SCP holds at once that have not yet delivered their
        A-ASSOCIATE-RQ; one more takes the place of the oldest waiting one (see
        :class:`viewer.net.accept_loop.PendingConnections`). They do not count against
        ``max_associations``, which is kept for associations of configured nodes.
    """

    max_pdu: int = 4 * 1024 * 1024
    connect_timeout: float = 10.0
    acse_timeout: float = 30.0
    dimse_timeout: float = 120.0
    network_timeout: float = 120.0
    max_associations: int = 8
    cancel_grace: float = 5.0
    artim_timeout: float = 30.0
    max_pending_connections: int = 32


DEFAULT_POLICY = AssociationPolicy()


@dataclass(frozen=True, slots=True)
class TlsProfile:
    """The TLS profile Lightbox uses (PS3.15 B.9 BCP 195 Non-Downgrading, RFC 9325).

    The peer's certificate is always verified against the configured CA; the host name
    is checked against the certificate's subject alternative names unless the node turns
    that off (many PACS certificates name only an IP or an internal host).
    """

    # BCP 195 (RFC 9325 3.1.1): never below TLS 1.2; an ``ssl.TLSVersion`` member name
    # with a dot for an underscore, as the conformance statement prints it.
    minimum_version: str = "TLSv1.2"
    # RFC 9325 4.2 recommended cipher suites for TLS 1.2 (TLS 1.3 suites are all allowed).
    ciphers: str = (
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
    )
    # PS3.15 B.9: both sides authenticate; the contexts of viewer.net.connection
    # require the peer's certificate from this.
    verify_peer: bool = True


TLS_PROFILE = TlsProfile()

# PS3.4 C.6.1.1 keys Lightbox sends (empty = return this attribute) at each level of the
# Study Root model; the filters the user gives are added on top of these.
QUERY_RETURN_KEYS: dict[str, tuple[str, ...]] = {
    "study": (
        "SpecificCharacterSet",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyID",
        "StudyDescription",
        "ReferringPhysicianName",
        "ModalitiesInStudy",
        "SOPClassesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    "series": (
        "SpecificCharacterSet",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "BodyPartExamined",
        "NumberOfSeriesRelatedInstances",
    ),
    "image": (
        "SpecificCharacterSet",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "NumberOfFrames",
    ),
}

# PS3.4 C.6.1.1.2: the Patient Root model has a PATIENT level.
PATIENT_LEVEL_KEYS = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "NumberOfPatientRelatedStudies",
)

# The character set of every query we send: Unicode, so any name can be typed; each
# response is decoded with its own (0008,0005) (PS3.4 C.4.1.1.3.1 / PS3.3 C.12.1.1.2).
QUERY_CHARACTER_SET = "ISO_IR 192"

# Sub-commands of our own storage SCP: Verification and every Storage SOP class (PS3.4
# B.5), any transfer syntax in STORAGE_TRANSFER_SYNTAXES, SCP role only.
SCP_ACCEPTS_VERIFICATION = True
SCP_ACCEPTS_ALL_STORAGE = True
