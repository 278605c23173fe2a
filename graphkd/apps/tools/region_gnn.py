"""Region classification with a GNN over GraphKD's instance graphs, against an MLP (no edges).

    python scripts/region_gnn.py [dataset=synthetic] [checkpoint=TEACHER_DIR|.pth|.yaml]
        [model=student] [conv=gcn] [epochs=200] [hidden=128] [layers=2] [lr=0.01] [dropout=0.2]
        [topk=0] [geometry=true] [descriptor=mean] [max_train=0] [max_val=0] [seed=0] [seeds=1]
        [out=JSON] [threads=N]
        [any training override, e.g. dataset=docbank dataset.root=ROOT dataset.num_val=128]

Each page's ground-truth regions are pooled from a detectron2 Faster R-CNN's FPN with its own
``box_pooler`` (:func:`detectors.roi_features.pool_boxes`: 7x7 RoIAlign, p2-p5): the model of
``checkpoint`` (e.g. the demo teacher, outputs/teachers/<...>/model_final.pth), else a randomly
initialised detector of the config's ``pair.<model>`` (student: R18 by default).
``graph.GraphBuilder.build`` turns the regions into instance graphs (one node per region,
``merge=False``; Mahalanobis edges under running statistics warmed up on the training pages, then
frozen). A node's input is its descriptor ``z`` (+ 8 box numbers with ``geometry``), its label its
class. ``graph.examples.region_classification`` trains a GNN (``conv``: gcn / sage / gat over the
graph's edges, ``edge_sim`` as weight; ``topk`` keeps each node's k most similar out-edges) and an
MLP of the same size on the same inputs, and this prints both models' validation accuracy and
macro-F1 (train pages -> val pages): mean +- std over ``seeds`` training seeds (seed, seed+1, ...;
same seed = same initial weights for both models' shared layers and the same dropout masks), and
the per-seed difference GNN - MLP.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from graphkd.apps.tool import register_tool, run_tool
from graphkd.core.config import Config

__all__ = ["RegionGnnOptions", "main", "pool_regions", "region_gnn"]


@dataclass
class RegionGnnOptions(Config):
    """The training config (``configs/config.yaml``: dataset, pair, trainer sizes) plus the
    study's own keys."""

    checkpoint: str | None = None
    model: str = "student"
    conv: str = "gcn"
    epochs: int = 200
    hidden: int = 128
    layers: int = 2
    lr: float = 0.01
    dropout: float = 0.2
    topk: int = 0
    geometry: bool = True
    descriptor: str = "mean"
    max_train: int = 0
    max_val: int = 0
    seed: int = 0
    seeds: int = 1
    out: str | None = None
    threads: int | None = None


register_tool("region_gnn", RegionGnnOptions, __doc__)


def load_backbone_model(cfg, data, checkpoint: str | None, role: str, seed: int):
    """(detector in eval mode, min_size, max_size, input format): trained when ``checkpoint``."""
    from detectors.build import build_detector
    from graphkd.apps.artifacts import load_model, resolve_model
    from graphkd.core.d2config import detector_cfg

    if checkpoint:
        files = resolve_model(checkpoint)
        d2 = files.cfg
        model = load_model(files)
    else:
        if role not in ("teacher", "student"):
            raise SystemExit(f"error: model={role!r}; use teacher or student (pair.<model>)")
        d2 = detector_cfg(cfg, role, data)
        d2.MODEL.DEVICE = "cpu"
        torch.manual_seed(seed)
        model = build_detector(d2).eval()
    return model, d2.INPUT.MIN_SIZE_TEST, d2.INPUT.MAX_SIZE_TEST, d2.INPUT.FORMAT


@torch.no_grad()
def pool_regions(model, dataset_dicts, min_size: int, max_size: int, image_format: str) -> list:
    """Per page with annotations: (features (N, C, 7, 7), boxes (N, 4) / page size, classes (N,))."""
    from detectors.roi_features import pool_boxes
    from graphkd.apps.page_graphs import page_input

    pages = []
    for dd in dataset_dicts:
        if not dd.get("annotations"):
            continue
        inp = page_input(dd, min_size, max_size, image_format)
        inst = inp["instances"]
        if len(inst) == 0:
            continue
        feats = pool_boxes(model, [inp], [inst.gt_boxes])
        h, w = inp["image"].shape[1:]
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        pages.append((feats.cpu(), inst.gt_boxes.tensor.cpu() / scale, inst.gt_classes.cpu()))
    return pages


def graph_tensors(builder, pages: list, geometry: bool, topk: int, update_stats: bool):
    """(x, edge_index, edge_sim, y) of all pages as one Batch (see region_classification)."""
    from graph.examples.region_classification import node_inputs, node_labels, topk_edges

    feats, boxes, classes = (list(t) for t in zip(*pages))
    g = builder.build(feats, boxes, classes, update_stats=update_stats)
    ei, sim = topk_edges(g, topk)
    return node_inputs(g, geometry), ei, sim.detach().float(), node_labels(g, torch.cat(classes))


def _pool_splits(opts: DictConfig, data) -> dict[str, list]:
    """``pool_regions`` of the train and val pages (capped by max_train / max_val)."""
    from detectron2.data import DatasetCatalog

    model, min_size, max_size, fmt = load_backbone_model(
        opts, data, opts.checkpoint, opts.model, opts.seed
    )
    splits = {}
    for split, name, cap in (
        ("train", data.train, opts.max_train),
        ("val", data.val, opts.max_val),
    ):
        dicts = DatasetCatalog.get(name)
        dicts = dicts[:cap] if cap else dicts
        splits[split] = pool_regions(model, dicts, min_size, max_size, fmt)
    return splits


