"""GaussianStats: exact streaming moments, shrinkage formulas, fallbacks, LDA classification."""

from __future__ import annotations

import math

import pytest
import torch

from graph import GaussianStats, cholesky_with_jitter, shrink_covariance


def _lw_reference(x: torch.Tensor) -> torch.Tensor:
    """scikit-learn's ledoit_wolf (one batch, centred), written out in float64."""
    n, p = x.shape
    x = x - x.mean(0)
    emp = x.T @ x / n
    mu = emp.trace() / p
    x2 = x**2
    beta_ = (x2.T @ x2).sum()
    delta_ = ((x.T @ x) ** 2).sum() / n**2
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2 * mu * emp.trace() + p * mu**2) / p
    beta = min(beta, delta)
    a = 0.0 if beta == 0 else beta / delta
    return (1 - a) * emp + a * mu * torch.eye(p, dtype=x.dtype)


def _oas_reference(x: torch.Tensor) -> torch.Tensor:
    n, p = x.shape
    x = x - x.mean(0)
    emp = x.T @ x / n
    mu = emp.trace() / p
    alpha = (emp**2).mean()
    num = alpha + mu**2
    den = (n + 1) * (alpha - mu**2 / p)
    a = 1.0 if den == 0 else min(float(num / den), 1.0)
    return (1 - a) * emp + a * mu * torch.eye(p, dtype=x.dtype)


def _data(n=600, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ A.T + 3.0
    return x


def test_streaming_updates_equal_one_batch_update():
    x = _data()
    is_text = torch.arange(x.shape[0]) % 3 == 0
    one = GaussianStats(8, shrinkage="ledoit_wolf")
    one.update(x, is_text)
    many = GaussianStats(8, shrinkage="ledoit_wolf")
    for chunk in torch.tensor_split(torch.arange(x.shape[0]), [1, 7, 50, 51, 300]):
        many.update(x[chunk], is_text[chunk])
    for name in ("count", "mean", "m2", "m3", "m4"):
        torch.testing.assert_close(getattr(many, name), getattr(one, name), rtol=1e-9, atol=1e-7)
    # And the moments are the direct ones.
    for c, m in ((0, ~is_text), (1, is_text)):
        u = x[m] - x[m].mean(0)
        torch.testing.assert_close(one.mean[c], x[m].mean(0))
        torch.testing.assert_close(one.m2[c], u.T @ u)
        torch.testing.assert_close(one.m4[c], ((u * u).sum(1) ** 2).sum())


@pytest.mark.parametrize(("kind", "ref"), [("ledoit_wolf", _lw_reference), ("oas", _oas_reference)])
def test_shrinkage_matches_sklearn_formulas(kind, ref):
    x = _data(n=40, d=30)  # n ~ d: shrinkage is substantial
    s = GaussianStats(30, shrinkage=kind, min_samples=1)
    for chunk in x.split(9):  # streamed, single class
        s.update(chunk, torch.zeros(len(chunk), dtype=torch.bool))
    torch.testing.assert_close(s.covariance(), ref(x), rtol=1e-8, atol=1e-10)
    emp = s.empirical_covariance()
    assert not torch.allclose(s.covariance(), emp)  # it did shrink


def test_fixed_shrinkage_and_bad_values():
    cov = torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64))
    torch.testing.assert_close(
        shrink_covariance(cov, 10, 1.0), 2.0 * torch.eye(2, dtype=torch.float64)
    )
    torch.testing.assert_close(shrink_covariance(cov, 10, 0.0), cov)
    with pytest.raises(ValueError, match="shrinkage"):
        GaussianStats(4, shrinkage="bogus")
    with pytest.raises(ValueError, match="shrinkage"):
        GaussianStats(4, shrinkage=1.5)
    with pytest.raises(ValueError, match="momentum"):
        GaussianStats(4, momentum=0.0)


