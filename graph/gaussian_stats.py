"""Running class-conditional Gaussian statistics of node descriptors (text vs non-text).

The covariance used for Mahalanobis edges must come from many RoIs across the dataset, not from the
N nodes of one image: with N <= D the per-image covariance makes every pairwise distance equal
(d^2 = 2(N-1) for the unbiased estimate as the shrinkage goes to 0), so edges would carry no
information. :class:`GaussianStats` keeps exact streaming (Chan/Welford) or EMA moments and returns
a pooled within-class covariance shrunk with Ledoit-Wolf, OAS or a fixed intensity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .types import check_tensor_finite

__all__ = [
    "SHRINKAGE_ESTIMATORS",
    "GaussianStats",
    "all_gather_rows",
    "check_shrinkage",
    "cholesky_with_jitter",
    "shrink_covariance",
]

# Shrinkage intensities estimated from the data; a float in [0, 1] is a fixed intensity.
SHRINKAGE_ESTIMATORS = ("ledoit_wolf", "oas")


def check_shrinkage(shrinkage: str | float) -> str | float:
    """``shrinkage`` unchanged when it is one of :data:`SHRINKAGE_ESTIMATORS` or a number in
    [0, 1]; ``ValueError`` naming the valid values otherwise."""
    if isinstance(shrinkage, str):
        if shrinkage not in SHRINKAGE_ESTIMATORS:
            raise ValueError(
                f"shrinkage={shrinkage!r} is not supported; use one of {SHRINKAGE_ESTIMATORS} "
                "or a float in [0, 1]"
            )
    elif isinstance(shrinkage, bool) or not isinstance(shrinkage, (int, float)):
        raise ValueError(
            f"shrinkage={shrinkage!r} must be one of {SHRINKAGE_ESTIMATORS} or a float in [0, 1]"
        )
    elif not 0.0 <= float(shrinkage) <= 1.0:
        raise ValueError(f"a fixed shrinkage must be in [0, 1], got {shrinkage}")
    return shrinkage


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_gather_rows(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Concatenate row-aligned tensors across all processes of the default process group.

    Every process passes tensors with the same number of rows ``n_r`` (its own) and the same
    trailing shape; every process gets the concatenation over ranks (rank order), ``(sum n_r, ...)``.
    Rows are padded to the largest ``n_r`` for ``torch.distributed.all_gather`` (which needs equal
    shapes). Without an initialised process group (or with one process) the inputs come back as
    they are. A collective: every rank must call it, in the same order.
    """
    if _world_size() == 1:
        return tensors
    n = torch.tensor([tensors[0].shape[0]], device=tensors[0].device)
    sizes = [torch.zeros_like(n) for _ in range(_world_size())]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    out = []
    for t in tensors:
        pad = t.new_zeros((max(sizes) - t.shape[0], *t.shape[1:]))
        parts = [t.new_empty((max(sizes), *t.shape[1:])) for _ in sizes]
        dist.all_gather(parts, torch.cat([t, pad]))
        out.append(torch.cat([part[:k] for part, k in zip(parts, sizes)]))
    return tuple(out)


def cholesky_with_jitter(cov: Tensor, max_tries: int = 8) -> Tensor:
    """Lower Cholesky factor of a symmetric PSD matrix, adding diagonal jitter if needed.

    Args:
        cov: (D, D) symmetric positive (semi-)definite matrix.
        max_tries: jitter starts at 1e-10 * mean(diag) (1e-6 in float32) and grows 10x per try.

    Returns:
        (D, D) lower-triangular L with L @ L.T = cov + jitter * I. Never forms an inverse.
    """
    cov = 0.5 * (cov + cov.transpose(-1, -2))
    L, info = torch.linalg.cholesky_ex(cov)
    if int(info) == 0:
        return L
    scale = cov.diagonal().mean().abs().clamp_min(torch.finfo(cov.dtype).tiny)
    jitter = scale * (1e-10 if cov.dtype == torch.float64 else 1e-6)
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    for _ in range(max_tries):
        L, info = torch.linalg.cholesky_ex(cov + jitter * eye)
        if int(info) == 0:
            return L
        jitter = jitter * 10
    raise ValueError(
        "covariance is not positive definite even with jitter; it probably holds NaN/Inf or "
        "is all zeros - check the descriptors passed to GaussianStats.update()."
    )


