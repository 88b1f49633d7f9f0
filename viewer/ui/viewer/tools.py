"""Tools, window presets and the keyboard map of the viewer (one table, shown in Help)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Tool(enum.Enum):
    """What the left mouse button does."""

    WINDOW = "Window/level"
    PAN = "Pan"
    ZOOM = "Zoom"
    SCROLL = "Scroll"
    LENGTH = "Length"
    ANGLE = "Angle"
    RECTANGLE = "Rectangle ROI"
    ELLIPSE = "Ellipse ROI"
    PROBE = "Pixel probe"


TOOL_KEYS: dict[Tool, str] = {
    Tool.WINDOW: "W",
    Tool.PAN: "P",
    Tool.ZOOM: "Z",
    Tool.SCROLL: "S",
    Tool.LENGTH: "L",
    Tool.ANGLE: "A",
    Tool.RECTANGLE: "B",
    Tool.ELLIPSE: "E",
    Tool.PROBE: "X",
}


@dataclass(frozen=True)
class WindowPreset:
    """A named window in modality units (HU for CT)."""

    name: str
    center: float
    width: float
    key: str = ""


#: CT presets on number keys, as reading rooms use them.
CT_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("Brain", 40, 80, "1"),
    WindowPreset("Subdural", 75, 215, "2"),
    WindowPreset("Stroke", 40, 40, "3"),
    WindowPreset("Lung", -600, 1500, "4"),
    WindowPreset("Mediastinum", 50, 350, "5"),
    WindowPreset("Abdomen", 40, 400, "6"),
    WindowPreset("Liver", 60, 160, "7"),
    WindowPreset("Bone", 400, 1800, "8"),
)

#: Every shortcut of the viewer: (keys, what it does). Help > Keyboard shortcuts lists these.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Mouse wheel, Up/Down, Page Up/Down", "Previous / next image (Page: 10 images)"),
    ("Home / End", "First / last image"),
    ("Left drag", "Active tool (default window/level)"),
    ("Middle drag", "Pan"),
    ("Right drag", "Window/level (horizontal: width, vertical: level)"),
    ("Ctrl + wheel, + / -", "Zoom in / out around the cursor"),
    *((key, f"Tool: {tool.value}") for tool, key in TOOL_KEYS.items()),
    *((p.key, f"CT window preset {p.name} (C {p.center:g} W {p.width:g})") for p in CT_PRESETS),
    ("0", "The image's own window (again: next one of the file)"),
    ("9", "Automatic window (image min/max)"),
    ("I", "Invert (grey scale; a colour image: its colours)"),
    ("R / Shift+R", "Rotate 90 degrees clockwise / counter-clockwise"),
    ("H / V", "Flip horizontal / vertical"),
    ("F", "Fit image to the viewport"),
    ("Ctrl+0", "Actual size (1:1)"),
    ("Backspace", "Reset the view (window, zoom, rotation)"),
    ("C", "Cine play / stop"),
    ("[ / ]", "Cine slower / faster"),
    ("Delete", "Delete the selected measurement"),
    ("Ctrl+Delete", "Delete every measurement of the image"),
    ("Esc", "Cancel the measurement being drawn"),
    ("O", "Overlays and shutters on / off"),
    ("Ctrl+Shift+A", "Annotations on / off"),
    ("Tab", "Next viewport"),
    ("Ctrl+T", "DICOM tags of the current image"),
    ("Ctrl+E", "Export the viewport or the image"),
    ("Ctrl+Shift+C", "Copy the viewport to the clipboard"),
    ("Ctrl+B", "Study browser"),
    ("Enter (study list)", "Open the selected studies"),
    ("Ctrl+Enter (study list)", "Add the selected studies to the viewer, beside those open"),
    ("Alt + underlined letter", "Press that button (Open, Add to viewer, Delete, Import, "
     "Search, Retrieve, ...)"),
    ("Delete (study list)", "Delete the selected studies, after asking"),
    ("F5 (study list)", "Read the study list again"),
    ("Ctrl+I", "Import media, folder or zip"),
    ("Ctrl+O", "Open files"),
    ("Ctrl+Q", "Quit"),
)
