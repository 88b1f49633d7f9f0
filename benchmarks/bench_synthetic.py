"""Synthetic data: how fast the generator writes a 512 x 512 CT series and the demo.

Every test module and the first run of the viewer wait for it, so it has a goal too.
The peer is writing the same pixels with a plain per-file pydicom Dataset (the header
rebuilt for every slice), the way a script usually does it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from benchmarks import Context, Result, measure, measure_pair
from viewer.dicom.demo import generate_demo_study
from viewer.dicom.synthetic import StudyIdentity, ct_volume, write_ct_series

SLICES = 100


def _naive_write(folder: Path, volume: np.ndarray) -> None:
    for i, pixels in enumerate(volume):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = CTImageStorage
        ds.PatientName, ds.PatientID, ds.Modality = "DEMO^CT", "LB-DEMO-0001", "CT"
        ds.StudyInstanceUID = ds.SeriesInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [0, 0, i * 2.5]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = pixels.tobytes()
        ds.save_as(folder / f"CT{i + 1:04d}.dcm", enforce_file_format=True)


def run(ctx: Context) -> Iterator[Result]:
    """Generate-and-write a 100-slice CT; write precomputed pixels, ours vs naive; the demo."""
    with tempfile.TemporaryDirectory(dir=ctx.cache_dir) as tmp:
        work = Path(tmp)
        study = StudyIdentity(uid_namespace="lightbox-benchmark-synthetic")

        def generate() -> None:
            shutil.rmtree(work / "gen", ignore_errors=True)
            write_ct_series(work / "gen", study, slices=SLICES, rows=512, cols=512)

        gen = measure(generate, ctx.repeats(10), warmup=1)
        yield Result(
            what=f"generate and write CT, {SLICES} slices 512x512",
            ours=gen.median / 1000.0,
            unit="s",
            goal="< 5 s",
            goal_max=5.0,
            details={"timing_ms": gen},
        )
        pixels = measure(lambda: ct_volume(SLICES, 512, 512), ctx.repeats(10), warmup=1)
        yield Result(
            what=f"  of which pixels only (ct_volume), {SLICES} slices",
            ours=pixels.median / 1000.0,
            unit="s",
            details={"timing_ms": pixels},
        )
        demo = measure(
            lambda: (
                shutil.rmtree(work / "demo", ignore_errors=True),
                generate_demo_study(work / "demo"),
            ),
            ctx.repeats(5),
            warmup=0,
        )
        yield Result(
            what="demo study (CT 120 + MR 24 + DX), first run",
            ours=demo.median / 1000.0,
            unit="s",
            goal="< 10 s",
            goal_max=10.0,
            details={"timing_ms": demo},
        )
        volume = ct_volume(SLICES, 512, 512)
        ours, peer = measure_pair(
            lambda: _write_ours(work / "ours", study, volume),
            lambda: _naive_write(_fresh(work / "naive"), volume),
            ctx.repeats(10),
            warmup=1,
        )
        yield Result(
            what=f"  header and file writing only, {SLICES} slices",
            ours=ours.median / 1000.0,
            unit="s",
            peer=peer.median / 1000.0,
            peer_name="new Dataset per slice",
            details={"ours": ours, "peer": peer},
        )


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _write_ours(folder: Path, study: StudyIdentity, volume: np.ndarray) -> None:
    from viewer.dicom import synthetic

    ds = synthetic.base_dataset(
        study,
        sop_class_uid=CTImageStorage,
        modality="CT",
        transfer_syntax=ExplicitVRLittleEndian,
        series_uid=study.uid("series"),
        series_number=1,
        series_description="writer benchmark",
    )
    synthetic._set_pixel_module(ds, volume.shape[1], volume.shape[2], bits_stored=16, signed=True)
    writer = synthetic.SliceWriter(ds, ExplicitVRLittleEndian)
    _fresh(folder)
    for i, pixels in enumerate(volume):
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [0, 0, i * 2.5]
        writer.write(folder / f"CT{i + 1:04d}.dcm", study.uid("sop", str(i)), pixels)
