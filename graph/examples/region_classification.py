"""Region classification on instance graphs: a small GNN against an MLP on the same node inputs.

A worked example of ``graph/`` outside distillation (the CLI that pools a detectron2 backbone at
ground-truth regions is ``scripts/region_gnn.py``). Graphs come from
:meth:`graph.GraphBuilder.build` with ``merge=False`` (one node per region); a node's input is its
descriptor ``z`` plus, optionally, its box geometry; the label is the region's class. The GNN and
the MLP share everything (width, depth, dropout, input normalisation, optimiser, epochs, seed)
except the layer type: the MLP's hidden layers are ``Linear``, the GNN's are message-passing convs
over the graph's edges (``edge_sim`` as the edge weight), so the accuracy difference measures what
the edges add. Pure torch + torch_geometric; no detectron2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import GATConv, GCNConv, SAGEConv

from ..merging import pool_by_cluster

__all__ = [
    "CONVS",
    "FitResult",
    "RegionClassifier",
    "evaluate",
    "fit",
    "node_inputs",
    "node_labels",
    "topk_edges",
]

CONVS = ("gcn", "sage", "gat", "none")


def node_inputs(graph: Batch, geometry: bool = True) -> Tensor:
    """(n, F) node inputs: the descriptor ``z`` and, with ``geometry``, 8 box numbers.

    The box numbers are x1, y1, x2, y2, width, height and centre x, y of ``graph.box``; pass boxes
    normalised by the page size to the builder so they are comparable across pages.
    """
    z = graph.z.detach().float()
    if not geometry:
        return z
    b = graph.box.detach().float()
    wh = b[:, 2:] - b[:, :2]
    return torch.cat([z, b, wh, (b[:, :2] + b[:, 2:]) / 2], dim=1)


def node_labels(graph: Batch, roi_labels: Tensor) -> Tensor:
    """(n,) label of each node from (N,) per-RoI labels, through the graph's ``cluster``.

    Raises:
        ValueError: when a node pools RoIs with different labels (build with ``merge=False``
            to keep one node per region).
    """
    rois = graph.num_rois.to(graph.ptr.device)
    offset = torch.repeat_interleave(graph.ptr[:-1], rois)
    if roi_labels.shape != graph.cluster.shape:
        raise ValueError(
            f"roi_labels has shape {tuple(roi_labels.shape)}; the graph has "
            f"{graph.cluster.numel()} RoIs"
        )
    cluster = torch.where(graph.cluster >= 0, graph.cluster + offset, -1)
    n = int(graph.num_nodes)
    lo = pool_by_cluster(roi_labels.long(), cluster, n, reduce="min")
    hi = pool_by_cluster(roi_labels.long(), cluster, n, reduce="max")
    if not torch.equal(lo, hi):
        raise ValueError(
            f"{int((lo != hi).sum())} node(s) pool RoIs of different labels; build the graphs "
            "with GraphBuilder(merge=False) for one node per region"
        )
    return lo


def topk_edges(graph: Batch, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` most similar out-edges of every node (by ``edge_sim``), vectorised.

    Returns:
        (edge_index (2, E'), edge_sim (E',)) of the kept edges; all edges when ``k <= 0``.
    """
    ei, sim = graph.edge_index, graph.edge_sim
    if k <= 0 or ei.shape[1] == 0:
        return ei, sim
    order = torch.sort(sim, descending=True, stable=True).indices
    order = order[torch.sort(ei[0, order], stable=True).indices]  # by source, most similar first
    src = ei[0, order]
    first = torch.searchsorted(src, src, right=False)
    keep = order[torch.arange(src.numel(), device=src.device) - first < k]
    return ei[:, keep], sim[keep]


