#!/usr/bin/env python
"""Edge-target headroom: how much of the teacher's edge target a student WITHOUT KD already has.

    python scripts/edge_headroom.py student=outputs/demo/runs/none/seed0 [pages=32]
        [any Hydra override naming the dataset / pair / trainer of that run]

For each edge option (descriptor x whitening shrinkage, and DSIG's cosine edges) it builds the
teacher's and the kd=none student's instance graphs on the same sampled RoIs of ``pages`` training
pages (running statistics warmed up on the first half, measured on the second half) and prints
JSON: the Pearson correlation of teacher vs student edge similarities (pooled over all edges, and
the mean over pages). A correlation near 1 means the student reproduces that target without
being taught it: little left to distil. About a minute on 2 CPU cores; screen options with it before training.
"""

from __future__ import annotations

import json
import sys

import torch
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage

from graphkd.apps.kvargs import parse_kv, split_own
from detectors.roi_features import extract_roi_features
from graph import GraphBuilder
from graphkd.apps.artifacts import graph_config, load_model, resolve_model
from graphkd.apps.cli import compose_config
from graphkd.core.data import prepare_data
from graphkd.core.distiller import build_graph_pair
from graphkd.core.models import teacher_dir
from graphkd.apps.page_graphs import page_input, train_mode_without_bn_updates

OPTIONS = {
    "mahalanobis mean, ledoit_wolf (kd=graphkd_paper)": dict(descriptor="mean", shrinkage="ledoit_wolf"),
    "mahalanobis mean, shrinkage 0.5": dict(descriptor="mean", shrinkage=0.5),
    "mahalanobis mean, shrinkage 0.9": dict(descriptor="mean", shrinkage=0.9),
    "mahalanobis meanmax, ledoit_wolf": dict(descriptor="meanmax", shrinkage="ledoit_wolf"),
    "mahalanobis meanmax, shrinkage 0.5": dict(descriptor="meanmax", shrinkage=0.5),
    "mahalanobis meanmax, shrinkage 0.9": dict(descriptor="meanmax", shrinkage=0.9),
    "euclidean meanmax (shrinkage 1)": dict(descriptor="meanmax", shrinkage=1.0),
    "cosine of flattened features (kd=dsig)": dict(edge_metric="cosine"),
}  # fmt: skip


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = (a.norm() * b.norm()).item()
    return float((a @ b).item() / den) if den > 0 else float("nan")


def headroom(student_dir: str, pages: int = 32, overrides: list[str] | None = None) -> dict:
    cfg = compose_config(list(overrides or []) + ["kd=none"])
    data = prepare_data(cfg.dataset)
    teacher = load_model(resolve_model(teacher_dir(cfg)))
    student_files = resolve_model(student_dir)
    student = load_model(student_files)
    s_cfg = student_files.cfg
    dicts = [d for d in DatasetCatalog.get(data.train) if d.get("annotations")][:pages]
    if len(dicts) < 2:
        raise ValueError(f"{data.train} has {len(dicts)} annotated pages; need at least 2")
    feats = []
    train_mode_without_bn_updates(student)
    teacher.eval()
    for i, d in enumerate(dicts):  # one forward per page, reused by every option
        torch.manual_seed(i)
        page = page_input(d, s_cfg.INPUT.MIN_SIZE_TEST, s_cfg.INPUT.MAX_SIZE_TEST)
        with torch.no_grad(), EventStorage():
            feats.append(extract_roi_features(student, teacher, [page]))
    warm, measure = feats[: len(feats) // 2], feats[len(feats) // 2 :]
    base = graph_config("graphkd")[1]
    results = {}
    for name, opts in OPTIONS.items():
        builder = GraphBuilder(
            data.text_class_ids,
            len(data.classes),
            base.replace(student_momentum=None, **opts),
            teacher_channels=teacher.backbone.output_shape()["p2"].channels,
            student_channels=student.backbone.output_shape()["p2"].channels,
        )
        with torch.no_grad():
            for f in warm:
                build_graph_pair(builder, f, update_stats=True)
            t_sim, s_sim, per_page = [], [], []
            for f in measure:
                t, s = build_graph_pair(builder, f, update_stats=False)
                ts, ss = t.edge_sim, s.edge_sim
                t_sim.append(ts)
                s_sim.append(ss)
                if ts.numel() > 2:
                    per_page.append(_corr(ts, ss))
        results[name] = {
            "corr_pooled": round(_corr(torch.cat(t_sim), torch.cat(s_sim)), 4),
            "corr_mean_per_page": round(sum(per_page) / max(len(per_page), 1), 4),
            "edges": int(sum(x.numel() for x in t_sim)),
        }
    return {"student": student_dir, "pages": len(feats), "options": results}


def main(argv: list[str]) -> None:
    own, overrides = split_own(argv, ("student", "pages"))
    a = parse_kv(own, {"student": str, "pages": int}, ("student",), __doc__)
    print(json.dumps(headroom(a["student"], a.get("pages", 32), overrides), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
