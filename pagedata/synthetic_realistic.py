"""Synthetic pages that look like real papers: the ``realistic`` style of :mod:`pagedata.synthetic`.

The ``classic`` style (``synthetic.py``) draws random glyph runs in DejaVu fonts at the page's own
resolution; at 320 px that gives black, coarse text blocks that real pages do not have (the demo's
teacher scored 7 AP on real DocBank pages). This style imitates arXiv / PubMed pages as DocBank and
PubLayNet show them:

* **Text.** Real English sentences (the prose of Python's own documentation, ``pydoc_data``,
  shipped with every CPython: no download, no dependency), set in the fonts matplotlib bundles:
  Computer Modern (``cmr10`` / ``cmb10``, LaTeX's look), STIX (Times-like), DejaVu Serif / Sans.
  Body text is 9-12 pt on a letter or A4 page (about 1.2% of the page height), justified, with
  LaTeX's tight leading (1.2; sometimes double-spaced drafts), paragraphs marked by a first-line
  indent (no gap) or by a gap.
* **Rendering.** The page is drawn at ``ss`` times the output size (about 1000 px high) and box
  filtered down, so thin serif strokes become the light grey texture that real pages have after
  resizing, not 1-pixel black glyphs.
* **Structure.** One column with wide LaTeX margins or two columns; a first-page title block
  (title, authors, abstract); numbered section titles (``2.1 Word word``, or REVTeX's centred
  ``II. WORDS``); display equations (matplotlib mathtext in Computer Modern, with equation numbers;
  annotated ``text`` as the DocBank converter and PubLayNet do); bulleted / numbered lists with
  hanging indents; reference lists (one ``text`` block per entry); figures as papers have them
  (framed line plots with ticks, tick labels, axis labels and legends, scatter plots, bar charts,
  multi-panel figures with (a)/(b) labels, heat maps / photos, block diagrams) with ``Figure n:``
  captions below; tables (booktabs rules, full grid or unruled) with ``Table n:`` captions above;
  floats at the top of a column or the page. Running headers, page numbers and footnotes are
  drawn but not annotated (DocBank tags them ``footer``, which PubLayNet's classes leave out).
* **Noise.** Digital pages: JPEG quality 70-95 and an occasional slight blur; no rotation.

Boxes follow the DocBank -> PubLayNet converter (``pagedata/docbank.py``), whose token boxes
are a PDF's text boxes: a line of text spans its font's em box (``_em_rows``), not just its ink; a
display equation with its number is one ``text`` block; a caption is ``text``; a list is one
block; a table box spans its rules and cells (not its caption); a figure box spans its panels
and their sub-labels.

Determinism: everything is drawn from the page's ``numpy`` generator; the equation bank is
rendered once per process from a fixed seed.
"""

from __future__ import annotations

import functools
import os
import re
from io import BytesIO

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pagedata.docbank import GroupingParams
from pagedata.synthetic_render import font_dir

Box = tuple[float, float, float, float]
TEXT, TITLE, LIST, TABLE, FIGURE = 1, 2, 3, 4, 5

# Bump whenever a change alters the generated pixels or boxes of this style.
VERSION = 4  # 4: display formulas spaced as on the DocBank pages and joined to a paragraph as
# closely spaced as the converter joins them; consecutive paragraphs always indented; section
# titles tight under the text above on half the pages
# 3: text boxes span the font's em box (PDF text boxes) instead of the ink, lists
# and references included; denser tables with hairline rules
# 2: one-line paragraphs, short 'where ...' blocks after equations, fewer lists

# family -> (regular, bold, italic) font files bundled with matplotlib
FAMILIES = {
    "cm": ("cmr10.ttf", "cmb10.ttf", "cmr10.ttf"),
    "stix": ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf"),
    "dejavu_serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"),
    "dejavu_sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
}
_FAMILY_P = (("cm", 0.5), ("stix", 0.32), ("dejavu_serif", 0.1), ("dejavu_sans", 0.08))
ASPECTS = ((8.5 / 11.0, 792.0, 0.6), (210.0 / 297.0, 842.0, 0.4))  # letter, A4: (w/h, pt, p)

_INK = (0, 0, 0)
_TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip
_LINK = [(0, 0, 200), (200, 0, 0), (0, 140, 0)]


# ------------------------------------------------------------------------------------ text source

