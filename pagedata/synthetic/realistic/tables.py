"""Tables of realistic pages: LaTeX tabulars with booktabs rules, a full grid or no rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagedata.synthetic.common import Box
from pagedata.synthetic.realistic.glyphs import INK, union
from pagedata.synthetic.realistic.text import number

if TYPE_CHECKING:
    from pagedata.synthetic.realistic.page import RealPage


def _cell_text(p: RealPage, rows: int, cols: int) -> list[list[str]]:
    """(rows, cols) cell strings: a title-case header row, row names in the first column,
    numbers (some with an error) elsewhere."""
    r = p.rng
    cells = []
    for i in range(rows):
        row = []
        for j in range(cols):
            if i == 0:
                t = " ".join(p.words.phrase(int(r.integers(1, 3)), title=True))
            elif j == 0:
                t = " ".join(p.words.phrase(int(r.integers(1, 3))))
            else:
                t = number(r) if r.random() < 0.85 else f"{number(r)}±{number(r)}"
            row.append(t)
        cells.append(row)
    return cells


def _column_widths(
    p: RealPage, cells: list[list[str]], size: int, pad: float, w: float
) -> tuple[list[float], float] | None:
    """Column widths (the widest cell plus ``pad``) and the table's width, shrunk by at most
    30% to fit ``w``; None when it does not fit."""
    rows, cols = len(cells), len(cells[0])
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
    return colw, tw


def _row_text(
    p: RealPage, row: list[str], header: bool, colw: list[float], tx: float, y: int, rh: int,
    pad: float, size: int,
) -> list[Box]:  # fmt: skip
    """Draw one row's cell text in the row from ``y`` to ``y + rh`` (header cells sometimes
    bold, first-column cells mostly left-aligned, the rest centred); returns the text boxes."""
    r = p.rng
    boxes = []
    cx = tx
    for j in range(len(colw)):
        words = row[j].split()
        f = p.bold if header and r.random() < 0.4 else p.reg
        cw = sum(p.width(t, f, size) for t in words) + size * 0.33 * (len(words) - 1)
        left = j == 0 and r.random() < 0.7
        bx = cx + pad / 2 if left else cx + (colw[j] - cw) / 2
        b = p.line(bx, y + (rh - size * 1.15) / 2, cw, words, f, size, False)
        if b:
            boxes.append(b)
        cx += colw[j]
    return boxes


def draw_table(p: RealPage, x, y, w, ymax) -> Box | None:
    """A LaTeX tabular from y, centred in width w: booktabs rules, a full grid or no rules;
    returns the box of its rules and cells (not its caption) or None when it does not fit."""
    r = p.rng
    size = p.small if r.random() < 0.7 else p.size
    # LaTeX's tabular: rows one baselineskip apart (\arraystretch 1-1.25), often many of them
    rh = int(size * r.uniform(1.15, 1.5))
    rows = min(int(r.integers(3, 18)), int((ymax - y) // rh) - 1)
    if rows < 2:
        return None
    cols = int(r.integers(2, 8))
    cells = _cell_text(p, rows, cols)
    pad = size * r.uniform(0.8, 1.6)
    fit = _column_widths(p, cells, size, pad, w)
    if fit is None:
        return None
    colw, tw = fit
    tx = x + (w - tw) / 2
    style = str(r.choice(["booktabs", "grid", "plain"], p=[0.55, 0.3, 0.15]))
    # booktabs' rules are 0.05-0.08 em: hairlines, a faint grey line once the page is reduced
    lw = max(1, int(round(p.ss * 0.3)))
    d = p.draw
    y1 = y + rows * rh
    if style != "plain":
        d.line((tx, y, tx + tw, y), fill=INK, width=lw * (2 if style == "booktabs" else 1))
        d.line((tx, y1, tx + tw, y1), fill=INK, width=lw * (2 if style == "booktabs" else 1))
    boxes = [(tx, y, tx + tw, y + lw)] if style != "plain" else []
    for i in range(rows):
        if i == 1 or (style == "grid" and i > 0):
            d.line((tx, y + i * rh, tx + tw, y + i * rh), fill=INK, width=lw)
        boxes += _row_text(p, cells[i], i == 0, colw, tx, y + i * rh, rh, pad, size)
    if style == "grid":
        cx = tx
        for j in range(cols + 1):
            d.line((cx, y, cx, y1), fill=INK, width=lw)
            cx += colw[j] if j < cols else 0
    if style != "plain":
        boxes.append((tx, y1 - lw, tx + tw, y1 + lw))
    return union(boxes)