def _graphs(opts: DictConfig, data, splits: dict[str, list]) -> tuple:
    """(builder, train tensors, val tensors); statistics warmed up on the training pages."""
    from graph import GraphBuilder

    builder = GraphBuilder(
        text_classes=data.text_class_ids,
        num_classes=len(data.classes),
        teacher_channels=splits["train"][0][0].shape[1],
        descriptor=opts.descriptor,
        shrinkage="ledoit_wolf",  # the shrinkage its results were measured with
        merge=False,
    )
    geometry, topk = opts.geometry, opts.topk
    for i in range(0, len(splits["train"]), 16):
        graph_tensors(builder, splits["train"][i : i + 16], geometry, topk, update_stats=True)
    train = graph_tensors(builder, splits["train"], geometry, topk, update_stats=False)
    val = graph_tensors(builder, splits["val"], geometry, topk, update_stats=False)
    return builder, train, val


def _fit_both(opts: DictConfig, num_classes: int, train, val) -> dict[str, list]:
    """GNN and MLP runs per training seed: {"gnn_<conv>": [...], "mlp": [...]}."""
    from graph.examples.region_classification import RegionClassifier, fit

    hp = dict(hidden=opts.hidden, layers=opts.layers, dropout=opts.dropout)
    runs: dict[str, list] = {f"gnn_{opts.conv}": [], "mlp": []}
    for s in range(opts.seed, opts.seed + opts.seeds):
        for name, layer in ((f"gnn_{opts.conv}", opts.conv), ("mlp", "none")):
            torch.manual_seed(s)
            clf = RegionClassifier(train[0].shape[1], num_classes, conv=layer, **hp)
            res = fit(clf, train, val, epochs=opts.epochs, lr=opts.lr, seed=s)
            runs[name].append({"seed": s, "val": res.val, "train": res.train,
                               "final_loss": res.losses[-1]})  # fmt: skip
    return runs


def summarise(runs: list[dict]) -> dict:
    """'mean +- std' strings (over seeds) of val accuracy, val macro-F1 and train accuracy."""

    def ms(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} +- {sd:.3f}"

    return {
        "val_accuracy": ms([r["val"]["accuracy"] for r in runs]),
        "val_macro_f1": ms([r["val"]["macro_f1"] for r in runs]),
        "train_accuracy": ms([r["train"]["accuracy"] for r in runs]),
    }


def _print(report: dict, out: Path) -> None:
    print(f"{report['pages']} pages, {report['regions']} regions; backbone: {report['backbone']}")
    print(f"{'model':<10} {'val accuracy':>16} {'val macro-F1':>16} {'train accuracy':>16}")
    for k, r in report["results"].items():
        print(f"{k:<10} {r['val_accuracy']:>16} {r['val_macro_f1']:>16} {r['train_accuracy']:>16}")
    seeds = [r["seed"] for r in next(iter(report["runs"].values()))]
    print(
        f"GNN - MLP val accuracy per seed {seeds}: {report['gnn_minus_mlp_val_accuracy_per_seed']}"
    )
    s = report["seconds"]
    print(f"pooling {s['pool_regions']:.0f} s, training {s['train_both']:.0f} s; wrote {out}")


def region_gnn(opts: DictConfig) -> dict:
    """Run the study (see the module docstring); writes the JSON report and returns it."""
    from graphkd.core.data import prepare_data

    if opts.threads:
        torch.set_num_threads(opts.threads)  # 1 on a busy machine: OpenMP threads then contend
    data = prepare_data(opts.dataset)
    t0 = time.perf_counter()
    splits = _pool_splits(opts, data)
    t_pool = time.perf_counter() - t0
    builder, train, val = _graphs(opts, data, splits)
    t1 = time.perf_counter()
    runs = _fit_both(opts, len(data.classes), train, val)
    t_fit = time.perf_counter() - t1
    gnn_acc, mlp_acc = ([r["val"]["accuracy"] for r in runs[k]] for k in runs)
    report = {
        "dataset": opts.dataset.name,
        "classes": list(data.classes),
        "backbone": opts.checkpoint or f"random {opts.pair[opts.model].backbone}",
        "pages": {k: len(v) for k, v in splits.items()},
        "regions": {"train": int(train[3].numel()), "val": int(val[3].numel())},
        "options": {"hidden": opts.hidden, "layers": opts.layers, "dropout": opts.dropout,
                    "geometry": opts.geometry, "topk": opts.topk, "seed": opts.seed,
                    "descriptor": builder.cfg.descriptor, "epochs": opts.epochs},
        "seconds": {"pool_regions": round(t_pool, 1), "train_both": round(t_fit, 1)},
        "results": {name: summarise(r) for name, r in runs.items()},
        "gnn_minus_mlp_val_accuracy_per_seed": [round(g - m, 4) for g, m in zip(gnn_acc, mlp_acc)],
        "runs": runs,
    }  # fmt: skip
    out = Path(opts.out or f"{opts.outputs}/region_gnn/{opts.dataset.name}_{opts.conv}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    _print(report, out)
    return report


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``scripts/region_gnn.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("region_gnn", region_gnn, argv)
