"""Benchmark graph construction: vectorised GraphBuilder vs a naive per-pair reference.

Times building a teacher + student graph pair (nodes, text merging, Mahalanobis edges with
[distance, similarity, type]: everything the graph losses consume) for B images x N RoIs with
C x 7 x 7 pooled features on CPU, next to a naive reference that computes the same distances and
merges with per-pair Python loops and an explicit covariance inverse, in the same process. Checks
that both agree and prints one JSON object.

    python scripts/bench_graph.py [sizes=64,128,256,512] [batch=2] [channels=256] [repeats=7]
        [naive_repeats=1] [seed=0] [threads=N]

sizes: RoIs per image, comma-separated; batch: images B; channels: C of the pooled features;
repeats / naive_repeats: timed runs (median) of the vectorised / naive builds; threads:
torch.set_num_threads (default: torch's).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from graph import GraphBuilder
from graphkd.apps.bench.graph_naive import NUM_CLASSES, TEXT_CLASSES, naive_image
from graphkd.apps.tool import register_tool, run_tool

__all__ = ["GraphBenchOptions", "bench_graph", "main", "synth_batch", "synth_image"]

# The inputs of GraphBuilder.build_pair, in naive_image's argument order.
KEYS = ("teacher_features", "student_features", "boxes", "gt_classes", "gt_instance",
        "teacher_bg_prob")  # fmt: skip


@dataclass
class GraphBenchOptions:
    """``scripts/bench_graph.py``'s options (see the module docstring)."""

    sizes: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    batch: int = 2
    channels: int = 256
    repeats: int = 7
    naive_repeats: int = 1
    seed: int = 0
    threads: int | None = None


register_tool("bench_graph", GraphBenchOptions, __doc__)


def synth_image(n: int, channels: int, gen: torch.Generator, fg_frac: float = 0.25) -> dict:
    """Text-heavy page: 12 GT instances (about 85 % text), detectron2's 25 % fg sampling."""
    n_inst = 12
    is_text = torch.rand(n_inst, generator=gen) < 0.85
    cls = torch.where(
        is_text,
        torch.randint(0, 3, (n_inst,), generator=gen),
        torch.randint(3, 5, (n_inst,), generator=gen),
    )
    inst = torch.randint(0, n_inst, (n,), generator=gen)
    inst[torch.rand(n, generator=gen) >= fg_frac] = -1
    gt_classes = torch.where(inst >= 0, cls[inst.clamp_min(0)], torch.full_like(inst, NUM_CLASSES))
    centre = torch.randn(n_inst, channels, generator=gen)
    base = torch.where((inst >= 0)[:, None], centre[inst.clamp_min(0)], torch.zeros(channels))
    tf = base[:, :, None, None] + torch.randn(n, channels, 7, 7, generator=gen)
    sf = 0.8 * tf + 0.5 * torch.randn(n, channels, 7, 7, generator=gen)
    xy = torch.rand(n, 2, generator=gen) * 500
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=gen) * 200], 1)
    return {
        "teacher_features": tf,
        "student_features": sf,
        "boxes": boxes,
        "gt_classes": gt_classes,
        "gt_instance": inst,
        "teacher_bg_prob": torch.rand(n, generator=gen),
    }


def synth_batch(b: int, n: int, channels: int, gen: torch.Generator) -> dict:
    """``b`` images of :func:`synth_image` as build_pair's lists."""
    imgs = [synth_image(n, channels, gen) for _ in range(b)]
    return {k: [im[k] for im in imgs] for k in imgs[0]}


def compare(naive, t, s, b: int) -> dict:
    """Agreement of image b between the naive result and the vectorised batches."""
    cluster, et, es, _, _ = naive
    lo, hi = int(t.ptr[b]), int(t.ptr[b + 1])
    rois = t.num_rois.tolist()
    start = sum(rois[:b])
    same_cluster = t.cluster[start : start + rois[b]].tolist() == cluster
    emask = (t.edge_index[0] >= lo) & (t.edge_index[0] < hi)
    ei = (t.edge_index[:, emask] - lo).t().tolist()
    err_d, err_s = 0.0, 0.0
    for g, ref in ((t, et), (s, es)):
        attr = torch.stack([g.edge_dist[emask], g.edge_sim[emask]], dim=1).double()
        want = torch.tensor([ref[tuple(e)] for e in ei], dtype=torch.float64).reshape(-1, 2)
        if len(ei):
            rel = (attr[:, 0] - want[:, 0]).abs() / want[:, 0].clamp_min(1.0)
            err_d = max(err_d, float(rel.max()))
            err_s = max(err_s, float((attr[:, 1] - want[:, 1]).abs().max()))
    return {
        "same_clusters": same_cluster and len(ei) == len(et),
        "max_rel_dist_err": err_d,
        "max_abs_sim_err": err_s,
    }


