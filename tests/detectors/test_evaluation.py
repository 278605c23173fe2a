"""COCO box evaluation on hand-made cases with known AP, the evaluator, the CLI, no detectron2._C."""

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from detectors.evaluation import COCOBoxEvaluator, evaluate_coco

ROOT = Path(__file__).resolve().parents[2]


def _gt():
    """Two 640x640 images, one 100x100 GT box each (area 10000 -> COCO 'large'), class 'text'."""
    images = [{"id": 7, "width": 640, "height": 640, "file_name": "a.jpg"},
              {"id": 9, "width": 640, "height": 640, "file_name": "b.jpg"}]  # fmt: skip
    anns = [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 10, 100, 100], "area": 10000, "iscrowd": 0},
            {"id": 2, "image_id": 9, "category_id": 1, "bbox": [50, 50, 100, 100], "area": 10000, "iscrowd": 0}]  # fmt: skip
    cats = [{"id": 1, "name": "text"}, {"id": 3, "name": "figure"}]
    return {"images": images, "annotations": anns, "categories": cats}


def _det(img, box, score=0.9, cat=1):
    return {"image_id": img, "category_id": cat, "bbox": box, "score": score}


def test_perfect():
    m = evaluate_coco(_gt(), [_det(7, [10, 10, 100, 100]), _det(9, [50, 50, 100, 100])])
    assert (
        m["AP"] == pytest.approx(100)
        and m["AP50"] == pytest.approx(100)
        and m["AP75"] == pytest.approx(100)
    )
    assert m["APl"] == pytest.approx(100)
    assert math.isnan(m["APs"]) and math.isnan(m["APm"])  # no small / medium GT (detectron2: nan)
    assert m["per_class"]["text"] == pytest.approx(100) and math.isnan(m["per_class"]["figure"])


def test_shifted_boxes():
    # Both predictions shifted 20 px right: IoU = 80*100 / (120*100) = 2/3. They are true positives
    # at IoU thresholds 0.50..0.65 (4 of the 10) and false positives at 0.70..0.95: AP = 4/10.
    m = evaluate_coco(_gt(), [_det(7, [30, 10, 100, 100]), _det(9, [70, 50, 100, 100])])
    assert (
        m["AP"] == pytest.approx(40.0)
        and m["AP50"] == pytest.approx(100)
        and m["AP75"] == pytest.approx(0)
    )


def test_mixed_known_value():
    # Image 7 perfect (score 0.9), image 9 shifted (IoU 2/3, score 0.8). At thresholds <= 0.65 both
    # match: AP 1. At the 6 thresholds >= 0.70 only the top-scored one matches: recall reaches 0.5
    # at precision 1, so 51 of COCO's 101 recall points (0.00..0.50) have precision 1: AP 51/101.
    expected = 100 * (4 * 1.0 + 6 * 51 / 101) / 10  # = 70.297...
    m = evaluate_coco(_gt(), [_det(7, [10, 10, 100, 100], 0.9), _det(9, [70, 50, 100, 100], 0.8)])
    assert m["AP"] == pytest.approx(expected, abs=1e-6)
    assert m["AP50"] == pytest.approx(100) and m["AP75"] == pytest.approx(100 * 51 / 101, abs=1e-6)


def test_unknown_categories_dropped_and_counted(caplog):
    """A few unknown ids (3 of 7): dropped with a warning naming them, the rest scored."""
    preds = [_det(7, [10, 10, 100, 100]), _det(9, [50, 50, 100, 100]), _det(7, [0, 0, 5, 5], cat=42),
             _det(9, [0, 0, 5, 5], cat=42), _det(9, [0, 0, 5, 5], cat=2),
             _det(7, [300, 300, 50, 50], 0.1), _det(9, [300, 300, 50, 50], 0.1)]  # fmt: skip
    with caplog.at_level("WARNING"):
        m = evaluate_coco(_gt(), preds)
    # the two low-scored known false positives come after both true positives: AP stays 100
    assert m["AP"] == pytest.approx(100) and m["num_dropped"] == 3 and m["num_predictions"] == 4
    assert "dropped 3 of 7 predictions" in caplog.text and "[2, 42]" in caplog.text


def test_mostly_unknown_categories_are_an_error_naming_both_id_sets():
    """0-based contiguous ids against 1-based GT ids: most predictions unknown -> no silent AP."""
    gt = _gt()
    gt["categories"] = [{"id": 1, "name": "text"}, {"id": 2, "name": "figure"}]
    preds = [_det(7, [10, 10, 100, 100], cat=0), _det(9, [50, 50, 100, 100], cat=0),
             _det(9, [0, 0, 5, 5], cat=1)]  # fmt: skip
    with pytest.raises(ValueError) as err:
        evaluate_coco(gt, preds)
    msg = str(err.value)
    assert "2 of 3 predictions" in msg
    assert "prediction ids [0]" in msg and "ground-truth ids [1, 2]" in msg


