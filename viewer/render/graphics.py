"""Measurement graphics over the image (VTK only): lines, outlines and their labels.

Graphics are kept in image coordinates and re-projected at every view change, so they stay
on their anatomy through zoom, pan, rotation and flips. Their lines are drawn on a dark
edge, as the labels are on their drop shadow, so that they read on a white image (a
mammogram, an inverted radiograph) as on a black one. Labels that would cover one another
are moved apart, and kept inside the viewport.
"""

from __future__ import annotations

import math
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
#: The dark edge under light lines (graphics, the scale bar).
EDGE_COLOUR = (0.0, 0.0, 0.0)
#: Line widths in pixels: the edge shows a pixel of dark on either side of the line.
LINE_WIDTH = 1.5
EDGE_WIDTH = LINE_WIDTH + 2.0
#: Labels stand on a dark, half-transparent box.
LABEL_BACKGROUND_OPACITY = 0.6
# A label's size is estimated from its text (VTK measures text only while rendering):
# the width of a character and the height of a line, in units of the font size.
_CHAR_WIDTH = 0.62
_LINE_HEIGHT = 1.25
_LABEL_GAP = 2
# Display points closer than this (pixels) are one: an outline computed round a closed
# curve ends within rounding of where it began.
_SAME_POINT = 0.5


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


def _layer_actor(colour: tuple[float, float, float], width: float = LINE_WIDTH
                 ) -> tuple[vtkPolyData, vtkActor2D]:
    data, actor = display_lines()
    actor.GetProperty().SetColor(*colour)
    actor.GetProperty().SetLineWidth(width)
    return data, actor


def set_edge(data: vtkPolyData, polylines: Sequence[Sequence[tuple[float, float]]],
             width: float = EDGE_WIDTH) -> None:
    """Put the dark edge of light lines into ``data``, one piece per segment.

    Wide lines are drawn as separate rectangles without joins or caps. Each piece is
    lengthened at an open end by half the edge's width, to cover the end of the light
    line drawn over it, and at a corner by as much as closes the corner's outer gap (a
    miter, at most half the width): lengthened by the full half-width, the many short
    segments of an ellipse stuck out of its edge like bristles.
    """
    reach = width / 2
    points = vtkPoints()
    lines = vtkCellArray()
    for polyline in polylines:
        closed = len(polyline) > 2 and math.dist(polyline[0], polyline[-1]) < _SAME_POINT
        count = len(polyline) - 1
        for i in range(count):
            (ax, ay), (bx, by) = polyline[i], polyline[i + 1]
            length = math.hypot(bx - ax, by - ay) or 1.0
            ux, uy = (bx - ax) / length, (by - ay) / length
            before = polyline[i - 1] if i > 0 else (polyline[-2] if closed else None)
            after = polyline[i + 2] if i + 2 <= count else (polyline[1] if closed else None)
            back = reach if before is None else _miter(before, polyline[i], (ux, uy), reach)
            ahead = reach if after is None else _miter(after, polyline[i + 1], (-ux, -uy), reach)
            start = points.GetNumberOfPoints()
            points.InsertNextPoint(ax - ux * back, ay - uy * back, 0.0)
            points.InsertNextPoint(bx + ux * ahead, by + uy * ahead, 0.0)
            lines.InsertNextCell(2)
            lines.InsertCellPoint(start)
            lines.InsertCellPoint(start + 1)
    data.SetPoints(points)
    data.SetLines(lines)
    data.Modified()


def _miter(other: tuple[float, float], corner: tuple[float, float],
           away: tuple[float, float], reach: float) -> float:
    """How far to lengthen a piece past ``corner``, where the next piece goes to ``other``.

    ``away`` is the unit direction from the corner along this piece. Two pieces of half-
    width ``reach`` meeting at an angle leave an outer gap that ``reach * tan(turn / 2)``
    closes, the turn being how far the line changes direction there.
    """
    ox, oy = other[0] - corner[0], other[1] - corner[1]
    length = math.hypot(ox, oy)
    if length == 0:
        return reach
    # cos of the angle between this piece and the next, both pointing away from the corner
    cosine = max(-1.0, min(1.0, (ox * away[0] + oy * away[1]) / length))
    turn = math.pi - math.acos(cosine)
    return min(reach, reach * math.tan(turn / 2))