def shrink_covariance(
    cov: Tensor, n: Tensor | float, shrinkage: str | float, fourth: Tensor | float | None = None
) -> Tensor:
    """Shrink an empirical (MLE, divisor n) covariance towards mu * I, mu = trace / D.

    Args:
        cov: (D, D) empirical covariance S of centred samples.
        n: number of samples behind ``cov``.
        shrinkage: one of :data:`SHRINKAGE_ESTIMATORS` or a fixed intensity in [0, 1].
        fourth: sum_k ||x_k||^4 over the centred samples; needed for "ledoit_wolf" only.

    Returns:
        (D, D) (1 - a) * S + a * mu * I with a chosen as in scikit-learn's ``ledoit_wolf`` /
        ``oas`` (same formulas, computed from streaming moments).
    """
    p = cov.shape[-1]
    eye = torch.eye(p, dtype=cov.dtype, device=cov.device)
    mu = cov.diagonal().sum() / p
    if isinstance(shrinkage, (int, float)) and not isinstance(shrinkage, bool):
        a = torch.as_tensor(float(shrinkage), dtype=cov.dtype, device=cov.device)
    elif shrinkage == "ledoit_wolf":
        if fourth is None:
            raise ValueError("ledoit_wolf shrinkage needs the fourth moment sum_k ||x_k||^4")
        n = torch.as_tensor(n, dtype=cov.dtype, device=cov.device).clamp_min(1.0)
        delta_ = (cov * cov).sum()
        beta = (torch.as_tensor(fourth, dtype=cov.dtype) / n - delta_) / (p * n)
        delta = (delta_ - 2 * mu * cov.diagonal().sum() + p * mu * mu) / p
        beta = torch.minimum(beta.clamp_min(0), delta)
        a = torch.where(delta > 0, beta / delta.clamp_min(torch.finfo(cov.dtype).tiny), 0.0)
    elif shrinkage == "oas":
        n = torch.as_tensor(n, dtype=cov.dtype, device=cov.device)
        alpha = (cov * cov).mean()
        num = alpha + mu * mu
        den = (n + 1) * (alpha - mu * mu / p)
        a = torch.where(den > 0, (num / den.clamp_min(torch.finfo(cov.dtype).tiny)), 1.0)
        a = a.clamp(0.0, 1.0)
    else:
        raise ValueError(
            f"shrinkage={shrinkage!r} is not supported; use 'ledoit_wolf', 'oas' or a float in [0, 1]"
        )
    return (1 - a) * cov + a * mu * eye


