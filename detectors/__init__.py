"""GraphKD: detectors package, the detectron2 layer (configs, builders, backbones, RoI features,
inference, export, evaluation). Page data (generator, converters) lives in ``pagedata``.

Names are imported lazily (PEP 562), so ``import detectors.<module>`` only loads what it needs;
e.g. evaluation never pulls in detectron2's modeling code.
"""

from importlib import import_module

# name -> submodule; add one line per exported name.
_LAZY = {
    # models (config / build / RoI features)
    "get_detector_cfg": "config",
    "load_detector_cfg": "config",
    "build_detector": "build",
    "load_checkpoint": "build",
    "count_parameters": "build",
    "freeze": "build",
    "RoIFeatures": "roi_features",
    "extract_roi_features": "roi_features",
    "make_dummy_batch": "dummy",
    # dataset registration / evaluation
    "DATASETS": "datasets",
    "dataset_root": "datasets",
    "register_dataset": "datasets",
    "register_coco_dataset": "datasets",
    "evaluate_coco": "evaluation",
    "COCOBoxEvaluator": "evaluation",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
