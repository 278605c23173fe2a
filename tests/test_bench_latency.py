"""graphkd.apps.bench.latency (scripts/bench_latency.py) at a toy size: every variant is timed, in
rounds shared by all models, and the pair speed-ups are the rounds' median time ratios."""

from __future__ import annotations

import json
import statistics

import pytest

from graphkd.apps.bench import latency as bench_latency
from graphkd.apps.tables.latency import latency_table

TOY = ["trainer.min_size=128", "trainer.max_size=128", "trainer.fpn_channels=32"]


def test_latency_bench_times_eager_exported_and_1000_proposals(tmp_path):
    out = tmp_path / "bench.json"
    report = bench_latency.main(
        [
            "bench.sizes=320",
            "bench.pairs=r50_mnv2",
            "bench.reps=2",
            "bench.threads=1",
            "bench.formats=torchscript,onnx_int8",
            f"bench.out={out}",
            *TOY,
        ]  # fmt: skip
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    models = report["models"]["320"]
    assert set(models) == {"R50", "MNV2"}
    for m in models.values():
        assert {"eager", "eager_1000", "torchscript", "onnx_int8"} <= set(m)
        assert m["fpn_channels"] == 32
        assert m["input_hw"][0] == 128 and m["eager"]["min_s"] > 0
        assert all(len(m[v]["times_s"]) == 2 for v in ("eager", "torchscript", "onnx_int8"))
    pair = report["pairs"]["320"]["r50_mnv2"]
    rounds = zip(models["R50"]["eager"]["times_s"], models["MNV2"]["eager"]["times_s"])
    assert pair["speedup_eager"] == pytest.approx(statistics.median(t / s for t, s in rounds))
    assert pair["speedup_onnx"] is None  # not timed in ONNX here
    assert report["settings"]["test"]["320"]["post_nms_topk"] == 300
    note = latency_table(report)[0].splitlines()[0]
    assert note.endswith("speed-ups are medians of per-round ratios.")
    with pytest.raises(SystemExit, match="bench.formats"):
        bench_latency.main(["bench.formats=tflite"])
    with pytest.raises(SystemExit, match="bench.sizes"):
        bench_latency.main(["bench.sizes=640"])
