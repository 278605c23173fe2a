"""The node and edge plan of a batch of instance graphs, its diagnostics, and its graphs.

A :class:`GraphPlan` is computed once per batch by :meth:`graph.GraphBuilder.plan` (from the
planning model, the teacher) and shared by every model pooled with it, so node i of every model's
graph pools the same RoIs; :meth:`GraphPlan.to_batch` turns one model's pooled tensors into a
``torch_geometric`` ``Batch``. :class:`GraphDiagnostics` are the plan's counts, readable as a
mapping (``builder.last_stats``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

__all__ = ["GraphDiagnostics", "GraphPlan"]


@dataclass
class GraphDiagnostics(Mapping):
    """Per-batch diagnostics of a build (``builder.last_stats``), readable as a mapping.

    ``dict(diag)``, ``diag["num_nodes"]`` and ``diag.num_nodes`` all work; every value is a
    Python number except ``split_source`` (a str); ``student_*`` are None after :meth:`build`.
    """

    num_images: int = 0
    num_rois: int = 0
    num_fg: int = 0  #: RoIs matched to a GT instance
    num_bg_rois: int = 0
    num_bg_kept: int = 0  #: mined background RoIs that became nodes
    num_nodes: int = 0
    num_text_nodes: int = 0
    num_nontext_nodes: int = 0
    num_bg_nodes: int = 0
    num_edges: int = 0
    merges_step_a: int = 0  #: RoIs absorbed by same-instance pooling
    merges_step_b: int = 0  #: adaptive (agglomerative) text merges
    split_source: str = "gt"  #: "gt", "covariance", "gt_fallback" or "none"
    #: fraction of fg RoIs where the covariance rule agrees with GT (NaN: statistics not ready)
    split_agreement: float = math.nan
    teacher_stats_samples: float = 0.0
    teacher_stats_ready: bool = False
    student_stats_samples: float | None = None
    student_stats_ready: bool | None = None

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def _keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass
class GraphPlan:
    """The nodes and edges of a batch, computed once and shared by every model pooled with it.

    B images, N = sum N_i RoIs, n = sum n_i nodes, E edges. Edge indices are *within* each image
    (as in each image's ``Data``); ``edge_batch`` says which image.
    """

    num_rois: list[int]  #: N_i per image
    num_nodes: list[int]  #: n_i per image
    num_edges: list[int]  #: E_i per image
    cluster: Tensor  #: (N,) long RoI -> node within its image, -1 = not a node
    node_type: Tensor  #: (n,) long NodeType
    cluster_size: Tensor  #: (n,) long RoIs pooled into each node
    batch: Tensor  #: (n,) long image of each node
    edge_index: Tensor  #: (2, E) long, node indices within each image
    edge_batch: Tensor  #: (E,) long image of each edge
    edge_type: Tensor  #: (E,) long EdgeType
    self_loop: Tensor  #: (E,) bool
    diagnostics: GraphDiagnostics

    @property
    def num_images(self) -> int:
        return len(self.num_rois)

    def batch_cluster(self) -> Tensor:
        """(N,) long RoI -> node index in the whole batch (images' nodes offset), -1 kept."""
        counts = torch.tensor(self.num_nodes, device=self.cluster.device)
        offset = torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, torch.tensor(self.num_rois, device=counts.device)
        )
        return torch.where(self.cluster >= 0, self.cluster + offset, -1)

    def to_batch(self, x: Tensor, z: Tensor, box: Tensor, dist: Tensor, sim: Tensor) -> Batch:
        """One model's graphs on this plan: one ``Data`` per image, batched.

        Args:
            x: (n, F) node features; z: (n, D) node descriptors; box: (n, 4) union boxes.
            dist, sim: (E,) edge distances and similarities, in the plan's edge order.

        Returns:
            ``Batch.from_data_list`` of the images' ``Data`` (attributes in :mod:`graph.builder`).
        """
        nodes, rois, edges = self.num_nodes, self.num_rois, self.num_edges
        per_node = [t.split(nodes) for t in (x, z, box, self.node_type, self.cluster_size)]
        per_edge = [t.split(edges, dim=-1) for t in (self.edge_index, dist, sim, self.edge_type)]
        data = [
            Data(
                x=xi,
                z=zi,
                box=bi,
                node_type=ti,
                cluster=ci,
                cluster_size=si,
                edge_index=ei,
                edge_dist=di,
                edge_sim=mi,
                edge_type=yi,
                num_nodes=ni,
                num_rois=ri,
            )
            for (xi, zi, bi, ti, si), ci, (ei, di, mi, yi), ni, ri in zip(
                zip(*per_node), self.cluster.split(rois), zip(*per_edge), nodes, rois
            )
        ]
        return Batch.from_data_list(data)
