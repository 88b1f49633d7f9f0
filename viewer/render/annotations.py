"""Corner texts, orientation labels and the scale bar drawn over the image (VTK only).

The layer follows the view: orientation labels turn with the image (PS3.3 C.7.6.2.1.1) and
the scale bar keeps a round length (1, 2 or 5 x 10^k mm) as the zoom changes. Everything is
drawn light on a dark edge (the texts' drop shadow, the bar's outline), so that it reads on
a black background and on a white one alike (a mammogram, an inverted image).

VTK draws text with its own built-in font, which has the Latin letters only: a patient
name in Cyrillic, Greek, Arabic, Hebrew or CJK (PS3.5 6.1, decoded per Specific Character
Set) lost every other letter, "Люкceмбypг" showing as "ceyp", another name. A corner text
with such letters is drawn instead by a :data:`TextRasterizer` the caller supplies (the
GUI's, with the system's fonts, their fallbacks, shaping and bidirectional order), and
shown as an image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkImageMapper,
    vtkRenderer,
    vtkTextActor,
)

from viewer.dicom.geometry import OrientationLabels, PixelSpacing, SpacingKind
from viewer.render.graphics import (
    EDGE_COLOUR,
    EDGE_WIDTH,
    LINE_WIDTH,
    display_lines,
    set_edge,
)
from viewer.render.measure import nice_length
from viewer.render.transform import ViewTransform

#: Annotation colour: a warm off-white that stays readable on grey and on black.
TEXT_COLOUR = (0.93, 0.92, 0.80)
LABEL_COLOUR = (1.0, 0.85, 0.35)
#: The dark edge around the scale bar, as the texts have their drop shadow, and as the
#: measurement graphics have theirs.
OUTLINE_COLOUR = EDGE_COLOUR
BAR_WIDTH = LINE_WIDTH
BAR_OUTLINE_WIDTH = EDGE_WIDTH

#: Draws multi-line text as an RGBA image, rows top to bottom, straight alpha:
#: ``rasterize(text, pixel_size, colour, align_right)``, the colour as 0-1 floats.
TextRasterizer = Callable[[str, int, tuple[float, float, float], bool], npt.NDArray[np.uint8]]

# Beyond Latin Extended-B, VTK's built-in font has next to nothing (a few Greek capitals).
_BUILT_IN_FONT_END = 0x0250


def built_in_font_covers(text: str) -> bool:
    """Whether VTK's built-in font has every letter of ``text``."""
    return all(ord(char) < _BUILT_IN_FONT_END for char in text)


# Text positions (the numbering of vtkCornerAnnotation).
LOWER_LEFT, LOWER_RIGHT, UPPER_LEFT, UPPER_RIGHT = 0, 1, 2, 3
LOWER_EDGE, RIGHT_EDGE, LEFT_EDGE, UPPER_EDGE = 4, 5, 6, 7


class AnnotationLayer:
    """Four corner texts, four edge labels and a scale bar.

    Parameters
    ----------
    font_size : int
        Point size of the corner texts; edge labels are a little larger.
    rasterize : TextRasterizer, optional
        Draws the corner texts VTK's font cannot (see the module's docstring). Without
        it, they are drawn by VTK all the same.
    """

    def __init__(self, font_size: int = 13, rasterize: TextRasterizer | None = None) -> None:
        self.font_size = font_size
        self.rasterize = rasterize
        # Per corner, the image drawn by ``rasterize`` when VTK's font cannot draw the text.
        self._images: dict[int, tuple[vtkImageData, vtkImageMapper, vtkActor2D]] = {}
        self._rastered: set[int] = set()
        self._renderers: list[vtkRenderer] = []
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
        # The bar in the light annotation colour alone vanished over white: it is drawn
        # over a wider dark copy of itself, attached first so that it lies underneath.
        self._outline_data, self._outline_actor = display_lines()
        self._outline_actor.GetProperty().SetColor(*OUTLINE_COLOUR)
        self._outline_actor.GetProperty().SetLineWidth(BAR_OUTLINE_WIDTH)
        self._bar_data, self._bar_actor = display_lines()
        self._bar_actor.GetProperty().SetColor(*TEXT_COLOUR)
        self._bar_actor.GetProperty().SetLineWidth(BAR_WIDTH)
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
            if text == self.corner_text(position):
                continue  # scrolling changes one corner; the others (the name) stay drawn
            self.corners[position].SetInput(text)
            if self.rasterize is not None and not built_in_font_covers(text):
                self._set_image(position, self.rasterize(
                    text, self.font_size, TEXT_COLOUR, position in (LOWER_RIGHT, UPPER_RIGHT)))
                self._rastered.add(position)
            else:
                self._rastered.discard(position)
        self._show_corners()
        self._place()

    def corner_is_image(self, position: int) -> bool:
        """Whether the corner's text is shown as an image drawn by ``rasterize``."""
        return position in self._rastered

    def _set_image(self, position: int, rgba: npt.NDArray[np.uint8]) -> None:
        if position not in self._images:
            mapper = vtkImageMapper()
            mapper.SetColorWindow(255.0)  # the RGBA bytes as they are
            mapper.SetColorLevel(127.5)
            actor = vtkActor2D()
            actor.SetMapper(mapper)
            actor.SetVisibility(False)
            self._images[position] = (vtkImageData(), mapper, actor)
            for renderer in self._renderers:
                renderer.AddViewProp(actor)
        data, mapper, _ = self._images[position]
        height, width = rgba.shape[:2]
        # VTK's rows run bottom to top.
        scalars = numpy_to_vtk(  # type: ignore[no-untyped-call]
            np.ascontiguousarray(rgba[::-1]).reshape(-1, 4), deep=True)
        scalars.SetNumberOfComponents(4)
        data.SetDimensions(width, height, 1)
        data.GetPointData().SetScalars(scalars)
        mapper.SetInputData(data)
        mapper.Modified()

    def _show_corners(self) -> None:
        for position, actor in self.corners.items():
            actor.SetVisibility(self._visible and position not in self._rastered)
        for position, (_, _, image) in self._images.items():
            image.SetVisibility(self._visible and position in self._rastered)

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
        self._show_corners()
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
        self._renderers.append(renderer)
        for actor in self.corners.values():
            renderer.AddViewProp(actor)
        for _, _, image in self._images.values():
            renderer.AddViewProp(image)
        for actor in self.labels.values():
            renderer.AddViewProp(actor)
        renderer.AddViewProp(self._outline_actor)  # before the bar: drawn under it
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
        for position, (data, _, image) in self._images.items():
            width, height, _ = data.GetDimensions()
            x, y = corner_at[position]
            # The image's lower left corner goes where the text's anchor puts that corner.
            left = x - width if position in (LOWER_RIGHT, UPPER_RIGHT) else x
            bottom = y - height if position in (UPPER_LEFT, UPPER_RIGHT) else y
            image.SetPosition(int(left), int(bottom))
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
        self._outline_actor.SetVisibility(show)
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
        set_edge(self._outline_data, [[(x0, y + tick), (x0, y), (x1, y), (x1, y + tick)]],
                 BAR_OUTLINE_WIDTH)
        label = f"{mm / 10:g} cm" if mm >= 10 else f"{mm:g} mm"
        if spacing.qualifier:
            label += f" ({spacing.qualifier})"
        self._bar_text.SetInput(label)
        self._bar_text.SetDisplayPosition(int(w / 2), int(y + 4))
