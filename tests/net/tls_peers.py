"""DICOM TLS peers for the storage SCP tests: Orthanc with DICOM TLS, and client contexts.

Orthanc 1.9+ speaks DICOM TLS as SCP (``DicomTlsEnabled``) and as SCU towards a modality
with ``UseDicomTls``, presenting ``DicomTlsCertificate`` and verifying the other side
against ``DicomTlsTrustedCertificates``: a real PACS that sends C-MOVE sub-operations
to our TLS port.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

from tests.support.peers import ORTHANC, PEER_ENV, PeerProcess, free_port, wait_for_port


def start_tls_orthanc(workdir: Path, tls: dict[str, Path], destination: tuple[str, int],
                      aet: str = "ORTHANC") -> PeerProcess:
    """Orthanc serving DICOM TLS only, knowing ``destination`` (AE, port) as a TLS modality.

    Its certificate is ``tls["server"]`` (signed by ``tls["ca"]``), it trusts ``tls["ca"]``
    and requires the other side's certificate (``DicomTlsRemoteCertificateRequired``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port, http_port = free_port(), free_port()
    dest_aet, dest_port = destination
    config = {
        "Name": "lightbox-tls-test",
        "DicomAet": aet,
        "DicomPort": port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"),
        "DicomModalities": {
            dest_aet.lower(): {"AET": dest_aet, "Host": "127.0.0.1", "Port": dest_port,
                               "UseDicomTls": True},
        },
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomCheckCalledAet": False,
        "Plugins": [],
        "StorageCompression": False,
        "DefaultEncoding": "Utf8",
        "DicomScuTimeout": 10,
        "DicomAssociationCloseDelay": 0,
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(tls["server"]),
        "DicomTlsPrivateKey": str(tls["server-key"]),
        "DicomTlsTrustedCertificates": str(tls["ca"]),
        "DicomTlsRemoteCertificateRequired": True,
    }
    cfg = workdir / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=1))
    log = workdir / "orthanc.log"
    proc = subprocess.Popen([ORTHANC, str(cfg)], env=PEER_ENV, cwd=workdir,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    peer = PeerProcess("orthanc", aet, port, proc, workdir, http_port=http_port, log=log)
    try:
        wait_for_port(http_port, proc=proc)
        wait_for_port(port, proc=proc)
    except Exception:
        peer.stop()
        raise
    return peer


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None
                   ) -> ssl.SSLContext:
    """A TLS client context that trusts ``ca`` and presents ``cert`` when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx
