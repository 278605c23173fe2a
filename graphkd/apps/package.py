"""The student package: the files of a student run a user takes away and loads without GraphKD.

In a student run directory:

- ``model_student.pth``: the student's weights alone (``{"model": state_dict}``, detectron2 names);
- ``student_config.yaml``: the detectron2 config that builds it, with ``MODEL.WEIGHTS`` pointing
  at the weights and the test-time settings it was evaluated with. For ResNet students it holds
  only stock detectron2 keys (``get_cfg().merge_from_file`` loads it, as layoutparser's
  ``Detectron2LayoutModel`` does); MobileNetV2 / EfficientNet-B0 students need this project's
  backbones (``import detectors.backbones``) or, without GraphKD, the TorchScript / ONNX export
  (``scripts/export.py``);
- ``label_map.json``: ``{"0": "text", "1": "title", ...}``, contiguous class index -> name (the
  ``label_map`` of layoutparser-style loaders; JSON keys are strings: convert them with ``int``);
- ``classes.json``: the class list, the text classes and the dataset's category ids;
- ``MODEL_CARD.md``: dataset, classes, AP, latency, teacher, method, settings and how to load it;
- ``latency.json``: the latency of each deployed backend and precision as ``scripts/predict.py``
  measured it (per page, input size, threads), shown in the model card.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import torch
from detectron2.config import CfgNode
from omegaconf import OmegaConf

from detectors.config import inference_settings, load_detector_cfg
from detectors.export import is_stock_config, stock_config
from graphkd.apps.rundir import CONFIG_RESOLVED, METRICS
from graphkd.core.checkpoint import torch_save, write_json, write_text
from graphkd.core.methods import METHOD_DESCRIPTIONS

__all__ = [
    "CLASSES",
    "LABEL_MAP",
    "LATENCY",
    "MODEL_CARD",
    "STUDENT_CHECKPOINT",
    "STUDENT_CONFIG",
    "package_run",
    "read_classes",
    "read_latency",
    "record_latency",
    "write_model_card",
    "write_labels",
    "write_student_package",
]

STUDENT_CHECKPOINT = "model_student.pth"
STUDENT_CONFIG = "student_config.yaml"
LABEL_MAP = "label_map.json"
CLASSES = "classes.json"
MODEL_CARD = "MODEL_CARD.md"
LATENCY = "latency.json"


def write_student_package(
    student: torch.nn.Module,
    s_cfg: CfgNode,
    out: str | os.PathLike,
    classes: Sequence[str],
    text_classes: Sequence[str] = (),
    dataset_ids: Mapping[int, int] | None = None,
) -> Path:
    """Write the student's weights, config, ``label_map.json`` and ``classes.json`` into ``out``.

    Args:
        dataset_ids: dataset (json) category id -> contiguous class index, when known.

    Returns:
        The config path.
    """
    out = Path(out)
    # Not DetectionCheckpointer.save: that would re-point out/last_checkpoint at this file, and
    # `trainer.resume=true` would then resume from weights without optimizer / iteration state.
    weights = out / STUDENT_CHECKPOINT
    torch_save({"model": student.state_dict()}, weights)
    cfg = s_cfg.clone()
    cfg.MODEL.WEIGHTS = str(weights.resolve())
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    write_text(out / STUDENT_CONFIG, _dump(cfg))
    write_labels(out, classes, text_classes, dataset_ids)
    return out / STUDENT_CONFIG


def _dump(cfg: CfgNode) -> str:
    """Stock detectron2 keys only when stock detectron2 can build the model."""
    return (stock_config(cfg) if is_stock_config(cfg) else cfg).dump()


def write_labels(
    out: Path,
    classes: Sequence[str],
    text_classes: Sequence[str],
    dataset_ids: Mapping[int, int] | None,
) -> None:
    """``label_map.json`` ({index: name}) and ``classes.json`` (classes, text classes, dataset
    ids) in ``out``: what predict / evaluate need to write the dataset's category ids."""
    write_json(out / LABEL_MAP, {str(i): name for i, name in enumerate(classes)})
    write_json(
        out / CLASSES,
        {
            "classes": list(classes),
            "text_classes": list(text_classes),
            # dataset category id -> detectron2 class index (set when the json was loaded)
            "dataset_id_to_contiguous_id": (
                {str(k): int(v) for k, v in dataset_ids.items()} if dataset_ids else None
            ),
        },
    )


