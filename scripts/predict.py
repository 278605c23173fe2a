"""Detect layout regions in page images with a trained (student or teacher) detector.

    python scripts/predict.py checkpoint=RUN_DIR input=DIR_OR_IMAGES out=DIR [score_thresh=0.5]

checkpoint: a student run dir (student_config.yaml + model_student.pth + label_map.json), a
    teacher dir (config.yaml + model_final.pth), a config .yaml, or a .pth next to its config.
input: a folder (its .jpg/.jpeg/.png/.bmp/.tif images, sorted), one image, or a comma-separated
    list of images. PDFs are skipped with a message: no PDF renderer is part of GraphKD's
    environment (render pages to PNG first, e.g. with `pdftoppm -png -r 150 doc.pdf page`).
out: gets predictions.json (COCO-style results: file_name, image_id, category_id in the dataset's
    ids when the label map has them, category_name, bbox [x, y, w, h], score) and one drawn PNG
    per image (detectron2 Visualizer).
Runs detectron2's DefaultPredictor on CPU (or CUDA when the config asks and one is visible).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from detectron2.engine import DefaultPredictor
from PIL import Image
from tqdm import tqdm

from detectors.build import load_checkpoint
from detectors.kvargs import parse_kv
from graphkd.artifacts import ModelFiles, resolve_model
from graphkd.visualize import draw_detections, load_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
SPEC = {"checkpoint": str, "input": str, "out": str, "score_thresh": float}


def list_inputs(spec: str) -> tuple[list[Path], list[Path]]:
    """(images, skipped PDFs) named by a folder, one file or a comma-separated list."""
    paths: list[Path] = []
    for part in (p for p in spec.split(",") if p):
        path = Path(part)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.is_file())
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"Input {part!r} does not exist (expected a folder or images).")
    pdfs = [p for p in paths if p.suffix.lower() == ".pdf"]
    images = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images and not pdfs:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in {spec!r}.")
    return images, pdfs


def build_predictor(files: ModelFiles, score_thresh: float) -> DefaultPredictor:
    """DefaultPredictor with the checkpoint loaded through the checked loader."""
    cfg = files.cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh
    cfg.MODEL.WEIGHTS = ""  # DefaultPredictor would load unchecked; load_checkpoint checks
    predictor = DefaultPredictor(cfg)
    load_checkpoint(predictor.model, str(files.weights), cfg)
    return predictor


def to_coco(inst, image_id: int, file_name: str, files: ModelFiles) -> list[dict]:
    """COCO-style result dicts of one image's ``Instances`` (XYXY -> [x, y, w, h])."""
    boxes = inst.pred_boxes.tensor.tolist()
    return [
        {
            "file_name": file_name,
            "image_id": image_id,
            "category_id": files.dataset_ids.get(c, c),
            "category_name": files.classes[c],
            "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "score": round(float(s), 5),
        }
        for (x0, y0, x1, y1), c, s in zip(boxes, inst.pred_classes.tolist(), inst.scores.tolist())
    ]


def _unique_png(out: Path, stem: str, used: set[str]) -> Path:
    name, k = stem, 1
    while name in used:
        name, k = f"{stem}_{k}", k + 1
    used.add(name)
    return out / f"{name}.png"


def main(argv: list[str] | None = None) -> Path:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("checkpoint", "input", "out"),
                 __doc__)  # fmt: skip
    files = resolve_model(a["checkpoint"])
    images, pdfs = list_inputs(a["input"])
    if pdfs:
        print(f"skipped {len(pdfs)} PDF file(s) (no PDF renderer installed): render them to PNG "
              f"first; e.g. {pdfs[0]}", file=sys.stderr)  # fmt: skip
    out = Path(a["out"])
    out.mkdir(parents=True, exist_ok=True)
    thresh = a.get("score_thresh", 0.5)
    predictor = build_predictor(files, thresh)
    results, used = [], set()
    for i, path in enumerate(tqdm(images, desc="predict", unit="page")):
        image = load_image(path, "BGR")  # DefaultPredictor takes BGR and converts itself
        inst = predictor(image)["instances"].to("cpu")
        results += to_coco(inst, i + 1, str(path), files)
        # Visualizer's labels have a minimum font size: enlarge small pages so boxes stay visible.
        scale = max(1.0, 800 / max(image.shape[:2]))
        drawn = draw_detections(image, inst, files.classes, score_thresh=thresh, scale=scale)
        Image.fromarray(drawn).save(_unique_png(out, path.stem, used))
    pred_path = out / "predictions.json"
    pred_path.write_text(json.dumps(results, indent=1))
    print(f"{len(results)} detections on {len(images)} image(s) -> {pred_path} and drawn PNGs")
    return pred_path


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
