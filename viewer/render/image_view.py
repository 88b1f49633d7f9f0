"""ImageView: draws one display-ready frame with VTK, never Qt.

The frame handed in is the output of the display pipeline (``DisplayLut.apply`` of the stored
frame, 8-bit grey or RGB), so the screen shows exactly what ``lightbox render`` writes: VTK
only places the texture, with nearest-neighbour sampling and no colour mapping.

The frame is a texture on one quad rather than a ``vtkImageActor``: the quad's simple shader
draws a 512 x 512 frame about twice as fast with software OpenGL, for the same pixels.

The view can live in a Qt widget (pass the widget's render window) or offscreen, where
:meth:`ImageView.grab` returns the rendered pixels for tests and screenshots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt
import vtkmodules.vtkInteractionStyle  # registers the default interactor style
import vtkmodules.vtkRenderingFreeType  # text actors
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (the OpenGL backend)
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersSources import vtkPlaneSource
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkTexture,
    vtkWindowToImageFilter,
)

from viewer.render.transform import ViewTransform

UInt8Array = npt.NDArray[np.uint8]

#: Reading-room background: black, so that the frame's own black is the darkest thing shown.
BACKGROUND = (0.0, 0.0, 0.0)


class ViewLayer(Protocol):
    """Something drawn over the image that follows the view (annotations, measurements)."""

    def attach(self, renderer: vtkRenderer) -> None:
        """Add the layer's actors to ``renderer``."""

    def update_view(self, transform: ViewTransform) -> None:
        """Re-place the actors for a new zoom, pan, rotation or viewport size."""


