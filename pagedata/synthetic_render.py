"""Drawing primitives for the synthetic page generator (:mod:`pagedata.synthetic`).

Everything here draws onto a PIL page with ``ImageDraw`` and reports the tight ink box of
what it drew as ``(x0, y0, x1, y1)`` floats in pixels (exclusive right/bottom edges, COCO style).
Randomness comes only from the ``numpy.random.Generator`` passed in, so a page is a pure
function of its seed.

Text is drawn from a cached *word bank*: per (font file, pixel size), 192 word-like glyph runs
(letters drawn with a real TrueType font) rendered once per process as 8-bit masks aligned
on a common baseline. Pasting masks is ~10x faster than calling FreeType per word, which is
what keeps the generator above 10 pages/s at 640 px on one core.
"""

from __future__ import annotations

import functools
import os
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Box = tuple[float, float, float, float]

# Letter frequencies of English text, so glyph runs look like words (not uniform noise).
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_FREQ = np.array(
    [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0]
    + [2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1]
)
_CUM = np.cumsum(_FREQ / _FREQ.sum())
_BANK_SIZE = 128

FONT_FILES = {
    "sans": "DejaVuSans.ttf",
    "sans_bold": "DejaVuSans-Bold.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif_bold": "DejaVuSerif-Bold.ttf",
    "serif_italic": "DejaVuSerif-Italic.ttf",
}


@functools.lru_cache(maxsize=1)
def font_dir() -> str:
    """Directory holding the DejaVu TTFs: matplotlib's bundled copy, else the system one."""
    candidates = []
    try:
        import matplotlib

        candidates.append(os.path.join(matplotlib.get_data_path(), "fonts", "ttf"))
    except ImportError:
        pass
    candidates.append("/usr/share/fonts/truetype/dejavu")
    for d in candidates:
        if os.path.isfile(os.path.join(d, FONT_FILES["serif"])):
            return d
    raise FileNotFoundError(
        f"No DejaVu fonts found in {candidates}. The synthetic generator draws text with the "
        "DejaVu TTFs shipped inside matplotlib: `pip install matplotlib`."
    )