def test_empty_predictions():
    m = evaluate_coco(_gt(), [])
    assert m["AP"] == 0 and m["AP50"] == 0 and m["per_class"]["text"] == 0


def test_cli_and_files(tmp_path):
    gt, pred, out = (
        tmp_path / "gt.json",
        tmp_path / "coco_instances_results.json",
        tmp_path / "m" / "metrics.json",
    )
    gt.write_text(json.dumps(_gt()))
    pred.write_text(json.dumps([_det(7, [30, 10, 100, 100]), _det(9, [70, 50, 100, 100])]))
    r = subprocess.run([sys.executable, str(ROOT / "scripts/evaluate.py"), f"gt={gt}", f"predictions={pred}", f"out={out}"],
                       capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "40.0" in r.stdout and "| text" in r.stdout
    m = json.loads(out.read_text())
    assert set(m) >= {"AP", "AP50", "AP75", "APs", "APm", "APl", "per_class"}
    assert (
        m["AP"] == pytest.approx(40.0)
        and m["APs"] is None
        and m["per_class"]["text"] == pytest.approx(40.0)
    )
    with pytest.raises(FileNotFoundError, match="nope.json"):
        evaluate_coco(tmp_path / "nope.json", [])


def test_dataset_evaluator(tmp_path):
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.structures import Boxes, Instances

    gt = _gt()
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    name = "eval_test_ds"
    DatasetCatalog.register(name, lambda: [])
    # contiguous 0 -> dataset id 1 ("text"), contiguous 1 -> dataset id 3 ("figure")
    MetadataCatalog.get(name).set(json_file=str(tmp_path / "gt.json"), thing_classes=["text", "figure"],
                                  thing_dataset_id_to_contiguous_id={1: 0, 3: 1})  # fmt: skip
    try:
        ev = COCOBoxEvaluator(name, output_dir=tmp_path / "out", distributed=False)
        ev.reset()
        outs = []
        for img, box in ((7, [10, 10, 110, 110]), (9, [70, 50, 170, 150])):
            inst = Instances((640, 640))
            inst.pred_boxes = Boxes(torch.tensor([box, [0, 0, 8, 8]], dtype=torch.float32))
            inst.scores = torch.tensor([0.9 if img == 7 else 0.8, 0.1])
            inst.pred_classes = torch.tensor([0, 1])
            outs.append(({"image_id": img}, {"instances": inst}))
        for inp, out in outs:
            ev.process([inp], [out])
        res = ev.evaluate()["bbox"]
        assert res["AP-text"] == pytest.approx(100 * (4 + 6 * 51 / 101) / 10, abs=1e-6)
        assert res["AP-figure"] != res["AP-figure"]  # nan: no figure GT
        written = json.loads((tmp_path / "out" / "coco_instances_results.json").read_text())
        assert {p["category_id"] for p in written} == {1, 3}  # mapped back to dataset ids
        assert written[0]["bbox"] == [10.0, 10.0, 100.0, 100.0]  # XYXY -> XYWH
        # One owner per run file: the evaluator writes the results, the job owns metrics.json.
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
            "coco_instances_results.json"
        ]
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_works_without_detectron2_C(tmp_path):
    """Import and run evaluation with detectron2._C made unimportable (as on the GPU machines)."""
    (tmp_path / "gt.json").write_text(json.dumps(_gt()))
    code = textwrap.dedent(f"""
        import sys
        sys.modules["detectron2._C"] = None  # any `import detectron2._C` now raises ImportError
        import json
        from detectors.evaluation import COCOBoxEvaluator, evaluate_coco
        from detectron2.data import DatasetCatalog, MetadataCatalog
        m = evaluate_coco({str(tmp_path / "gt.json")!r}, [{{"image_id": 7, "category_id": 1, "bbox": [10, 10, 100, 100], "score": 1.0}}])
        DatasetCatalog.register("noc", lambda: [])
        MetadataCatalog.get("noc").set(json_file={str(tmp_path / "gt.json")!r}, thing_classes=["text", "figure"])
        ev = COCOBoxEvaluator("noc", distributed=False); ev.reset()
        r = ev.evaluate()
        assert sys.modules["detectron2._C"] is None
        assert "detectron2.evaluation.fast_eval_api" not in sys.modules
        print(json.dumps({{"AP": m["AP"], "empty": r["bbox"]["AP"]}}))
    """)
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["AP"] == pytest.approx(100 * 51 / 101) and out["empty"] == 0  # one of two GT found
