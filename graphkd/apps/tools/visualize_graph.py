"""Draw the teacher's and the student's instance graphs of one page, side by side.

    python scripts/visualize_graph.py teacher=TEACHER_DIR student=RUN_DIR image=PAGE.jpg \
        out=graph.png [gt=COCO.json] [kd=graphkd|dsig] [seed=0] [max_edges=400] \
        [split_mode=gt] [merge=true] [merge_ratio=1.0] [edge_metric=mahalanobis] \
        [bg_threshold=0.6] [bg_topk=64] [score_thresh=0.5]

teacher: teacher dir (config.yaml + model_final.pth), its config .yaml or its .pth.
student: a student run dir from scripts/distill.py (student_config.yaml, model_student.pth,
    label_map.json; its model_final.pth also holds the graph builder's running covariance
    statistics, which are loaded so edges are the Mahalanobis distances used in training).
image: the page. The nodes are the RoIs the student samples in training, pooled from both
    models, so every RoI needs a role (its GT class or background):
gt: a COCO json with the page's annotations, found by the image's file name (basename match);
    categories are matched to the student's classes by name. Without gt=, the teacher's
    detections scoring >= score_thresh stand in for the ground truth (a preview only).
kd: graph options of the student run's saved config (its config_resolved.yaml), or of another
    preset composed from configs/ (kd=graphkd, kd=dsig, ...). Any field of graph.GraphConfig
    (split_mode, merge, merge_ratio, edge_metric, bg_threshold, bg_topk, descriptor, ...) given
    as key=value overrides that option.
Boxes are drawn in the original image's pixels (the models see it resized to INPUT.MIN_SIZE_TEST).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from detectron2.data import transforms as T
from detectron2.structures import BoxMode
from omegaconf import MISSING, DictConfig

from detectors.datasets import load_coco_dataset
from graph import GraphConfig, NodeType
from graphkd.apps.artifacts import load_graph_builder, load_model, resolve_model
from graphkd.apps.page_graphs import graph_for_page, page_input
from graphkd.apps.tool import register_tool, run_tool
from graphkd.apps.visualize import draw_graph_pair, load_image

__all__ = ["VisualizeGraphOptions", "gt_dataset_dict", "main", "visualize_graph"]


@dataclass
class VisualizeGraphOptions(GraphConfig):
    """The tool's own keys; the inherited :class:`graph.GraphConfig` fields given on the command
    line override the run's graph options (they arrive in ``overrides``)."""

    teacher: str = MISSING
    student: str = MISSING
    image: str = MISSING
    out: str = MISSING
    gt: str | None = None
    kd: str | None = None
    seed: int = 0
    max_edges: int = 400
    score_thresh: float = 0.5
    overrides: list[str] = field(default_factory=list)


register_tool("visualize_graph", VisualizeGraphOptions, __doc__)


def gt_dataset_dict(gt_json: str, image: Path, classes: list[str]) -> dict:
    """The detectron2 dataset dict of ``image`` from a COCO json (matched by file name)."""
    dicts, _, _ = load_coco_dataset(gt_json, image.parent, classes, check_images="none")
    for d in dicts:
        if Path(d["file_name"]).name == image.name:
            return {**d, "file_name": str(image)}
    raise ValueError(f"{gt_json} has no image named {image.name!r}; pass the json of its split.")


def pseudo_dataset_dict(teacher, cfg, image: Path, score_thresh: float) -> dict:
    """A dataset dict whose annotations are the teacher's detections (score >= score_thresh)."""
    bgr = load_image(image, "BGR")
    resized = T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    img = resized.get_transform(bgr).apply_image(bgr)
    img = img[:, :, ::-1] if cfg.INPUT.FORMAT == "RGB" else img
    inputs = {"image": torch.as_tensor(img.transpose(2, 0, 1).copy()),
              "height": bgr.shape[0], "width": bgr.shape[1]}  # fmt: skip
    with torch.no_grad():
        inst = teacher.eval()([inputs])[0]["instances"].to("cpu")  # original image pixels
    inst = inst[inst.scores >= score_thresh]
    if len(inst) == 0:
        raise ValueError(
            f"The teacher finds nothing in {image} above score_thresh={score_thresh}; "
            "pass gt=COCO.json with the page's annotations or lower score_thresh."
        )
    anns = [
        {"bbox": b, "bbox_mode": BoxMode.XYXY_ABS, "category_id": c}
        for b, c in zip(inst.pred_boxes.tensor.tolist(), inst.pred_classes.tolist())
    ]
    return {"file_name": str(image), "height": bgr.shape[0], "width": bgr.shape[1],
            "annotations": anns}  # fmt: skip


def describe(name: str, g) -> str:
    t = g.node_type
    merged = int(((g.cluster_size > 1) & (t == NodeType.TEXT)).sum())
    return (
        f"{name}: {int(g.num_nodes)} nodes ({int((t == NodeType.TEXT).sum())} text, "
        f"{int((t == NodeType.NONTEXT).sum())} non-text, {int((t == NodeType.BG).sum())} bg; "
        f"{merged} merged text), {int(g.edge_index.shape[1])} edges"
    )


def visualize_graph(opts: DictConfig) -> Path:
    """Draw the page's two graphs (see the module docstring); returns the PNG's path."""
    given = [o.lstrip("+").partition("=")[0] for o in opts.overrides]
    graph_opts = {k: opts[k] for k in given}  # typed by GraphConfig's fields
    t_files, s_files = resolve_model(opts.teacher), resolve_model(opts.student)
    image = Path(opts.image)
    rgb = load_image(image, "RGB")
    teacher, student = load_model(t_files), load_model(s_files)
    classes = s_files.classes
    builder, kd, loaded = load_graph_builder(
        teacher, student, classes, s_files.text_classes, s_files.run_dir, kd=opts.kd,
        overrides=graph_opts,
    )  # fmt: skip
    if builder.needs_stats and not builder.teacher_stats.is_ready:
        found = f"{builder.teacher_stats.num_samples:.0f} samples" if loaded else "none"
        print(f"note: the run's graph statistics are not ready ({found}); Mahalanobis edges use "
              "the identity covariance (Euclidean on descriptors)", file=sys.stderr)  # fmt: skip
    cfg = s_files.cfg
    if opts.gt:
        dd = gt_dataset_dict(opts.gt, image, classes)
    else:
        dd = pseudo_dataset_dict(teacher, t_files.cfg, image, opts.score_thresh)
    page = page_input(dd, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, cfg.INPUT.FORMAT)
    tg, sg = graph_for_page(teacher, student, builder, page, seed=opts.seed)
    t_arch = t_files.cfg.MODEL.BACKBONE.get("ARCH", "") or "teacher"
    s_arch = cfg.MODEL.BACKBONE.get("ARCH", "") or "student"
    out = draw_graph_pair(
        rgb, tg, sg, opts.out,
        titles=(f"teacher {t_arch}", f"student {s_arch} (kd={kd})"),
        max_edges=opts.max_edges,
    )  # fmt: skip
    print(describe("teacher", tg))
    print(describe("student", sg))
    print(f"wrote {out}")
    return out


def main(argv: Sequence[str] | None = None) -> Path | None:
    """``scripts/visualize_graph.py``: the command line (``argv`` None) or a list of overrides."""
    return run_tool("visualize_graph", visualize_graph, argv)
