"""Region classification with a GNN over GraphKD's instance graphs, against an MLP (no edges).

    python scripts/region_gnn.py [dataset=synthetic] [checkpoint=TEACHER_DIR|.pth|.yaml]
        [model=student] [conv=gcn] [epochs=200] [hidden=128] [layers=2] [lr=0.01] [dropout=0.2]
        [topk=0] [geometry=true] [descriptor=mean] [max_train=0] [max_val=0] [seed=0] [seeds=1]
        [out=JSON] [threads=N]
        [any Hydra override of configs/, e.g. dataset=docbank dataset.root=ROOT dataset.num_val=128]

Each page's ground-truth regions are pooled from a detectron2 Faster R-CNN's FPN with its own
``box_pooler`` (ROIPooler, 7x7 RoIAlign, p2-p5): the model of ``checkpoint`` (e.g. the demo
teacher, outputs/teachers/<...>/model_final.pth), else a randomly initialised detector of the
config's ``pair.<model>`` (student: R18 by default). ``graph.GraphBuilder.build`` turns the regions
into instance graphs (one node per region, ``merge=False``; Mahalanobis edges under running
statistics warmed up on the training pages, then frozen). A node's input is its descriptor ``z``
(+ 8 box numbers with ``geometry``), its label its class. ``graph.examples.region_classification``
trains a GNN (``conv``: gcn / sage / gat over the graph's edges, ``edge_sim`` as weight; ``topk``
keeps each node's k most similar out-edges) and an MLP of the same size on the same inputs, and
this prints both models' validation accuracy and macro-F1 (train pages -> val pages): mean +- std
over ``seeds`` training seeds (seed, seed+1, ...; same seed = same initial weights for both
models' shared layers and the same dropout masks), and the per-seed difference GNN - MLP.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from graphkd.apps.kvargs import parse_kv, split_own
from graphkd.apps.cli import compose_config

SPEC = {"checkpoint": str, "model": str, "conv": str, "epochs": int, "hidden": int,
        "layers": int, "lr": float, "dropout": float, "topk": int, "geometry": bool,
        "descriptor": str, "max_train": int, "max_val": int, "seed": int, "seeds": int,
        "out": str, "threads": int}  # fmt: skip


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
    from graphkd.apps.page_graphs import page_input

    heads = model.roi_heads
    pages = []
    for dd in dataset_dicts:
        if not dd.get("annotations"):
            continue
        inp = page_input(dd, min_size, max_size, image_format)
        inst = inp["instances"]
        if len(inst) == 0:
            continue
        fpn = model.backbone(model.preprocess_image([inp]).tensor)
        boxes = inst.gt_boxes.to(model.device)
        feats = heads.box_pooler([fpn[f] for f in heads.box_in_features], [boxes])
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


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, overrides = split_own(argv, SPEC)
    a = parse_kv(own, SPEC, (), __doc__)
    seed = a.get("seed", 0)
    if a.get("threads"):
        torch.set_num_threads(a["threads"])  # 1 on a busy machine: OpenMP threads then contend

    from detectron2.data import DatasetCatalog

    from graph import GraphBuilder
    from graph.examples.region_classification import RegionClassifier, fit
    from graphkd.core.data import prepare_data

    cfg = compose_config(overrides)
    data = prepare_data(cfg.dataset)
    model, min_size, max_size, fmt = load_backbone_model(
        cfg, data, a.get("checkpoint"), a.get("model", "student"), seed
    )
    t0 = time.perf_counter()
    splits = {}
    for split, name, cap in (("train", data.train, "max_train"), ("val", data.val, "max_val")):
        dicts = DatasetCatalog.get(name)
        dicts = dicts[: a[cap]] if a.get(cap) else dicts
        splits[split] = pool_regions(model, dicts, min_size, max_size, fmt)
    t_pool = time.perf_counter() - t0
    channels = splits["train"][0][0].shape[1]

    builder = GraphBuilder(
        text_classes=data.text_class_ids,
        num_classes=len(data.classes),
        teacher_channels=channels,
        descriptor=a.get("descriptor", "mean"),
        merge=False,
    )
    geometry, topk = a.get("geometry", True), a.get("topk", 0)
    for i in range(0, len(splits["train"]), 16):  # statistics warm-up on the training pages
        graph_tensors(builder, splits["train"][i : i + 16], geometry, topk, update_stats=True)
    train = graph_tensors(builder, splits["train"], geometry, topk, update_stats=False)
    val = graph_tensors(builder, splits["val"], geometry, topk, update_stats=False)

    hp = dict(hidden=a.get("hidden", 128), layers=a.get("layers", 2), dropout=a.get("dropout", 0.2))
    conv = a.get("conv", "gcn")
    seeds = list(range(seed, seed + a.get("seeds", 1)))
    runs: dict[str, list] = {f"gnn_{conv}": [], "mlp": []}
    t1 = time.perf_counter()
    for s in seeds:
        for name, layer in ((f"gnn_{conv}", conv), ("mlp", "none")):
            torch.manual_seed(s)
            clf = RegionClassifier(train[0].shape[1], len(data.classes), conv=layer, **hp)
            res = fit(clf, train, val, epochs=a.get("epochs", 200), lr=a.get("lr", 0.01), seed=s)
            runs[name].append({"seed": s, "val": res.val, "train": res.train,
                               "final_loss": res.losses[-1]})  # fmt: skip
    t_fit = time.perf_counter() - t1
    results = {name: summarise(r) for name, r in runs.items()}
    gnn_acc, mlp_acc = ([r["val"]["accuracy"] for r in runs[k]] for k in (f"gnn_{conv}", "mlp"))
    diffs = [round(g - m, 4) for g, m in zip(gnn_acc, mlp_acc)]

    report = {
        "dataset": cfg.dataset.name,
        "classes": list(data.classes),
        "backbone": a.get("checkpoint") or f"random {cfg.pair[a.get('model', 'student')].backbone}",
        "pages": {k: len(v) for k, v in splits.items()},
        "regions": {"train": int(train[3].numel()), "val": int(val[3].numel())},
        "options": {**hp, "geometry": geometry, "topk": topk, "seed": seed,
                    "descriptor": builder.cfg.descriptor, "epochs": a.get("epochs", 200)},
        "seconds": {"pool_regions": round(t_pool, 1), "train_both": round(t_fit, 1)},
        "results": results,
        "gnn_minus_mlp_val_accuracy_per_seed": diffs,
        "runs": runs,
    }  # fmt: skip
    out = Path(
        a.get("out") or f"{cfg.outputs}/region_gnn/{cfg.dataset.name}_{a.get('conv', 'gcn')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"{report['pages']} pages, {report['regions']} regions; backbone: {report['backbone']}")
    print(f"{'model':<10} {'val accuracy':>16} {'val macro-F1':>16} {'train accuracy':>16}")
    for k, r in results.items():
        print(f"{k:<10} {r['val_accuracy']:>16} {r['val_macro_f1']:>16} {r['train_accuracy']:>16}")
    print(f"GNN - MLP val accuracy per seed {seeds}: {diffs}")
    print(f"pooling {t_pool:.0f} s, training {t_fit:.0f} s; wrote {out}")


def summarise(runs: list[dict]) -> dict:
    """'mean +- std' strings (over seeds) of val accuracy, val macro-F1 and train accuracy."""
    import statistics

    def ms(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} +- {sd:.3f}"

    return {
        "val_accuracy": ms([r["val"]["accuracy"] for r in runs]),
        "val_macro_f1": ms([r["val"]["macro_f1"] for r in runs]),
        "train_accuracy": ms([r["train"]["accuracy"] for r in runs]),
    }


if __name__ == "__main__":
    main()