class ImageView:
    """A VTK renderer showing one 8-bit frame through a :class:`ViewTransform`.

    Parameters
    ----------
    render_window : vtkRenderWindow, optional
        The window to draw in (a Qt widget's). When omitted an offscreen window of
        ``size`` is created, for tests, screenshots and benchmarks.
    size : tuple of int
        Offscreen window size ``(width, height)``.
    """

    def __init__(
        self, render_window: vtkRenderWindow | None = None, size: tuple[int, int] = (512, 512)
    ) -> None:
        self._owns_window = render_window is None
        if render_window is None:
            render_window = vtkRenderWindow()
            render_window.SetOffScreenRendering(1)
            render_window.SetSize(*size)
        render_window.SetMultiSamples(0)  # blending across pixel edges would alter values
        self.render_window = render_window
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND)
        render_window.AddRenderer(self.renderer)

        self._data = vtkImageData()
        self._buffer: UInt8Array | None = None
        self.texture = vtkTexture()
        self.texture.SetInputData(self._data)
        self.texture.InterpolateOff()  # nearest neighbour: one stored pixel, one value
        self.texture.RepeatOff()
        self.texture.EdgeClampOn()
        self.texture.SetColorModeToDirectScalars()  # 8-bit values as they are
        self._quad = vtkPlaneSource()
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(self._quad.GetOutputPort())
        self.actor = vtkActor()
        self.actor.SetMapper(mapper)
        self.actor.SetTexture(self.texture)
        prop = self.actor.GetProperty()
        prop.LightingOff()  # texture x white: the values reach the screen unchanged
        prop.SetColor(1.0, 1.0, 1.0)
        self.actor.SetVisibility(False)
        self.renderer.AddViewProp(self.actor)

        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        self._layers: list[ViewLayer] = []
        self._transform = ViewTransform(viewport=self._window_size())
        self.on_transform_changed: list[Callable[[ViewTransform], None]] = []

    # ------------------------------------------------------------------ frame
    @property
    def has_frame(self) -> bool:
        """Whether a frame has been set."""
        return self._buffer is not None

    @property
    def frame(self) -> UInt8Array | None:
        """The frame currently shown (rows x columns [x 3]), read-only by convention."""
        return self._buffer

    def set_frame(
        self, pixels: npt.NDArray[np.uint8], spacing: tuple[float, float] = (1.0, 1.0)
    ) -> None:
        """Show ``pixels`` (uint8, ``(rows, cols)`` grey or ``(rows, cols, 3)`` RGB).

        Parameters
        ----------
        pixels : numpy.ndarray
            Display-ready values; copied into a buffer that VTK reads without another copy.
        spacing : tuple of float
            ``(row_spacing, column_spacing)`` in mm (PS3.3 10.7.1.3), for the aspect ratio.
        """
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
            raise ValueError(f"expected a uint8 (rows, cols[, 3]) frame, got {pixels.dtype}")
        rows, cols = pixels.shape[:2]
        components = 1 if pixels.ndim == 2 else pixels.shape[2]
        first = self._buffer is None
        if self._buffer is None or self._buffer.shape != pixels.shape:
            self._buffer = np.empty(pixels.shape, dtype=np.uint8)
            self._data.SetDimensions(cols, rows, 1)
            self._data.SetOrigin(0.0, 0.0, 0.0)
            vtk_array = numpy_to_vtk(  # type: ignore[no-untyped-call]
                self._buffer.reshape(rows * cols, components), deep=False
            )
            vtk_array.SetName("display")
            self._data.GetPointData().SetScalars(vtk_array)
        np.copyto(self._buffer, pixels)
        dx, dy = float(spacing[1]), float(spacing[0])
        # The quad covers whole pixels: pixel centres at (col * dx, row * dy), row 0 first
        # in memory and at texture coordinate 0, which the camera shows at the top.
        self._quad.SetOrigin(-0.5 * dx, -0.5 * dy, 0.0)
        self._quad.SetPoint1((cols - 0.5) * dx, -0.5 * dy, 0.0)
        self._quad.SetPoint2(-0.5 * dx, (rows - 0.5) * dy, 0.0)
        self._data.GetPointData().GetScalars().Modified()
        self._data.Modified()
        self.actor.SetVisibility(True)
        transform = self._transform.with_image((cols, rows), (float(spacing[0]), float(spacing[1])))
        if first:
            transform = transform.fitted()
        self.set_transform(transform)

    def clear(self) -> None:
        """Show nothing (an empty viewport)."""
        self.actor.SetVisibility(False)

    # ------------------------------------------------------------------ view
    @property
    def transform(self) -> ViewTransform:
        """Current image-to-display mapping."""
        return self._transform

    def set_transform(self, transform: ViewTransform) -> None:
        """Apply ``transform`` to the camera, the image actor and every layer."""
        self._transform = transform
        m = transform.matrix.astype(float)
        c = transform.image_center
        offset = c - m @ c
        matrix = vtkMatrix4x4()
        for i in range(2):
            for j in range(2):
                matrix.SetElement(i, j, m[i, j])
            matrix.SetElement(i, 3, offset[i])
        self.actor.SetUserMatrix(matrix)

        camera = self.renderer.GetActiveCamera()
        cx, cy = transform.center
        # Looking along +z with view-up -y puts image row 0 at the top and column 0 on the left.
        camera.SetFocalPoint(cx, cy, 0.0)
        camera.SetPosition(cx, cy, -1000.0)
        camera.SetViewUp(0.0, -1.0, 0.0)
        camera.SetParallelScale(transform.viewport[1] / (2.0 * transform.scale))
        camera.SetClippingRange(1.0, 2000.0)
        for layer in self._layers:
            layer.update_view(transform)
        for callback in self.on_transform_changed:
            callback(transform)

    def resize(self, width: int, height: int) -> None:
        """Tell the view its viewport size (the widget's, or the offscreen window's)."""
        if self._owns_window:
            self.render_window.SetSize(width, height)
        old = self._transform
        fit = old.fitted().scale if self.has_frame else None
        new = old.with_viewport(width, height)
        if fit is not None and abs(old.scale - fit) < 1e-9:
            new = new.fitted()  # a fitted image stays fitted when the window changes
        self.set_transform(new)

    def fit(self) -> None:
        """Fit the whole image in the viewport."""
        self.set_transform(self._transform.fitted())

    def actual_size(self) -> None:
        """One image pixel per screen pixel (1:1)."""
        self.set_transform(self._transform.actual_size())

    def zoom_by(self, factor: float, anchor: tuple[float, float] | None = None) -> None:
        """Multiply the zoom by ``factor`` keeping ``anchor`` (display pixels) in place."""
        self.set_transform(self._transform.with_zoom(self._transform.zoom * factor, anchor))

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` display pixels."""
        self.set_transform(self._transform.panned(dx, dy))

    def rotate(self, quarter_turns: int) -> None:
        """Rotate clockwise by ``quarter_turns`` x 90 degrees, keeping the image in view."""
        self.set_transform(self._transform.rotated(quarter_turns).fitted())

    def flip(self, horizontal: bool) -> None:
        """Mirror left-right (``horizontal``) or top-bottom."""
        self.set_transform(self._transform.flipped(horizontal))

    def reset_view(self) -> None:
        """No rotation or flip, image fitted."""
        t = self._transform
        self.set_transform(
            ViewTransform(
                image_size=t.image_size, spacing=t.spacing, viewport=t.viewport
            ).fitted()
        )

    # ------------------------------------------------------------------ layers, output
    def add_layer(self, layer: ViewLayer) -> None:
        """Draw ``layer`` over the image; it follows every view change."""
        layer.attach(self.renderer)
        self._layers.append(layer)
        layer.update_view(self._transform)

    def render(self) -> None:
        """Draw now."""
        self.render_window.Render()

    def grab(self) -> UInt8Array:
        """Render and return the viewport as a ``(height, width, 3)`` uint8 array, top row first."""
        self.render()
        grabber = vtkWindowToImageFilter()
        grabber.SetInput(self.render_window)
        grabber.SetInputBufferTypeToRGB()
        grabber.ReadFrontBufferOff()
        grabber.ShouldRerenderOff()
        grabber.Update()
        out = grabber.GetOutput()
        w, h, _ = out.GetDimensions()
        scalars = vtk_to_numpy(out.GetPointData().GetScalars())  # type: ignore[no-untyped-call]
        pixels = scalars.reshape(h, w, -1)
        return np.ascontiguousarray(pixels[::-1, :, :3])

    def _window_size(self) -> tuple[int, int]:
        w, h = self.render_window.GetSize()
        return (max(1, int(w)), max(1, int(h)))

    def close(self) -> None:
        """Release the offscreen window's graphics resources."""
        if self._owns_window:
            self.render_window.Finalize()
