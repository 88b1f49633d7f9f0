"""Draw the Lightbox application icon: SVG source, PNG renders, Windows .ico, macOS .icns.

The motif is a film viewer (a "lightbox"): a lit panel in a dark frame with one film
clipped to it, showing a head cross-section. The SVG and the bitmaps come from the same
geometry below, so they cannot drift apart. Run from the repository root:

    .venv/bin/python installers/draw_icon.py

and commit what it writes to resources/icons/.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"
UNIT = 256  # the geometry is written for a 256 x 256 canvas
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

FRAME = "#1d2733"
PANEL = "#e6f3ff"
PANEL_EDGE = "#9ccbf5"
FILM = "#20252c"
CLIP = "#8a96a3"
BONE = "#f2f4f6"
BRAIN = "#7d8691"
VENTRICLE = "#3a4048"

# (x0, y0, x1, y1, radius) in UNIT coordinates
FRAME_BOX = (8, 8, 248, 248, 44)
PANEL_BOX = (30, 38, 226, 206, 14)
FILM_BOX = (56, 56, 200, 200, 6)
CLIPS = ((86, 46, 110, 64, 3), (146, 46, 170, 64, 3))
STAND = (108, 216, 148, 232, 4)
SKULL = (128, 130, 46, 56)  # centre x, centre y, radius x, radius y
BRAIN_R = (38, 47)
VENTRICLES = ((119, 124, 4, 15), (137, 124, 4, 15))
MIDLINE = (128, 86, 128, 174, 2)  # falx: x0, y0, x1, y1, width


def svg() -> str:
    """Return the icon as an SVG document."""

    def rect(box: tuple[int, int, int, int, int], fill: str, extra: str = "") -> str:
        x0, y0, x1, y1, r = box
        return (
            f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{r}" '
            f'fill="{fill}"{extra}/>'
        )

    cx, cy, rx, ry = SKULL
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" '
        'viewBox="0 0 256 256">',
        "<title>Lightbox</title>",
        "<defs>",
        '<radialGradient id="glow" cx="50%" cy="45%" r="65%">',
        f'<stop offset="0" stop-color="#ffffff"/><stop offset="1" stop-color="{PANEL}"/>',
        "</radialGradient>",
        "</defs>",
        rect(FRAME_BOX, FRAME),
        rect(PANEL_BOX, "url(#glow)", f' stroke="{PANEL_EDGE}" stroke-width="3"'),
        rect(STAND, CLIP),
        rect(FILM_BOX, FILM),
        *(rect(c, CLIP) for c in CLIPS),
        f'<ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}" fill="{BONE}"/>',
        f'<ellipse cx="{cx}" cy="{cy}" rx="{BRAIN_R[0]}" ry="{BRAIN_R[1]}" fill="{BRAIN}"/>',
        *(
            f'<ellipse cx="{x}" cy="{y}" rx="{erx}" ry="{ery}" fill="{VENTRICLE}"/>'
            for x, y, erx, ery in VENTRICLES
        ),
        f'<line x1="{MIDLINE[0]}" y1="{MIDLINE[1]}" x2="{MIDLINE[2]}" y2="{MIDLINE[3]}" '
        f'stroke="{VENTRICLE}" stroke-width="{MIDLINE[4]}"/>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def render(size: int) -> Image.Image:
    """Return the icon as an RGBA image of ``size`` pixels, drawn 4x larger then reduced."""
    scale = size * 4 / UNIT
    big = Image.new("RGBA", (size * 4, size * 4), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)

    def box(b: tuple[int, int, int, int, int]) -> tuple[list[float], float]:
        x0, y0, x1, y1, r = b
        return [x0 * scale, y0 * scale, x1 * scale, y1 * scale], r * scale

    def ellipse(cx: float, cy: float, rx: float, ry: float, fill: str) -> None:
        draw.ellipse(
            [(cx - rx) * scale, (cy - ry) * scale, (cx + rx) * scale, (cy + ry) * scale],
            fill=fill,
        )

    xy, r = box(FRAME_BOX)
    draw.rounded_rectangle(xy, r, fill=FRAME)
    xy, r = box(PANEL_BOX)
    draw.rounded_rectangle(xy, r, fill=PANEL, outline=PANEL_EDGE, width=max(1, round(3 * scale)))
    xy, r = box(STAND)
    draw.rounded_rectangle(xy, r, fill=CLIP)
    xy, r = box(FILM_BOX)
    draw.rounded_rectangle(xy, r, fill=FILM)
    for clip in CLIPS:
        xy, r = box(clip)
        draw.rounded_rectangle(xy, r, fill=CLIP)
    cx, cy, rx, ry = SKULL
    ellipse(cx, cy, rx, ry, BONE)
    ellipse(cx, cy, BRAIN_R[0], BRAIN_R[1], BRAIN)
    for x, y, erx, ery in VENTRICLES:
        ellipse(x, y, erx, ery, VENTRICLE)
    x0, y0, x1, y1, width = MIDLINE
    draw.line([x0 * scale, y0 * scale, x1 * scale, y1 * scale], fill=VENTRICLE,
              width=max(1, round(width * scale)))
    return big.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    """Write lightbox.svg, lightbox-<n>.png, lightbox.png, lightbox.ico and lightbox.icns."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lightbox.svg").write_text(svg(), encoding="utf-8")
    images = {size: render(size) for size in PNG_SIZES}
    for size, image in images.items():
        image.save(OUT / f"lightbox-{size}.png", optimize=True)
    images[256].save(OUT / "lightbox.png", optimize=True)
    images[256].save(
        OUT / "lightbox.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)]
    )
    images[512].save(OUT / "lightbox.icns")


if __name__ == "__main__":
    main()
