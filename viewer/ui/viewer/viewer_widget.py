"""ViewerWidget: viewports in a layout, the series strip, and the active viewport."""

from __future__ import annotations

import logging

from PySide6.QtCore import QMimeData, QSize, Qt, QThread, QThreadPool, Signal
from PySide6.QtGui import QDrag, QIcon, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QWidget,
)

from viewer.imaging.pipeline import DisplayCalibration
from viewer.ui.plain_text import plain_tip
from viewer.ui.thumbnails import THUMBNAIL_SIZE, ThumbnailCache
from viewer.ui.viewer.annotate import dicom_date
from viewer.ui.viewer.interaction import SERIES_MIME
from viewer.ui.viewer.loader import SeriesLoader
from viewer.ui.viewer.series import SeriesData
from viewer.ui.viewer.tools import Tool
from viewer.ui.viewer.viewport import ViewportWidget

log = logging.getLogger(__name__)

LAYOUTS = ("1x1", "1x2", "2x1", "2x2", "3x3")


def parse_layout(text: str) -> tuple[int, int]:
    """``"RxC"`` -> (rows, columns), 1..4 each."""
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"layout {text!r}: expected ROWSxCOLUMNS, e.g. 2x2") from None
    if not (1 <= rows <= 4 and 1 <= cols <= 4):
        raise ValueError(f"layout {text!r}: 1 to 4 rows and columns")
    return rows, cols


def strip_thumbnail(pixmap: QPixmap, size: int = THUMBNAIL_SIZE) -> QPixmap:
    """``pixmap`` scaled to fill the ``size`` x ``size`` thumbnail box, aspect ratio kept.

    Thumbnails are made no larger than the image: a 10 x 10 RT Dose grid or a 45 x 10
    secondary capture was a speck in the strip (a QIcon never scales a pixmap up). An image
    at most half the box is enlarged by whole-pixel blocks (nearest neighbour), so that
    its few pixels stay sharp and countable instead of a blur; a larger one smoothly.
    """
    if pixmap.isNull() or (pixmap.width() >= size or pixmap.height() >= size):
        return pixmap
    tiny = max(pixmap.width(), pixmap.height()) * 2 <= size
    mode = (Qt.TransformationMode.FastTransformation if tiny
            else Qt.TransformationMode.SmoothTransformation)
    return pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode)


