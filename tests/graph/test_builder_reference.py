"""GraphBuilder.build_pair against values recorded from the first builder (before the refactor
into plan + pool stages with named edge attributes).

``fixtures/builder_reference.pt.gz`` (a gzipped ``torch.save``) holds the inputs (2 text-heavy
images, C=4, 2x2 pooled features) and, per case, the builder options, the running statistics
before the call and what the first builder returned (both graphs, the statistics after the call
and the diagnostics). It was written by :func:`record` applied to that builder
(``git show 3863e5c:graph/builder.py``, its ``edge_attr`` columns renamed to edge_dist / edge_sim /
edge_type). Rewrite it only after a deliberate change of the graph semantics::

    GRAPHKD_RECORD_REFERENCE=1 python -m pytest tests/graph/test_builder_reference.py
"""

from __future__ import annotations

import gzip
import io
import math
import os
from pathlib import Path

import pytest
import torch
from conftest import NUM_CLASSES, TEXT_CLASSES, synth_batch

from graph import GraphBuilder

PATH = Path(__file__).parent / "fixtures" / "builder_reference.pt.gz"
GRAPH_KEYS = (
    "x", "z", "box", "node_type", "cluster", "cluster_size", "batch", "ptr", "num_rois",
    "edge_index", "edge_dist", "edge_sim", "edge_type",
)  # fmt: skip
# Every option spelled out, so a later change of a default does not change these cases.
BASE = dict(
    teacher_channels=4, student_channels=3, descriptor="mean", split_mode="gt", merge=True,
    merge_ratio=1.0, min_text_nodes=1, edge_metric="mahalanobis", bg_threshold=0.6,
    bg_topk=None, self_loops_on_merged=False, shrinkage="ledoit_wolf", momentum=None,
    min_samples=None, student_momentum=None, merge_text_only=True,
)  # fmt: skip
# Options the fixture's recorded ``options`` predate, at the values it was recorded with.
UNRECORDED = dict(student_momentum=None, merge_text_only=True)
CASES = {
    "default": {},
    "covariance_split_self_loops": dict(split_mode="covariance", self_loops_on_merged=True),
    "cosine_dsig": dict(edge_metric="cosine", split_mode="none", merge=False, bg_topk=4),
}


def _inputs(seed: int, sizes=(20, 14)) -> dict:
    """Text-heavy pages (10 instances, 80% text), so adaptive merging (step B) runs."""
    inp = synth_batch(
        sizes=sizes, seed=seed, channels=4, student_channels=3, n_inst=10, text_frac=0.8
    )
    for key in ("teacher_features", "student_features"):
        inp[key] = [f[:, :, 2:4, 2:4].contiguous() for f in inp[key]]
    return inp


def record(builder_cls=GraphBuilder, graph_fields=None) -> dict:
    """Run every case with ``builder_cls`` and return what the fixture stores."""
    graph_fields = graph_fields or (lambda g: {k: g[k] for k in GRAPH_KEYS})
    inputs = _inputs(7)
    out = {"inputs": inputs, "cases": {}}
    for name, opts in CASES.items():
        gb = builder_cls(TEXT_CLASSES, NUM_CLASSES, **{**BASE, **opts})
        for s in range(3):  # warm the statistics
            gb.build_pair(**_inputs(100 + s, sizes=(40, 40)))
        state_before = {k: v.clone() for k, v in gb.state_dict().items()}
        t, s = gb.build_pair(**inputs)
        out["cases"][name] = {
            "options": {**BASE, **opts},
            "state_before": state_before,
            "teacher": graph_fields(t),
            "student": graph_fields(s),
            "state_after": gb.state_dict(),
            "diagnostics": dict(gb.last_stats),
        }
    return out


def save(ref: dict) -> None:
    buf = io.BytesIO()
    torch.save(ref, buf)
    PATH.parent.mkdir(exist_ok=True)
    PATH.write_bytes(gzip.compress(buf.getvalue(), mtime=0))


if os.environ.get("GRAPHKD_RECORD_REFERENCE") == "1":  # pragma: no cover - maintenance only
    save(record())


@pytest.mark.parametrize("case", sorted(CASES))
def test_build_pair_matches_round1_reference(case):
    data = torch.load(io.BytesIO(gzip.decompress(PATH.read_bytes())), weights_only=True)
    ref = data["cases"][case]
    gb = GraphBuilder(TEXT_CLASSES, NUM_CLASSES, **{**UNRECORDED, **ref["options"]})
    gb.load_state_dict(ref["state_before"])
    t, s = gb.build_pair(**data["inputs"])
    for side, g in (("teacher", t), ("student", s)):
        for key, want in ref[side].items():
            got = g[key]
            if want.is_floating_point():
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=f"{side}.{key}")
            else:
                assert torch.equal(got, want), f"{side}.{key}"
    for key, want in ref["state_after"].items():
        torch.testing.assert_close(gb.state_dict()[key], want, rtol=1e-9, atol=1e-12, msg=key)
    got = dict(gb.last_stats)
    for key, want in ref["diagnostics"].items():
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got[key]), key
        elif isinstance(want, float):
            assert got[key] == pytest.approx(want, rel=1e-9), key
        else:
            assert got[key] == want, key
