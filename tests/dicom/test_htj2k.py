"""HTJ2K files (PS3.5 A.4.11) decode to exactly the pixels that were encoded."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import HTJ2K, UID

from tests.support.htj2k import HTJ2K_SYNTAXES, can_write_htj2k, recompress_htj2k
from tests.support.series import write_mr_series, write_negative_ct
from viewer.dicom.frames import FrameSource, mask_stored

pytestmark = pytest.mark.skipif(not can_write_htj2k(),
                                reason="needs OpenJPH's ojph_compress (openjph-tools)")


@pytest.mark.parametrize("syntax", HTJ2K_SYNTAXES, ids=lambda s: UID(s).keyword)
def test_htj2k_mr_equals_the_original_and_pylibjpeg(tmp_path: Path, syntax: str) -> None:
    (plain,) = write_mr_series(tmp_path / "plain", slices=1, rows=48, cols=80)
    (packed,) = write_mr_series(tmp_path / "packed", slices=1, rows=48, cols=80)
    recompress_htj2k(packed, syntax)
    source = FrameSource(packed)
    assert source.transfer_syntax == syntax
    # The lossless syntaxes take the fast path; 4.203 may be lossy, and is left to pydicom.
    assert source.decoder_name.startswith("imagecodecs") == (syntax != HTJ2K)
    original = FrameSource(plain).frame(0)
    assert int(original.max()) > 255  # more than a byte's worth of the 16 bits
    ours = source.frame(0)
    assert ours.dtype == original.dtype
    assert np.array_equal(ours, original)
    ds = pydicom.dcmread(packed)
    ref, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(
        ds, index=0, decoding_plugin="pylibjpeg")
    assert np.array_equal(ours, mask_stored(ref, int(ds.BitsStored), False))
    into = np.full_like(original, 0x5A)
    source.frame_into(0, into)
    assert np.array_equal(into, original)


@pytest.mark.parametrize("syntax", HTJ2K_SYNTAXES, ids=lambda s: UID(s).keyword)
@pytest.mark.parametrize("bits_stored", [16, 12])
def test_signed_htj2k_ct_equals_the_original(tmp_path: Path, syntax: str,
                                             bits_stored: int) -> None:
    # Negative stored values down to the bottom of Bits Stored (PS3.5 8.2.4: the
    # codestream's sign follows Pixel Representation).
    plain = write_negative_ct(tmp_path / "plain", bits_stored)
    packed = tmp_path / "packed.dcm"
    shutil.copy(plain, packed)
    recompress_htj2k(packed, syntax)
    source = FrameSource(packed)
    assert source.layout.signed
    assert source.decoder_name.startswith("imagecodecs") == (syntax != HTJ2K)
    ours = source.frame(0)
    low, high = -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    assert ours.dtype == np.int16
    assert ours[0, :4].tolist() == [low, high, -1, 0]
    assert np.array_equal(ours, FrameSource(plain).frame(0))
    ds = pydicom.dcmread(packed)
    ref, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(
        ds, index=0, decoding_plugin="pylibjpeg")
    assert np.array_equal(ours, mask_stored(ref, bits_stored, True))
