"""Word-like glyph runs of the classic style: the cached word bank and lines drawn from it.

Everything here draws onto a PIL page and reports the tight ink box of what it drew as
``(x0, y0, x1, y1)`` floats in pixels (exclusive right/bottom edges, COCO style). Randomness
comes only from the ``numpy.random.Generator`` passed in, so a page is a pure function of its
seed.

Text is drawn from a cached *word bank*: per (font, pixel size), 128 word-like glyph runs
(letters drawn with a real TrueType font) rendered once per process as 8-bit masks aligned
on a common baseline. Pasting masks is ~10x faster than calling FreeType per word, which is
what keeps the generator above 10 pages/s at 640 px on one core.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pagedata.synthetic.common import Box
from pagedata.synthetic.fonts import get_font

# Letter frequencies of English text, so glyph runs look like words (not uniform noise).
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_FREQ = np.array(
    [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0]
    + [2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1]
)
_CUM = np.cumsum(_FREQ / _FREQ.sum())
_BANK_SIZE = 128


@dataclass
class Word:
    """One glyph run of a word bank."""

    mask: Image.Image  # "L" mask, height = the font's line height, baseline shared by all words
    ink: tuple[int, int, int, int]  # tight ink box inside the mask
    width: int  # advance width


def _random_word(rng: np.random.Generator, numeric: bool = False) -> str:
    """A word of English letter frequencies (sometimes capitalised or punctuated), or a number."""
    if numeric:
        digits = str(int(rng.integers(0, 10 ** int(rng.integers(1, 5)))))
        return digits + ("." + str(int(rng.integers(0, 100))) if rng.random() < 0.5 else "")
    n = int(np.clip(rng.geometric(0.22), 1, 12))
    w = "".join(_LETTERS[i] for i in np.searchsorted(_CUM, rng.random(n) * _CUM[-1]))
    if rng.random() < 0.12:
        w = w.capitalize()
    if rng.random() < 0.1:
        w += ",.;:"[int(rng.integers(4))]
    return w


@functools.lru_cache(maxsize=128)
def word_bank(style: str, size: int, numeric: bool = False) -> tuple[Word, ...]:
    """The cached glyph runs of one font and size; fixed content (seeded by style and size)."""
    font = get_font(style, size)
    rng = np.random.default_rng(zlib.crc32(f"{style}/{size}/{numeric}".encode()))
    ascent, descent = font.getmetrics()
    height = ascent + descent
    words = []
    for _ in range(_BANK_SIZE):
        text = _random_word(rng, numeric)
        width = max(int(round(font.getlength(text))), 1)
        mask = Image.new("L", (width + 2, height), 0)
        ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font, anchor="la")
        ink = mask.getbbox() or (0, 0, 1, 1)
        words.append(Word(mask, ink, width))
    return tuple(words)


def union(boxes: list[Box]) -> Box:
    """The box around ``boxes`` (a list of XYXY boxes)."""
    return (
        float(min(b[0] for b in boxes)),
        float(min(b[1] for b in boxes)),
        float(max(b[2] for b in boxes)),
        float(max(b[3] for b in boxes)),
    )


def draw_line(
    page: Image.Image,
    x: float,
    y: float,
    width: float,
    style: str,
    size: int,
    rng: np.random.Generator,
    color: tuple[int, int, int],
    fill: float = 1.0,
    justify: bool = False,
    numeric: bool = False,
    max_words: int | None = None,
) -> Box | None:
    """One line of word-like glyph runs starting at (x, y), filling ``fill`` of ``width``.

    Returns the tight ink box or None when nothing fitted.
    """
    bank = word_bank(style, size, numeric)
    space = max(int(round(size * 0.3)), 2)
    target = width * fill
    chosen, used = [], 0
    for _ in range(64):
        w = bank[int(rng.integers(len(bank)))]
        extra = w.width + (space if chosen else 0)
        if used + extra > target or (max_words is not None and len(chosen) >= max_words):
            break
        chosen.append(w)
        used += extra
    if not chosen:
        return None
    gap = float(space)
    if justify and len(chosen) > 1:
        gap += (width - used) / (len(chosen) - 1)
    boxes, cx = [], float(x)
    for w in chosen:
        ix, iy = int(round(cx)), int(round(y))
        page.paste(color, (ix, iy, ix + w.mask.width, iy + w.mask.height), w.mask)
        boxes.append((ix + w.ink[0], iy + w.ink[1], ix + w.ink[2], iy + w.ink[3]))
        cx += w.width + gap
    return union(boxes)


def line_height(size: int, spacing: float) -> int:
    """Baseline-to-baseline distance of DejaVu Serif at ``size`` px and line ``spacing``."""
    ascent, descent = get_font("serif", size).getmetrics()
    return max(int(round((ascent + descent) * spacing)), ascent + descent)
