"""Badge images drawn by code: SVG (text, accessible) and PNG (Pillow), one layout for both.

The layout is made to be read small: a coloured disc per level (the top level green), the
role name in up to three short lines, the level in dark capitals on a white band (contrast
above 12:1), dots that count the level without relying on colour, and the date of the award
(assertion images) below. The SVG has ``role="img"`` with a ``<title>`` and ``<desc>`` so a
screen reader announces role, level and date; its text stays real text.

Names come from the framework (which an admin may import): they are escaped, stripped of
characters XML cannot hold, and bounded.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

SIZE = 256  # SVG user units; the PNG is PNG_SIZE pixels
PNG_SIZE = 512
_SUPERSAMPLE = 2  # the PNG is drawn larger, then reduced, for smooth edges
INK = "#111111"
WHITE = "#ffffff"
# From the top level down; white text on each has a contrast ratio of at least 6:1.
PALETTE = ("#1b6e3a", "#1f5f8b", "#8a4b08", "#5b3f8c", "#4a4a4a")
FONT_FAMILY = "'DejaVu Sans', Verdana, Arial, sans-serif"
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAX_TEXT = 200
_ROLE_LINES = 3
_ROLE_CHARS = 17  # per line at the role font size (bold sans averages about 0.62 em)


def clean(text: str, limit: int = _MAX_TEXT) -> str:
    """One line of text safe to put in XML, at most ``limit`` characters."""
    line = " ".join(_NOT_XML.sub("", text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


def wrap(text: str, width: int = _ROLE_CHARS, lines: int = _ROLE_LINES) -> list[str]:
    """Words into at most ``lines`` lines of about ``width`` characters (the last one ends
    with an ellipsis when the text does not fit; over-long words are cut too)."""
    words = [w if len(w) <= width else w[: width - 1] + "\u2026" for w in text.split()]
    out: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width:
            current = candidate
            continue
        out.append(current)
        current = word
        if len(out) == lines:  # no room left for this word and the ones after it
            last = out[-1]
            out[-1] = (last if len(last) < width else last[: width - 1]) + "\u2026"
            return out
    if current:
        out.append(current)
    return out or [""]


@dataclass(frozen=True)
class Badge:
    """What an image shows: role, level, its rank among the levels, and an optional date."""

    role: str
    level: str
    rank: int  # 1 for the lowest level above the first, …
    ranks: int  # how many levels above the first
    date: str | None = None  # YYYY-MM-DD of the award; None on the badge class image
    issuer: str = ""

    @property
    def colour(self) -> str:
        from_top = max(0, self.ranks - self.rank)
        return PALETTE[min(from_top, len(PALETTE) - 1)]

    @property
    def title(self) -> str:
        return f"{clean(self.role)} \u2014 {clean(self.level, 100)}"

    @property
    def description(self) -> str:
        text = f"Readiness badge: {clean(self.role)}, level {clean(self.level, 100)}"
        if self.ranks:
            text += f" ({self.rank} of {self.ranks})"
        if self.date:
            text += f", awarded {self.date}"
        if self.issuer:
            text += f", issued by {clean(self.issuer)}"
        return text + "."


def badge_for(role: str, level: str, levels: tuple[tuple[str, float], ...], *,
              date: str | None = None, issuer: str = "") -> Badge:
    names = [name for name, _ in levels]
    rank = names.index(level) if level in names else 0
    return Badge(role, level, rank, max(len(names) - 1, 0), date, issuer)


def _level_font_size(level: str) -> float:
    text = clean(level, 40).upper()
    return min(24.0, 212.0 / max(1, len(text)) / 0.68)


# --- SVG -------------------------------------------------------------------------------------


def svg(badge: Badge) -> str:
    """The badge as a standalone SVG document (UTF-8 text)."""
    c = SIZE / 2
    role_lines = wrap(clean(badge.role))
    level_text = clean(badge.level, 40).upper()
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" '
        'viewBox="0 0 256 256" role="img" aria-labelledby="badge-title badge-desc">',
        f'<title id="badge-title">{escape(badge.title)}</title>',
        f'<desc id="badge-desc">{escape(badge.description)}</desc>',
        f'<g aria-hidden="true"><circle cx="{c:g}" cy="{c:g}" r="124" fill="{badge.colour}"/>',
        f'<circle cx="{c:g}" cy="{c:g}" r="112" fill="none" stroke="{WHITE}" '
        'stroke-width="3"/></g>',
        f'<g font-family="{FONT_FAMILY}" font-weight="bold" text-anchor="middle" '
        f'fill="{WHITE}">',
        '<text x="128" y="54" font-size="13" letter-spacing="2">READINESS</text>',
    ]
    top = 84 if len(role_lines) == 3 else 96 if len(role_lines) == 2 else 110
    for index, line in enumerate(role_lines):
        parts.append(f'<text x="128" y="{top + index * 22}" font-size="19">{escape(line)}</text>')
    parts.append("</g>")
    parts.append(f'<rect x="14" y="140" width="228" height="42" rx="6" fill="{WHITE}" '
                 'aria-hidden="true"/>')
    parts.append(
        f'<text x="128" y="169" font-family="{FONT_FAMILY}" font-weight="bold" '
        f'font-size="{_level_font_size(badge.level):.1f}" text-anchor="middle" '
        f'fill="{INK}">{escape(level_text)}</text>'
    )
    parts.append('<g aria-hidden="true">')
    for x, filled in _dots(badge):
        fill = WHITE if filled else "none"
        parts.append(f'<circle cx="{x:g}" cy="198" r="5" fill="{fill}" stroke="{WHITE}" '
                     'stroke-width="2"/>')
    parts.append("</g>")
    if badge.date:
        parts.append(
            f'<text x="128" y="226" font-family="{FONT_FAMILY}" font-weight="bold" '
            f'font-size="15" text-anchor="middle" fill="{WHITE}">{escape(badge.date)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _dots(badge: Badge) -> list[tuple[float, bool]]:
    count = min(badge.ranks, 8)
    if count <= 0:
        return []
    step = 16.0
    first = SIZE / 2 - step * (count - 1) / 2
    return [(first + i * step, i < badge.rank) for i in range(count)]


# --- PNG -------------------------------------------------------------------------------------


@functools.cache
def _font(size: int, bold: bool = True):
    from PIL import ImageFont

    for name in (("DejaVuSans-Bold.ttf",) if bold else ()) + ("DejaVuSans.ttf",):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)  # Pillow's own scalable font, when no DejaVu is installed


def png(badge: Badge) -> bytes:
    """The badge as a PNG of PNG_SIZE x PNG_SIZE pixels (RGBA, transparent corners)."""
    return _png(badge)


@functools.lru_cache(maxsize=256)
def _png(badge: Badge) -> bytes:
    from PIL import Image, ImageDraw

    k = PNG_SIZE * _SUPERSAMPLE / SIZE  # pixels per SVG unit while drawing
    side = round(SIZE * k)
    image = Image.new("RGBA", (side, side), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)

    def box(cx: float, cy: float, r: float) -> tuple[float, float, float, float]:
        return ((cx - r) * k, (cy - r) * k, (cx + r) * k, (cy + r) * k)

    def text(x: float, baseline: float, value: str, size: float, fill: str, width: float) -> None:
        font = _font(max(1, round(size * k)))
        while font.getlength(value) > width * k and font.size > 8:
            font = _font(font.size - 2)
        draw.text((x * k, baseline * k), value, font=font, fill=fill, anchor="ms")

    c = SIZE / 2
    draw.ellipse(box(c, c, 124), fill=badge.colour)
    draw.ellipse(box(c, c, 112), outline=WHITE, width=round(3 * k))
    text(c, 54, "READINESS", 13, WHITE, 200)
    role_lines = wrap(clean(badge.role))
    top = 84 if len(role_lines) == 3 else 96 if len(role_lines) == 2 else 110
    for index, line in enumerate(role_lines):
        text(c, top + index * 22, line, 19, WHITE, 206)
    draw.rounded_rectangle((14 * k, 140 * k, 242 * k, 182 * k), radius=6 * k, fill=WHITE)
    text(c, 169, clean(badge.level, 40).upper(), _level_font_size(badge.level), INK, 212)
    for x, filled in _dots(badge):
        draw.ellipse(box(x, 198, 5), fill=WHITE if filled else None, outline=WHITE,
                     width=round(2 * k))
    if badge.date:
        text(c, 226, badge.date, 15, WHITE, 200)
    image = image.resize((PNG_SIZE, PNG_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