def timed(fn, repeats: int) -> tuple[float, object]:
    """(median milliseconds over ``repeats`` calls of ``fn``, its last result)."""
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def warm_builder(channels: int, batch: int, gen: torch.Generator) -> GraphBuilder:
    """A GraphBuilder whose running statistics are ready (so the shrunk covariance is used)."""
    gb = GraphBuilder(
        TEXT_CLASSES, NUM_CLASSES, teacher_channels=channels, student_channels=channels,
        # As naive_image: every bg RoI above the threshold, channel-mean descriptors, only text
        # clusters merged (the kd=graphkd_paper graph).
        bg_topk=None, descriptor="mean", merge_text_only=True, shrinkage="ledoit_wolf",
        student_momentum=None,
    )  # fmt: skip
    for _ in range(8):
        gb.build_pair(**synth_batch(batch, 256, channels, gen))
    assert gb.teacher_stats.is_ready and gb.student_stats.is_ready
    return gb


def _vectorised_times(gb: GraphBuilder, inp: dict, repeats: int) -> dict:
    """Milliseconds per batch: forward, forward with statistics update, forward + backward."""
    gb.build_pair(**inp, update_stats=False)  # warm-up
    fwd_ms, _ = timed(lambda: gb.build_pair(**inp, update_stats=False), repeats)
    upd_ms, _ = timed(lambda: gb.build_pair(**inp, update_stats=True), repeats)

    def train_step():
        sf = [f.detach().requires_grad_(True) for f in inp["student_features"]]
        _, st = gb.build_pair(**{**inp, "student_features": sf}, update_stats=True)
        (st.edge_dist.sum() + st.edge_sim.sum() + st.x.square().mean()).backward()

    train_ms, _ = timed(train_step, max(3, repeats // 2))
    return {"fwd": fwd_ms, "update": upd_ms, "train": train_ms}


def measure_size(gb: GraphBuilder, n: int, opts: GraphBenchOptions, gen: torch.Generator) -> dict:
    """One row of the report: ``n`` RoIs per image, vectorised vs naive, and their agreement."""
    b = opts.batch
    inp = synth_batch(b, n, opts.channels, gen)
    ms = _vectorised_times(gb, inp, opts.repeats)
    # Same statistics for both paths: rebuild the vectorised graphs now that they are fixed.
    t, s = gb.build_pair(**inp, update_stats=False)
    merges = (gb.last_stats["merges_step_a"], gb.last_stats["merges_step_b"])
    naive_ms, naive = timed(
        lambda: [naive_image(gb, *(inp[k][i] for k in KEYS)) for i in range(b)],
        opts.naive_repeats,
    )
    agree = [compare(naive[i], t, s, i) for i in range(b)]
    ok = all(
        a["same_clusters"] and a["max_rel_dist_err"] < 1e-3 and a["max_abs_sim_err"] < 1e-3
        for a in agree
    )
    return {
        "rois_per_image": n,
        "nodes_per_image": t.num_nodes / b,
        "edges_per_image": t.edge_index.shape[1] / b,
        "merges_step_a_per_batch": merges[0],
        "merges_step_b_per_batch": merges[1],
        "vectorised_ms_per_batch": round(ms["fwd"], 2),
        "vectorised_ms_per_image_pair": round(ms["fwd"] / b, 2),
        "vectorised_with_stats_update_ms_per_image_pair": round(ms["update"] / b, 2),
        "vectorised_fwd_bwd_with_update_ms_per_image_pair": round(ms["train"] / b, 2),
        "naive_ms_per_image_pair": round(naive_ms / b, 1),
        "speedup": round(naive_ms / ms["fwd"], 1),
        "agree": ok,
        "max_rel_dist_err": max(a["max_rel_dist_err"] for a in agree),
        "max_abs_sim_err": max(a["max_abs_sim_err"] for a in agree),
        "same_clusters": all(a["same_clusters"] for a in agree),
    }


def _environment() -> dict:
    import torch_geometric

    try:
        import torch_scatter  # noqa: F401

        has_scatter = True
    except ImportError:
        has_scatter = False
    return {
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "torch_scatter": has_scatter,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def bench_graph(opts: GraphBenchOptions) -> dict:
    """Run the benchmark; prints the JSON report and returns it."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    gen = torch.Generator().manual_seed(opts.seed)
    env = _environment()
    gb = warm_builder(opts.channels, opts.batch, gen)
    results = []
    for n in opts.sizes:
        results.append(measure_size(gb, n, opts, gen))
        print(f"# N={n} done", file=sys.stderr, flush=True)
    at256 = next((r for r in results if r["rois_per_image"] == 256), None)
    out = {
        "benchmark": "graph pair construction (teacher + student), CPU",
        "what": "GraphBuilder.build_pair: mining, text merging, pooled node features, Mahalanobis "
        "edges [distance, similarity, type] for both models; naive = per-RoI/per-pair Python loops "
        "+ explicit inverse, float64; speedup = naive / vectorised (same statistics, no update)",
        "batch_images": opts.batch,
        "channels": opts.channels,
        "pooled_size": "7x7",
        **env,
        "results": results,
        "targets": None
        if at256 is None
        else {
            "speedup_at_256_ge_20x": at256["speedup"] >= 20,
            "ms_per_image_pair_at_256_lt_50": at256["vectorised_ms_per_image_pair"] < 50,
        },
    }
    print(json.dumps(out, indent=2))
    return out


def main(argv: Sequence[str] | None = None) -> dict | None:
    """``scripts/bench_graph.py``: the command line (``argv`` None) or a list of ``key=value``."""
    return run_tool("bench_graph", bench_graph, argv)