class GaussianStats(nn.Module):
    """Running text / non-text means and a pooled, shrunk within-class covariance.

    State lives in float64 buffers (saved in checkpoints): per class c (0 = non-text, 1 = text)
    the (effective) count ``count[c]``, mean ``mean[c]`` (D,), scatter matrix ``m2[c]`` (D, D) =
    sum (x - mean)(x - mean)^T, ``m3[c]`` (D,) = sum ||x - mean||^2 (x - mean) and ``m4[c]`` =
    sum ||x - mean||^4 (the last two give the exact Ledoit-Wolf intensity from a stream).

    Updates are exact (Chan et al.'s parallel Welford merge of batch moments) when ``momentum`` is
    None; with a momentum ``m`` the running moments are an EMA: each batch gets weight ``m`` and the
    history ``1 - m``, i.e. an effective sample size of about batch_size / m.

    Fallbacks while few samples were seen (early training), all documented behaviour:
      * ``covariance()`` is the identity and ``whiten`` only subtracts the mean until
        ``count.sum() >= min_samples`` (so distances are Euclidean);
      * ``classify`` needs at least one sample of each class (RuntimeError otherwise); callers
        (:class:`graph.GraphBuilder`) check :attr:`is_ready` and fall back to the GT split.

    Args:
        dim: descriptor dimension D.
        shrinkage: "ledoit_wolf" (default), "oas" or a fixed intensity in [0, 1].
        momentum: None for exact running moments, or an EMA weight in (0, 1].
        min_samples: pooled samples needed before the covariance is used (default: ``dim``).
        sync: under ``torch.distributed`` (e.g. detectron2's ``launch``), gather every update's
            samples from all processes first, so all ranks hold the same statistics (those of the
            global batch). ``update`` is then a collective that every rank must call.
    """

    def __init__(
        self,
        dim: int,
        shrinkage: str | float = "ledoit_wolf",
        momentum: float | None = None,
        min_samples: int | None = None,
        sync: bool = True,
    ) -> None:
        super().__init__()
        if dim <= 0:
            raise ValueError(f"GaussianStats dim must be positive, got {dim}")
        if momentum is not None and not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be None or in (0, 1], got {momentum}")
        self.dim = int(dim)
        self.shrinkage = check_shrinkage(shrinkage)
        self.momentum = momentum
        self.min_samples = int(dim if min_samples is None else min_samples)
        self.sync = bool(sync)
        f64 = torch.float64
        self.register_buffer("count", torch.zeros(2, dtype=f64))
        self.register_buffer("mean", torch.zeros(2, dim, dtype=f64))
        self.register_buffer("m2", torch.zeros(2, dim, dim, dtype=f64))
        self.register_buffer("m3", torch.zeros(2, dim, dtype=f64))
        self.register_buffer("m4", torch.zeros(2, dtype=f64))
        self._version = 0
        self._cache: dict = {}

    def extra_repr(self) -> str:
        return f"dim={self.dim}, shrinkage={self.shrinkage!r}, momentum={self.momentum}"

    # ------------------------------------------------------------------ state
    @property
    def num_samples(self) -> float:
        """Pooled (effective) number of samples seen."""
        return float(self.count.sum())

    @property
    def covariance_ready(self) -> bool:
        """True once ``count.sum() >= min_samples`` (before that ``covariance()`` is I)."""
        return self.num_samples >= self.min_samples

    @property
    def is_ready(self) -> bool:
        """True when the covariance is estimated and both classes have >= 2 samples."""
        return self.covariance_ready and bool((self.count >= 2).all())

    def reset(self) -> None:
        """Forget all samples."""
        for buf in (self.count, self.mean, self.m2, self.m3, self.m4):
            buf.zero_()
        self._invalidate()

    def _invalidate(self) -> None:
        self._version += 1
        self._cache.clear()

    def _load_from_state_dict(self, *args, **kwargs):  # noqa: D401 - torch hook
        super()._load_from_state_dict(*args, **kwargs)
        self._invalidate()

    # ----------------------------------------------------------------- update
    @torch.no_grad()
    def update(self, z: Tensor, is_text: Tensor) -> None:
        """Add a batch of descriptors.

        Args:
            z: (N, D) descriptors; detached and accumulated in float64.
            is_text: (N,) bool, True for text samples.
        """
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError(
                f"GaussianStats.update expects z of shape (N, {self.dim}), got {tuple(z.shape)}"
            )
        if is_text.shape != z.shape[:1]:
            raise ValueError(
                f"is_text must have shape ({z.shape[0]},) like z's rows, got {tuple(is_text.shape)}"
            )
        z = z.detach().to(device=self.mean.device, dtype=torch.float64)
        is_text = is_text.to(device=z.device, dtype=torch.bool)
        if self.sync:  # before any early exit: every rank must join the collective
            z, flag = all_gather_rows(z, is_text.to(torch.uint8))  # gloo has no bool
            is_text = flag.bool()
        check_tensor_finite(z, "GaussianStats.update(z)")
        if z.shape[0] == 0:
            return
        for c, mask in ((0, ~is_text), (1, is_text)):  # two classes, not a loop over samples
            x = z[mask]
            if x.shape[0] == 0:
                continue
            nb = float(x.shape[0])
            mb = x.mean(0)
            u = x - mb
            sq = (u * u).sum(1)
            self._merge(c, nb, mb, u.T @ u, (sq[:, None] * u).sum(0), (sq * sq).sum())
        self._invalidate()

    def _merge(self, c: int, nb: float, mb: Tensor, m2b: Tensor, m3b: Tensor, m4b: Tensor) -> None:
        na = float(self.count[c])
        if na > 0 and self.momentum is not None:
            # EMA: rescale the history so that it weighs (1 - m) against the batch's m.
            f = (1.0 - self.momentum) * nb / (self.momentum * na)
            na *= f
            self.m2[c] *= f
            self.m3[c] *= f
            self.m4[c] *= f
        if na == 0:
            self.count[c] = nb
            self.mean[c] = mb
            self.m2[c] = m2b
            self.m3[c] = m3b
            self.m4[c] = m4b
            return
        n = na + nb
        ma = self.mean[c].clone()
        m = ma + (mb - ma) * (nb / n)
        # Moments of each part about the new mean (sum of deviations about its own mean is 0).
        m4 = torch.zeros((), dtype=torch.float64, device=m.device)
        m3 = torch.zeros_like(m)
        m2 = torch.zeros_like(m2b)
        for nk, mk, m2k, m3k, m4k in (
            (na, ma, self.m2[c], self.m3[c], self.m4[c]),
            (nb, mb, m2b, m3b, m4b),
        ):
            d = m - mk
            dd = d @ d
            tr = m2k.diagonal().sum()
            m2d = m2k @ d
            m4 = m4 + m4k - 4 * (d @ m3k) + 4 * (d @ m2d) + 2 * tr * dd + nk * dd * dd
            m3 = m3 + m3k - 2 * m2d - tr * d - nk * dd * d
            m2 = m2 + m2k + nk * torch.outer(d, d)
        self.count[c] = n
        self.mean[c] = m
        self.m2[c] = m2
        self.m3[c] = m3
        self.m4[c] = m4

    # ------------------------------------------------------------------ reads
    def pooled_mean(self) -> Tensor:
        """(D,) float64 count-weighted mean of both classes (zeros before any update)."""
        n = self.count.sum()
        if n <= 0:
            return torch.zeros(self.dim, dtype=torch.float64, device=self.mean.device)
        return (self.count[:, None] * self.mean).sum(0) / n

    def empirical_covariance(self) -> Tensor:
        """(D, D) float64 pooled within-class MLE covariance (sum of scatter matrices / n)."""
        n = self.count.sum().clamp_min(1.0)
        return self.m2.sum(0) / n

    def covariance(self) -> Tensor:
        """(D, D) float64 shrunk pooled covariance; the identity until :attr:`covariance_ready`."""
        key = ("cov", self.m2.device)
        if key not in self._cache:
            if not self.covariance_ready:
                cov = torch.eye(self.dim, dtype=torch.float64, device=self.m2.device)
            else:
                cov = shrink_covariance(
                    self.empirical_covariance(), self.count.sum(), self.shrinkage, self.m4.sum()
                )
            self._cache[key] = cov
        return self._cache[key]

    def cholesky(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """(D, D) lower Cholesky factor of :meth:`covariance` (with jitter if needed), cached."""
        key = ("chol", self.m2.device, dtype)
        if key not in self._cache:
            f64 = ("chol", self.m2.device, torch.float64)
            if f64 not in self._cache:
                self._cache[f64] = cholesky_with_jitter(self.covariance())
            self._cache[key] = self._cache[f64].to(dtype)
        return self._cache[key]

    def whiten(self, z: Tensor) -> Tensor:
        """Whitened descriptors L^{-1} (z - mean) by a triangular solve (no explicit inverse).

        Args:
            z: (N, D) descriptors; gradients flow through (the statistics are constants).

        Returns:
            (N, D) in z's dtype: Euclidean distances between rows are Mahalanobis distances.
        """
        if z.dim() != 2 or z.shape[-1] != self.dim:
            raise ValueError(f"whiten expects (N, {self.dim}) descriptors, got {tuple(z.shape)}")
        dtype = z.dtype if z.is_floating_point() else torch.float32
        L = self.cholesky(dtype).to(z.device)
        mu = self.pooled_mean().to(device=z.device, dtype=dtype)
        if z.shape[0] == 0:
            return z.to(dtype)
        return torch.linalg.solve_triangular(L, (z.to(dtype) - mu).T, upper=False).T

    def class_distances(self, z: Tensor, whitened: bool = False) -> Tensor:
        """(N, 2) Mahalanobis distances of z to the non-text (col 0) and text (col 1) means.

        ``whitened=True`` means ``z`` is already ``self.whiten(z)`` (saves a triangular solve).
        """
        if bool((self.count <= 0).any()):
            missing = "text" if float(self.count[1]) <= 0 else "non-text"
            raise RuntimeError(
                f"GaussianStats has no {missing} samples yet; call update() with both classes "
                "(or check .is_ready) before classify()."
            )
        w = z if whitened else self.whiten(z)
        wm = self.whiten(self.mean.to(dtype=w.dtype))
        return torch.cdist(w.detach(), wm, compute_mode="donot_use_mm_for_euclid_dist")

    def classify(self, z: Tensor, whitened: bool = False) -> Tensor:
        """LDA rule: True (text) where z is closer to the text mean in Mahalanobis distance.

        Args:
            z: (N, D) descriptors (or ``self.whiten(z)`` with ``whitened=True``).

        Returns:
            (N,) bool.
        """
        check_tensor_finite(z, "GaussianStats.classify(z)")
        if z.shape[0] == 0:
            return torch.zeros(0, dtype=torch.bool, device=z.device)
        d = self.class_distances(z, whitened)
        return d[:, 1] < d[:, 0]
