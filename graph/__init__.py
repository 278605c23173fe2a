"""graph: structured instance graphs from RoI features (pure torch + torch_geometric).

Builds instance graphs of one model (``GraphBuilder.build``) or GraphKD's teacher / student pair
(``GraphBuilder.build_pair``, one node plan for both): nodes from pooled RoI features (fg + mined
hard bg), a text / non-text split by running class-conditional Gaussian statistics, text-node
merging, and complete directed edges with Mahalanobis distances under a running, shrunk
covariance (``edge_dist``, ``edge_sim``, ``edge_type``). Never imports detectron2.
"""

from .builder import GraphBuilder
from .config import EDGE_METRICS, SPLIT_MODES, GraphConfig
from .descriptors import descriptor_dim, node_descriptors
from .edges import complete_edge_index, similarity_from_distance
from .gaussian_stats import GaussianStats, cholesky_with_jitter, shrink_covariance
from .mahalanobis import (
    batched_pairwise_mahalanobis,
    pairwise_euclidean,
    pairwise_mahalanobis,
    whiten,
)
from .merging import MergeResult, agglomerate, merge_text_nodes, pool_by_cluster, union_boxes
from .mining import background_ce, mine_hard_background
from .plan import GraphDiagnostics, GraphPlan
from .types import EdgeType, NodeType, check_tensor_finite, edge_types

__all__ = [
    "EDGE_METRICS",
    "SPLIT_MODES",
    "EdgeType",
    "GaussianStats",
    "GraphBuilder",
    "GraphConfig",
    "GraphDiagnostics",
    "GraphPlan",
    "MergeResult",
    "NodeType",
    "agglomerate",
    "background_ce",
    "batched_pairwise_mahalanobis",
    "check_tensor_finite",
    "cholesky_with_jitter",
    "complete_edge_index",
    "descriptor_dim",
    "edge_types",
    "merge_text_nodes",
    "mine_hard_background",
    "node_descriptors",
    "pairwise_euclidean",
    "pairwise_mahalanobis",
    "pool_by_cluster",
    "shrink_covariance",
    "similarity_from_distance",
    "union_boxes",
    "whiten",
]
