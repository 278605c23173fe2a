"""Columns of a page (step 0 of :mod:`pagedata.docbank`): the gutters between them and which
side of each gutter a box lies on."""

from __future__ import annotations

import numpy as np

from pagedata.docbank.params import GroupingParams


def _occupancy(boxes: np.ndarray, width: int, h: float) -> tuple[np.ndarray, float, float]:
    """(ny, nx) bool grid of the cells (cx = h/4 wide, cy = h/2 high) that the boxes (N, 4)
    cover, and (cx, cy)."""
    cx, cy = max(h / 4, 1.0), max(h / 2, 1.0)
    nx = int(np.ceil(width / cx)) + 2
    ny = int(np.ceil(boxes[:, 3].max() / cy)) + 2
    x0, x1 = (boxes[:, 0] // cx).astype(int), (boxes[:, 2] // cx).astype(int)
    y0, y1 = (boxes[:, 1] // cy).astype(int), (boxes[:, 3] // cy).astype(int)
    d = np.zeros((ny + 1, nx + 1))
    np.add.at(d, (y0, x0), 1)
    np.add.at(d, (y0, x1 + 1), -1)
    np.add.at(d, (y1 + 1, x0), -1)
    np.add.at(d, (y1 + 1, x1 + 1), 1)
    return d.cumsum(0).cumsum(1)[:ny, :nx] > 0.5, cx, cy


def _candidates(
    boxes: np.ndarray, width: int, h: float, p: GroupingParams
) -> tuple[np.ndarray, int, float]:
    """(S,) bool: the strips, g cells wide and starting at each cell column, that pass the
    gutter rule of :func:`find_gutters`; and (g, the cell width)."""
    occ, cx, cy = _occupancy(boxes, width, h)
    ny = occ.shape[0]
    g = max(int(round(p.gutter_min * h / cx)), 1)
    c = np.concatenate([np.zeros((ny, 1)), occ.cumsum(1)], 1)  # (ny, nx + 1)
    empty = (c[:, g:] - c[:, :-g]) == 0  # strip [x, x + g) per row: (ny, nx - g + 1)
    # text close on both sides (columns are justified up to the gutter)
    m = max(int(round(p.gutter_near * h / cx)), 1)
    cp = np.pad(c, ((0, 0), (m, m)), mode="edge")  # cp[:, i + m] = c[:, i]
    x = np.arange(empty.shape[1])
    both = (cp[:, x + m] - cp[:, x] > 0) & (cp[:, x + g + 2 * m] - cp[:, x + g + m] > 0)
    support = (empty & both).sum(0)
    frac = support / np.maximum(support + (~empty).sum(0), 1)
    # rows of text beside an empty strip, counted within stretches no text crosses: columns
    # are long; the gaps display formulas leave come a few rows at a time
    run = best = np.zeros(len(support))
    for row_empty, row_both in zip(empty, both):
        run = np.where(row_empty, run + row_both, 0)
        best = np.maximum(best, run)
    centre = (np.arange(len(support)) + g / 2) * cx
    lo, hi = boxes[:, 0].min(), boxes[:, 2].max()
    cand = (
        (frac >= p.gutter_support)
        & (best * cy >= p.gutter_lines * h)
        & (centre > lo + 0.3 * (hi - lo))
        & (centre < hi - 0.3 * (hi - lo))
    )
    return cand, g, cx


def _corridor_centres(
    boxes: np.ndarray, width: int, cand: np.ndarray, g: int, cx: float, h: float,
    p: GroupingParams,
) -> np.ndarray:  # fmt: skip
    """(G,) the gutter of each corridor of candidate strips (corridors closer than
    gutter_near * h are one): the middle of the x range fewest text tokens cross."""
    edges = np.diff(np.r_[0, cand.astype(int), 0])
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    if len(starts) == 0:
        return np.zeros(0)
    lo_px, hi_px = (starts * cx).astype(int), ((ends - 1 + g) * cx).astype(int) + 1
    group = np.cumsum(np.r_[True, lo_px[1:] - hi_px[:-1] > p.gutter_near * h]) - 1
    xs = np.arange(int(np.ceil(width)) + 1)
    cross = np.zeros(len(xs) + 1)
    np.add.at(cross, np.clip(np.floor(boxes[:, 0]).astype(int) + 1, 0, len(xs)), 1)
    np.add.at(cross, np.clip(np.ceil(boxes[:, 2]).astype(int), 0, len(xs)), -1)
    cross = np.cumsum(cross)[: len(xs)]  # tokens with x0 < x < x1
    out = []
    for k in range(int(group.max()) + 1):
        a, b = lo_px[group == k].min(), min(hi_px[group == k].max(), len(xs))
        best = np.nonzero(cross[a:b] == cross[a:b].min())[0]
        out.append(a + (best[0] + best[-1]) / 2)
    return np.array(out)


def find_gutters(boxes: np.ndarray, width: int, h: float, p: GroupingParams) -> np.ndarray:
    """(G,) x centres of the column gutters among text token boxes (N, 4).

    On a grid of h/4 x h/2 cells, a strip gutter_min * h wide is a gutter where at least
    gutter_support of the rows that meet it or have text on both its sides keep it empty with
    text on both sides within gutter_near * h (full-width titles and captions may cross it),
    and one stretch of rows that no text crosses holds gutter_lines lines' worth of such rows
    (a column is long; the gaps display formulas leave are a few rows each), in the middle 40%
    of the text width.
    """
    if len(boxes) == 0:
        return np.zeros(0)
    cand, g, cx = _candidates(boxes, width, h, p)
    return _corridor_centres(boxes, width, cand, g, cx, h, p)


def sides(boxes: np.ndarray, gutters: np.ndarray) -> np.ndarray:
    """(N, G) side of each box per gutter: -1 left of it, +1 right of it, 0 across it."""
    left = boxes[:, 2:3] <= gutters[None, :]
    right = boxes[:, 0:1] >= gutters[None, :]
    return right.astype(np.int64) - left.astype(np.int64)


def same_column(sides: np.ndarray) -> np.ndarray:
    """(N, N) True where no gutter separates the two boxes."""
    out = np.ones((len(sides), len(sides)), bool)
    for side in sides.T:  # one boolean outer product per gutter (a page has 0-2)
        left, right = side < 0, side > 0
        out &= ~((left[:, None] & right[None, :]) | (right[:, None] & left[None, :]))
    return out
