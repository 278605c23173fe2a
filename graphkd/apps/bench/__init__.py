"""Benchmarks behind ``scripts/bench*.py``: training-step cost (:mod:`.train_step`), graph
construction against a naive reference (:mod:`.graph_build`, :mod:`.graph_naive`), inference
latency (:mod:`.latency`) and predict end to end on a PDF (:mod:`.predict_pages`). Each prints
one JSON report."""

from __future__ import annotations

import json
import os
import platform
from typing import Any

__all__ = ["machine_info", "write_report"]


def machine_info() -> dict[str, Any]:
    """What a timing depends on that every benchmark report records: platform, processor, CPU
    count and torch version (each benchmark adds its threads and load)."""
    import torch

    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "torch": torch.__version__}  # fmt: skip


def write_report(report: dict[str, Any], path: str) -> dict[str, Any]:
    """Write a benchmark's JSON ``report`` to ``path`` (folders made), print it, return it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))
    return report
