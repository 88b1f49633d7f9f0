"""Corner texts, orientation labels and the scale bar drawn over the image (VTK only).

The layer follows the view: orientation labels turn with the image (PS3.3 C.7.6.2.1.1) and
the scale bar keeps a round length (1, 2 or 5 x 10^k mm) as the zoom changes.
"""

from __future__ import annotations

import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray
from vtkmodules.vtkRenderingCore import (
    vtkRenderer,
    vtkTextActor,
)

from viewer.dicom.geometry import OrientationLabels, PixelSpacing, SpacingKind
from viewer.render.graphics import display_lines
from viewer.render.measure import nice_length
from viewer.render.transform import ViewTransform

#: Annotation colour: a warm off-white that stays readable on grey and on black.
TEXT_COLOUR = (0.93, 0.92, 0.80)
LABEL_COLOUR = (1.0, 0.85, 0.35)

# Text positions (the numbering of vtkCornerAnnotation).
LOWER_LEFT, LOWER_RIGHT, UPPER_LEFT, UPPER_RIGHT = 0, 1, 2, 3
LOWER_EDGE, RIGHT_EDGE, LEFT_EDGE, UPPER_EDGE = 4, 5, 6, 7


class AnnotationLayer:
    """Four corner texts, four edge labels and a scale bar.

    Parameters
    ----------
    font_size : int
        Point size of the corner texts; edge labels are a little larger.
    """

    def __init__(self, font_size: int = 13) -> None:
        self.font_size = font_size
        # Plain text actors rather than vtkCornerAnnotation, which shrinks (and at a fixed
        # size hides) text that does not fit a small viewport.
        self.corners: dict[int, vtkTextActor] = {}
        for position in (LOWER_LEFT, LOWER_RIGHT, UPPER_LEFT, UPPER_RIGHT):
            actor = vtkTextActor()
            prop = actor.GetTextProperty()
            prop.SetFontSize(font_size)
            prop.SetColor(*TEXT_COLOUR)
            prop.SetFontFamilyToArial()
            prop.ShadowOn()
            prop.SetLineSpacing(1.1)
            if position in (LOWER_RIGHT, UPPER_RIGHT):
                prop.SetJustificationToRight()
            if position in (UPPER_LEFT, UPPER_RIGHT):
                prop.SetVerticalJustificationToTop()
            self.corners[position] = actor
        self.labels: dict[int, vtkTextActor] = {}
        for position in (LOWER_EDGE, RIGHT_EDGE, LEFT_EDGE, UPPER_EDGE):
            actor = vtkTextActor()
            tp = actor.GetTextProperty()
            tp.SetFontSize(font_size + 3)
            tp.SetColor(*LABEL_COLOUR)
            tp.BoldOn()
            tp.ShadowOn()
            tp.SetFontFamilyToArial()
            tp.SetJustificationToCentered()
            tp.SetVerticalJustificationToCentered()
            self.labels[position] = actor
        self._bar_data, self._bar_actor = display_lines()
        self._bar_actor.GetProperty().SetColor(*TEXT_COLOUR)
        self._bar_actor.GetProperty().SetLineWidth(1.5)
        self._bar_text = vtkTextActor()
        bar_prop = self._bar_text.GetTextProperty()
        bar_prop.SetFontSize(font_size - 1)
        bar_prop.SetColor(*TEXT_COLOUR)
        bar_prop.ShadowOn()
        bar_prop.SetJustificationToCentered()
        bar_prop.SetFontFamilyToArial()
        self._orientation: OrientationLabels | None = None
        self._spacing: PixelSpacing | None = None
        self._visible = True
        self._transform: ViewTransform | None = None
        self.scale_bar_length = 0.0

    # ------------------------------------------------------------------ content
    def set_corner_texts(self, upper_left: str, upper_right: str, lower_left: str,
                         lower_right: str) -> None:
        """Replace the four corner texts (multi-line strings)."""
        for position, text in ((UPPER_LEFT, upper_left), (UPPER_RIGHT, upper_right),
                               (LOWER_LEFT, lower_left), (LOWER_RIGHT, lower_right)):
            self.corners[position].SetInput(text)

    def corner_text(self, position: int) -> str:
        """The text at a corner (for tests and accessibility)."""
        return str(self.corners[position].GetInput() or "")

    def set_orientation(self, labels: OrientationLabels | None) -> None:
        """Labels of the image as stored; they are turned with the view."""
        self._orientation = labels
        self._place()

    def set_spacing(self, spacing: PixelSpacing | None) -> None:
        """Pixel spacing for the scale bar; ``None`` or no spacing hides the bar."""
        self._spacing = spacing
        self._place()

    def set_visible(self, visible: bool) -> None:
        """Show or hide every annotation."""
        self._visible = visible
        for actor in self.corners.values():
            actor.SetVisibility(visible)
        self._place()

    @property
    def visible(self) -> bool:
        """Whether annotations are shown."""
        return self._visible

    def edge_label(self, position: int) -> str:
        """The orientation label at an edge, as shown."""
        actor = self.labels[position]
        return str(actor.GetInput() or "") if actor.GetVisibility() else ""

    # ------------------------------------------------------------------ ViewLayer
    def attach(self, renderer: vtkRenderer) -> None:
        """Add the actors to ``renderer``."""
        for actor in self.corners.values():
            renderer.AddViewProp(actor)
        for actor in self.labels.values():
            renderer.AddViewProp(actor)
        renderer.AddViewProp(self._bar_actor)
        renderer.AddViewProp(self._bar_text)

    def update_view(self, transform: ViewTransform) -> None:
        """Re-place labels and bar for a new view."""
        self._transform = transform
        self._place()

    def _place(self) -> None:
        t = self._transform
        if t is None:
            return
        w, h = t.viewport
        labels = self._orientation.transformed(t.matrix.tolist()) if self._orientation else None
        texts = {
            LEFT_EDGE: labels.left if labels else "",
            RIGHT_EDGE: labels.right if labels else "",
            UPPER_EDGE: labels.top if labels else "",
            LOWER_EDGE: labels.bottom if labels else "",
        }
        margin = self.font_size
        pad = 5
        corner_at = {
            LOWER_LEFT: (pad, pad),
            LOWER_RIGHT: (w - pad, pad),
            UPPER_LEFT: (pad, h - pad),
            UPPER_RIGHT: (w - pad, h - pad),
        }
        for position, actor in self.corners.items():
            actor.SetDisplayPosition(int(corner_at[position][0]), int(corner_at[position][1]))
        # VTK display coordinates have y up.
        where = {
            LEFT_EDGE: (margin, h / 2),
            RIGHT_EDGE: (w - margin, h / 2),
            UPPER_EDGE: (w / 2, h - margin),
            LOWER_EDGE: (w / 2, margin),
        }
        for position, actor in self.labels.items():
            actor.SetInput(texts[position])
            actor.SetDisplayPosition(int(where[position][0]), int(where[position][1]))
            actor.SetVisibility(self._visible and bool(texts[position]))
        self._place_bar(t)

    def _place_bar(self, t: ViewTransform) -> None:
        spacing = self._spacing
        show = self._visible and spacing is not None and spacing.kind is not SpacingKind.PIXELS
        self._bar_actor.SetVisibility(show)
        self._bar_text.SetVisibility(show)
        if not show or spacing is None:
            self.scale_bar_length = 0.0
            return
        w, _ = t.viewport
        mm = nice_length(w * 0.2 / t.scale)
        self.scale_bar_length = mm
        px = mm * t.scale
        x0, x1 = w / 2 - px / 2, w / 2 + px / 2
        y = 3.2 * self.font_size
        tick = 5.0
        points = vtkPoints()
        for x, yy in ((x0, y + tick), (x0, y), (x1, y), (x1, y + tick)):
            points.InsertNextPoint(x, yy, 0.0)
        lines = vtkCellArray()
        lines.InsertNextCell(4)
        for i in range(4):
            lines.InsertCellPoint(i)
        self._bar_data.SetPoints(points)
        self._bar_data.SetLines(lines)
        self._bar_data.Modified()
        label = f"{mm / 10:g} cm" if mm >= 10 else f"{mm:g} mm"
        if spacing.kind in (SpacingKind.DETECTOR, SpacingKind.MAGNIFICATION):
            label += " (detector)" if spacing.kind is SpacingKind.DETECTOR else " (est.)"
        self._bar_text.SetInput(label)
        self._bar_text.SetDisplayPosition(int(w / 2), int(y + 4))
