"""Steps 1, 3, 4 and 5 of :mod:`pagedata.docbank`: figure and table regions, lines inside
them, lines linked into blocks, and page furniture."""

from __future__ import annotations

import numpy as np

from pagedata.docbank.boxes import components, pairs, union
from pagedata.docbank.columns import same_column, sides
from pagedata.docbank.labels import CENTRED, LIST_LIKE, REFERENCE
from pagedata.docbank.params import GroupingParams


def graphic_regions(boxes: np.ndarray, gap_x: float, gap_y: float) -> np.ndarray:
    """(R, 4) unions of the boxes whose gaps are at most ``gap_x`` / ``gap_y`` on both axes."""
    if len(boxes) == 0:
        return np.zeros((0, 4))
    gx = np.maximum(boxes[None, :, 0] - boxes[:, None, 2], boxes[:, None, 0] - boxes[None, :, 2])
    gy = np.maximum(boxes[None, :, 1] - boxes[:, None, 3], boxes[:, None, 1] - boxes[None, :, 3])
    comp = components(len(boxes), *pairs((gx <= gap_x) & (gy <= gap_y)))
    return union(boxes, comp, int(comp.max()) + 1)


def absorb(
    lines: np.ndarray, regions: np.ndarray, p: GroupingParams
) -> tuple[np.ndarray, np.ndarray]:
    """Step 3: (lines kept mask (L,), regions grown by the lines inside them (R, 4))."""
    if len(regions) == 0 or len(lines) == 0:
        return np.ones(len(lines), bool), regions
    ix = np.minimum(lines[:, None, 2], regions[None, :, 2]) - np.maximum(
        lines[:, None, 0], regions[None, :, 0]
    )
    iy = np.minimum(lines[:, None, 3], regions[None, :, 3]) - np.maximum(
        lines[:, None, 1], regions[None, :, 1]
    )
    area = np.maximum((lines[:, 2] - lines[:, 0]) * (lines[:, 3] - lines[:, 1]), 1e-6)
    frac = np.clip(ix, 0, None) * np.clip(iy, 0, None) / area[:, None]
    inside = frac.max(1) >= p.inside
    owner = frac.argmax(1)[inside]
    grown = union(
        np.concatenate([regions, lines[inside]]),
        np.r_[np.arange(len(regions)), owner],
        len(regions),
    )
    return ~inside, grown


