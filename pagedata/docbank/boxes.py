"""Array helpers of token grouping: connected components of a graph, the pairs of an
adjacency matrix, and the union box of each component."""

from __future__ import annotations

import numpy as np


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components of ``n`` nodes and undirected edges ``i - j``: (n,) ids 0..k-1.

    Min-label propagation with pointer jumping (vectorised; a few passes per page).
    """
    lab = np.arange(n)
    while True:
        new = lab.copy()
        np.minimum.at(new, i, lab[j])
        np.minimum.at(new, j, lab[i])
        new = new[new]
        if np.array_equal(new, lab):
            break
        lab = new
    return np.unique(lab, return_inverse=True)[1]


def pairs(adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) index arrays of the pairs i < j that the symmetric (N, N) ``adj`` links."""
    return np.nonzero(np.triu(adj, 1))


def union(boxes: np.ndarray, comp: np.ndarray, k: int) -> np.ndarray:
    """(k, 4) union box of the ``boxes`` in each component."""
    out = np.empty((k, 4))
    out[:, :2] = np.inf
    out[:, 2:] = -np.inf
    np.minimum.at(out[:, 0], comp, boxes[:, 0])
    np.minimum.at(out[:, 1], comp, boxes[:, 1])
    np.maximum.at(out[:, 2], comp, boxes[:, 2])
    np.maximum.at(out[:, 3], comp, boxes[:, 3])
    return out
