"""Grouping one page's DocBank tokens into block regions (the rule is in
:mod:`pagedata.docbank`)."""

from __future__ import annotations

import numpy as np

from pagedata.classes import DOCBANK_LABELS
from pagedata.docbank.blocks import absorb, find_furniture, graphic_regions, link_blocks
from pagedata.docbank.boxes import union
from pagedata.docbank.columns import find_gutters
from pagedata.docbank.labels import FIGURE, LABEL_ID, TABLE
from pagedata.docbank.lines import group_lines
from pagedata.docbank.params import GroupingParams


def _graphics(
    boxes: np.ndarray, labels: np.ndarray, h: float, p: GroupingParams
) -> tuple[np.ndarray, np.ndarray]:
    """Step 1: (R, 4) figure then table regions and (R,) their DocBank labels."""
    figs = graphic_regions(boxes[labels == FIGURE], p.figure_gap * h, p.figure_gap * h)
    tabs = graphic_regions(boxes[labels == TABLE], p.table_gap_x * h, p.table_gap_y * h)
    regions = np.concatenate([figs, tabs])
    region_label = np.r_[np.full(len(figs), FIGURE), np.full(len(tabs), TABLE)]
    return regions, region_label


def _text_blocks(
    lines: np.ndarray, votes: np.ndarray, classes_of: np.ndarray, regions: np.ndarray,
    gutters: np.ndarray, height: int, h: float, p: GroupingParams,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Steps 4 and 5: lines (L, 4) with label votes (L, 13) -> block boxes (B, 4) and (B,) the
    DocBank label carrying most of each block; one-line blocks in the margins are page
    furniture (``footer``)."""
    line_label = votes.argmax(1)
    block_of = link_blocks(lines, line_label, classes_of[line_label], gutters, h, p)
    k = int(block_of.max()) + 1 if len(block_of) else 0
    blocks = union(lines, block_of, k)
    bvotes = np.zeros((k, len(DOCBANK_LABELS)))
    np.add.at(bvotes, block_of, votes)
    block_src = bvotes.argmax(1)
    furniture = find_furniture(blocks, regions, height, h, p) & (block_src == LABEL_ID["paragraph"])
    block_src[furniture] = LABEL_ID["footer"]
    return blocks, block_src


def group_tokens(
    boxes: np.ndarray,
    labels: np.ndarray,
    classes_of: np.ndarray,
    size: tuple[int, int],
    drawing: np.ndarray | None = None,
    params: GroupingParams | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group one page's tokens into block regions (the rule is in :mod:`pagedata.docbank`).

    Args:
        boxes: (N, 4) token boxes, XYXY in pixels.
        labels: (N,) indices into :data:`DOCBANK_LABELS`.
        classes_of: (13,) target class index of each DocBank label, -1 = not annotated.
        size: page (width, height) in pixels.
        drawing: (N,) bool, PDF drawings (``##LTLine##`` ...); those not labelled figure or
            table (rules, fraction bars, plot axes tagged ``paragraph``) are ignored.
        params: thresholds; default :class:`GroupingParams`.

    Returns:
        (boxes (M, 4) XYXY pixels, classes (M,) target class indices, source (M,) the DocBank
        label that carries most of each block), blocks of unannotated classes removed.
    """
    p = params or GroupingParams()
    width, height = size
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(labels, np.int64)
    classes_of = np.asarray(classes_of, np.int64)
    graphic = (labels == FIGURE) | (labels == TABLE)
    if drawing is not None:
        keep = ~np.asarray(drawing, bool) | graphic
        boxes, labels, graphic = boxes[keep], labels[keep], graphic[keep]
    heights = boxes[:, 3] - boxes[:, 1]
    text = ~graphic
    h = float(np.median(heights[text])) if text.any() else 0.0
    h = h if h > 0 else 0.01 * height
    regions, region_label = _graphics(boxes, labels, h, p)
    # 0, 2, 3. columns, lines, lines inside graphics
    gutters = find_gutters(boxes[text], width, h, p)
    lines, votes = group_lines(boxes[text], labels[text], gutters, h, p)
    kept, regions = absorb(lines, regions, p)
    lines, votes = lines[kept], votes[kept]
    blocks, block_src = _text_blocks(lines, votes, classes_of, regions, gutters, height, h, p)
    out_boxes = np.concatenate([blocks, regions])
    out_src = np.r_[block_src, region_label].astype(np.int64)
    out_cls = classes_of[out_src]
    keep = (
        (out_cls >= 0) & (out_boxes[:, 2] > out_boxes[:, 0]) & (out_boxes[:, 3] > out_boxes[:, 1])
    )
    return out_boxes[keep], out_cls[keep], out_src[keep]
