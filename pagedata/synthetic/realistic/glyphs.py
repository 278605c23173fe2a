"""Glyphs of realistic pages: the font families, one word's mask (cached) and the em box rows
that make a word's box a PDF text box."""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pagedata.synthetic.common import Box
from pagedata.synthetic.fonts import font_dir

# family -> (regular, bold, italic) font files bundled with matplotlib
FAMILIES = {
    "cm": ("cmr10.ttf", "cmb10.ttf", "cmr10.ttf"),
    "stix": ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf"),
    "dejavu_serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"),
    "dejavu_sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
}
INK = (0, 0, 0)


@functools.lru_cache(maxsize=64)
def load_font(file: str, size: int) -> ImageFont.FreeTypeFont:
    """The font ``file`` (bundled with matplotlib) at ``size`` px (at least 4)."""
    return ImageFont.truetype(os.path.join(font_dir(), file), size=max(int(size), 4))


_MASKS: dict[tuple[str, int, str], tuple[Image.Image, tuple[int, int, int, int], int, int]] = {}


def word_mask(file: str, size: int, text: str):
    """(L mask, ink box in the mask, advance width, ascent) of one word; cached per process."""
    key = (file, size, text)
    hit = _MASKS.get(key)
    if hit is not None:
        return hit
    if len(_MASKS) > 60000:
        _MASKS.clear()
    font = load_font(file, size)
    ascent, descent = font.getmetrics()
    width = max(int(round(font.getlength(text))), 1)
    m = Image.new("L", (width + size // 2 + 2, ascent + descent + 2), 0)
    ImageDraw.Draw(m).text((1, 1), text, fill=255, font=font)
    ink = m.getbbox() or (0, 0, 1, 1)
    out = (m, ink, width, ascent)
    _MASKS[key] = out
    return out


@functools.cache
def em_rows(file: str, size: int) -> tuple[int, int]:
    """Top and bottom row, in a ``word_mask`` image, of the font's 1-em text box.

    PDF extractors (PDFMiner, which made DocBank's and PubLayNet's boxes) give a glyph the box
    from ``baseline + descent`` up one font size, whatever its ink: on the DocBank pages a
    token's box reaches 0.15 of its height above the ascenders and, without descenders, 0.19
    below the baseline. Boxes built from ink alone are that much thinner, which costs a one-line
    block (a section title) its IoU against real annotations.
    """
    bottom = 1 + load_font(file, size).getbbox("gjpqy", anchor="la")[3]
    return bottom - max(int(size), 4), bottom


def union(boxes: list[Box]) -> Box:
    """The box around ``boxes`` (a list of XYXY boxes)."""
    a = np.asarray(boxes, dtype=float)
    return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max()))
