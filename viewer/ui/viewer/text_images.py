"""Corner texts drawn by Qt, for the letters VTK's built-in font does not have.

Qt draws with the system's fonts and falls back from one to the next per letter, shapes
Arabic, and orders right-to-left text (Unicode bidirectional algorithm), none of which
VTK's text rendering does. See :mod:`viewer.render.annotations`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter

#: Extra space between lines, as the VTK corner texts have (their line spacing 1.1).
LINE_SPACING = 1.1
#: The drop shadow's offset in pixels, as VTK draws it.
SHADOW = 1


def text_image(text: str, pixel_size: int, colour: tuple[float, float, float],
               align_right: bool) -> npt.NDArray[np.uint8]:
    """Draw ``text`` (lines split at ``\\n``) with a drop shadow, as an RGBA image.

    Parameters
    ----------
    text : str
        The corner's text.
    pixel_size : int
        The font's size in pixels (VTK's font size, at its 72 dpi).
    colour : tuple of float
        Red, green and blue, 0-1.
    align_right : bool
        Lines flush right (the right-hand corners), else flush left.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 4)`` uint8, rows top to bottom, alpha not premultiplied.
    """
    font = QFont("Arial")
    font.setStyleHint(QFont.StyleHint.SansSerif)
    font.setPixelSize(max(1, pixel_size))
    metrics = QFontMetrics(font)
    lines = text.split("\n")
    line_height = max(1, round(metrics.height() * LINE_SPACING))
    widths = [metrics.horizontalAdvance(line) for line in lines]
    width = max(1, max(widths) + SHADOW + 1)
    height = max(1, line_height * (len(lines) - 1) + metrics.height() + SHADOW)
    image = QImage(width, height, QImage.Format.Format_RGBA8888)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setFont(font)
        ink = QColor.fromRgbF(*colour)
        for index, (line, line_width) in enumerate(zip(lines, widths, strict=True)):
            x = width - SHADOW - 1 - line_width if align_right else 0
            y = index * line_height + metrics.ascent()
            painter.setPen(QColor(0, 0, 0))
            painter.drawText(x + SHADOW, y + SHADOW, line)
            painter.setPen(ink)
            painter.drawText(x, y, line)
    finally:
        painter.end()
    stride = image.bytesPerLine()
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return raw.reshape(height, stride)[:, : width * 4].reshape(height, width, 4).copy()
