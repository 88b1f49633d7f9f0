"""Measurement graphics over the image (VTK only): lines, outlines and their labels.

Graphics are kept in image coordinates and re-projected at every view change, so they stay
on their anatomy through zoom, pan, rotation and flips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkCoordinate,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)

from viewer.render.measure import MeasureKind, Point, ellipse_outline, rectangle_outline
from viewer.render.transform import ViewTransform

GRAPHIC_COLOUR = (0.35, 1.0, 0.45)
SELECTED_COLOUR = (1.0, 0.9, 0.2)


@dataclass
class Graphic:
    """One measurement as drawn.

    Parameters
    ----------
    kind : MeasureKind
        The tool that made it.
    points : list of tuple
        Control points in image coordinates: 2 for length and ROIs (opposite corners),
        3 for an angle (end, vertex, end), 1 for a probe.
    label : str
        The result text, e.g. ``"42.1 mm"``.
    selected : bool
        Drawn highlighted (the one Delete removes).
    """

    kind: MeasureKind
    points: list[Point]
    label: str = ""
    selected: bool = False
    key: int = field(default=0, compare=False)
    stats: object | None = field(default=None, compare=False)

    def outline(self) -> list[Point]:
        """The polyline to draw, in image coordinates."""
        if self.kind is MeasureKind.RECTANGLE and len(self.points) >= 2:
            return rectangle_outline(self.points[0], self.points[1])
        if self.kind is MeasureKind.ELLIPSE and len(self.points) >= 2:
            return ellipse_outline(self.points[0], self.points[1])
        return list(self.points)


def display_lines() -> tuple[vtkPolyData, vtkActor2D]:
    """Empty line data and the 2-D actor that draws it in display (pixel) coordinates."""
    data = vtkPolyData()
    data.SetPoints(vtkPoints())
    data.SetLines(vtkCellArray())
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(data)
    coordinate = vtkCoordinate()
    coordinate.SetCoordinateSystemToDisplay()
    mapper.SetTransformCoordinate(coordinate)
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    return data, actor


def _layer_actor(colour: tuple[float, float, float]) -> tuple[vtkPolyData, vtkActor2D]:
    data, actor = display_lines()
    actor.GetProperty().SetColor(*colour)
    actor.GetProperty().SetLineWidth(1.5)
    return data, actor


class GraphicsLayer:
    """Draws :class:`Graphic` items; one instance per viewport."""

    def __init__(self, font_size: int = 13) -> None:
        self.font_size = font_size
        self._normal = _layer_actor(GRAPHIC_COLOUR)
        self._selected = _layer_actor(SELECTED_COLOUR)
        self._texts: list[vtkTextActor] = []
        self._graphics: list[Graphic] = []
        self._transform: ViewTransform | None = None
        self._renderer: vtkRenderer | None = None

    def set_graphics(self, graphics: Sequence[Graphic]) -> None:
        """Replace what is drawn."""
        self._graphics = list(graphics)
        self._rebuild()

    @property
    def graphics(self) -> list[Graphic]:
        """What is drawn."""
        return list(self._graphics)

    def attach(self, renderer: vtkRenderer) -> None:
        """Add the actors to ``renderer``."""
        self._renderer = renderer
        renderer.AddViewProp(self._normal[1])
        renderer.AddViewProp(self._selected[1])

    def update_view(self, transform: ViewTransform) -> None:
        """Re-project for a new view."""
        self._transform = transform
        self._rebuild()

    def _text_actor(self, index: int) -> vtkTextActor:
        while len(self._texts) <= index:
            actor = vtkTextActor()
            prop = actor.GetTextProperty()
            prop.SetFontSize(self.font_size)
            prop.SetFontFamilyToArial()
            prop.ShadowOn()
            prop.SetColor(*GRAPHIC_COLOUR)
            if self._renderer is not None:
                self._renderer.AddViewProp(actor)
            self._texts.append(actor)
        return self._texts[index]

    def _rebuild(self) -> None:
        t = self._transform
        if t is None:
            return
        height = t.viewport[1]
        buckets: dict[bool, tuple[vtkPoints, vtkCellArray]] = {
            False: (vtkPoints(), vtkCellArray()),
            True: (vtkPoints(), vtkCellArray()),
        }
        used = 0
        for graphic in self._graphics:
            outline = graphic.outline()
            if not outline:
                continue
            display = t.image_to_display(outline)
            points, cells = buckets[graphic.selected]
            if graphic.kind is MeasureKind.PROBE:
                x, y = display[0]
                for (ax, ay), (bx, by) in (((x - 6, y), (x + 6, y)), ((x, y - 6), (x, y + 6))):
                    start = points.GetNumberOfPoints()
                    points.InsertNextPoint(ax, height - ay, 0.0)
                    points.InsertNextPoint(bx, height - by, 0.0)
                    cells.InsertNextCell(2)
                    cells.InsertCellPoint(start)
                    cells.InsertCellPoint(start + 1)
            elif len(display) >= 2:
                start = points.GetNumberOfPoints()
                for x, y in display:
                    points.InsertNextPoint(float(x), float(height - y), 0.0)
                cells.InsertNextCell(len(display))
                for i in range(len(display)):
                    cells.InsertCellPoint(start + i)
            if graphic.label:
                anchor = t.image_to_display([graphic.points[-1]])[0]
                actor = self._text_actor(used)
                used += 1
                actor.SetInput(graphic.label)
                actor.GetTextProperty().SetColor(
                    *(SELECTED_COLOUR if graphic.selected else GRAPHIC_COLOUR))
                # Below-right of the last point, clear of the line through it.
                actor.SetDisplayPosition(int(anchor[0] + 8),
                                         int(height - anchor[1] - 8 - self.font_size))
                actor.SetVisibility(True)
        for actor in self._texts[used:]:
            actor.SetVisibility(False)
        for selected, (data, _) in ((False, self._normal), (True, self._selected)):
            points, cells = buckets[selected]
            data.SetPoints(points)
            data.SetLines(cells)
            data.Modified()
