"""``GraphConfig``: the options of :class:`graph.GraphBuilder`, with their defaults (the only ones).

The same dataclass is the ``kd.graph`` node of GraphKD's Hydra schema (``graphkd.core.config``), so a
run's saved ``config_resolved.yaml`` rebuilds the builder it trained with::

    GraphBuilder(text_classes, num_classes, GraphConfig.from_mapping(saved["kd"]["graph"]), ...)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .descriptors import DESCRIPTOR_KINDS

__all__ = ["EDGE_METRICS", "SPLIT_MODES", "GraphConfig"]

EDGE_METRICS = ("mahalanobis", "cosine")
SPLIT_MODES = ("gt", "covariance", "none")


@dataclass
class GraphConfig:
    """How :class:`graph.GraphBuilder` plans nodes and edges (see its docstring for each option).

    Attributes:
        split_mode: text / non-text split: "gt", "covariance" (LDA rule on the running
            statistics) or "none" (DSIG: every fg node non-text).
        merge: pool text RoIs of one GT instance (step A) and, when ``merge_ratio`` is not None,
            merge text clusters adaptively (step B).
        merge_ratio: target text / non-text node ratio of step B (None: step A only).
        edge_metric: "mahalanobis" or "cosine" (DSIG: cosine of flattened node features).
        bg_threshold, bg_topk: hard background mining (teacher CE vs background >= threshold,
            at most ``bg_topk`` per image; None: no cap).
        self_loops_on_merged: self loops on merged text nodes.
        shrinkage: covariance shrinkage: "ledoit_wolf", "oas" or a float in [0, 1].
        momentum: running statistics' momentum (None: exact running moments).
        student_momentum: the student statistics' momentum (None: ``momentum``).
        merge_text_only: run step B on pages without non-text nodes.
        descriptor: node descriptor, "mean" or "meanmax" (:func:`graph.node_descriptors`).
        min_samples: samples the statistics need before they replace the identity / GT fallback
            (None: :class:`graph.GaussianStats`' default).
    """

    split_mode: str = "gt"
    merge: bool = True
    merge_ratio: float | None = 1.0
    edge_metric: str = "mahalanobis"
    bg_threshold: float = 0.6
    bg_topk: int | None = 64
    self_loops_on_merged: bool = False
    shrinkage: Any = "ledoit_wolf"
    momentum: float | None = None
    student_momentum: float | None = None
    merge_text_only: bool = True
    descriptor: str = "mean"
    min_samples: int | None = None

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | GraphConfig | None = None) -> GraphConfig:
        """Build from a dict / OmegaConf ``DictConfig`` (e.g. a run's ``kd.graph``), validated.

        Raises:
            ValueError: on an unknown key or an unsupported value.
        """
        if cfg is None:
            return cls().validate()
        if isinstance(cfg, cls):
            return dataclasses.replace(cfg).validate()
        known = {f.name for f in dataclasses.fields(cls)}
        items = dict(cfg.items())
        unknown = sorted(set(items) - known)
        if unknown:
            raise ValueError(f"unknown graph option(s) {unknown}; valid options: {sorted(known)}")
        return cls(**items).validate()

    def replace(self, **changes: Any) -> GraphConfig:
        """A validated copy with ``changes`` (unknown names raise ``ValueError``)."""
        return GraphConfig.from_mapping({**dataclasses.asdict(self), **changes})

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
        return self