def label_box(text: str, font_size: int) -> tuple[int, int]:
    """The estimated (width, height) in pixels of a label drawn at ``font_size``."""
    lines = text.split("\n")
    width = max(len(line) for line in lines) * font_size * _CHAR_WIDTH
    return math.ceil(width), math.ceil(len(lines) * font_size * _LINE_HEIGHT)


def place_label(anchor: tuple[float, float], size: tuple[int, int],
                viewport: tuple[int, int], taken: list[tuple[int, int, int, int]]
                ) -> tuple[int, int]:
    """Where a label goes: below-right of ``anchor``, clear of the labels in ``taken``.

    Positions are display pixels from the top left; returns the label's top-left corner
    and adds its box to ``taken``. A label that would cover an earlier one moves down
    below it (up, at the viewport's bottom); one that would leave the viewport moves back
    in (to the left of its point at the right edge), so that no result is hidden.
    """
    width, height = size
    vw, vh = viewport
    x = anchor[0] + 8
    if x + width > vw:
        x = anchor[0] - 8 - width
    x = int(max(0, min(x, vw - width)))
    y = int(max(0, min(anchor[1] + 8, vh - height)))
    for _ in range(len(taken) + 1):
        hit = next((box for box in taken if _overlap((x, y, x + width, y + height), box)), None)
        if hit is None:
            break
        below = hit[3] + _LABEL_GAP
        y = below if below + height <= vh else max(0, hit[1] - _LABEL_GAP - height)
    taken.append((x, y, x + width, y + height))
    return x, y


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class GraphicsLayer:
    """Draws :class:`Graphic` items; one instance per viewport."""

    def __init__(self, font_size: int = 13) -> None:
        self.font_size = font_size
        self._edge = _layer_actor(EDGE_COLOUR, EDGE_WIDTH)
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
        renderer.AddViewProp(self._edge[1])  # first: drawn under the lines
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
            # Over the image, not the black border the corner texts stand on: a shadow
            # alone left a result on a bright region (bone, a mammogram) unreadable.
            prop.SetBackgroundColor(*EDGE_COLOUR)
            prop.SetBackgroundOpacity(LABEL_BACKGROUND_OPACITY)
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
        edges: list[list[tuple[float, float]]] = []
        taken: list[tuple[int, int, int, int]] = []
        for graphic in self._graphics:
            outline = graphic.outline()
            if not outline:
                continue
            display = t.image_to_display(outline)
            points, cells = buckets[graphic.selected]
            if graphic.kind is MeasureKind.PROBE:
                x, y = display[0]
                for (ax, ay), (bx, by) in (((x - 6, y), (x + 6, y)), ((x, y - 6), (x, y + 6))):
                    edges.append([(ax, height - ay), (bx, height - by)])
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
                edges.append([(float(x), float(height - y)) for x, y in display])
            if graphic.label:
                anchor = t.image_to_display([graphic.points[-1]])[0]
                actor = self._text_actor(used)
                used += 1
                actor.SetInput(graphic.label)
                actor.GetTextProperty().SetColor(
                    *(SELECTED_COLOUR if graphic.selected else GRAPHIC_COLOUR))
                # Below-right of the last point, clear of the line through it and of
                # the labels placed before it.
                box = label_box(graphic.label, self.font_size)
                x, top = place_label((float(anchor[0]), float(anchor[1])), box,
                                     (int(t.viewport[0]), int(height)), taken)
                actor.SetDisplayPosition(x, int(height - top - box[1]))
                actor.SetVisibility(True)
        for actor in self._texts[used:]:
            actor.SetVisibility(False)
        for selected, (data, _) in ((False, self._normal), (True, self._selected)):
            points, cells = buckets[selected]
            data.SetPoints(points)
            data.SetLines(cells)
            data.Modified()
        set_edge(self._edge[0], edges)