_FALLBACK = (
    "the of and a to in is that for it as with on be by this are from an or at which not can "
    "model data method results we our two each these between layout page figure table section "
    "document detection teacher student network training image feature region distribution"
).split()


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[str, ...]:
    """English prose tokens: the text of Python's documentation topics (``pydoc_data``)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # pragma: no cover - stripped CPython builds
        return tuple(_FALLBACK * 50)
    words = []
    for key in sorted(topics):
        for line in topics[key].splitlines():
            s = line.strip()
            # prose lines only: no code, tables or reST markup
            if not s or s.startswith((">>>", "...", "*", "+", "|", "=", "-", ".. ")) or "_" in s:
                continue
            for tok in s.split():
                tok = tok.strip("\"`*'")
                if re.fullmatch(r"\(?[A-Za-z][a-z]*(?:-[a-z]+)?[.,;:)]?", tok):
                    words.append(tok)
    return tuple(words) if len(words) > 1000 else tuple(_FALLBACK * 50)


class _Words:
    """A reader of the corpus from a random position (sentences stay sentences)."""

    def __init__(self, rng: np.random.Generator):
        self.c = corpus()
        self.i = int(rng.integers(len(self.c)))

    def next(self) -> str:
        self.i = (self.i + 1) % len(self.c)
        return self.c[self.i]

    def phrase(self, n: int, title: bool = False) -> list[str]:
        out = [self.next().strip(".,;:()") or "data" for _ in range(n)]
        out = [w for w in out if w] or ["Results"]
        if title:
            out = [w.capitalize() if (len(w) > 3 or i == 0) else w for i, w in enumerate(out)]
        return out


# ------------------------------------------------------------------------------------ glyphs


@functools.lru_cache(maxsize=64)
def _font(file: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(os.path.join(font_dir(), file), size=max(int(size), 4))


_MASKS: dict[tuple[str, int, str], tuple[Image.Image, tuple[int, int, int, int], int, int]] = {}


def _mask(file: str, size: int, text: str):
    """(L mask, ink box in the mask, advance width, ascent) of one word; cached per process."""
    key = (file, size, text)
    hit = _MASKS.get(key)
    if hit is not None:
        return hit
    if len(_MASKS) > 60000:
        _MASKS.clear()
    font = _font(file, size)
    ascent, descent = font.getmetrics()
    width = max(int(round(font.getlength(text))), 1)
    m = Image.new("L", (width + size // 2 + 2, ascent + descent + 2), 0)
    ImageDraw.Draw(m).text((1, 1), text, fill=255, font=font)
    ink = m.getbbox() or (0, 0, 1, 1)
    out = (m, ink, width, ascent)
    _MASKS[key] = out
    return out


@functools.cache
def _em_rows(file: str, size: int) -> tuple[int, int]:
    """Top and bottom row, in a ``_mask`` image, of the font's 1-em text box.

    PDF extractors (PDFMiner, which made DocBank's and PubLayNet's boxes) give a glyph the box
    from ``baseline + descent`` up one font size, whatever its ink: on the DocBank pages a
    token's box reaches 0.15 of its height above the ascenders and, without descenders, 0.19
    below the baseline. Boxes built from ink alone are that much thinner, which costs a one-line
    block (a section title) its IoU against real annotations.
    """
    bottom = 1 + _font(file, size).getbbox("gjpqy", anchor="la")[3]
    return bottom - max(int(size), 4), bottom


def _union(boxes: list[Box]) -> Box:
    a = np.asarray(boxes, dtype=float)
    return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max()))


# ------------------------------------------------------------------------------------ equations

_GREEK = [r"\alpha", r"\beta", r"\gamma", r"\delta", r"\epsilon", r"\theta", r"\lambda", r"\mu",
          r"\nu", r"\pi", r"\rho", r"\sigma", r"\tau", r"\phi", r"\psi", r"\omega", r"\Omega",
          r"\Gamma", r"\Delta", r"\Phi"]  # fmt: skip
_LAT = list("abcdefghkmnpqrstuvwxyzABCDEFGHLMNPRSTUVWXZ")


def _atom(r: np.random.Generator, depth: int = 0) -> str:
    k = r.random()
    v = str(r.choice(_GREEK if r.random() < 0.35 else _LAT))
    if k < 0.35:
        return v + (f"_{{{r.choice(_LAT[:14])}}}" if r.random() < 0.5 else "")
    if k < 0.5:
        return v + f"^{{{int(r.integers(2, 4))}}}"
    if k < 0.6:
        return f"{r.integers(1, 100)}"
    if k < 0.72 and depth < 1:
        return rf"\frac{{{_expr(r, 2, depth + 1)}}}{{{_expr(r, 2, depth + 1)}}}"
    if k < 0.8 and depth < 1:
        return rf"\sqrt{{{_expr(r, 2, depth + 1)}}}"
    if k < 0.9 and depth < 1:
        return rf"\left({_expr(r, 3, depth + 1)}\right)"
    if k < 0.95:
        return rf"\hat{{{v}}}"
    return rf"\mathbf{{{r.choice(_LAT)}}}"


def _expr(r: np.random.Generator, n: int, depth: int = 0) -> str:
    ops = ["+", "-", r"\cdot", "", "", r"\,"]
    parts = [_atom(r, depth)]
    for _ in range(int(r.integers(1, n + 1)) - 1):
        parts += [str(r.choice(ops)), _atom(r, depth)]
    return " ".join(parts)


def _formula(r: np.random.Generator) -> str:
    lhs = _atom(r, 1)
    big = ""
    if r.random() < 0.45:
        big = str(r.choice([r"\sum_{i=1}^{N}", r"\int_{0}^{\infty}", r"\prod_{k}", r"\sum_{j}",
                            r"\int d^{3}x\,", r"\max_{\theta}"]))  # fmt: skip
    rel = str(r.choice(["=", "=", "=", r"\leq", r"\approx", r"\equiv"]))
    rhs = _expr(r, 4)
    tail = (
        rf", \quad {r.choice(_LAT)} \in \mathcal{{{r.choice(list('ABCDRS'))}}}"
        if r.random() < 0.15
        else ""
    )
    return f"${lhs} {rel} {big} {rhs}{tail}$"


_EQ_PX = 30  # font size (px) the bank is rendered at


@functools.lru_cache(maxsize=1)
def equation_bank() -> tuple[Image.Image, ...]:
    """48 display formulas rendered once per process with matplotlib's mathtext (Computer Modern)
    as L masks at a 30 px font size; formulas come from a fixed-seed grammar."""
    import matplotlib
    from matplotlib.mathtext import math_to_image

    r = np.random.default_rng(20240211)
    out = []
    with matplotlib.rc_context({"mathtext.fontset": "cm"}):
        for _ in range(48):
            buf = BytesIO()
            s = _formula(r)
            try:
                math_to_image(s, buf, dpi=_EQ_PX * 72 / 10, format="png")
            except Exception:  # noqa: BLE001 - a formula mathtext cannot set: skip it
                continue
            im = Image.open(BytesIO(buf.getvalue()))
            a = np.asarray(im.convert("RGBA"))
            alpha = a[..., 3].astype(np.float32) * (1 - a[..., :3].mean(-1) / 255.0)
            m = Image.fromarray(np.clip(alpha, 0, 255).astype(np.uint8), "L")
            box = m.getbbox()
            if box:
                out.append(m.crop(box))
    return tuple(out)


# ------------------------------------------------------------------------------------ the page


class RealPage:
    """One page drawn at ``ss`` times its output size; blocks in output-size pixels at the end."""

    def __init__(self, rng: np.random.Generator, image_size: int):
        self.rng = r = rng
        k = int(r.choice(len(ASPECTS), p=[a[2] for a in ASPECTS]))
        aspect, points, _ = ASPECTS[k]
        self.out_h = int(image_size)
        self.out_w = int(round(image_size * aspect))
        self.ss = max(1, int(round(1000 / image_size)))
        self.h, self.w = self.out_h * self.ss, self.out_w * self.ss
        self.pt = self.h / points  # pixels per typographic point
        names = [f for f, _ in _FAMILY_P]
        fam = FAMILIES[str(r.choice(names, p=[p for _, p in _FAMILY_P]))]
        self.reg, self.bold, self.ital = fam
        body_pt = float(r.choice([9.0, 10.0, 11.0, 12.0], p=[0.12, 0.55, 0.18, 0.15]))
        self.size = max(int(round(body_pt * self.pt)), 5)
        self.small = max(int(round(self.size * 0.85)), 4)
        lead = 2.0 if r.random() < 0.07 else r.uniform(1.12, 1.3)
        self.lh = int(round(self.size * lead))
        self.justify = r.random() < 0.9
        self.indent_paras = r.random() < 0.75  # LaTeX: first-line indent, no gap
        self.parindent = self.size * r.uniform(1.0, 2.0)
        # On the DocBank pages half the section titles sit within 0.4 body sizes of the text
        # above them (IEEE and other tight two-column styles), most others 1.5-3 sizes below
        # it (scripts/block_gaps.py); _flow draws 0-0.35 or 1.3-3.2.
        self.tight_titles = r.random() < 0.5
        self.revtex = r.random() < 0.3  # centred upper-case section titles "II. METHODS"
        self.numbered = r.random() < 0.8
        self.sec = [int(r.integers(1, 6)), 0]
        self.fig_no, self.tab_no, self.eq_no = (int(r.integers(1, 8)) for _ in range(3))
        self.links = r.random() < 0.25
        self.words = _Words(r)
        self.image = Image.new("RGB", (self.w, self.h), (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.blocks: list[tuple[int, Box]] = []
        self.last_box: Box | None = None

    # ------------------------------------------------------------------ text primitives

    def word(self, x: float, y: float, text: str, file: str, size: int, color=_INK) -> Box:
        """Draw ``text`` with its top-of-line at y; returns its box: the ink's columns, the
        font's em box rows (``_em_rows``, as a PDF's text box) or the ink's where it is taller."""
        m, ink, _, _ = _mask(file, size, text)
        top, bottom = _em_rows(file, size)
        ix, iy = int(round(x)), int(round(y))
        self.image.paste(color, (ix, iy, ix + m.width, iy + m.height), m)
        return (ix + ink[0], iy + min(ink[1], top), ix + ink[2], iy + max(ink[3], bottom))

    def width(self, text: str, file: str, size: int) -> int:
        return _mask(file, size, text)[2]

    def line(self, x, y, w, words: list[str], file, size, justify, color=_INK) -> Box | None:
        space = size * 0.33
        ws = [self.width(t, file, size) for t in words]
        gap = space
        if justify and len(words) > 1:
            gap = (w - sum(ws)) / (len(words) - 1)
        boxes, cx = [], float(x)
        for t, tw in zip(words, ws):
            c = color
            if self.links and color == _INK and self.rng.random() < 0.015:
                c = _LINK[int(self.rng.integers(len(_LINK)))]
            boxes.append(self.word(cx, y, t, file, size, c))
            cx += tw + gap
        return _union(boxes) if boxes else None

    def fill_lines(self, w: float, n: int, file: str, size: int, first_indent=0.0, hang=0.0):
        """Break corpus words into ``n`` lines of width w (the last one partly filled)."""
        space = size * 0.33
        lines, cur, used = [], [], 0.0
        last_fill = self.rng.uniform(0.15, 0.95)
        while len(lines) < n:
            lw = w - (first_indent if not lines else hang)
            if len(lines) == n - 1:
                lw *= last_fill
            t = self.words.next()
            tw = self.width(t, file, size)
            extra = tw + (space if cur else 0)
            if used + extra > lw and cur:
                lines.append(cur)
                cur, used = [], 0.0
                extra = tw
            if tw > lw and not cur:
                continue
            cur.append(t)
            used += extra
        return lines

    def paragraph(self, x, y, w, ymax, n=None, size=None, file=None, cat=TEXT,
                  first_indent=None, hang=0.0, prefix=None, center=False) -> int:  # fmt: skip
        """A justified paragraph; returns the height used (0: nothing fitted)."""
        self.last_box = None
        size = size or self.size
        file = file or self.reg
        lh = self.lh if size == self.size else int(round(size * self.lh / self.size))
        if n is None:
            # real pages have many one- and two-line text blocks (short paragraphs, lines
            # between equations); they are the blocks a 320-px detector finds hardest
            one = self.rng.random() < 0.15
            n = 1 if one else int(np.clip(self.rng.geometric(0.11), 2, 18))
        n = min(n, int((ymax - y) // lh))
        if n < 1:
            return 0
        if first_indent is None:
            # an unindented paragraph straight below another would be invisible as a new one
            first_indent = self.parindent if self.indent_paras else 0
        pre_w = sum(self.width(t, f, size) + size * 0.33 for t, f in prefix or ())
        lines = self.fill_lines(w, n, file, size, first_indent + pre_w, hang)
        boxes = []
        for i, ws in enumerate(lines):
            x0 = x + (first_indent if i == 0 else hang)
            lw = w - (x0 - x)
            last = i == len(lines) - 1
            if i == 0 and prefix:
                for t, f in prefix:
                    boxes.append(self.word(x0, y, t, f, size))
                    x0 += self.width(t, f, size) + size * 0.33
                lw = w - (x0 - x)
            if center and len(lines) == 1:
                tw = sum(self.width(t, file, size) for t in ws) + size * 0.33 * (len(ws) - 1)
                x0 = x + (w - tw) / 2
            b = self.line(x0, y + i * lh, lw, ws, file, size, self.justify and not last)
            if b:
                boxes.append(b)
        # the lines' box, for callers that make their own block of it (cat=0: list items,
        # references)
        self.last_box = _union(boxes) if boxes else None
        if boxes and cat:
            self.blocks.append((cat, self.last_box))
        return len(lines) * lh

    # ------------------------------------------------------------------ blocks

    def section_title(self, x, y, w, ymax) -> int:
        r = self.rng
        sub = r.random() < 0.4 and not self.revtex
        if sub:
            self.sec[1] += 1
        else:
            self.sec = [self.sec[0] + 1, 0]
        words = self.words.phrase(int(r.integers(1, 6)), title=True)
        size = self.size if sub else int(round(self.size * r.uniform(1.0, 1.45)))
        if self.revtex:
            words = [t.upper() for t in words]
            size = self.size
            num = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"][min(self.sec[0], 8) - 1] + "."
        else:
            num = f"{self.sec[0]}.{self.sec[1]}" if sub else f"{self.sec[0]}"
        if self.numbered or self.revtex:
            words = [num] + words
        lh = int(size * 1.25)
        if y + lh > ymax:
            return 0
        tw = sum(self.width(t, self.bold, size) for t in words) + size * 0.4 * (len(words) - 1)
        if tw > w:
            words = words[: max(2, len(words) // 2)]
            tw = sum(self.width(t, self.bold, size) for t in words) + size * 0.4 * (len(words) - 1)
        x0 = x + (w - tw) / 2 if self.revtex else x
        b = self.line(x0, y, tw, words, self.bold, size, False)
        if b is None:
            return 0
        self.blocks.append((TITLE, b))
        return lh

    def equation(self, x, y, w, ymax) -> int:
        r = self.rng
        bank = equation_bank()
        if not bank:
            return 0
        rows = 1 if r.random() < 0.75 else int(r.integers(2, 4))
        scale = self.size / _EQ_PX * r.uniform(0.95, 1.1)
        numbered = r.random() < 0.7
        num_w = self.width(f"({self.eq_no})", self.reg, self.size) if numbered else 0
        boxes, used = [], 0
        for _ in range(rows):
            m = bank[int(r.integers(len(bank)))]
            mw, mh = max(int(m.width * scale), 1), max(int(m.height * scale), 1)
            if mw > w - 2 * num_w - self.size:
                f = (w - 2 * num_w - self.size) / mw
                if f < 0.5:
                    continue
                mw, mh = int(mw * f), max(int(mh * f), 1)
            if y + used + mh > ymax:
                break
            mm = m.resize((mw, mh), Image.LANCZOS)
            ex = int(x + (w - mw) / 2)
            ey = int(y + used)
            self.image.paste(_INK, (ex, ey, ex + mw, ey + mh), mm)
            b = mm.getbbox()
            if b:
                boxes.append((ex + b[0], ey + b[1], ex + b[2], ey + b[3]))
            if numbered:
                nb = self.word(x + w - num_w, ey + mh / 2 - self.size * 0.6, f"({self.eq_no})",
                               self.reg, self.size)  # fmt: skip
                self.eq_no += 1
                boxes.append(nb)
            used += mh + int(self.size * 0.5)
        if not boxes:
            return 0
        self.blocks.append((TEXT, _union(boxes)))
        return used - int(self.size * 0.5)

    def join_display(self) -> None:
        """Make the last two blocks (text, one of them a display formula, the second straight
        below the first) one block when they are as close as the DocBank converter joins
        blocks: the leading plus ``block_gap`` body sizes (``pagedata.docbank``, step 4)."""
        (c0, a), (c1, b) = self.blocks[-2:]
        join = self.lh - self.size + GroupingParams.block_gap * self.size
        if c0 == c1 == TEXT and b[1] - a[3] <= join:
            self.blocks[-2:] = [(TEXT, _union([a, b]))]

    def listing(self, x, y, w, ymax) -> int:
        r = self.rng
        kind = str(r.choice(["bullet", "number", "paren", "dash"], p=[0.45, 0.3, 0.15, 0.1]))
        hang = self.size * r.uniform(1.5, 2.6)
        x_lab = x + (r.uniform(0, 1.5) * self.size if r.random() < 0.6 else 0)
        boxes, used = [], 0
        gap = int(self.lh * r.uniform(0.0, 0.5))
        for k in range(int(r.integers(2, 7))):
            n = int(np.clip(r.geometric(0.5), 1, 4))
            if y + used + n * self.lh > ymax:
                break
            ty = y + used
            if kind == "bullet":
                rad = self.size * 0.17
                cx, cy = x_lab + rad + self.size * 0.2, ty + self.size * 0.55
                self.draw.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=_INK)
                boxes.append((cx - rad, cy - rad, cx + rad + 1, cy + rad + 1))
            else:
                lab = {"number": f"{k + 1}.", "paren": f"({'abcdefg'[k]})", "dash": "–"}[kind]
                boxes.append(self.word(x_lab, ty, lab, self.reg, self.size))
            used += self.paragraph(x_lab + hang, ty, w - (x_lab - x) - hang, ymax, n=n,
                                   first_indent=0, cat=0) + gap  # fmt: skip
            boxes.append(self.last_box)
        boxes = [b for b in boxes if b is not None]
        if len(boxes) < 4:
            return 0
        self.blocks.append((LIST, _union(boxes)))
        return used - gap

    def caption(self, x, y, w, ymax, kind: str) -> int:
        r = self.rng
        if kind == "figure":
            lab = str(r.choice(["Figure", "Fig.", "FIG."])) + f" {self.fig_no}"
            self.fig_no += 1
        else:
            lab = str(r.choice(["Table", "TABLE"])) + f" {self.tab_no}"
            self.tab_no += 1
        lab += str(r.choice([":", ".", ""]))
        f = self.bold if r.random() < 0.5 else self.reg
        n = int(np.clip(r.geometric(0.45), 1, 5))
        return self.paragraph(x, y, w, ymax, n=n, size=self.small if r.random() < 0.7 else self.size,
                              first_indent=0, prefix=[(lab, f)], center=n == 1)  # fmt: skip

    def reference(self, x, y, w, ymax, k: int) -> int:
        lab = f"[{k}]"
        hang = self.size * 2.2
        size = self.small
        lw = self.width(lab, self.reg, size)
        n = int(self.rng.integers(2, 4))
        used = self.paragraph(x + hang, y, w - hang, ymax, n=n, size=size, first_indent=0, cat=0)
        if not used:
            return 0
        b = self.word(x + hang - lw - size * 0.5, y, lab, self.reg, size)
        self.blocks.append((TEXT, _union([b, self.last_box] if self.last_box else [b])))
        return used

    # ------------------------------------------------------------------ floats

    def figure(self, x, y, w, ymax, full=False) -> int:
        r = self.rng
        fw = int(w * (r.uniform(0.55, 1.0) if not full else r.uniform(0.7, 1.0)))
        fh = int(fw * r.uniform(0.4, 0.85))
        cap_room = 3 * self.lh
        fh = min(fh, int(ymax - y - cap_room - self.lh))
        if fh < self.h * 0.08:
            return 0
        fx = int(x + (w - fw) / 2)
        box = draw_figure(self, (fx, int(y), fx + fw, int(y) + fh))
        if box is None:
            return 0
        self.blocks.append((FIGURE, box))
        used = int(box[3] - y) + int(self.lh * r.uniform(0.6, 1.2))
        used += self.caption(x, y + used, w, ymax, "figure")
        return used

    def table(self, x, y, w, ymax) -> int:
        used = self.caption(x, y, w, ymax - 4 * self.lh, "table")
        if not used:
            return 0
        used += int(self.lh * 0.4)
        box = draw_table(self, x, y + used, w, ymax)
        if box is None:
            return used  # the caption alone is an honest text block
        self.blocks.append((TABLE, box))
        return int(box[3] - y)

    # ------------------------------------------------------------------ furniture (unannotated)

    def furniture(self, top, bottom, x0, x1) -> int:
        """Running header, page number, footnotes; returns the new bottom of the text area."""
        r = self.rng
        size = self.small
        if r.random() < 0.35:
            words = self.words.phrase(int(r.integers(2, 7)), title=True)
            f = self.ital if r.random() < 0.5 else self.reg
            tw = sum(self.width(t, f, size) for t in words) + size * 0.33 * (len(words) - 1)
            hx = x0 if r.random() < 0.4 else (x0 + x1 - tw) / 2
            self.line(hx, top - 2.2 * self.lh, tw, words, f, size, False)
            if r.random() < 0.5:
                self.word(
                    x1 - size * 1.5, top - 2.2 * self.lh, str(r.integers(1, 40)), self.reg, size
                )
            if r.random() < 0.3:
                yy = top - 0.8 * self.lh
                self.draw.line((x0, yy, x1, yy), fill=_INK, width=max(1, self.ss // 2))
        if r.random() < 0.8:
            num = str(int(r.integers(1, 40)))
            if r.random() < 0.2:
                num = f"- {num} -"
            tw = self.width(num, self.reg, size)
            self.word((x0 + x1 - tw) / 2, bottom + 1.8 * self.lh, num, self.reg, size)
        if r.random() < 0.15:  # footnotes: small lines above the bottom margin after a short rule
            n = int(r.integers(1, 4))
            flh = int(size * 1.2)
            fy = bottom - n * flh
            self.draw.line((x0, fy - 0.5 * flh, x0 + (x1 - x0) * 0.3, fy - 0.5 * flh),
                           fill=_INK, width=max(1, self.ss // 2))  # fmt: skip
            self.paragraph(
                x0, fy, x1 - x0, fy + n * flh + self.lh, n=n, size=size, first_indent=size, cat=0
            )
            return int(fy - 1.5 * flh)
        return bottom


# ------------------------------------------------------------------------------------ figures


def _field(r: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Smooth random field in 0..1 (a heat map, micrograph or photo stand-in)."""
    acc = np.zeros((h, w), np.float32)
    for octave, amp in ((3, 1.0), (7, 0.5), (17, 0.25)):
        lo = r.random((octave, octave)).astype(np.float32)
        acc += amp * np.asarray(Image.fromarray(lo).resize((w, h), Image.BICUBIC))
    acc -= acc.min()
    return acc / (acc.max() + 1e-6)


def _colormap(v: np.ndarray, kind: str) -> np.ndarray:
    if kind == "gray":
        g = (v * 235).astype(np.uint8)
        return np.stack([g, g, g], -1)
    # viridis-like / jet-like ramps
    stops = {
        "viridis": [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)],
        "jet": [(0, 0, 143), (0, 128, 255), (128, 255, 128), (255, 128, 0), (128, 0, 0)],
        "hot": [(10, 0, 0), (200, 0, 0), (255, 160, 0), (255, 255, 120), (255, 255, 250)],
    }[kind]
    s = np.asarray(stops, np.float32)
    t = v * (len(s) - 1)
    i = np.clip(t.astype(int), 0, len(s) - 2)
    f = (t - i)[..., None]
    return (s[i] * (1 - f) + s[i + 1] * f).astype(np.uint8)


def _num(r: np.random.Generator) -> str:
    k = r.random()
    if k < 0.4:
        return str(int(r.integers(0, 100)))
    if k < 0.8:
        return f"{r.uniform(0, 10):.1f}"
    return f"{r.uniform(0, 1):.2f}"


def _panel(p: RealPage, rect, kind: str) -> None:
    """One plot panel in rect (supersampled pixels)."""
    r, d = p.rng, p.draw
    x0, y0, x1, y1 = (int(v) for v in rect)
    w, h = x1 - x0, y1 - y0
    ts = max(int(p.small * r.uniform(0.75, 1.0)), 4)
    lw = max(1, int(round(p.ss * r.uniform(0.4, 0.9))))
    if kind in ("heat", "photo"):
        v = _field(r, w, h)
        cm = "gray" if kind == "photo" else str(r.choice(["viridis", "jet", "hot", "gray"]))
        p.image.paste(Image.fromarray(_colormap(v, cm)), (x0, y0))
        if r.random() < 0.6:
            d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=_INK, width=lw)
        return
    ylab = r.random() < 0.8
    ax0 = x0 + int(ts * (3.2 if ylab else 2.2))
    ay1 = y1 - int(ts * (2.6 if r.random() < 0.8 else 1.5))
    ax1, ay0 = x1 - int(ts * 0.5), y0 + int(ts * 0.5)
    if ax1 - ax0 < 4 * ts or ay1 - ay0 < 4 * ts:
        return
    frame = r.random() < 0.75
    if r.random() < 0.25:  # light grid
        for t in np.linspace(0, 1, 5)[1:-1]:
            gx, gy = ax0 + t * (ax1 - ax0), ay1 - t * (ay1 - ay0)
            d.line((gx, ay0, gx, ay1), fill=(220, 220, 220), width=lw)
            d.line((ax0, gy, ax1, gy), fill=(220, 220, 220), width=lw)
    if frame:
        d.rectangle((ax0, ay0, ax1, ay1), outline=_INK, width=lw)
    else:
        d.line((ax0, ay0, ax0, ay1, ax1, ay1), fill=_INK, width=lw)
    nt = int(r.integers(3, 7))
    for t in np.linspace(0, 1, nt):
        tx, ty = ax0 + t * (ax1 - ax0), ay1 - t * (ay1 - ay0)
        d.line((tx, ay1, tx, ay1 - ts * 0.4), fill=_INK, width=lw)
        d.line((ax0, ty, ax0 + ts * 0.4, ty), fill=_INK, width=lw)
        s = _num(r)
        sw = p.width(s, p.reg, ts)
        p.word(tx - sw / 2, ay1 + ts * 0.2, s, p.reg, ts)
        s = _num(r)
        sw = p.width(s, p.reg, ts)
        p.word(ax0 - sw - ts * 0.3, ty - ts * 0.6, s, p.reg, ts)
    if r.random() < 0.8:  # x axis label
        words = p.words.phrase(int(r.integers(1, 3)), title=True)
        tw = sum(p.width(t, p.reg, ts) for t in words) + ts * 0.33 * (len(words) - 1)
        p.line((ax0 + ax1 - tw) / 2, ay1 + ts * 1.3, tw, words, p.reg, ts, False)
    if ylab:
        t = p.words.phrase(1, title=True)[0]
        m, ink, _, _ = _mask(p.reg, ts, t)
        mr = m.rotate(90, expand=True)
        yy = int((ay0 + ay1 - mr.height) / 2)
        if yy > y0:
            p.image.paste(_INK, (x0, yy, x0 + mr.width, yy + mr.height), mr)
    colors = _TAB10 if r.random() < 0.75 else [_INK, (90, 90, 90), (150, 150, 150)]
    iw, ih = ax1 - ax0 - 2 * lw, ay1 - ay0 - 2 * lw
    if kind == "bars":
        n, g = int(r.integers(3, 10)), int(r.integers(1, 4))
        bw = iw / (n * (g + 1))
        for i in range(n):
            for j in range(g):
                bx = ax0 + lw + bw * (i * (g + 1) + j + 0.5)
                bh = r.uniform(0.1, 0.95) * ih
                d.rectangle((bx, ay1 - bh, bx + bw, ay1 - lw), fill=colors[j % len(colors)],
                            outline=_INK if r.random() < 0.5 else None)  # fmt: skip
    elif kind == "scatter":
        for j in range(int(r.integers(1, 4))):
            n = int(r.integers(15, 80))
            cx, cy = r.uniform(0.2, 0.8, 2)
            xs = np.clip(r.normal(cx, 0.18, n), 0.02, 0.98)
            ys = np.clip(r.normal(cy, 0.18, n), 0.02, 0.98)
            rad = p.ss * r.uniform(0.6, 1.3)
            for a, b in zip(xs, ys):
                px, py = ax0 + a * iw, ay1 - b * ih
                d.ellipse((px - rad, py - rad, px + rad, py + rad), fill=colors[j % len(colors)])
    else:  # line plot
        n = int(r.integers(12, 60))
        xs = np.linspace(ax0 + lw * 2, ax1 - lw * 2, n)
        shape = r.random()
        for j in range(int(r.integers(1, 5))):
            t = np.linspace(0, 1, n)
            if shape < 0.4:
                yv = np.exp(-t * r.uniform(1, 5)) * r.uniform(0.5, 1) + r.uniform(0, 0.3)
            elif shape < 0.7:
                yv = 0.5 + 0.35 * np.sin(t * r.uniform(2, 12) + r.uniform(0, 6)) * np.exp(
                    -t * r.uniform(0, 2)
                )
            else:
                yv = np.cumsum(r.normal(0, 1, n))
                yv = (yv - yv.min()) / (np.ptp(yv) + 1e-6)
            yv = np.clip(yv + r.normal(0, 0.01, n), 0.02, 0.98)
            ys = ay1 - lw * 2 - yv * (ih - 2 * lw)
            c = colors[j % len(colors)]
            d.line(list(zip(xs.tolist(), ys.tolist())), fill=c, width=lw + int(r.random() < 0.5))
            if r.random() < 0.4:
                rad = p.ss * 0.9
                for a, b in list(zip(xs, ys))[:: max(1, n // 10)]:
                    d.rectangle((a - rad, b - rad, a + rad, b + rad), outline=c, width=lw)
        if r.random() < 0.6:  # legend
            k = int(r.integers(1, 4))
            lx, ly = ax1 - iw * 0.42, ay0 + ts * 0.5
            if r.random() < 0.5:
                d.rectangle((lx - ts * 0.3, ly - ts * 0.2, ax1 - ts * 0.3, ly + k * ts * 1.3),
                            outline=(120, 120, 120), width=lw)  # fmt: skip
            for j in range(k):
                yy = ly + j * ts * 1.3 + ts * 0.6
                d.line((lx, yy, lx + ts * 1.5, yy), fill=colors[j % len(colors)], width=lw + 1)
                t = p.words.next().strip(".,;:()") or "data"
                if lx + ts * 1.8 + p.width(t, p.reg, ts) < ax1:
                    p.word(lx + ts * 1.8, yy - ts * 0.6, t, p.reg, ts)


def _diagram(p: RealPage, rect) -> None:
    r, d = p.rng, p.draw
    x0, y0, x1, y1 = (int(v) for v in rect)
    w, h = x1 - x0, y1 - y0
    rows, cols = int(r.integers(1, 4)), int(r.integers(2, 6))
    bw, bh = w / cols * 0.62, min(h / rows * 0.5, p.size * 3.5)
    lw = max(1, p.ss // 2)
    col = _TAB10[int(r.integers(10))] if r.random() < 0.5 else None
    centres = []
    for i in range(rows):
        for j in range(cols):
            if r.random() < 0.15:
                continue
            cx, cy = x0 + (j + 0.5) * w / cols, y0 + (i + 0.5) * h / rows
            box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
            fill = tuple(int(v * 0.3 + 178) for v in col) if col and r.random() < 0.6 else None
            if r.random() < 0.5:
                d.rounded_rectangle(box, radius=bh * 0.2, outline=_INK, width=lw, fill=fill)
            else:
                d.rectangle(box, outline=_INK, width=lw, fill=fill)
            t = p.words.phrase(1, title=True)[0]
            ts = p.small
            tw = p.width(t, p.reg, ts)
            if tw < bw * 0.9:
                p.word(cx - tw / 2, cy - ts * 0.65, t, p.reg, ts)
            centres.append((cx, cy, i, j))
    for a, b in zip(centres, centres[1:]):
        if a[2] == b[2]:  # arrow to the right
            sx, ex, yy = a[0] + bw / 2, b[0] - bw / 2, a[1]
            d.line((sx, yy, ex, yy), fill=_INK, width=lw)
            s = p.size * 0.35
            d.polygon([(ex, yy), (ex - s, yy - s * 0.6), (ex - s, yy + s * 0.6)], fill=_INK)


def draw_figure(p: RealPage, rect) -> Box | None:
    """A paper figure in rect; returns its ink box (sub-labels included) or None."""
    r = p.rng
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    kind = str(r.choice(["plot", "multi", "bars", "scatter", "heat", "photo", "diagram"],
                        p=[0.28, 0.2, 0.1, 0.1, 0.1, 0.1, 0.12]))  # fmt: skip
    if kind == "diagram":
        _diagram(p, rect)
    elif kind == "multi":
        cols = int(r.integers(2, 4)) if w > h * 1.3 else int(r.integers(1, 3))
        rows = 1 if cols > 2 or r.random() < 0.6 else 2
        sub = r.random() < 0.7
        lab_h = p.small * 1.6 if sub else 0
        pw, ph = w / cols, h / rows
        pk = str(r.choice(["plot", "plot", "scatter", "heat", "photo", "bars"]))
        for i in range(rows):
            for j in range(cols):
                px, py = x0 + j * pw, y0 + i * ph
                _panel(p, (px + pw * 0.03, py, px + pw * 0.97, py + ph - lab_h), pk)
                if sub:
                    lab = f"({'abcdefghij'[i * cols + j]})"
                    lw_ = p.width(lab, p.reg, p.small)
                    p.word(px + (pw - lw_) / 2, py + ph - lab_h, lab, p.reg, p.small)
    else:
        _panel(p, rect, kind)
    a = np.asarray(p.image.crop((x0, y0, x1, y1)).convert("L")) < 245
    ys, xs = np.nonzero(a)
    if len(xs) < 20:
        return None
    return (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)


def draw_table(p: RealPage, x, y, w, ymax) -> Box | None:
    r = p.rng
    size = p.small if r.random() < 0.7 else p.size
    # LaTeX's tabular: rows one baselineskip apart (\arraystretch 1-1.25), often many of them
    rh = int(size * r.uniform(1.15, 1.5))
    rows = min(int(r.integers(3, 18)), int((ymax - y) // rh) - 1)
    if rows < 2:
        return None
    cols = int(r.integers(2, 8))
    cells = []
    for i in range(rows):
        row = []
        for j in range(cols):
            if i == 0:
                t = " ".join(p.words.phrase(int(r.integers(1, 3)), title=True))
            elif j == 0:
                t = " ".join(p.words.phrase(int(r.integers(1, 3))))
            else:
                t = _num(r) if r.random() < 0.85 else f"{_num(r)}±{_num(r)}"
            row.append(t)
        cells.append(row)
    pad = size * r.uniform(0.8, 1.6)
    colw = [max(sum(p.width(t, p.reg, size) for t in c.split()) + size * 0.33 * c.count(" ")
                for c in (cells[i][j] for i in range(rows))) + pad for j in range(cols)]  # fmt: skip
    tw = sum(colw)
    if tw > w:
        if cols <= 2:
            return None
        f = w / tw
        if f < 0.7:
            return None
        colw = [c * f for c in colw]
        tw = w
    tx = x + (w - tw) / 2
    style = str(r.choice(["booktabs", "grid", "plain"], p=[0.55, 0.3, 0.15]))
    # booktabs' rules are 0.05-0.08 em: hairlines, a faint grey line once the page is reduced
    lw = max(1, int(round(p.ss * 0.3)))
    d = p.draw
    y1 = y + rows * rh
    if style != "plain":
        d.line((tx, y, tx + tw, y), fill=_INK, width=lw * (2 if style == "booktabs" else 1))
        d.line((tx, y1, tx + tw, y1), fill=_INK, width=lw * (2 if style == "booktabs" else 1))
    boxes = [(tx, y, tx + tw, y + lw)] if style != "plain" else []
    for i in range(rows):
        if i == 1 or (style == "grid" and i > 0):
            d.line((tx, y + i * rh, tx + tw, y + i * rh), fill=_INK, width=lw)
        cx = tx
        for j in range(cols):
            words = cells[i][j].split()
            f = p.bold if i == 0 and r.random() < 0.4 else p.reg
            cw = sum(p.width(t, f, size) for t in words) + size * 0.33 * (len(words) - 1)
            left = j == 0 and r.random() < 0.7
            bx = cx + pad / 2 if left else cx + (colw[j] - cw) / 2
            b = p.line(bx, y + i * rh + (rh - size * 1.15) / 2, cw, words, f, size, False)
            if b:
                boxes.append(b)
            cx += colw[j]
    if style == "grid":
        cx = tx
        for j in range(cols + 1):
            d.line((cx, y, cx, y1), fill=_INK, width=lw)
            cx += colw[j] if j < cols else 0
    if style != "plain":
        boxes.append((tx, y1 - lw, tx + tw, y1 + lw))
    return _union(boxes)


# ------------------------------------------------------------------------------------ layout


def _display_gap(p: RealPage) -> float:
    """Space between a display formula's box and its paragraph's. On the 80 DocBank pages it is
    1.0 / 1.3 / 1.9 / 2.5 / 3.6 body sizes at the 10/25/50/75/90th percentiles, above and below
    alike (\\abovedisplayskip plus the formula's own white space): this log-normal."""
    return p.size * float(np.clip(p.rng.lognormal(np.log(1.9), 0.45), 0.4, 5.0))


def _flow(p: RealPage, x: int, y: int, w: int, bottom: int, refs: bool, floats: bool) -> None:
    """Fill one column from y down to bottom."""
    r = p.rng
    if floats and r.random() < 0.4:  # LaTeX puts floats at the top of a column
        kind = str(r.choice(["figure", "table"], p=[0.6, 0.4]))
        used = getattr(p, kind)(x, y, w, bottom - p.lh * 4)
        y += used + int(p.lh * r.uniform(1.0, 2.0)) if used else 0
    if refs:
        k = int(r.integers(1, 40))
        if r.random() < 0.5:
            used = p.section_title(x, y, w, bottom)
            y += used + int(p.lh * 0.7)
        while bottom - y > 2 * p.lh:
            used = p.reference(x, y, w, bottom, k)
            if not used:
                break
            y += used + int(p.lh * r.uniform(0.1, 0.5))
            k += 1
        return
    kinds = ["text", "title", "equation", "list", "figure", "table"]
    weights = np.array([0.55, 0.11, 0.17, 0.035, 0.07, 0.05])
    prev = "text"
    above = None  # the box of the text block just placed in this column, if the last was one
    while bottom - y > 1.5 * p.lh:
        kind = str(r.choice(kinds, p=weights / weights.sum()))
        if prev in ("title", "equation") and kind in ("title", "equation"):
            kind = "text"
        if kind in ("figure", "table") and not floats:
            kind = "text"
        if kind == "title":
            # from the text's box, whatever space it left after itself, to the title's line
            # (the title's em box starts up to ~0.3 sizes lower)
            space = p.size * (r.uniform(0.0, 0.35) if p.tight_titles else r.uniform(1.3, 3.2))
            y = int(above[3] + space) if above is not None else y + int(space)
            used = p.section_title(x, y, w, bottom - 2 * p.lh)
            gap = p.lh * r.uniform(0.3, 0.8)
        elif kind == "equation":
            if above is not None:
                y = max(y, int(above[3] + _display_gap(p)))
            else:
                y += int(p.lh * r.uniform(0.2, 0.6))
            used = p.equation(x, y, w, bottom)
            # the next line's em box starts this far below its drawing origin
            gap = _display_gap(p) - _em_rows(p.reg, p.size)[0]
        elif kind == "list":
            y += int(p.lh * r.uniform(0.2, 0.6))
            used = p.listing(x, y, w, bottom)
            gap = p.lh * r.uniform(0.2, 0.6)
        elif kind in ("figure", "table"):
            y += int(p.lh * r.uniform(0.6, 1.2))
            used = getattr(p, kind)(x, y, w, bottom)
            gap = p.lh * r.uniform(0.8, 1.5)
        else:
            indent = None if prev == "text" else 0
            n = None
            if prev == "equation" and r.random() < 0.6:  # "where x is ..." after a formula
                n = int(np.clip(r.geometric(0.45), 1, 4))
            used = p.paragraph(x, y, w, bottom, n=n, first_indent=indent)
            gap = 0 if (p.indent_paras and indent is None) else p.lh * r.uniform(0.3, 0.9)
            if not p.indent_paras:
                gap = p.lh * r.uniform(0.4, 1.0)
        if not used:
            if kind == "text":
                break
            kind = "text"
            continue
        placed = kind in ("text", "equation") and p.blocks and p.blocks[-1][0] == TEXT
        if placed and above is not None and "equation" in (kind, prev):
            p.join_display()
        above = p.blocks[-1][1] if placed else None
        y += used + int(gap)
        prev = kind


def _title_block(p: RealPage, x0: int, x1: int, y: int) -> int:
    """Paper title (title), authors and affiliations (text), abstract (text); returns new y."""
    r = p.rng
    w = x1 - x0
    size = int(round(p.size * r.uniform(1.4, 2.0)))
    lines = 1 + int(r.random() < 0.5)
    boxes = []
    for i in range(lines):
        words = p.words.phrase(int(r.integers(3, 8)), title=True)
        tw = sum(p.width(t, p.bold, size) for t in words) + size * 0.33 * (len(words) - 1)
        while tw > w * 0.9 and len(words) > 2:
            words = words[:-1]
            tw = sum(p.width(t, p.bold, size) for t in words) + size * 0.33 * (len(words) - 1)
        b = p.line(x0 + (w - tw) / 2, y + i * size * 1.25, tw, words, p.bold, size, False)
        if b:
            boxes.append(b)
    if boxes:
        p.blocks.append((TITLE, _union(boxes)))
    y += int(lines * size * 1.25 + p.lh * r.uniform(0.8, 1.5))
    for _ in range(int(r.integers(1, 3))):  # authors, affiliations: centred text lines
        names = [t.capitalize() for t in p.words.phrase(int(r.integers(2, 7)))]
        tw = sum(p.width(t, p.reg, p.size) for t in names) + p.size * 0.33 * (len(names) - 1)
        b = p.line(x0 + (w - tw) / 2, y, tw, names, p.reg, p.size, False)
        if b:
            p.blocks.append((TEXT, b))
        y += int(p.lh * r.uniform(1.3, 2.0))
    y += int(p.lh * 0.8)
    inset = int(w * r.uniform(0.05, 0.12))
    used = p.paragraph(x0 + inset, y, w - 2 * inset, p.h * 0.6, n=int(r.integers(4, 12)),
                       size=p.small, first_indent=0, prefix=[("Abstract", p.bold)])  # fmt: skip
    return y + used + int(p.lh * 1.5)


def layout(p: RealPage) -> None:
    r = p.rng
    two = r.random() < 0.4
    if two:
        ml = mr = int(p.w * r.uniform(0.06, 0.09))
    else:
        ml = int(p.w * r.uniform(0.1, 0.2))
        mr = int(p.w * r.uniform(0.1, 0.2)) if r.random() < 0.4 else ml
    top = int(p.h * r.uniform(0.07, 0.12))
    bottom = p.h - int(p.h * r.uniform(0.07, 0.12))
    x0, x1 = ml, p.w - mr
    bottom = p.furniture(top, bottom, x0, x1)
    y = top
    if r.random() < 0.15:
        y = _title_block(p, x0, x1, y)
    refs = r.random() < 0.1
    if two:
        if r.random() < 0.15 and not refs:  # a full-width float at the top of the page
            kind = str(r.choice(["figure", "table"]))
            used = p.figure(x0, y, x1 - x0, bottom - 6 * p.lh, full=True) if kind == "figure" \
                else p.table(x0, y, x1 - x0, bottom - 6 * p.lh)  # fmt: skip
            y += used + int(p.lh * 1.5) if used else 0
        gutter = int(p.w * r.uniform(0.025, 0.045))
        cw = (x1 - x0 - gutter) // 2
        for c in range(2):
            _flow(p, x0 + c * (cw + gutter), y, cw, bottom, refs, True)
    else:
        _flow(p, x0, y, x1 - x0, bottom, refs, True)


def render_realistic(rng: np.random.Generator, image_size: int, noise: bool = True):
    """Render one page: ``(PIL RGB image, [(category_id, box), ...], jpeg quality or None)``."""
    p = RealPage(rng, image_size)
    layout(p)
    img = p.image
    if noise and rng.random() < 0.1:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.8)) * p.ss))
    if p.ss > 1:
        img = img.reduce(p.ss)
    s = float(p.ss)
    blocks = []
    for c, (x0, y0, x1, y1) in p.blocks:
        b = (x0 / s, y0 / s, x1 / s, y1 / s)
        b = (max(0.0, b[0]), max(0.0, b[1]), min(float(p.out_w), b[2]), min(float(p.out_h), b[3]))
        if b[2] - b[0] >= 1 and b[3] - b[1] >= 1:
            blocks.append((c, b))
    quality = int(rng.integers(70, 96)) if noise else None
    return img, blocks, quality
