"""``GraphConfig``: the options of :class:`graph.GraphBuilder`, with their defaults (the only ones).

The defaults are GraphKD's shipped settings (``kd=graphkd``). The same dataclass is the
``kd.graph`` node of GraphKD's Hydra schema (``graphkd.core.config``), so a run's saved
``config_resolved.yaml`` rebuilds the builder it trained with::

    GraphBuilder(text_classes, num_classes, GraphConfig.from_mapping(saved["kd"]["graph"]), ...)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .descriptors import DESCRIPTOR_KINDS
from .gaussian_stats import check_shrinkage

__all__ = ["EDGE_METRICS", "SPLIT_MODES", "GraphConfig", "OptionsMixin"]

EDGE_METRICS = ("mahalanobis", "cosine")
SPLIT_MODES = ("gt", "covariance", "none")

_Options = TypeVar("_Options", bound="OptionsMixin")


class OptionsMixin:
    """Validation on construction, ``from_mapping`` and ``replace`` for an options dataclass
    (:class:`GraphConfig`, ``graphkd``'s ``KDLossConfig``).

    A subclass overrides :meth:`validate` and names its options in ``options_name`` (errors).
    """

    options_name = "config"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self: _Options) -> _Options:
        """Check (and normalise) the values in place; returns ``self``."""
        return self

    @classmethod
    def from_mapping(
        cls: type[_Options], cfg: Mapping[str, Any] | _Options | None = None
    ) -> _Options:
        """Build from a dict / OmegaConf ``DictConfig`` (e.g. a run's saved ``kd.graph``), a copy
        of an instance, or the defaults for ``None``; validated.

        Raises:
            ValueError: on an unknown key or an unsupported value.
        """
        if cfg is None:
            return cls()
        if isinstance(cfg, cls):
            return dataclasses.replace(cfg)
        known = {f.name for f in dataclasses.fields(cls)}
        items = dict(cfg.items())
        unknown = sorted(set(items) - known)
        if unknown:
            raise ValueError(
                f"unknown {cls.options_name} option(s) {unknown}; valid options: {sorted(known)}"
            )
        return cls(**items)

    def replace(self: _Options, **changes: Any) -> _Options:
        """A validated copy with ``changes`` (unknown names raise ``ValueError``)."""
        return type(self).from_mapping({**dataclasses.asdict(self), **changes})


@dataclass
class GraphConfig(OptionsMixin):
    """How :class:`graph.GraphBuilder` plans nodes and edges (see its docstring for each option).

    The defaults are ``kd=graphkd``'s (chosen by measurement, see docs/experiments.md);
    ``kd=graphkd_paper`` and ``kd=dsig`` name their departures from them.

    Attributes:
        split_mode: text / non-text split: "gt", "covariance" (LDA rule on the running
            statistics) or "none" (DSIG: every fg node non-text).
        merge: pool text RoIs of one GT instance (step A) and, when ``merge_ratio`` is not None,
            merge text clusters adaptively (step B).
        merge_ratio: target text / non-text node ratio of step B (None: step A only).
        edge_metric: "mahalanobis" or "cosine" (DSIG: cosine of flattened node features).
        bg_threshold, bg_topk: hard background mining (teacher CE vs background >= threshold,
            at most ``bg_topk`` per image; None: no cap, as DSIG's released code).
        self_loops_on_merged: self loops on merged text nodes.
        shrinkage: covariance shrinkage: "ledoit_wolf", "oas" or a float in [0, 1] (a fixed
            0.5: Ledoit-Wolf keeps ~0.1% and whitens near-noise directions).
        momentum: running statistics' momentum (None: exact running moments).
        student_momentum: the student statistics' momentum (None: ``momentum``); the student
            drifts, so its statistics forget its random-init past.
        merge_text_only: run step B on pages without non-text nodes (False: a text-only page
            keeps one node per text region).
        descriptor: node descriptor, "mean" or "meanmax" (:func:`graph.node_descriptors`).
        min_samples: samples the statistics need before they replace the identity / GT fallback
            (None: :class:`graph.GaussianStats`' default).
    """

    options_name = "graph"

    split_mode: str = "gt"
    merge: bool = True
    merge_ratio: float | None = 1.0
    edge_metric: str = "mahalanobis"
    bg_threshold: float = 0.6
    bg_topk: int | None = None
    self_loops_on_merged: bool = False
    # str | float: OmegaConf 2.3 structured configs have no Union type, so Any; validate() checks.
    shrinkage: Any = 0.5
    momentum: float | None = None
    student_momentum: float | None = 0.02
    merge_text_only: bool = False
    descriptor: str = "meanmax"
    min_samples: int | None = None

    def validate(self) -> GraphConfig:
        """Check the values; returns ``self``."""
        if self.split_mode not in SPLIT_MODES:
            raise ValueError(
                f"split_mode={self.split_mode!r} is not supported; use one of {SPLIT_MODES}"
            )
        if self.edge_metric not in EDGE_METRICS:
            raise ValueError(
                f"edge_metric={self.edge_metric!r} is not supported; use one of {EDGE_METRICS}"
            )
        if self.descriptor not in DESCRIPTOR_KINDS:
            raise ValueError(
                f"descriptor={self.descriptor!r} is not supported; use one of {DESCRIPTOR_KINDS}"
            )
        check_shrinkage(self.shrinkage)
        return self
