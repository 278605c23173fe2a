"""GraphKD distillation losses: graph terms (node / edge / structure), extras and ``KDLoss``."""

from graphkd.core.losses.edge import edge_loss
from graphkd.core.losses.extras import box_kd_loss, fpn_feature_loss, logit_kd_loss
from graphkd.core.losses.kd_loss import KD_TERMS, KDLoss, KDLossConfig, check_losses_finite
from graphkd.core.losses.node import node_loss, node_type_weights
from graphkd.core.losses.structure import per_graph_median, structure_loss

__all__ = [
    "KD_TERMS",
    "KDLoss",
    "KDLossConfig",
    "box_kd_loss",
    "check_losses_finite",
    "edge_loss",
    "fpn_feature_loss",
    "logit_kd_loss",
    "node_loss",
    "node_type_weights",
    "per_graph_median",
    "structure_loss",
]
