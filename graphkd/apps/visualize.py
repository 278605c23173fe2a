"""Figures of pages: detections (detectron2's ``Visualizer``) and instance graphs (matplotlib).

Drawing only: the graphs to draw come from :func:`graphkd.apps.page_graphs.graph_for_page` (boxes in
the ORIGINAL image's pixel coordinates), the detections from a predictor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from detectron2.data import Metadata  # noqa: E402
from detectron2.data.detection_utils import read_image  # noqa: E402
from detectron2.structures import Boxes, BoxMode, Instances  # noqa: E402
from detectron2.utils.visualizer import ColorMode, Visualizer  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from torch_geometric.data import Data  # noqa: E402

from graph import NodeType  # noqa: E402

__all__ = [
    "NODE_COLORS",
    "class_colors",
    "draw_detections",
    "draw_graph_pair",
    "draw_instance_graph",
    "load_image",
    "side_by_side",
    "to_instances",
]

NODE_COLORS = {NodeType.TEXT: "#1f77b4", NodeType.NONTEXT: "#ff7f0e", NodeType.BG: "#7f7f7f"}
NODE_LABELS = {NodeType.TEXT: "text", NodeType.NONTEXT: "non-text", NodeType.BG: "background"}


# ----------------------------------------------------------------------------- images
def load_image(path: str | Path, fmt: str = "BGR") -> np.ndarray:
    """(H, W, 3) uint8 image in ``fmt`` ("BGR" or "RGB"); ValueError naming an unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image {str(path)!r} does not exist.")
    try:
        return read_image(str(path), format=fmt)
    except Exception as e:  # PIL raises several types for truncated / non-image files
        raise ValueError(f"Cannot read image {str(path)!r}: {e}") from e


def class_colors(num_classes: int) -> list[tuple[int, int, int]]:
    """One fixed RGB colour (0-255) per class (tab10), so every model's figure matches."""
    cmap = plt.get_cmap("tab10")
    return [tuple(int(255 * c) for c in cmap(i % 10)[:3]) for i in range(num_classes)]


def to_instances(
    dets: Instances | Sequence[Mapping],
    image_size: tuple[int, int],
    class_names: Sequence[str],
    dataset_ids: Mapping[int, int] | None = None,
) -> Instances:
    """detectron2 ``Instances`` (pred_boxes, pred_classes[, scores]) from either Instances or
    COCO-style dicts (``bbox`` [x, y, w, h], ``category_id`` or ``category_name``, ``score``).

    Args:
        image_size: (H, W).
        dataset_ids: contiguous id -> dataset category id; COCO dicts' ``category_id`` are
            mapped back through it (without it they must be contiguous ids).
    """
    if isinstance(dets, Instances):
        return dets.to("cpu")
    to_contig = {int(d): int(c) for c, d in (dataset_ids or {}).items()}
    names = {n: i for i, n in enumerate(class_names)}
    out = Instances(image_size)
    xywh = np.array([d["bbox"] for d in dets], dtype=np.float32).reshape(-1, 4)
    out.pred_boxes = Boxes(
        torch.from_numpy(BoxMode.convert(xywh, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS))
    )
    cls = [
        names[d["category_name"]]
        if "category_name" in d
        else to_contig.get(int(d["category_id"]), int(d["category_id"]))
        for d in dets
    ]
    out.pred_classes = torch.tensor(cls, dtype=torch.long)
    if dets and all("score" in d for d in dets):
        out.scores = torch.tensor([float(d["score"]) for d in dets])
    return out


