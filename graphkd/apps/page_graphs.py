"""Instance graphs of one page, built exactly as distillation builds them.

:func:`graph_for_page` runs the student in training mode (RPN proposals + detectron2's RoI
sampling), pools both models' RoI features and builds the pair of graphs with a
:class:`graph.GraphBuilder`; boxes come back in the ORIGINAL image's pixel coordinates, ready for
:func:`graphkd.apps.visualize.draw_instance_graph`. :func:`page_input` turns a detectron2 dataset dict
into that training-style input.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from detectron2.data import transforms as T
from detectron2.utils.events import EventStorage
from torch import nn
from torch_geometric.data import Data

from detectors.datasets import ImageCheckingMapper
from detectors.roi_features import extract_roi_features
from graph import GraphBuilder
from graphkd.core.distiller import build_graph_pair

__all__ = ["graph_for_page", "page_input", "train_mode_without_bn_updates"]


def page_input(
    dataset_dict: Mapping, min_size: int, max_size: int, image_format: str = "BGR"
) -> dict:
    """A training-style batched input of one page: the image resized as at test time (no flip)
    and its GT ``instances``, via detectron2's ``DatasetMapper(is_train=True)`` with the training
    loader's image checks (:class:`detectors.datasets.ImageCheckingMapper`: an unreadable or
    wrongly sized image is a ValueError naming the file).

    Args:
        dataset_dict: detectron2 dataset dict (file_name, height, width, annotations with
            bbox, bbox_mode, category_id as contiguous class ids).
        min_size, max_size: ``INPUT.MIN_SIZE_TEST`` / ``INPUT.MAX_SIZE_TEST`` of the student.
    """
    if not dataset_dict.get("annotations"):
        raise ValueError(
            f"{dataset_dict.get('file_name')}: the page needs ground-truth 'annotations' to give "
            "RoIs their roles (text / non-text / background)."
        )
    mapper = ImageCheckingMapper(
        True, augmentations=[T.ResizeShortestEdge(min_size, max_size)], image_format=image_format
    )
    return mapper(dict(dataset_dict))


def train_mode_without_bn_updates(model: nn.Module) -> None:
    """Training mode (RoI sampling needs it) with BatchNorm layers in eval mode, so their
    statistics do not move while we only look."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _to_original(graph: Data, sx: float, sy: float) -> Data:
    g = graph.clone()
    g.box_input = graph.box
    g.box = graph.box * graph.box.new_tensor([sx, sy, sx, sy])
    return g


def graph_for_page(
    teacher: nn.Module,
    student: nn.Module,
    builder: GraphBuilder,
    page: Mapping,
    *,
    seed: int = 0,
    update_stats: bool = False,
) -> tuple[Data, Data]:
    """Teacher and student instance graphs of one page, as distillation builds them.

    Runs :func:`detectors.roi_features.extract_roi_features` with the student in training mode
    (RPN proposals + detectron2's RoI sampling, seeded by ``seed``), without gradients and under
    a fresh ``EventStorage``, then ``builder.build_pair``. Both models' modes are restored.

    Args:
        teacher, student: detectron2 Faster R-CNNs with the same classes and pooler.
        builder: the graph builder; load its running statistics first (see
            :func:`graphkd.apps.artifacts.load_builder_state`), else edges use the identity covariance.
        page: a batched input from :func:`page_input` (``image`` (3, h, w) resized,
            ``instances`` GT, ``height`` / ``width`` of the original image).
        update_stats: also feed this page into the builder's running statistics.

    Returns:
        (teacher, student) ``Data``; ``box`` is in ORIGINAL image pixels (``box_input`` keeps the
        resized-input coordinates the models saw).
    """
    modes = (teacher.training, student.training)
    torch.manual_seed(seed)
    try:
        train_mode_without_bn_updates(student)
        with torch.no_grad(), EventStorage():
            feats = extract_roi_features(student, teacher, [dict(page)])
            t, s = build_graph_pair(builder, feats, update_stats=update_stats)
    finally:
        teacher.train(modes[0])
        student.train(modes[1])
    h, w = feats.image_sizes[0]
    H, W = page.get("height", h), page.get("width", w)
    return _to_original(t.get_example(0), W / w, H / h), _to_original(
        s.get_example(0), W / w, H / h
    )