class SeriesStrip(QListWidget):
    """Thumbnails of the open series; drag one onto a viewport, double-click to show it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("seriesStrip")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.TopToBottom)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.setMovement(QListWidget.Movement.Static)
        self.setDragEnabled(True)
        self.setFixedWidth(THUMBNAIL_SIZE + 40)
        self.setWordWrap(True)
        # Room for the thumbnail and five lines: title (up to three), study date, count.
        self.setGridSize(QSize(THUMBNAIL_SIZE + 24, THUMBNAIL_SIZE + 5 * 16 + 8))

    def startDrag(self, actions: Qt.DropAction) -> None:  # noqa: N802
        item = self.currentItem()
        if item is None:
            return
        mime = QMimeData()
        mime.setData(SERIES_MIME, item.data(Qt.ItemDataRole.UserRole).encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.setPixmap(item.icon().pixmap(64, 64))
        drag.exec(Qt.DropAction.CopyAction)


class ViewerWidget(QWidget):
    """The reading area: series strip on the left, viewports in a grid."""

    status_message = Signal(str)
    active_changed = Signal(object)
    load_progress = Signal(int, int)

    def __init__(self, thumbnails: ThumbnailCache | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails or ThumbnailCache(None, parent=self)
        # Decoding has its own threads: imports, thumbnails and network work on the global
        # pool never wait behind a long series.
        self.load_pool = QThreadPool(self)
        self.load_pool.setMaxThreadCount(max(2, QThread.idealThreadCount()))
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.strip = SeriesStrip(self)
        self.strip.itemDoubleClicked.connect(
            lambda item: self.show_series(item.data(Qt.ItemDataRole.UserRole)))
        self._grid_host = QWidget(self)
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.strip)
        layout.addWidget(self._grid_host, 1)
        self.viewports: list[ViewportWidget] = []
        self.active: ViewportWidget | None = None
        self.series: dict[str, SeriesData] = {}
        self.loaders: dict[str, SeriesLoader] = {}
        self.layout_shape = (1, 1)
        self.tool = Tool.WINDOW
        self.calibration: DisplayCalibration | None = None
        self.set_layout(1, 1)

    # ------------------------------------------------------------------ series
    def add_series(self, series: SeriesData) -> str:
        """Put ``series`` in the strip (not yet loading); returns its key."""
        key = self._key_of(series)
        if key in self.series:
            return key
        self.series[key] = series
        item = QListWidgetItem(series.title or key)
        item.setData(Qt.ItemDataRole.UserRole, key)
        item.setToolTip(plain_tip(f"{series.title}\n{len(series)} images"))
        # Studies side by side: the strip says which study (date) each series is from.
        date = dicom_date(series.study_date) if series.study_date else ""
        count = f"{len(series)} image{'s' if len(series) != 1 else ''}"
        item.setText("\n".join(x for x in (series.title, date, count) if x))
        ref = series.refs[len(series.refs) // 2]
        pixmap = self.thumbnails.get(key, ref.path, ref.frame)
        item.setIcon(QIcon(strip_thumbnail(pixmap)) if pixmap is not None else QIcon())
        self.strip.addItem(item)
        return key

    def _thumbnail_ready(self, key: str, pixmap: QPixmap) -> None:
        icon = QIcon(strip_thumbnail(pixmap))
        for i in range(self.strip.count()):
            item = self.strip.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == key:
                item.setIcon(icon)

    def loader_for(self, key: str) -> SeriesLoader:
        """The loader of a series, created on first use."""
        loader = self.loaders.get(key)
        if loader is None:
            loader = SeriesLoader(self.series[key], self.load_pool, parent=self)
            loader.progress.connect(self._progress)
            self.loaders[key] = loader
        return loader

    def _progress(self, done: int, total: int) -> None:
        self.load_progress.emit(done, total)
        if done == total:
            loader = self.sender()
            series = loader.series if isinstance(loader, SeriesLoader) else None
            failed = series.failed_count() if series is not None else 0
            if not failed:
                self.status_message.emit(
                    f"Series loaded: {total} image" + ("" if total == 1 else "s"))
            else:  # a video, a damaged file: not "loaded" as if all could be shown
                self.status_message.emit(
                    f"Series loaded: {total - failed} of {total} images can be shown")

    def show_series(self, key: str, viewport: ViewportWidget | None = None,
                    index: int | None = None, activate: bool = True) -> ViewportWidget:
        """Show series ``key`` in ``viewport`` (the active one by default), and make that
        viewport the active one unless ``activate`` is False."""
        viewport = viewport or self.active or self.viewports[0]
        series = self.series[key]
        start = index or 0
        viewport.set_series(series, self.loader_for(key), start)
        viewport.set_calibration(self.calibration)
        if activate:
            self.set_active(viewport)
        return viewport

    def open_series(self, all_series: list[SeriesData], replace: bool = True) -> None:
        """Add series to the strip and fill the viewports in order."""
        if replace:
            self.close_all()
        keys = [self.add_series(s) for s in all_series]
        for viewport, key in zip(self.viewports, keys, strict=False):
            if viewport.series is None:
                self.show_series(key, viewport)
        if len(keys) == 1 and len(self.viewports) > 1:
            # One series in several viewports: evenly spaced levels of the stack.
            n, k = len(all_series[0]), len(self.viewports)
            for i, viewport in enumerate(self.viewports[1:], start=1):
                self.show_series(keys[0], viewport, index=round(i * (n - 1) / (k - 1)))
        if self.viewports:
            self.set_active(self.viewports[0])

    def close_all(self) -> None:
        """Close every series."""
        for loader in self.loaders.values():
            loader.cancel()
        for viewport in self.viewports:
            viewport.stop_cine()
            viewport.clear()
        self.loaders.clear()
        self.series.clear()
        self.strip.clear()

    def close_series(self, keys: list[str]) -> None:
        """Close some series; the viewports showing others keep their view as it is.

        A viewport left empty shows the next series not shown elsewhere, if any.
        """
        gone = [key for key in keys if key in self.series]
        if not gone:
            return
        for key in gone:
            loader = self.loaders.pop(key, None)
            if loader is not None:
                loader.cancel()
            del self.series[key]
        for i in reversed(range(self.strip.count())):
            if self.strip.item(i).data(Qt.ItemDataRole.UserRole) in gone:
                self.strip.takeItem(i)
        emptied = [vp for vp in self.viewports
                   if vp.series is not None and self._key_of(vp.series) in gone]
        for viewport in emptied:
            viewport.stop_cine()
            viewport.clear()
        self._fill_empty()

    def _fill_empty(self) -> None:
        """Show the series to follow in the viewports that show nothing."""
        remaining = self._series_to_follow()
        for vp in self.viewports:
            if vp.series is None and remaining:
                self.show_series(remaining.pop(0), vp, activate=False)

    # ------------------------------------------------------------------ layout
    def set_layout(self, rows: int, cols: int) -> None:
        """Arrange ``rows`` x ``cols`` viewports, keeping what the first ones show."""
        wanted = rows * cols
        while len(self.viewports) < wanted:
            vp = ViewportWidget(self._grid_host)
            vp.activated.connect(self.set_active)
            vp.status_message.connect(self.status_message)
            vp.series_dropped.connect(lambda v, key: self.show_series(key, v))
            vp.tool = self.tool
            self.viewports.append(vp)
        for vp in self.viewports[wanted:]:
            vp.stop_cine()
            self._grid.removeWidget(vp)
            vp.canvas.Finalize()
            vp.deleteLater()
        self.viewports = self.viewports[:wanted]
        for i, vp in enumerate(self.viewports):
            self._grid.addWidget(vp, i // cols, i % cols)
        for r in range(4):
            self._grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(4):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)
        self.layout_shape = (rows, cols)
        if self.active not in self.viewports:
            self.set_active(self.viewports[0])
        # New viewports show the next series of the study, as a reader expects of a
        # larger layout; with none left they stay empty. The active viewport stays the
        # one the reader was working in: filling others must not move the keys there.
        self._fill_empty()

    def _series_to_follow(self) -> list[str]:
        """Series not shown in any viewport, those after the active one's first.

        In strip order from the series of the active viewport on: its study's following
        series, then its earlier ones, then other studies (a prior opened to compare).
        """
        keys = list(self.series)
        shown = {self._key_of(vp.series) for vp in self.viewports if vp.series is not None}
        current = self.active.series if self.active is not None else None
        here = self._key_of(current) if current is not None else None
        start = keys.index(here) + 1 if here in keys else 0
        waiting = [k for k in keys[start:] + keys[:start] if k not in shown]
        study = current.study_uid if current is not None else None
        # sorted() is stable: the active study's series first, each group in strip order.
        return sorted(waiting, key=lambda k: self.series[k].study_uid != study)

    @staticmethod
    def _key_of(series: SeriesData) -> str:
        """The strip key of a series."""
        return series.series_uid or f"loose-{id(series)}"

    def set_active(self, viewport: ViewportWidget) -> None:
        """Make ``viewport`` the one menus and keys act on."""
        if self.active is viewport:
            return
        for vp in self.viewports:
            vp.set_active(vp is viewport)
        self.active = viewport
        self.active_changed.emit(viewport)

    def next_viewport(self) -> None:
        """Tab: activate the next viewport."""
        if self.viewports and self.active in self.viewports:
            i = (self.viewports.index(self.active) + 1) % len(self.viewports)
            self.set_active(self.viewports[i])
            self.viewports[i].canvas.setFocus()

    def set_tool(self, tool: Tool) -> None:
        """Left-button tool of every viewport."""
        self.tool = tool
        for vp in self.viewports:
            vp.measure.cancel()
            vp.tool = tool
        self.status_message.emit(f"Tool: {tool.value}")

    def set_calibration(self, calibration: DisplayCalibration | None) -> None:
        """Display calibration for every viewport."""
        self.calibration = calibration
        for vp in self.viewports:
            vp.set_calibration(calibration)

    def all_first_frames_shown(self) -> bool:
        """Whether every viewport with a series shows its frame, or why it cannot
        (screenshots wait for it: a frame that failed to load is as shown as it gets)."""
        return all((vp._shown_index == vp.index or vp.series.error(vp.index) is not None
                    or vp.render_error is not None)
                   and vp.canvas.isVisible() and min(vp.view.transform.viewport) > 1
                   for vp in self.viewports if vp.series is not None)