def draw_detections(
    image_bgr: np.ndarray,
    detections: Instances | Sequence[Mapping],
    class_names: Sequence[str],
    *,
    score_thresh: float = 0.0,
    dataset_ids: Mapping[int, int] | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """Draw boxes, class names and scores with detectron2's ``Visualizer``.

    Args:
        image_bgr: (H, W, 3) uint8 BGR page (as ``DefaultPredictor`` takes it).
        detections: ``Instances`` (a model's ``"instances"`` output) or COCO-style dicts (see
            :func:`to_instances`); detections scoring below ``score_thresh`` are not drawn.
        class_names: names by contiguous class id; colours are fixed per class.
        scale: output size relative to the image.

    Returns:
        (H', W', 3) uint8 RGB drawing.
    """
    inst = to_instances(detections, image_bgr.shape[:2], class_names, dataset_ids)
    if inst.has("scores"):
        inst = inst[inst.scores >= score_thresh]
    meta = Metadata(thing_classes=list(class_names), thing_colors=class_colors(len(class_names)))
    v = Visualizer(image_bgr[:, :, ::-1], meta, scale=scale, instance_mode=ColorMode.SEGMENTATION)
    return v.draw_instance_predictions(inst, jittering=False).get_image()


def side_by_side(
    images: Sequence[np.ndarray], titles: Sequence[str], out_png: str | Path, *, dpi: int = 150
) -> Path:
    """Save RGB images in one row, each with its title, to ``out_png``."""
    if len(images) != len(titles):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    h = max(im.shape[0] for im in images)
    w = sum(im.shape[1] for im in images)
    height_in = 5.0
    fig, axes = plt.subplots(
        1, len(images), figsize=(height_in * w / h + 0.2 * len(images), height_in + 0.4)
    )
    for ax, im, title in zip(np.atleast_1d(axes), images, titles):
        ax.imshow(im)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return _save(fig, out_png, dpi)


def _save(fig: plt.Figure, out_png: str | Path, dpi: int) -> Path:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


# ----------------------------------------------------------------------------- graphs
def _undirected_edges(graph: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """(E', 2) node pairs i < j and their similarity (mean of both directions), weakest first."""
    ei, sim = graph.edge_index, graph.edge_sim.detach().float()
    n = int(graph.num_nodes)
    dense = torch.zeros(n, n)
    count = torch.zeros(n, n)
    dense.index_put_((ei[0], ei[1]), sim, accumulate=True)
    count.index_put_((ei[0], ei[1]), torch.ones_like(sim), accumulate=True)
    both = dense + dense.T
    seen = (count + count.T) > 0
    pairs = torch.triu(seen, diagonal=1).nonzero()
    vals = both[pairs[:, 0], pairs[:, 1]] / (count + count.T)[pairs[:, 0], pairs[:, 1]]
    order = vals.argsort()
    return pairs[order], vals[order]


def draw_instance_graph(
    image_rgb: np.ndarray,
    graph: Data,
    ax: plt.Axes | None = None,
    out_png: str | Path | None = None,
    *,
    title: str | None = None,
    max_edges: int | None = 400,
    cmap: str = "magma_r",
    legend: bool = True,
) -> plt.Axes:
    """Draw an instance graph over its page, like the GraphKD paper's figure.

    Node boxes are coloured by type (text blue, non-text orange, background grey); merged text
    nodes (``cluster_size > 1``) get a thicker dashed outline. Edges join box centres; colour and
    opacity grow with the similarity ``edge_sim`` (both directions averaged). Only the
    ``max_edges`` strongest undirected edges are drawn (None: all).

    Args:
        image_rgb: (H, W, 3) page in the coordinates of ``graph.box``.
        graph: Data with box (n, 4) XYXY, node_type (n,), edge_index (2, E), edge_sim (E,)
            and optionally cluster_size (n,).
        ax: axes to draw into (a new figure when None); out_png: save the figure there.

    Returns:
        The axes.
    """
    own = ax is None
    if own:
        h, w = image_rgb.shape[:2]
        _, ax = plt.subplots(figsize=(6 * w / h + 0.5, 6))
    ax.imshow(image_rgb)
    box = graph.box.detach().float().cpu()
    centres = torch.stack([(box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2], dim=1)
    pairs, sim = _undirected_edges(graph)
    if max_edges is not None and len(sim) > max_edges:
        pairs, sim = pairs[-max_edges:], sim[-max_edges:]
    colormap = plt.get_cmap(cmap)
    if len(sim):
        segs = centres[pairs].numpy()  # (E', 2 ends, 2 coords)
        colors = colormap(sim.numpy())
        colors[:, 3] = 0.15 + 0.75 * sim.numpy()
        ax.add_collection(LineCollection(segs, colors=colors, linewidths=0.4 + 1.6 * sim.numpy()))
    _draw_nodes(ax, graph, box, centres)
    ax.set_xlim(0, image_rgb.shape[1])
    ax.set_ylim(image_rgb.shape[0], 0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    if legend:
        _graph_legend(ax)
    if own and out_png is not None:
        _save(ax.figure, out_png, 150)
    return ax


def _draw_nodes(ax: plt.Axes, graph: Data, box: torch.Tensor, centres: torch.Tensor) -> None:
    ntype = graph.node_type.cpu().tolist()
    size = graph.cluster_size.cpu().tolist() if "cluster_size" in graph else [1] * len(ntype)
    for (x0, y0, x1, y1), t, s in zip(box.tolist(), ntype, size):
        merged = s > 1 and t == NodeType.TEXT
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                fill=False,
                edgecolor=NODE_COLORS[NodeType(t)],
                linewidth=2.4 if merged else 1.0,
                linestyle="--" if merged else "-",
            )
        )
    ax.scatter(
        centres[:, 0],
        centres[:, 1],
        s=8,
        c=[NODE_COLORS[NodeType(t)] for t in ntype],
        zorder=3,
        linewidths=0,
    )


def _legend_handles() -> list[Line2D]:
    handles = [
        Line2D([], [], color=c, lw=1.5, label=NODE_LABELS[t]) for t, c in NODE_COLORS.items()
    ]
    handles.append(
        Line2D([], [], color=NODE_COLORS[NodeType.TEXT], lw=2.4, ls="--", label="merged text")
    )
    return handles


def _graph_legend(ax: plt.Axes) -> None:
    ax.legend(
        handles=_legend_handles(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        fontsize=7,
        ncol=4,
        frameon=False,
    )


def draw_graph_pair(
    image_rgb: np.ndarray,
    teacher_graph: Data,
    student_graph: Data,
    out_png: str | Path,
    *,
    titles: tuple[str, str] = ("teacher graph", "student graph"),
    max_edges: int | None = 400,
    cmap: str = "magma_r",
) -> Path:
    """Teacher and student instance graphs side by side over the same page, with one
    similarity colour bar (0..1)."""
    h, w = image_rgb.shape[:2]
    fig, axes = plt.subplots(1, 2, figsize=(2 * 5.5 * w / h + 1.2, 6.2))
    fig.subplots_adjust(bottom=0.08)
    for ax, g, t in zip(axes, (teacher_graph, student_graph), titles):
        n, e = int(g.num_nodes), int(g.edge_index.shape[1])
        draw_instance_graph(
            image_rgb,
            g,
            ax,
            title=f"{t}: {n} nodes, {e} edges",
            max_edges=max_edges,
            cmap=cmap,
            legend=False,
        )
    fig.legend(handles=_legend_handles(), loc="lower center", ncol=4, fontsize=8, frameon=False)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=list(axes), fraction=0.03, pad=0.01, label="edge similarity")
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return out
