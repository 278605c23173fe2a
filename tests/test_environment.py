"""Smoke tests that prove the reference environment: detectron2, torch_geometric, pycocotools."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

logger = logging.getLogger(__name__)


def test_detectron2_imports_and_reports_compiled_ops():
    import detectron2

    try:
        from detectron2 import _C  # noqa: F401

        has_c = True
    except ImportError:
        has_c = False
    logger.info("detectron2 %s, compiled _C loaded: %s", detectron2.__version__, has_c)
    assert detectron2.__version__
    # The reference wheel (sal-detectron2 0.7.2) is built against torch 2.3.1; there _C must load.
    if torch.__version__.startswith("2.3.1"):
        assert has_c, "detectron2._C failed to load with the reference torch 2.3.1"


def test_faster_rcnn_r18_fpn_one_training_step_cpu():
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from detectron2.structures import Boxes, Instances
    from detectron2.utils.events import EventStorage

    torch.manual_seed(0)
    cfg = get_cfg()
    # Faster R-CNN + FPN spelled out on detectron2's defaults (no model-zoo file, no download).
    cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[32], [64], [128], [256], [512]]
    cfg.MODEL.RPN.IN_FEATURES = ["p2", "p3", "p4", "p5", "p6"]
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 2
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.NORM = "GN"
    cfg.MODEL.FPN.NORM = "GN"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 5
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 64
    cfg.INPUT.MIN_SIZE_TRAIN = (256,)
    model = build_model(cfg)
    model.train()

    inst = Instances((256, 256))
    inst.gt_boxes = Boxes(torch.tensor([[20.0, 20.0, 200.0, 60.0], [30.0, 100.0, 220.0, 230.0]]))
    inst.gt_classes = torch.tensor([0, 3])
    batch = [{"image": torch.randint(0, 255, (3, 256, 256)).float(), "instances": inst}]

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with EventStorage(0):  # detectron2 logs training statistics into it
        losses = model(batch)
    assert set(losses) >= {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    before = model.roi_heads.box_predictor.cls_score.weight.detach().clone()
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    assert not torch.equal(before, model.roi_heads.box_predictor.cls_score.weight)


def test_torch_geometric_data_and_batch():
    from torch_geometric.data import Batch, Data

    g1 = Data(x=torch.randn(3, 4), edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]))
    g2 = Data(x=torch.randn(2, 4), edge_index=torch.tensor([[0, 1], [1, 0]]))
    b = Batch.from_data_list([g1, g2])
    assert b.num_graphs == 2 and b.num_nodes == 5
    assert b.edge_index[:, 3:].tolist() == [[3, 4], [4, 3]]  # offset by g1's node count
    assert b.batch.tolist() == [0, 0, 0, 1, 1]


def test_pycocotools_perfect_prediction_gives_ap_one(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    boxes = {1: [[10, 10, 50, 30], [70, 20, 40, 60]], 2: [[5, 5, 80, 80]]}
    gt = {
        "images": [{"id": i, "width": 128, "height": 128, "file_name": f"{i}.png"} for i in boxes],
        "categories": [{"id": 1, "name": "text"}, {"id": 2, "name": "figure"}],
        "annotations": [],
    }
    dets = []
    for img_id, bs in boxes.items():
        for k, b in enumerate(bs):
            cat = 1 + k % 2
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": img_id,
                    "category_id": cat,
                    "bbox": b,
                    "area": b[2] * b[3],
                    "iscrowd": 0,
                }
            )
            dets.append({"image_id": img_id, "category_id": cat, "bbox": b, "score": 0.9})
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    coco_gt = COCO(str(path))
    coco_dt = coco_gt.loadRes(dets)
    ev = COCOeval(coco_gt, coco_dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    assert np.isfinite(ev.stats).all()
