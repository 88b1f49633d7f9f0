"""The native VTK surface of a viewport; Qt input goes to the viewport, not to VTK."""

from __future__ import annotations

from typing import TYPE_CHECKING

# PySide6 is imported before vtkmodules.qt, which then binds to it.
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser

if TYPE_CHECKING:
    from viewer.ui.viewer.viewport import ViewportWidget


class ViewportCanvas(QVTKRenderWindowInteractor):
    """The native VTK surface; input goes to the viewport, not to VTK's interactor."""

    def __init__(self, owner: ViewportWidget) -> None:
        super().__init__(owner)
        self._owner = owner
        self.setAcceptDrops(True)
        self.SetInteractorStyle(vtkInteractorStyleUser())

    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        self._owner._mouse_press(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        self._owner._mouse_move(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        self._owner._mouse_release(ev)

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        self._owner.double_clicked.emit()

    def wheelEvent(self, ev: QWheelEvent) -> None:  # noqa: N802
        self._owner._wheel(ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        if not self._owner.handle_key(ev):
            ev.ignore()

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        ev.ignore()

    def enterEvent(self, ev: object) -> None:  # noqa: N802
        pass

    def leaveEvent(self, ev: object) -> None:  # noqa: N802
        pass

    def resizeEvent(self, ev: object) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._owner._canvas_resized()

    def dragEnterEvent(self, ev: object) -> None:  # noqa: N802
        self._owner._drag_enter(ev)

    def dropEvent(self, ev: object) -> None:  # noqa: N802
        self._owner._drop(ev)
