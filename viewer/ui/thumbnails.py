"""Series thumbnails: rendered by the display pipeline, cached on disk, made off the GUI thread."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from viewer.dicom.image import DicomImage

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 96


def thumbnail_array(path: str, frame: int = 0, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """The frame as ``lightbox render`` shows it, shrunk to fit ``size`` x ``size`` (RGB)."""
    pixels = DicomImage(path).render(frame)
    image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image)


def to_qimage(rgb: np.ndarray) -> QImage:
    """Copy an (h, w, 3) uint8 array into a QImage."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ThumbnailCache(QObject):
    """Makes thumbnails in a thread pool; remembers them in memory and in ``folder``.

    Signals ``ready(key, QPixmap)`` on the GUI thread.
    """

    ready = Signal(str, QPixmap)
    _made = Signal(str, QImage)

    def __init__(self, folder: Path | None, pool: QThreadPool | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self._pool = pool or QThreadPool.globalInstance()
        self._memory: dict[str, QPixmap] = {}
        self._pending: set[str] = set()
        self._made.connect(self._store)

    def _file(self, key: str) -> Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha1(key.encode()).hexdigest()
        return self.folder / f"{digest}.png"

    def get(self, key: str, path: str, frame: int = 0) -> QPixmap | None:
        """The thumbnail of ``key`` if known; otherwise start making it and return None."""
        pixmap = self._memory.get(key)
        if pixmap is not None:
            return pixmap
        cached = self._file(key)
        if cached is not None and cached.is_file():
            pixmap = QPixmap(str(cached))
            if not pixmap.isNull():
                self._memory[key] = pixmap
                return pixmap
        if key not in self._pending:
            self._pending.add(key)
            self._pool.start(_ThumbnailJob(self, key, path, frame))
        return None

    def _store(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        if image.isNull():
            return
        pixmap = QPixmap.fromImage(image)
        self._memory[key] = pixmap
        cached = self._file(key)
        if cached is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                image.save(str(cached), "PNG")
            except OSError as exc:
                log.warning("thumbnail cache %s: %s", cached, exc)
        self.ready.emit(key, pixmap)


class _ThumbnailJob(QRunnable):
    def __init__(self, cache: ThumbnailCache, key: str, path: str, frame: int) -> None:
        super().__init__()
        self._cache, self._key, self._path, self._frame = cache, key, path, frame

    def run(self) -> None:
        try:
            image = to_qimage(thumbnail_array(self._path, self._frame))
        except Exception as exc:  # a bad file gives no thumbnail, never a crash
            log.info("no thumbnail for %s: %s", self._path, exc)
            image = QImage()
        self._cache._made.emit(self._key, image)
