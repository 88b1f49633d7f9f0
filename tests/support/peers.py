"""Real DICOM peers for tests and benchmarks: Orthanc and dcmtk's dcmqrscp on loopback.

Each peer runs from a generated configuration in a temporary folder, on a free port,
with ``TCP_NODELAY=1`` in its environment (dcmtk's network layer leaves Nagle on
otherwise), and is stopped by its PID. Test studies are generated with pydicom.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from viewer.core.identity import derived_uid

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DCMQRSCP = shutil.which("dcmqrscp") or "/usr/bin/dcmqrscp"
STORESCU = shutil.which("storescu") or "/usr/bin/storescu"
PEER_ENV = {**os.environ, "TCP_NODELAY": "1"}
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
                  ) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class PeerProcess:
    """A running peer: where it listens and how to stop it."""

    kind: str
    aet: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    http_port: int = 0
    log: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def address(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Kill the peer at once (SIGKILL), as a crash would."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop the peer by its PID: SIGTERM, then SIGKILL if it lingers."""
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


def start_orthanc(workdir: Path, aet: str = "ORTHANC",
                  destinations: Mapping[str, tuple[str, int]] | None = None,
                  port: int = 0, settings: Mapping[str, object] | None = None) -> PeerProcess:
    """Start Orthanc with a generated JSON configuration.

    Parameters
    ----------
    destinations : mapping of AE title -> (host, port)
        C-MOVE destinations it knows (``DicomModalities``).
    settings : mapping, optional
        Configuration entries that replace or add to the defaults (DICOM TLS, say).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    http_port = free_port()
    config = {
        "Name": "lightbox-test",
        "DicomAet": aet,
        "DicomPort": port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"),
        "DicomModalities": {
            name.lower(): [name, host, p] for name, (host, p) in (destinations or {}).items()
        },
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomCheckCalledAet": False,
        "DicomCheckModalityHost": False,
        "UnknownSopClassAccepted": True,
        "Plugins": [],
        "StorageCompression": False,
        # C-FIND answers in this character set (a Latin-1 default drops CJK names).
        "DefaultEncoding": "Utf8",
        "HttpServerEnabled": True,
        "DicomScuTimeout": 10,
        "DicomAssociationCloseDelay": 0,
        **(settings or {}),
    }
    cfg = workdir / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=1))
    log = workdir / "orthanc.log"
    proc = subprocess.Popen(
        [ORTHANC, str(cfg)], env=PEER_ENV, cwd=workdir,
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    peer = PeerProcess("orthanc", aet, port, proc, workdir, http_port=http_port, log=log)
    try:
        wait_for_port(port, proc=proc)
        wait_for_port(http_port, proc=proc)
    except Exception:
        peer.stop()
        raise
    return peer


def orthanc_instance_count(peer: PeerProcess) -> int:
    """Orthanc's own count of stored instances (REST ``/statistics``)."""
    url = f"http://127.0.0.1:{peer.http_port}/statistics"
    with urllib.request.urlopen(url, timeout=10) as rsp:
        return int(json.load(rsp)["CountInstances"])