def _predecessors(
    lines: np.ndarray, col: np.ndarray, same_row: np.ndarray, xov: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(M,) line indices i, j: line i is line j's predecessor, the lowest line above it in its
    column that overlaps it horizontally (lines without one are left out)."""
    lh = lines[:, 3] - lines[:, 1]
    # [i, j]: line i is above line j in the same column and overlaps it horizontally
    cy = lines[:, 1] + lines[:, 3]
    mostly_above = lines[:, None, 3] <= lines[None, :, 1] + 0.25 * np.minimum(
        lh[:, None], lh[None, :]
    )
    above = (cy[:, None] < cy[None, :]) & mostly_above & ~same_row & (xov > 0) & col
    score = np.where(above, lines[:, None, 3], -np.inf)
    j = np.nonzero(np.isfinite(score.max(0)))[0]
    i = score.argmax(0)[j]  # predecessor: the lowest such line
    return i, j


def _reference_entries(
    lines: np.ndarray, label: np.ndarray, col: np.ndarray, xov: np.ndarray, h: float,
    p: GroupingParams,
) -> np.ndarray:  # fmt: skip
    """(L,) True for the reference lines that start an entry.

    References with hanging indents (or [n] labels): an entry starts at the outer margin of
    the column's reference lines, its continuation lines are indented.
    """
    ref = REFERENCE[label]
    same_refs = ref[:, None] & ref[None, :] & col & (xov > 0)
    x0 = lines[:, 0]
    outer = np.where(same_refs, x0[:, None], np.inf).min(0)
    off = x0[:, None] - outer[None, :]
    hanging = (same_refs & (off >= p.indent_min * h) & (off <= p.indent_max * h)).any(0)
    return ref & hanging & (x0 < outer + p.indent_min * h)


def _links(
    lines: np.ndarray, label: np.ndarray, same_cls: np.ndarray, i: np.ndarray, j: np.ndarray,
    entry: np.ndarray, h: float, p: GroupingParams,
) -> np.ndarray:  # fmt: skip
    """(M,) True where line j continues its predecessor i's block: same class, at most the
    page's leading plus block_gap (list_gap for lists) below it, and no new paragraph (a
    first-line indent; for references, a new ``entry``)."""
    gap = lines[j, 1] - lines[i, 3]
    same = same_cls[i, j]
    # the page's leading: median gap between a line and its same-class predecessor
    typical = same & (gap > -0.5 * h) & (gap < 2.5 * h)
    leading = max(float(np.median(gap[typical])), 0.0) if typical.sum() >= 3 else 0.2 * h
    src = label[j]
    max_gap = leading + np.where(LIST_LIKE[src], p.list_gap, p.block_gap) * h
    dx0 = lines[j, 0] - lines[i, 0]
    indented = (
        (dx0 >= p.indent_min * h)
        & (dx0 <= p.indent_max * h)
        & (lines[j, 2] >= lines[i, 2] - p.indent_min * h)
    )
    new_para = np.where(
        REFERENCE[src],
        entry[j] | (dx0 <= -p.indent_min * h),
        indented & ~LIST_LIKE[src] & ~CENTRED[src],
    )
    return same & (gap <= max_gap) & ~new_para


def _join_centred(
    lines: np.ndarray, block_of: np.ndarray, cls: np.ndarray, gutters: np.ndarray
) -> np.ndarray:
    """(L,) block ids after a block whose vertical centre lies within another block of its
    class in its column joins it (an equation number beside a two-line formula, a glossary's
    two columns)."""
    k = int(block_of.max()) + 1
    b = union(lines, block_of, k)
    bcls = np.zeros(k, np.int64)
    bcls[block_of] = cls
    cb = (b[:, 1] + b[:, 3]) / 2
    inside = (cb[:, None] >= b[None, :, 1]) & (cb[:, None] <= b[None, :, 3])
    join = (
        (inside | inside.T)
        & (bcls[:, None] == bcls[None, :])
        & (bcls[:, None] >= 0)
        & same_column(sides(b, gutters))
    )
    return components(k, *pairs(join))[block_of]


def link_blocks(
    lines: np.ndarray,
    label: np.ndarray,
    cls: np.ndarray,
    gutters: np.ndarray,
    h: float,
    p: GroupingParams,
) -> np.ndarray:
    """Step 4: lines (L, 4) with DocBank labels and target classes (L,) -> block id (L,)."""
    n = len(lines)
    if n == 0:
        return np.zeros(0, np.int64)
    lh = lines[:, 3] - lines[:, 1]
    col = same_column(sides(lines, gutters))
    same_cls = (cls[:, None] == cls[None, :]) & (cls[:, None] >= 0)
    xov = np.minimum(lines[:, None, 2], lines[None, :, 2]) - np.maximum(
        lines[:, None, 0], lines[None, :, 0]
    )
    yov = np.minimum(lines[:, None, 3], lines[None, :, 3]) - np.maximum(
        lines[:, None, 1], lines[None, :, 1]
    )
    same_row = yov >= 0.5 * np.maximum(lh[:, None], lh[None, :])
    i, j = _predecessors(lines, col, same_row, xov)
    entry = _reference_entries(lines, label, col, xov, h, p)
    link = _links(lines, label, same_cls, i, j, entry, h, p)
    # lines in one row, and lines mostly inside another (a big operator's own line) link too
    ix = np.clip(xov, 0, None) * np.clip(yov, 0, None)
    area = np.maximum((lines[:, 2] - lines[:, 0]) * lh, 1e-6)
    nested = ix >= p.inside * np.minimum(area[:, None], area[None, :])
    ri, rj = pairs((same_row | nested) & col & same_cls)
    block_of = components(n, np.r_[i[link], ri], np.r_[j[link], rj])
    return _join_centred(lines, block_of, cls, gutters)


def find_furniture(
    blocks: np.ndarray, others: np.ndarray, height: int, h: float, p: GroupingParams
) -> np.ndarray:
    """(B,) True for page furniture: one-line blocks in the top / bottom margin band with
    nothing beyond them, narrow (page numbers) or far from the rest (running headers)."""
    if len(blocks) == 0:
        return np.zeros(0, bool)
    allb = np.concatenate([blocks, others])
    me = np.arange(len(blocks))
    vgap = np.maximum(allb[None, :, 1] - blocks[:, None, 3], blocks[:, None, 1] - allb[None, :, 3])
    vgap[me, me] = np.inf
    above = allb[None, :, 3] <= blocks[:, None, 1]
    below = allb[None, :, 1] >= blocks[:, None, 3]
    band = p.furniture_band * height
    top = (blocks[:, 3] <= band) & ~above.any(1)
    bottom = (blocks[:, 1] >= height - band) & ~below.any(1)
    narrow = blocks[:, 2] - blocks[:, 0] <= p.furniture_width * h
    return (
        (blocks[:, 3] - blocks[:, 1] <= 1.5 * h)
        & (top | bottom)
        & (narrow | (vgap.min(1) >= p.furniture_gap * h))
    )
