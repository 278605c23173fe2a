"""Pairwise Mahalanobis distances: invariance, Euclidean limit, (non-)degeneracy, batching."""

from __future__ import annotations

import pytest
import torch

from graph import (
    GaussianStats,
    batched_pairwise_mahalanobis,
    pairwise_euclidean,
    pairwise_mahalanobis,
)


def _explicit_reference(z: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Per-pair loop with an explicit inverse (float64), the textbook definition."""
    P = torch.linalg.inv(cov.double())
    z = z.double()
    n = z.shape[0]
    out = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            d = z[i] - z[j]
            out[i, j] = (d @ P @ d).clamp_min(0).sqrt()
    return out


def _fit(x, shrinkage=0.0, labels=None):
    s = GaussianStats(x.shape[1], shrinkage=shrinkage)
    labels = torch.arange(x.shape[0]) % 2 == 0 if labels is None else labels
    s.update(x, labels)
    return s


def test_affine_invariance():
    """Stats fitted on Z and on Z A^T give the same distances (shrinkage 0: rtol 1e-6, float64)."""
    g = torch.Generator().manual_seed(0)
    d = 12
    M = torch.randn(d, d, generator=g, dtype=torch.float64)
    z_train = torch.randn(3000, d, generator=g, dtype=torch.float64) @ M.T
    labels = torch.rand(3000, generator=g) < 0.4
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    A = Q * torch.linspace(0.3, 3.0, d, dtype=torch.float64)  # invertible, cond 10
    s1, s2 = _fit(z_train, 0.0, labels), _fit(z_train @ A.T, 0.0, labels)
    z = torch.randn(20, d, generator=g, dtype=torch.float64) @ M.T
    d1 = pairwise_mahalanobis(z, s1)
    d2 = pairwise_mahalanobis(z @ A.T, s2)
    torch.testing.assert_close(d2, d1, rtol=1e-6, atol=1e-9)
    # The LDA decisions are affine invariant too.
    assert torch.equal(s1.classify(z), s2.classify(z @ A.T))
    # Euclidean distances are not: the test would catch a metric that ignores the covariance.
    assert not torch.allclose(pairwise_euclidean(z @ A.T), pairwise_euclidean(z), rtol=1e-2)


def test_euclidean_recovered_with_identity_covariance():
    z = torch.randn(15, 6, dtype=torch.float64)
    ref = torch.cdist(z, z)
    torch.testing.assert_close(pairwise_mahalanobis(z, None), ref)
    torch.testing.assert_close(pairwise_mahalanobis(z, torch.eye(6, dtype=torch.float64)), ref)
    # Unready statistics fall back to the identity.
    torch.testing.assert_close(pairwise_mahalanobis(z, GaussianStats(6)), ref)
    # Full shrinkage: Sigma = mu I, distances = Euclidean / sqrt(mu).
    s = _fit(torch.randn(500, 6, dtype=torch.float64) * 2.0, shrinkage=1.0)
    mu = s.empirical_covariance().trace() / 6
    torch.testing.assert_close(pairwise_mahalanobis(z, s), ref / mu.sqrt())


def test_matches_explicit_inverse_reference():
    x = torch.randn(400, 10, dtype=torch.float64) @ torch.randn(10, 10, dtype=torch.float64)
    s = _fit(x, "ledoit_wolf")
    z = x[:12]
    torch.testing.assert_close(pairwise_mahalanobis(z, s), _explicit_reference(z, s.covariance()))
    # float32 agrees with the float64 reference to ~1e-4 relative.
    d32 = pairwise_mahalanobis(z.float(), s)
    assert d32.dtype == torch.float32
    torch.testing.assert_close(
        d32.double(), _explicit_reference(z, s.covariance()), rtol=1e-4, atol=1e-4
    )


def test_per_image_covariance_is_degenerate_2_n_minus_1():
    """With N <= D the image's own (unbiased) covariance gives d^2 = 2(N-1) for every pair."""
    g = torch.Generator().manual_seed(1)
    n, d = 10, 32
    z = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 4, d).double()
    cov_img = torch.cov(z.T) + 1e-9 * torch.eye(d, dtype=torch.float64)  # shrinkage -> 0
    d2 = pairwise_mahalanobis(z, cov_img) ** 2
    off = ~torch.eye(n, dtype=torch.bool)
    torch.testing.assert_close(
        d2[off], torch.full((n * (n - 1),), 2.0 * (n - 1), dtype=torch.float64), rtol=1e-5, atol=0
    )
    # The running statistics (many samples from the same distribution) are not degenerate.
    x = torch.randn(5000, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 4, d).double()
    dr = pairwise_mahalanobis(z, _fit(x, "ledoit_wolf"))[off]
    assert (dr.std() / dr.mean()).item() > 0.05
    assert (dr.max() - dr.min()).item() > 1.0


def test_batched_equals_per_image():
    s = _fit(torch.randn(300, 8) * 3, "oas")
    sizes = [5, 0, 1, 9]
    zs = [torch.randn(k, 8) for k in sizes]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    dist, mask = batched_pairwise_mahalanobis(torch.cat(zs), batch, s, batch_size=len(sizes))
    assert dist.shape == (4, 9, 9) and mask.sum(1).tolist() == sizes
    for b, z in enumerate(zs):
        k = z.shape[0]
        torch.testing.assert_close(
            dist[b, :k, :k], pairwise_mahalanobis(z, s), rtol=1e-5, atol=1e-5
        )
        assert (dist[b, k:] == 0).all() and (dist[b, :, k:] == 0).all()


def test_exact_zeros_and_finite_gradients_for_identical_rows():
    z = torch.randn(1, 8).repeat(5, 1).requires_grad_(True)
    w = torch.cat([z, torch.randn(2, 8)])
    d = pairwise_mahalanobis(w, None)
    assert (d[:5, :5] == 0).all()
    assert (d.diagonal() == 0).all()
    d.sum().backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_raises(bad):
    z = torch.randn(4, 3)
    z[2, 1] = bad
    with pytest.raises(ValueError, match="non-finite"):
        pairwise_mahalanobis(z, None)
    with pytest.raises(ValueError, match="non-finite"):
        batched_pairwise_mahalanobis(z, torch.zeros(4, dtype=torch.long), None)


def test_empty_and_single():
    s = _fit(torch.randn(50, 4), "ledoit_wolf")
    assert pairwise_mahalanobis(torch.zeros(0, 4), s).shape == (0, 0)
    assert pairwise_mahalanobis(torch.randn(1, 4), s).tolist() == [[0.0]]