def test_ema_momentum():
    s = GaussianStats(2, momentum=0.25, min_samples=1)
    a = torch.tensor([[0.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    s.update(a, torch.zeros(2, dtype=torch.bool))
    torch.testing.assert_close(s.mean[0], torch.tensor([1.0, 1.0], dtype=torch.float64))
    s.update(a + 4.0, torch.zeros(2, dtype=torch.bool))
    # EMA of the mean: 0.75 * 1 + 0.25 * 5 = 2.
    torch.testing.assert_close(s.mean[0], torch.tensor([2.0, 2.0], dtype=torch.float64))
    # Effective sample size tends to batch / momentum = 8.
    for _ in range(200):
        s.update(a, torch.zeros(2, dtype=torch.bool))
    assert s.count[0].item() == pytest.approx(8.0, rel=1e-6)
    torch.testing.assert_close(s.mean[0], torch.tensor([1.0, 1.0], dtype=torch.float64))
    # Variance of the stationary stream {0, 2} per coordinate is 1 (MLE).
    assert s.empirical_covariance()[0, 0].item() == pytest.approx(1.0, rel=1e-6)


def test_fallbacks_before_enough_samples():
    s = GaussianStats(4)  # min_samples = dim = 4
    assert not s.covariance_ready and not s.is_ready
    torch.testing.assert_close(s.covariance(), torch.eye(4, dtype=torch.float64))
    z = torch.randn(5, 4)
    torch.testing.assert_close(s.whiten(z), z)  # identity, zero mean: Euclidean
    with pytest.raises(RuntimeError, match="has no text samples"):
        s.classify(z)
    s.update(torch.randn(3, 4), torch.ones(3, dtype=torch.bool))
    assert not s.covariance_ready
    with pytest.raises(RuntimeError, match="non-text"):
        s.classify(z)
    s.update(torch.randn(3, 4), torch.zeros(3, dtype=torch.bool))
    assert s.covariance_ready and s.is_ready
    assert s.classify(z).dtype == torch.bool


def test_update_rejects_bad_input():
    s = GaussianStats(3)
    with pytest.raises(ValueError, match="non-finite"):
        s.update(torch.tensor([[1.0, float("nan"), 0.0]]), torch.tensor([True]))
    with pytest.raises(ValueError, match="non-finite"):
        s.update(torch.tensor([[1.0, float("inf"), 0.0]]), torch.tensor([True]))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        s.update(torch.zeros(2, 4), torch.zeros(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="is_text"):
        s.update(torch.zeros(2, 3), torch.zeros(3, dtype=torch.bool))
    s.update(torch.zeros(0, 3), torch.zeros(0, dtype=torch.bool))  # empty: no-op
    assert s.num_samples == 0


def test_classify_two_gaussians_at_least_95_percent():
    g = torch.Generator().manual_seed(0)
    d = 16
    A = torch.randn(d, d, generator=g) / d**0.5 + torch.eye(d)  # shared, non-identity covariance
    cov = A @ A.T
    direction = torch.randn(d, generator=g)
    # Put the means 5 Mahalanobis units apart: Bayes error Phi(-2.5) ~ 0.6 %.
    maha = (direction @ torch.linalg.solve(cov, direction)).sqrt()
    mu_t, mu_n = 2.5 * direction / maha, -2.5 * direction / maha

    def sample(n):
        y = torch.rand(n, generator=g) < 0.5
        x = torch.randn(n, d, generator=g) @ A.T + torch.where(y[:, None], mu_t, mu_n)
        return x, y

    s = GaussianStats(d, shrinkage="ledoit_wolf")
    for _ in range(5):
        s.update(*sample(400))
    x, y = sample(4000)
    acc = (s.classify(x) == y).float().mean().item()
    assert acc >= 0.95, acc
    # float64 input gives the same decisions.
    assert (s.classify(x.double()) == s.classify(x)).float().mean().item() > 0.999


def test_state_dict_roundtrip_invalidates_cache():
    s = GaussianStats(6)
    x = _data(n=100, d=6)
    s.update(x, torch.arange(100) % 2 == 0)
    z = x[:10].float()
    w = s.whiten(z)  # fills the cache
    t = GaussianStats(6)
    t.whiten(z)  # cache of the empty module (identity)
    t.load_state_dict(s.state_dict())
    torch.testing.assert_close(t.whiten(z), w)
    assert set(s.state_dict()) == {"count", "mean", "m2", "m3", "m4"}


def test_float32_singular_covariance_is_safe():
    # n < d with shrinkage 0: the empirical covariance is singular; Cholesky jitter keeps it finite.
    s = GaussianStats(32, shrinkage=0.0, min_samples=1)
    s.update(torch.randn(5, 32), torch.zeros(5, dtype=torch.bool))
    w = s.whiten(torch.randn(7, 32))
    assert w.dtype == torch.float32 and torch.isfinite(w).all()
    L = cholesky_with_jitter(torch.zeros(3, 3, dtype=torch.float64) + 1.0)  # rank 1
    assert torch.isfinite(L).all()
    with pytest.raises(ValueError, match="positive definite"):
        cholesky_with_jitter(torch.full((2, 2), math.nan, dtype=torch.float64))
