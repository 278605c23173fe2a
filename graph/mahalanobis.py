"""Pairwise Mahalanobis distances by whitening once (Cholesky + triangular solve), then Euclidean."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from .gaussian_stats import GaussianStats, cholesky_with_jitter
from .types import check_tensor_finite

__all__ = ["pairwise_euclidean", "whiten", "pairwise_mahalanobis", "batched_pairwise_mahalanobis"]


def pairwise_euclidean(w: Tensor) -> Tensor:
    """Euclidean distance matrix of rows, via one matmul, with exact zeros and safe gradients.

    The rows are centred first (distances are translation invariant) to limit cancellation in
    ||a||^2 + ||b||^2 - 2 a.b. Squared distances below ~10 ulps of ||a||^2 + ||b||^2 are set to 0
    (identical rows give exactly 0, including the diagonal) and get a zero gradient, so coincident
    points never produce NaN/Inf gradients.

    Args:
        w: (N, D) or (B, N, D).

    Returns:
        (N, N) or (B, N, N), same dtype as ``w``.
    """
    w = w - w.mean(dim=-2, keepdim=True)
    sq_norm = (w * w).sum(-1)
    norms = sq_norm[..., :, None] + sq_norm[..., None, :]
    sq = (norms - 2 * (w @ w.transpose(-1, -2))).clamp_min(0)
    tol = 16 * torch.finfo(w.dtype).eps * norms
    nonzero = sq > tol
    return torch.where(nonzero, torch.where(nonzero, sq, torch.ones_like(sq)).sqrt(), 0.0)


def whiten(z: Tensor, stats: GaussianStats | Tensor | None) -> Tensor:
    """Whitened descriptors whose Euclidean distances are Mahalanobis distances.

    Args:
        z: (N, D) descriptors.
        stats: a :class:`GaussianStats` (running covariance), an explicit (D, D) covariance
            (whitened by its Cholesky factor; no inverse is formed), or None (identity).

    Returns:
        (N, D) in z's dtype; differentiable w.r.t. ``z``.
    """
    if stats is None:
        return z
    if isinstance(stats, GaussianStats):
        return stats.whiten(z)
    cov = stats
    if cov.shape != (z.shape[-1], z.shape[-1]):
        raise ValueError(
            f"covariance must be ({z.shape[-1]}, {z.shape[-1]}), got {tuple(cov.shape)}"
        )
    L = cholesky_with_jitter(cov.detach().to(torch.float64)).to(device=z.device, dtype=z.dtype)
    return torch.linalg.solve_triangular(L, z.T, upper=False).T


def pairwise_mahalanobis(z: Tensor, stats: GaussianStats | Tensor | None) -> Tensor:
    """All pairwise Mahalanobis distances d_ij = sqrt((z_i - z_j)^T Sigma^{-1} (z_i - z_j)).

    Args:
        z: (N, D) node descriptors (finite).
        stats: running :class:`GaussianStats`, an explicit (D, D) covariance, or None (Euclidean).

    Returns:
        (N, N) symmetric, zero diagonal, dtype of ``z``.
    """
    if z.dim() != 2:
        raise ValueError(f"pairwise_mahalanobis expects z of shape (N, D), got {tuple(z.shape)}")
    check_tensor_finite(z, "pairwise_mahalanobis(z)")
    return pairwise_euclidean(whiten(z, stats))


def batched_pairwise_mahalanobis(
    z: Tensor, batch: Tensor, stats: GaussianStats | Tensor | None, batch_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """Pairwise Mahalanobis distances within each graph of a batch, in one batched computation.

    Whitens all nodes with one triangular solve, pads them per graph (``to_dense_batch``) and
    computes all blocks with one batched matmul; no Python loop over graphs or pairs.

    Args:
        z: (N_total, D) descriptors of all nodes.
        batch: (N_total,) long graph index of each node, sorted ascending.
        stats: as in :func:`pairwise_mahalanobis`.
        batch_size: number of graphs B (inferred from ``batch`` when None).

    Returns:
        dist: (B, N_max, N_max), padded entries are 0.
        mask: (B, N_max) bool, True for real nodes.
    """
    if z.dim() != 2 or batch.shape != z.shape[:1]:
        raise ValueError(
            f"expected z (N, D) and batch (N,), got {tuple(z.shape)} and {tuple(batch.shape)}"
        )
    check_tensor_finite(z, "batched_pairwise_mahalanobis(z)")
    w, mask = to_dense_batch(whiten(z, stats), batch, batch_size=batch_size)
    # Padded rows would shift the centring in pairwise_euclidean: move them onto each graph's mean.
    n = mask.sum(1, keepdim=True).clamp_min(1).to(w.dtype)
    mean = w.sum(1) / n
    w = torch.where(mask[..., None], w, mean[:, None, :])
    dist = pairwise_euclidean(w)
    pair_mask = mask[:, :, None] & mask[:, None, :]
    return torch.where(pair_mask, dist, 0.0), mask