def start_dcmqrscp(workdir: Path, aet: str = "DCMQR",
                   destinations: Mapping[str, tuple[str, int]] | None = None,
                   port: int = 0) -> PeerProcess:
    """Start dcmtk's dcmqrscp with a generated configuration file and an empty archive."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    db = workdir / "db"
    db.mkdir(exist_ok=True)
    hosts = "\n".join(
        f"{name.lower()} = ({name}, {host}, {p})" for name, (host, p) in
        (destinations or {}).items()
    )
    (workdir / "dcmqrscp.cfg").write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 65536\nMaxAssociations = 16\n"
        f"HostTable BEGIN\n{hosts}\nHostTable END\n"
        "VendorTable BEGIN\nVendorTable END\n"
        f"AETable BEGIN\n{aet} {db} RW (2000, 1024mb) ANY\nAETable END\n"
    )
    log = workdir / "dcmqrscp.log"
    proc = subprocess.Popen(
        # +xr accepts RLE from the loader, -xr proposes it when sending RLE files back.
        [DCMQRSCP, "-c", str(workdir / "dcmqrscp.cfg"), "--disable-host-lookup", "+xr", "-xr",
         "-ll", "warn"],
        env=PEER_ENV, cwd=workdir, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    peer = PeerProcess("dcmqrscp", aet, port, proc, workdir, log=log)
    try:
        wait_for_port(port, proc=proc)
    except Exception:
        peer.stop()
        raise
    return peer


def store_files(peer: PeerProcess, files: Sequence[Path], calling_aet: str = "LOADER") -> None:
    """Load ``files`` into the peer: Orthanc by REST, dcmqrscp with dcmtk's storescu."""
    if peer.kind == "orthanc":
        for path in files:
            req = urllib.request.Request(
                f"http://127.0.0.1:{peer.http_port}/instances", data=path.read_bytes(),
                method="POST", headers={"Content-Type": "application/dicom"},
            )
            with urllib.request.urlopen(req, timeout=60) as rsp:
                rsp.read()
        return
    for start in range(0, len(files), 400):
        chunk = [str(f) for f in files[start:start + 400]]
        # -R -xr: required contexts only, RLE proposed next to the uncompressed syntaxes.
        done = subprocess.run(
            [STORESCU, "-aet", calling_aet, "-aec", peer.aet, "-R", "-xr", "127.0.0.1",
             str(peer.port), *chunk],
            env=PEER_ENV, capture_output=True, timeout=300, text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"storescu to {peer.kind} failed: {done.stderr[-2000:]}")


# --- Test studies -------------------------------------------------------------------


@dataclass(frozen=True)
class StudySpec:
    """One generated study: who, what, and how its series are encoded."""

    key: str
    patient_name: str
    patient_id: str
    charset: str
    study_date: str
    accession: str
    description: str
    series: tuple[tuple[str, int, int, str], ...]  # (modality, slices, size, syntax)


TEST_STUDIES = (
    StudySpec("yamada", "Yamada^Tarou=山田^太郎", "LBX-001", "ISO_IR 192", "20240115",
              "ACC1001", "CT CHEST", (("CT", 200, 64, "explicit"), ("CT", 12, 64, "rle"))),
    StudySpec("mueller", "Müller^Jürgen", "LBX-002", "ISO_IR 100", "20240610",
              "ACC1002", "MR HEAD", (("MR", 12, 64, "rle"),)),
    StudySpec("doe", "DOE^JANE", "LBX-003", "", "20231201", "ACC1003", "CT ABDOMEN",
              (("CT", 30, 64, "implicit"),)),
)


def _instance(spec: StudySpec, s_index: int, modality: str, slices: int, size: int,
              syntax: str, i: int, rng: np.random.Generator) -> Dataset:
    study_uid = derived_uid("lightbox-test", spec.key)
    series_uid = derived_uid("lightbox-test", spec.key, str(s_index))
    sop_uid = derived_uid("lightbox-test", spec.key, str(s_index), str(i))
    sop_class = CT_IMAGE if modality == "CT" else MR_IMAGE
    ds = Dataset()
    if spec.charset:
        ds.SpecificCharacterSet = spec.charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = spec.study_date
    ds.StudyTime = "101500"
    ds.AccessionNumber = spec.accession
    ds.Modality = modality
    ds.StudyDescription = spec.description
    ds.SeriesDescription = f"{spec.description} series {s_index + 1}"
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = spec.accession[-4:]
    ds.SeriesNumber = s_index + 1
    ds.InstanceNumber = i + 1
    ds.FrameOfReferenceUID = derived_uid("lightbox-test", spec.key, "for")
    ds.ImagePositionPatient = [0.0, 0.0, float(i)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1.0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if modality == "CT":
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.KVP = 120
    pixels = rng.integers(0, 4096, (size, size), dtype=np.uint16)
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian if syntax == "implicit" else ExplicitVRLittleEndian
    )
    if syntax == "rle":
        ds.compress(RLELossless, pixels, generate_instance_uid=False)
    return ds