def read_classes(folder: str | os.PathLike) -> tuple[list[str], list[str], dict[int, int]] | None:
    """``(classes, text_classes, {contiguous index: dataset id})`` written into ``folder``, or
    None. Reads ``classes.json``, else ``label_map.json`` as ``{id: name}`` or in the format of
    runs made before the package existed (``{"classes": [...], ...}``)."""
    folder = Path(folder)
    path = folder / CLASSES if (folder / CLASSES).is_file() else folder / LABEL_MAP
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if "classes" not in data:  # {id: name}
        try:
            by_id = {int(k): str(v) for k, v in data.items()}
        except ValueError:
            raise ValueError(
                f"{path} is neither {{id: name}} nor {{'classes': [...]}}: {list(data)[:5]}"
            ) from None
        if sorted(by_id) != list(range(len(by_id))):
            raise ValueError(f"{path}: class ids {sorted(by_id)} are not 0..{len(by_id) - 1}.")
        return [by_id[i] for i in range(len(by_id))], [], {}
    ids = data.get("dataset_id_to_contiguous_id") or {}
    return (
        list(data["classes"]),
        list(data.get("text_classes", [])),
        {int(c): int(d) for d, c in ids.items()},
    )


def _fmt(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def write_model_card(run_dir: str | os.PathLike) -> Path:
    """``MODEL_CARD.md`` of a finished student run, from its config, metrics and class files."""
    run_dir = Path(run_dir)
    s_cfg = load_detector_cfg(str(run_dir / STUDENT_CONFIG))
    resolved = run_dir / CONFIG_RESOLVED
    cfg = OmegaConf.load(resolved) if resolved.is_file() else None
    metrics = json.loads((run_dir / METRICS).read_text()) if (run_dir / METRICS).is_file() else {}

    def sel(key: str, default=None):
        return OmegaConf.select(cfg, key, default=default) if cfg is not None else default

    student = sel("pair.student.backbone") or s_cfg.MODEL.BACKBONE.get("ARCH", "") or "?"
    kd = sel("kd.method", metrics.get("kd", "?"))
    rows = _card_rows(run_dir, s_cfg, sel, metrics, student, kd)
    stock = is_stock_config(s_cfg)
    load = (
        _LOAD_STOCK
        if stock
        else _LOAD_CUSTOM.format(backbone=s_cfg.MODEL.BACKBONE.NAME, student=student)
    )
    text = "\n".join(
        [
            f"# {student}-FPN layout detector ({sel('dataset.name', '?')}, kd={sel('kd.name', kd)})",
            "",
            "| | |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in rows),
            "",
            "## Files",
            "",
            f"- `{STUDENT_CHECKPOINT}`: weights (detectron2 state dict, student only)",
            f"- `{STUDENT_CONFIG}`: detectron2 config"
            + (" (stock detectron2 keys only)" if stock else " (needs `detectors.backbones`)"),
            f"- `{LABEL_MAP}`: class index -> name; `{CLASSES}`: class list, text classes, "
            "dataset category ids",
            "- `model.ts` / `model.onnx` / `export.json`: after `python scripts/export.py "
            f"checkpoint={run_dir}` (TorchScript: torch + torchvision; ONNX: onnxruntime), or "
            "written by `scripts/predict.py` on first use; `model.int8.onnx` after "
            "`predict.py precision=int8`",
            f"- `{LATENCY}`: the latency `scripts/predict.py` measured per backend and precision",
            "",
            "## Load",
            "",
            load,
        ]
    )
    path = run_dir / MODEL_CARD
    write_text(path, text + "\n")
    return path


def read_latency(run_dir: str | os.PathLike) -> dict[str, dict]:
    """``latency.json`` of ``run_dir``: ``{"<backend>/<precision>": measurement}`` ({} if none)."""
    path = Path(run_dir) / LATENCY
    return json.loads(path.read_text()) if path.is_file() else {}


def record_latency(run_dir: str | os.PathLike, entry: Mapping[str, Any]) -> Path:
    """Keep ``entry``, a measured deployment latency (``backend``, ``precision``,
    ``ms_per_page``, ``input_hw``, ``threads``, ``device``, ``measured_by``, optionally
    ``export_s``: the seconds its export took), in the student run
    dir's ``latency.json`` (the newest of each backend and precision) and rewrite its model card.
    Returns the card's path."""
    run_dir = Path(run_dir)
    data = read_latency(run_dir)
    key = f"{entry['backend']}/{entry['precision']}"
    data[key] = {**entry, "cpu_count": os.cpu_count(), "date": date.today().isoformat()}
    write_json(run_dir / LATENCY, data)
    return write_model_card(run_dir)


def _deployment_row(run_dir: Path) -> str:
    """The model card's deployed latency: each backend and precision's measurement, or how to
    make one."""
    rows = []
    for m in read_latency(run_dir).values():
        n = m.get("threads") or 0
        threads = f"{n} thread{'s' * (n != 1)}" if n else "default threads"
        h, w = m.get("input_hw") or ("?", "?")
        export = f", exported in {m['export_s']:.0f} s" if "export_s" in m else ""
        rows.append(f"{m['backend']} {m['precision']}: {_fmt(m.get('ms_per_page'), 0)} ms per "
                    f"page ({h}x{w} input, {m.get('device', 'cpu')}, {threads} of "
                    f"{m.get('cpu_count', '?')} CPUs, {m.get('measured_by', '?')} "
                    f"{m.get('date', '')})".replace(" )", ")") + export)  # fmt: skip
    return "; ".join(rows) or "n/a (`scripts/predict.py` measures it per backend)"


def _teacher_row(sel: Callable[..., Any], kd: str) -> str:
    """The model card's teacher: backbone, checkpoint and AP (its run's metrics), or none."""
    if kd == "none":
        return "none (baseline)"
    teacher_ckpt = sel("teacher_checkpoint")
    teacher_metrics = Path(teacher_ckpt).parent / METRICS if teacher_ckpt else None
    teacher_ap = None
    if teacher_metrics is not None and teacher_metrics.is_file():
        teacher_ap = json.loads(teacher_metrics.read_text()).get("AP")
    return f"{sel('pair.teacher.backbone', '?')}-FPN, `{teacher_ckpt}`, AP {_fmt(teacher_ap)}"


# How the card names a run's training precision (metrics.json's "precision"; older runs lack it).
_PRECISIONS = {"fp32": ", fp32", "bf16": ", bfloat16 autocast (CPU)", "fp16": ", fp16 AMP (CUDA)"}


def _card_rows(
    run_dir: Path,
    s_cfg: CfgNode,
    sel: Callable[..., Any],
    metrics: Mapping[str, Any],
    student: str,
    kd: str,
) -> list[tuple[str, str]]:
    """The model card's table: ``(field, value)`` rows (``sel``: a key of the run's config)."""
    classes, text_classes, _ = read_classes(run_dir) or ([], [], {})
    per_class = metrics.get("per_class") or {}
    test = inference_settings(s_cfg)
    latency = metrics.get("latency_s")
    return [
        ("task", "document layout detection (boxes): detectron2 Faster R-CNN + FPN"),
        ("student", f"{student}-FPN ({s_cfg.MODEL.FPN.OUT_CHANNELS}-channel FPN), "
                    f"{_fmt((metrics.get('params') or 0) / 1e6)} M parameters"),  # fmt: skip
        ("dataset", f"{sel('dataset.name', '?')} (AP on its val split)"),
        ("classes", ", ".join(f"{i} {c}" for i, c in enumerate(classes))),
        ("text classes", ", ".join(text_classes) or "n/a"),
        ("AP / AP50 / AP75", " / ".join(_fmt(metrics.get(k)) for k in ("AP", "AP50", "AP75"))),
        ("AP per class", ", ".join(f"{c} {_fmt(v)}" for c, v in per_class.items()) or "n/a"),
        ("latency", f"{_fmt(latency * 1e3 if latency else None, 0)} ms per page (model time "
                    f"during evaluation, {sel('trainer.device', 'cpu')}, batch 1)"),  # fmt: skip
        ("deployed latency", _deployment_row(run_dir)),
        ("teacher", _teacher_row(sel, kd)),
        ("method", f"kd={sel('kd.name', kd)}: {METHOD_DESCRIPTIONS.get(kd, kd)}"),
        ("training", f"{sel('trainer.max_iter', '?')} iterations, batch "
                     f"{sel('trainer.ims_per_batch', '?')}, lr {sel('trainer.base_lr', '?')}, "
                     f"seed {sel('trainer.seed', '?')}"
                     + _PRECISIONS.get(metrics.get("precision"), "")),  # fmt: skip
        ("input", f"{s_cfg.INPUT.FORMAT} uint8 page, resized to short side "
                  f"{s_cfg.INPUT.MIN_SIZE_TEST} (long side <= {s_cfg.INPUT.MAX_SIZE_TEST})"),
        ("test-time settings", f"{test.pre_nms_topk} proposals per level before NMS, "
                               f"{test.post_nms_topk} after, {test.detections_per_image} "
                               f"detections per page, score >= {test.score_thresh}"),
    ]  # fmt: skip


_LOAD_STOCK = """Stock detectron2 (no GraphKD needed); pass BGR pages (e.g. `cv2.imread`):

```python
import json
from detectron2.config import get_cfg
from detectron2.engine import DefaultPredictor

cfg = get_cfg()
cfg.merge_from_file("student_config.yaml")
cfg.MODEL.WEIGHTS = "model_student.pth"
cfg.MODEL.DEVICE = "cpu"
labels = {int(k): v for k, v in json.load(open("label_map.json")).items()}
instances = DefaultPredictor(cfg)(bgr_page)["instances"]
```

layoutparser:
`lp.Detectron2LayoutModel("student_config.yaml", "model_student.pth", label_map=labels)`."""

_LOAD_CUSTOM = """The {student} trunk is not a stock detectron2 backbone (`{backbone}`): stock
detectron2 and layoutparser cannot build it from the config. Without GraphKD, use the
TorchScript export (`model.ts`, torch + torchvision) or the ONNX export (`model.onnx`,
onnxruntime) written by `scripts/export.py`; `export.json` says how to feed them. With GraphKD
installed, `import detectors.backbones` registers the trunk, then the detectron2 config loads as
usual (`detectors.config.load_detector_cfg("student_config.yaml")`)."""


def package_run(run_dir: str | os.PathLike) -> Path:
    """Bring a student run directory to the package format (runs made before it existed):
    stock config for ResNet students, ``label_map.json`` as ``{id: name}``, ``classes.json``,
    ``MODEL_CARD.md``. The weights are not touched. Returns the model card's path."""
    run_dir = Path(run_dir)
    config = run_dir / STUDENT_CONFIG
    if not config.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no {STUDENT_CONFIG}: pass a student run dir written by "
            "scripts/distill.py or scripts/train_student.py."
        )
    cfg = load_detector_cfg(str(config))
    write_text(config, _dump(cfg))
    found = read_classes(run_dir)
    if found is None:
        raise FileNotFoundError(f"{run_dir} has no {LABEL_MAP}; cannot name the classes.")
    classes, text_classes, ids = found
    write_labels(run_dir, classes, text_classes, {d: c for c, d in ids.items()})
    return write_model_card(run_dir)
