"""The distillation methods (``kd.method``) and the KD loss terms each one uses: one registry.

A ``kd`` preset names its method; the term switches of ``kd.loss`` (``node``, ``edge``, ...)
default to the method's terms (the schema's ``${kd_term:...}`` interpolations in
:mod:`graphkd.core.config`), so a preset only sets them to depart from its method.
"""

from __future__ import annotations

from graphkd.core.losses.kd_loss import GRAPH_TERMS, KD_TERMS

__all__ = [
    "METHODS",
    "METHOD_DESCRIPTIONS",
    "METHOD_TERMS",
    "check_method",
    "method_uses",
    "needs_graphs",
]

# Method -> the KD terms (graphkd.core.losses.KD_TERMS) it switches on.
METHOD_TERMS: dict[str, tuple[str, ...]] = {
    "none": (),  # the student alone, no teacher
    "fitnet": ("fpn",),  # FPN feature MSE
    "logit": ("logit",),  # RoI classification logit KD
    "dsig": ("node", "edge"),  # DSIG: cosine-edge instance graphs, no structure term
    "graphkd": ("node", "edge", "struct"),  # GraphKD: text / non-text graphs
}
METHODS = tuple(METHOD_TERMS)
# Method -> one line for model cards (graphkd.apps.package).
METHOD_DESCRIPTIONS: dict[str, str] = {
    "none": "no distillation: the student trained alone with its detection losses (baseline)",
    "fitnet": "FitNet: MSE between student and teacher FPN features",
    "logit": "RoI classification logit distillation (KL with temperature)",
    "dsig": "DSIG (Chen et al., ICCV 2021): instance graphs of the student's RoIs with cosine "
    "edges, node + edge losses against the teacher's graph",
    "graphkd": "GraphKD (Banerjee et al., ICDAR 2024): instance graphs with text / non-text "
    "nodes split by running covariance statistics, merged text nodes and Mahalanobis-type "
    "edges; node + edge + structure losses against the teacher's graph",
}


def check_method(method: str) -> str:
    """``method`` unchanged when it is in :data:`METHOD_TERMS`, else ``ValueError`` listing them."""
    if method not in METHOD_TERMS:
        raise ValueError(f"kd.method={method!r} is unknown; choose one of {METHODS}")
    return method


def method_uses(method: str, term: str) -> bool:
    """Whether ``method`` switches the KD term ``term`` on by default."""
    if term not in KD_TERMS:
        raise ValueError(f"unknown KD term {term!r}; terms: {KD_TERMS}")
    return term in METHOD_TERMS[check_method(method)]


def needs_graphs(method: str) -> bool:
    """Whether ``method`` distills instance graphs (needs a :class:`graph.GraphBuilder`)."""
    return any(t in GRAPH_TERMS for t in METHOD_TERMS[check_method(method)])
