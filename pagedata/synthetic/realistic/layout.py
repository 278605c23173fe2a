"""Layout of realistic pages: margins, one or two columns filled top-down with the blocks of a
paper (section titles, paragraphs, display formulas, lists, floats, references), a first-page
title block, and the output page reduced from the supersampled drawing."""

from __future__ import annotations

import numpy as np
from PIL import ImageFilter

from pagedata.synthetic.common import TEXT, TITLE, Box
from pagedata.synthetic.realistic.glyphs import em_rows, union
from pagedata.synthetic.realistic.page import RealPage

_KINDS = ["text", "title", "equation", "list", "figure", "table"]
_WEIGHTS = np.array([0.55, 0.11, 0.17, 0.035, 0.07, 0.05])


def _display_gap(p: RealPage) -> float:
    """Space between a display formula's box and its paragraph's. On the 80 DocBank pages it is
    1.0 / 1.3 / 1.9 / 2.5 / 3.6 body sizes at the 10/25/50/75/90th percentiles, above and below
    alike (\\abovedisplayskip plus the formula's own white space): this log-normal."""
    return p.size * float(np.clip(p.rng.lognormal(np.log(1.9), 0.45), 0.4, 5.0))


def _references(p: RealPage, x: int, y: int, w: int, bottom: int) -> None:
    """A reference list down to bottom: maybe a section title, then numbered entries."""
    r = p.rng
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


def _place(
    p: RealPage, kind: str, prev: str, above: Box | None, x: int, y: int, w: int, bottom: int
) -> tuple[int, int, float]:
    """Draw one block of ``kind`` at about y; a section title or a display formula sets its own
    distance below ``above``, the text block just placed, if any. Returns (the y it moved to,
    the height used (0: nothing fitted), the gap to leave below it)."""
    r = p.rng
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
        gap = _display_gap(p) - em_rows(p.reg, p.size)[0]
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
    return y, used, gap


def _flow(p: RealPage, x: int, y: int, w: int, bottom: int, refs: bool, floats: bool) -> None:
    """Fill one column from y down to bottom."""
    r = p.rng
    if floats and r.random() < 0.4:  # LaTeX puts floats at the top of a column
        kind = str(r.choice(["figure", "table"], p=[0.6, 0.4]))
        used = getattr(p, kind)(x, y, w, bottom - p.lh * 4)
        y += used + int(p.lh * r.uniform(1.0, 2.0)) if used else 0
    if refs:
        _references(p, x, y, w, bottom)
        return
    prev = "text"
    above = None  # the box of the text block just placed in this column, if the last was one
    while bottom - y > 1.5 * p.lh:
        kind = str(r.choice(_KINDS, p=_WEIGHTS / _WEIGHTS.sum()))
        if prev in ("title", "equation") and kind in ("title", "equation"):
            kind = "text"
        if kind in ("figure", "table") and not floats:
            kind = "text"
        y, used, gap = _place(p, kind, prev, above, x, y, w, bottom)
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
        p.blocks.append((TITLE, union(boxes)))
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
    """Margins, furniture, an optional title block and full-width float, then one or two columns."""
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