def write_peer_studies(folder: Path, studies: Iterable[StudySpec] = TEST_STUDIES
                       ) -> dict[str, Path]:
    """Write the test studies as DICOM files; return ``{SOP Instance UID: path}``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    out: dict[str, Path] = {}
    for spec in studies:
        for s_index, (modality, slices, size, syntax) in enumerate(spec.series):
            for i in range(slices):
                ds = _instance(spec, s_index, modality, slices, size, syntax, i, rng)
                path = folder / f"{spec.key}_{s_index}_{i:04d}.dcm"
                ds.save_as(path, enforce_file_format=True)
                out[str(ds.SOPInstanceUID)] = path
    return out


def study_uid(key: str) -> str:
    """Study Instance UID of the generated study ``key``."""
    return derived_uid("lightbox-test", key)


def series_uid(key: str, index: int) -> str:
    """Series Instance UID of series ``index`` of the generated study ``key``."""
    return derived_uid("lightbox-test", key, str(index))


# --- In-process peers for failures that Orthanc and dcmqrscp cannot stage ----------------


class SilentPeer:
    """Accepts TCP connections on loopback and never says a word (a hung PACS), or only
    ``greeting`` (another service on the port), or closes each at once."""

    def __init__(self, greeting: bytes = b"", *, close: bool = False) -> None:
        self.greeting, self.close_at_once = greeting, close
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.clients: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.greeting:
                conn.sendall(self.greeting)
            if self.close_at_once:
                conn.close()
                continue
            self.clients.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self.clients:
            c.close()
        self.sock.close()


def make_tls_files(folder: Path) -> dict[str, Path]:
    """A CA, a server and a client certificate it signs (for 127.0.0.1), and a rogue
    server certificate signed by another CA, made with the openssl command."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for ca in ("ca", "rogue-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN=Lightbox test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    for name, ca in (("server", "ca"), ("client", "ca"), ("rogue", "rogue-ca")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
            f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", f"{name}.pem")
    return {p.stem: p for p in folder.glob("*.pem")} | {
        f"{p.stem}-key": p for p in folder.glob("*.key")}


def server_ssl_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A TLS server context; with ``client_ca`` the client must present a certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
    return ctx


class PynetdicomPeer:
    """A small Q/R SCP inside the test: Verification, FIND and GET over given files.

    Parameters
    ----------
    files : sequence of Path
        What it holds; C-FIND matches everything at the asked level.
    require_calling_aet : list of str
        Calling AE titles it accepts (others are rejected, PS3.8 9.3.4 reason 3).
    ssl_context : ssl.SSLContext, optional
        Serve over TLS.
    offer_get : bool
        Offer C-GET; without it the peer offers C-MOVE to ``destinations`` instead.
    destinations : mapping of AE title -> (host, port)
        C-MOVE destinations it knows.
    stall : float
        Seconds to wait before answering a study or series C-FIND, and between the
        instances of a C-GET (a PACS that stops answering).
    offer_storage : bool
        Accept the storage contexts a C-GET proposes (in the SCP role); False, with
        ``offer_get`` False, is a Q/R AE that serves FIND and MOVE only and accepts
        nothing a C-GET association proposes.
    offer_study_find : bool
        Offer Study Root C-FIND; False offers Patient Root C-FIND instead.
    hang_after : int
        After this many instances of a C-GET or C-MOVE (keeping a C-MOVE's
        sub-association open), wait until :meth:`stop`, ignoring any C-CANCEL: a PACS
        that stalls mid-way, or, after all of them, never sends its final response.
        Negative: never.
    send_twice : bool
        Send every instance twice, with the same SOP Instance UID (a PACS that repeats
        a C-STORE it believes lost). C-GET: the repeat goes first, outside the
        sub-operation counts, which still say one per instance; C-MOVE: each instance is
        two sub-operations (pynetdicom opens the C-STORE association itself).
    """

    def __init__(self, files: Sequence[Path] = (), *, aet: str = "PYPEER",
                 require_calling_aet: Sequence[str] = (),
                 ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1",
                 offer_get: bool = True,
                 destinations: Mapping[str, tuple[str, int]] | None = None,
                 stall: float = 0.0, offer_storage: bool = True,
                 offer_study_find: bool = True, hang_after: int = -1,
                 send_twice: bool = False) -> None:
        from pynetdicom import AE, StoragePresentationContexts, evt
        from pynetdicom.sop_class import (
            PatientRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelMove,
            Verification,
        )

        self.files = list(files)
        self.aet = aet
        self.destinations = dict(destinations or {})
        self.stall = stall
        self.hang_after = hang_after
        self.send_twice = send_twice
        self.released = threading.Event()  # set by stop(): ends a hang_after wait
        ae = AE(ae_title=aet)
        ae.add_supported_context(Verification)
        if offer_study_find:
            ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        else:
            ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
        if offer_get:
            ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
        for cx in StoragePresentationContexts:  # 120: for its C-MOVE sub-associations
            ae.add_requested_context(cx.abstract_syntax)
        from pydicom.uid import AllTransferSyntaxes

        for cx in StoragePresentationContexts if offer_storage else ():
            # Role selection (PS3.7 D.3.3.4): accept the requestor as Storage SCP.
            ae.add_supported_context(cx.abstract_syntax, AllTransferSyntaxes, scu_role=True,
                                     scp_role=True)
        ae.require_calling_aet = list(require_calling_aet)
        self.server = ae.start_server(
            (host, 0), block=False, ssl_context=ssl_context,
            evt_handlers=[(evt.EVT_C_FIND, self._find), (evt.EVT_C_GET, self._get),
                          (evt.EVT_C_MOVE, self._move)],
        )
        self.port = int(self.server.server_address[1])

    def _datasets(self) -> list[Dataset]:
        import pydicom

        return [pydicom.dcmread(p) for p in self.files]

    def _find(self, event: object) -> Iterable[tuple[int, Dataset | None]]:
        if self.stall and event.identifier.QueryRetrieveLevel != "IMAGE":  # type: ignore[attr-defined]
            time.sleep(self.stall)
        query = event.identifier  # type: ignore[attr-defined]
        unique = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
                  "IMAGE": "SOPInstanceUID", "PATIENT": "PatientID"}[query.QueryRetrieveLevel]
        seen = set()
        for ds in self._datasets():
            # Single-value UID matching only: enough for the tests that use this peer.
            if any(query.get(k) and query.get(k) != ds.get(k)
                   for k in ("StudyInstanceUID", "SeriesInstanceUID")):
                continue
            if ds.get(unique) in seen:
                continue
            seen.add(ds.get(unique))
            out = Dataset()
            out.QueryRetrieveLevel = query.QueryRetrieveLevel
            for elem in query:
                if elem.keyword in ds:
                    out[elem.tag] = ds[elem.tag]
            yield 0xFF00, out

    def _get(self, event: object) -> Iterable[object]:
        datasets = self._datasets()
        yield len(datasets)
        for n, ds in enumerate(datasets):
            if n and self.stall:
                time.sleep(self.stall)  # hangs after the first instance
            if self._hang(n):
                return
            if self.send_twice:
                # Message IDs far from the sub-operations' (request's ID + n + 1).
                event.assoc.send_c_store(ds, msg_id=30000 + n)  # type: ignore[attr-defined]
            yield 0xFF00, ds
        self._hang(len(datasets))

    def _move(self, event: object) -> Iterable[object]:
        where = self.destinations.get(str(event.move_destination).strip())  # type: ignore[attr-defined]
        if where is None:
            yield None, None  # pynetdicom answers 0xA801, Move Destination unknown
            return
        yield where
        datasets = self._datasets()
        if self.send_twice:
            datasets = [ds for ds in datasets for _ in range(2)]
        yield len(datasets)
        for n, ds in enumerate(datasets):
            if self._hang(n):
                return
            yield 0xFF00, ds
        self._hang(len(datasets))

    def _hang(self, sent: int) -> bool:
        """Wait until stop() if ``sent`` instances make ``hang_after``; whether it waited."""
        if sent != self.hang_after:
            return False
        self.released.wait()
        return True

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