@functools.lru_cache(maxsize=256)
def get_font(style: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(os.path.join(font_dir(), FONT_FILES[style]), size=max(int(size), 4))


@dataclass
class Word:
    mask: Image.Image  # "L" mask, height = the font's line height, baseline shared by all words
    ink: tuple[int, int, int, int]  # tight ink box inside the mask
    width: int  # advance width


def _random_word(rng: np.random.Generator, numeric: bool = False) -> str:
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
    ascent, descent = get_font("serif", size).getmetrics()
    return max(int(round((ascent + descent) * spacing)), ascent + descent)


# --------------------------------------------------------------------------------- figures


def _ink_box(page: Image.Image, x0: int, y0: int, x1: int, y1: int, bg: int = 250) -> Box | None:
    """Tight box of non-background pixels inside a region (the figure's own extent)."""
    a = np.asarray(page.crop((x0, y0, x1, y1)).convert("L"))
    ys, xs = np.nonzero(a < bg)
    if len(xs) == 0:
        return None
    return (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)


def _palette(rng: np.random.Generator, n: int) -> list[tuple[int, int, int]]:
    hues = (rng.random() + np.arange(n) / max(n, 1)) % 1.0
    out = []
    for h in hues:
        rgb = np.clip(np.abs((h * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)
        out.append(tuple(int(v) for v in 40 + 180 * rgb))
    return out


def draw_figure(
    page: Image.Image, rect: tuple[int, int, int, int], rng: np.random.Generator, size: int
) -> Box:
    """A plot, bar chart, shape diagram or photo-like noise image inside ``rect``."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    d = ImageDraw.Draw(page)
    kind = rng.choice(["plot", "bars", "shapes", "photo"], p=[0.3, 0.2, 0.25, 0.25])
    small = max(size - 2, 4)
    if kind == "photo":
        lo = (rng.random((int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)) * 255).astype(
            np.uint8
        )
        img = Image.fromarray(lo).resize((w, h), Image.BICUBIC)
        noise = rng.normal(0, 12, (h, w, 1))
        arr = np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 235).astype(np.uint8)
        page.paste(Image.fromarray(arr), (x0, y0))
        return (x0, y0, x1, y1)
    if kind == "shapes":
        colors = _palette(rng, 6)
        if rng.random() < 0.5:
            d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(60, 60, 60))
        for _ in range(int(rng.integers(3, 9))):
            cw, ch = rng.uniform(0.1, 0.4) * w, rng.uniform(0.1, 0.4) * h
            cx, cy = x0 + rng.uniform(0, w - cw), y0 + rng.uniform(0, h - ch)
            c = colors[int(rng.integers(len(colors)))]
            fill = c if rng.random() < 0.5 else None
            shape = (cx, cy, cx + cw, cy + ch)
            if rng.random() < 0.5:
                d.rectangle(shape, outline=c, fill=fill, width=2)
            else:
                d.ellipse(shape, outline=c, fill=fill, width=2)
        for _ in range(int(rng.integers(0, 4))):
            p = rng.uniform([x0, y0, x0, y0], [x1 - 1, y1 - 1, x1 - 1, y1 - 1])
            d.line(tuple(p), fill=(30, 30, 30), width=1)
        return _ink_box(page, x0, y0, x1, y1) or (x0, y0, x1, y1)
    # plot / bars: axes with ticks and tick labels
    pad_l, pad_b = int(w * 0.12), int(h * 0.14)
    ax0, ay1 = x0 + pad_l, y1 - pad_b
    ax1, ay0 = x1 - int(w * 0.03), y0 + int(h * 0.04)
    d.line((ax0, ay0, ax0, ay1, ax1, ay1), fill=(20, 20, 20), width=1)
    for t in np.linspace(0, 1, int(rng.integers(3, 7))):
        tx, ty = ax0 + t * (ax1 - ax0), ay1 - t * (ay1 - ay0)
        d.line((tx, ay1, tx, ay1 + 3), fill=(20, 20, 20))
        d.line((ax0 - 3, ty, ax0, ty), fill=(20, 20, 20))
        draw_line(
            page,
            tx - small,
            ay1 + 4,
            small * 3,
            "sans",
            small,
            rng,
            (20, 20, 20),
            numeric=True,
            max_words=1,
        )
        draw_line(
            page,
            x0,
            ty - small // 2,
            pad_l - 5,
            "sans",
            small,
            rng,
            (20, 20, 20),
            numeric=True,
            max_words=1,
        )
    colors = _palette(rng, 4)
    if kind == "bars":
        n = int(rng.integers(3, 12))
        bw = (ax1 - ax0) / (n * 1.5 + 0.5)
        for i in range(n):
            bx = ax0 + bw * (0.5 + 1.5 * i)
            bh = rng.uniform(0.1, 0.95) * (ay1 - ay0)
            d.rectangle((bx, ay1 - bh, bx + bw, ay1 - 1), fill=colors[i % 2], outline=(20, 20, 20))
    else:
        xs = np.linspace(ax0 + 2, ax1 - 2, 40)
        for c in colors[: int(rng.integers(1, 4))]:
            walk = np.cumsum(rng.normal(0, 1, len(xs)))
            walk = (walk - walk.min()) / (np.ptp(walk) + 1e-6)
            ys = ay1 - 3 - walk * (ay1 - ay0 - 6)
            d.line(
                list(zip(xs.tolist(), ys.tolist())), fill=c, width=2 if rng.random() < 0.5 else 1
            )
    return _ink_box(page, x0, y0, x1, y1) or (x0, y0, x1, y1)


def draw_table(
    page: Image.Image,
    x: int,
    y: int,
    width: int,
    max_height: int,
    rng: np.random.Generator,
    size: int,
    color: tuple[int, int, int],
) -> Box | None:
    """A ruled table (booktabs style or full grid) whose box spans its rules and cell text."""
    row_h = int(round(line_height(size, 1.0) * 1.45))
    rows = min(int(rng.integers(3, 11)), (max_height - 2) // row_h)
    if rows < 2:
        return None
    cols = int(rng.integers(2, 7))
    widths = rng.uniform(0.6, 1.6, cols)
    edges = x + np.concatenate([[0], np.cumsum(widths / widths.sum())]) * width
    d = ImageDraw.Draw(page)
    grid = rng.random() < 0.4
    y1 = y + rows * row_h
    d.line((x, y, x + width - 1, y), fill=color, width=2)
    d.line((x, y1, x + width - 1, y1), fill=color, width=2)
    for r in range(rows):
        if r == 1 or (grid and r > 0):
            d.line((x, y + r * row_h, x + width - 1, y + r * row_h), fill=color, width=1)
        for c in range(cols):
            cw = edges[c + 1] - edges[c] - size
            style = "serif_bold" if r == 0 else "serif"
            draw_line(
                page,
                edges[c] + size / 2,
                y + r * row_h + row_h * 0.18,
                cw,
                style,
                size,
                rng,
                color,
                fill=rng.uniform(0.3, 0.95),
                numeric=r > 0 and c > 0 and rng.random() < 0.7,
                max_words=3,
            )
    if grid:
        for e in edges:
            ex = min(int(round(e)), x + width - 1)
            d.line((ex, y, ex, y1), fill=color, width=1)
    return (float(x), float(y), float(x + width), float(y1 + 2))