class RegionClassifier(nn.Module):
    """Node classifier: input normalisation, ``Linear`` encoder, ``layers`` residual hidden
    layers (a graph conv, or ``Linear`` for ``conv="none"``: the MLP), ``Linear`` classifier.

    Args:
        in_dim: F of :func:`node_inputs`; num_classes: K.
        conv: "gcn" (``GCNConv``, ``edge_sim`` as edge weight), "sage" (``SAGEConv``, mean of
            neighbours), "gat" (``GATConv`` with ``edge_sim`` as a 1-d edge feature) or "none".
        hidden, layers, dropout: width, number of hidden layers, dropout.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        conv: str = "gcn",
        hidden: int = 128,
        layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"conv={conv!r} is not supported; use one of {CONVS}")
        self.conv = conv
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.encoder = nn.Linear(in_dim, hidden)
        self.hidden = nn.ModuleList(self._layer(conv, hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.head = nn.Linear(hidden, num_classes)
        self.dropout = dropout

    @staticmethod
    def _layer(conv: str, hidden: int) -> nn.Module:
        if conv == "gcn":
            return GCNConv(hidden, hidden)
        if conv == "sage":
            return SAGEConv(hidden, hidden)
        if conv == "gat":
            return GATConv(hidden, hidden, heads=1, edge_dim=1)
        return nn.Linear(hidden, hidden)

    def set_normalisation(self, x: Tensor) -> None:
        """Standardise inputs with the mean / std of the training nodes ``x`` (n, F)."""
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))

    def forward(self, x: Tensor, edge_index: Tensor, edge_sim: Tensor) -> Tensor:
        """(n, K) logits from (n, F) inputs, (2, E) edges and their (E,) similarities."""
        h = F.relu(self.encoder((x - self.mean) / self.std))
        for layer, norm in zip(self.hidden, self.norms):
            h_in = F.dropout(h, self.dropout, self.training)
            if self.conv == "gcn":
                out = layer(h_in, edge_index, edge_weight=edge_sim)
            elif self.conv == "gat":
                out = layer(h_in, edge_index, edge_attr=edge_sim[:, None])
            elif self.conv == "sage":
                out = layer(h_in, edge_index)
            else:
                out = layer(h_in)
            h = norm(h + F.relu(out))
        return self.head(F.dropout(h, self.dropout, self.training))


@dataclass
class FitResult:
    """Training history and final metrics of :func:`fit`."""

    losses: list[float] = field(default_factory=list)  #: training loss per epoch
    train: dict = field(default_factory=dict)  #: :func:`evaluate` on the training graphs
    val: dict = field(default_factory=dict)  #: :func:`evaluate` on the validation graphs


@torch.no_grad()
def evaluate(
    model: RegionClassifier, x: Tensor, edge_index: Tensor, edge_sim: Tensor, y: Tensor
) -> dict:
    """Accuracy, macro-F1 over the classes present in ``y``, and per-class recall."""
    model.eval()
    pred = model(x, edge_index, edge_sim).argmax(1)
    k = int(max(int(y.max()), int(pred.max())) + 1) if y.numel() else 0
    conf = torch.bincount(y * k + pred, minlength=k * k).view(k, k).double()
    tp, support, predicted = conf.diagonal(), conf.sum(1), conf.sum(0)
    present = support > 0
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    return {
        "accuracy": float(tp.sum() / conf.sum().clamp_min(1)),
        "macro_f1": float(f1[present].mean()) if bool(present.any()) else float("nan"),
        "recall": [float(r) for r in (tp / support.clamp_min(1))],
        "support": [int(s) for s in support],
    }


def fit(
    model: RegionClassifier,
    train: tuple[Tensor, Tensor, Tensor, Tensor],
    val: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    seed: int = 0,
) -> FitResult:
    """Full-batch training with Adam and cross-entropy on all training nodes.

    Args:
        model: a fresh :class:`RegionClassifier`; its input normalisation is set from ``train``.
        train, val: (x (n, F), edge_index (2, E), edge_sim (E,), y (n,)) of a Batch of pages.
        epochs, lr, weight_decay: optimiser settings.
        seed: seeds dropout (the model's initial weights come from the caller's seed).

    Returns:
        :class:`FitResult` (per-epoch loss; train / val metrics at the end).
    """
    x, ei, sim, y = train
    model.set_normalisation(x)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    result = FitResult()
    try:
        for _ in range(epochs):
            model.train()
            opt.zero_grad()
            loss = F.cross_entropy(model(x, ei, sim), y)
            loss.backward()
            opt.step()
            result.losses.append(float(loss))
    finally:
        torch.random.set_rng_state(gen_state)
    result.train = evaluate(model, *train)
    if val is not None:
        result.val = evaluate(model, *val)
    return result
