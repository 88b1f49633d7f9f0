"""DICOM TLS peers for the storage SCP tests: Orthanc with DICOM TLS, and client contexts.

Orthanc 1.9+ speaks DICOM TLS as SCP (``DicomTlsEnabled``) and as SCU towards a modality
with ``UseDicomTls``, presenting ``DicomTlsCertificate`` and verifying the other side
against ``DicomTlsTrustedCertificates``: a real PACS that sends C-MOVE sub-operations
to our TLS port.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from tests.support.peers import PeerProcess, start_orthanc


def start_tls_orthanc(workdir: Path, tls: dict[str, Path], destination: tuple[str, int],
                      aet: str = "ORTHANC") -> PeerProcess:
    """Orthanc serving DICOM TLS only, knowing ``destination`` (AE, port) as a TLS modality.

    Its certificate is ``tls["server"]`` (signed by ``tls["ca"]``), it trusts ``tls["ca"]``
    and requires the other side's certificate (``DicomTlsRemoteCertificateRequired``).
    """
    dest_aet, dest_port = destination
    return start_orthanc(workdir, aet, settings={
        "DicomModalities": {
            dest_aet.lower(): {"AET": dest_aet, "Host": "127.0.0.1", "Port": dest_port,
                               "UseDicomTls": True},
        },
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(tls["server"]),
        "DicomTlsPrivateKey": str(tls["server-key"]),
        "DicomTlsTrustedCertificates": str(tls["ca"]),
        "DicomTlsRemoteCertificateRequired": True,
    })


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None
                   ) -> ssl.SSLContext:
    """A TLS client context that trusts ``ca`` and presents ``cert`` when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx
