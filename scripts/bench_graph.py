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
import math
import os
import platform
import statistics
import sys
import time
from types import SimpleNamespace

import torch

from graphkd.apps.kvargs import parse_kv
from graph import GraphBuilder, NodeType

NUM_CLASSES = 5
TEXT_CLASSES = (0, 1, 2)


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
    imgs = [synth_image(n, channels, gen) for _ in range(b)]
    return {k: [im[k] for im in imgs] for k in imgs[0]}


# ----------------------------------------------------------------------------- naive reference
def naive_image(gb: GraphBuilder, tf, sf, boxes, gt_classes, gt_instance, bg_prob):
    """Same graph for one image with Python loops over RoIs / pairs and an explicit inverse."""
    text_set = set(TEXT_CLASSES)
    n = tf.shape[0]
    zt = [tf[i].double().mean((1, 2)) for i in range(n)]
    zs = [sf[i].double().mean((1, 2)) for i in range(n)]
    p_t = torch.linalg.inv(gb.teacher_stats.covariance())
    p_s = torch.linalg.inv(gb.student_stats.covariance())

    def maha(a, b, p):
        d = a - b
        return math.sqrt(max(float(d @ p @ d), 0.0))

    kinds, keep = [], []
    for i in range(n):
        fg = int(gt_instance[i]) >= 0 and int(gt_classes[i]) < NUM_CLASSES
        kinds.append(
            NodeType.TEXT
            if fg and int(gt_classes[i]) in text_set
            else NodeType.NONTEXT
            if fg
            else NodeType.BG
        )
        ce = -math.log(max(float(bg_prob[i]), 1e-12))
        keep.append(fg or ce >= gb.cfg.bg_threshold)
    # Step A: text RoIs of one GT instance -> one cluster (a list of RoI indices).
    clusters, by_inst = [], {}
    for i in range(n):
        if not keep[i]:
            continue
        if kinds[i] == NodeType.TEXT:
            g = int(gt_instance[i])
            if g in by_inst:
                by_inst[g].append(i)
                continue
            by_inst[g] = [i]
            clusters.append(by_inst[g])
        else:
            clusters.append([i])
    # Step B: merge the closest pair of text clusters (centroid distance) while over the ratio.
    n_nontext = sum(kinds[c[0]] == NodeType.NONTEXT for c in clusters)
    target = max(gb.min_text_nodes, int(gb.cfg.merge_ratio * n_nontext + 1e-9))
    while sum(kinds[c[0]] == NodeType.TEXT for c in clusters) > target:
        text = [c for c in clusters if kinds[c[0]] == NodeType.TEXT]
        cents = [sum(zt[i] for i in c) / len(c) for c in text]
        best = None
        for a in range(len(text)):
            for b in range(len(text)):
                if a != b:
                    d = maha(cents[a], cents[b], p_t)
                    if best is None or d < best[0]:
                        best = (d, a, b)
        _, a, b = best
        text[a].extend(text[b])
        clusters.remove(text[b])
    clusters = sorted((sorted(c) for c in clusters), key=lambda c: c[0])
    cluster = [-1] * n
    for k, c in enumerate(clusters):
        for i in c:
            cluster[i] = k

    def edges(z):
        nodes = [sum(z[i] for i in c) / len(c) for c in clusters]
        p = p_t if z is zt else p_s
        d = {}
        for i in range(len(nodes)):
            for j in range(len(nodes)):
                if i != j:
                    d[i, j] = maha(nodes[i], nodes[j], p)
        med = statistics.median_low([v * v for v in d.values()]) if d else 0.0
        return {k: (v, math.exp(-v * v / (2 * med)) if med > 0 else 1.0) for k, v in d.items()}

    x_t = [tf[c].flatten(1).mean(0) for c in clusters]  # pooled node features (loss inputs)
    x_s = [sf[c].flatten(1).mean(0) for c in clusters]
    return cluster, edges(zt), edges(zs), x_t, x_s


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
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def int_list(text: str) -> list[int]:
    """``"64,128"`` -> ``[64, 128]``."""
    return [int(v) for v in text.split(",") if v.strip()]


SPEC = {"sizes": int_list, "batch": int, "channels": int, "repeats": int, "naive_repeats": int,
        "seed": int, "threads": int}  # fmt: skip
DEFAULTS = {"sizes": [64, 128, 256, 512], "batch": 2, "channels": 256, "repeats": 7,
            "naive_repeats": 1, "seed": 0, "threads": None}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    given = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, usage=__doc__)
    args = SimpleNamespace(**{**DEFAULTS, **given})
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    try:
        import torch_scatter  # noqa: F401

        has_scatter = True
    except ImportError:
        has_scatter = False
    import torch_geometric

    gb = GraphBuilder(
        TEXT_CLASSES, NUM_CLASSES, teacher_channels=args.channels, student_channels=args.channels,
        bg_topk=None,  # every bg RoI above the threshold, as naive_image
    )  # fmt: skip
    for _ in range(8):  # warm the running statistics so the real (shrunk) covariance is used
        gb.build_pair(**synth_batch(args.batch, 256, args.channels, gen))
    assert gb.teacher_stats.is_ready and gb.student_stats.is_ready

    results = []
    for n in args.sizes:
        inp = synth_batch(args.batch, n, args.channels, gen)
        gb.build_pair(**inp, update_stats=False)  # warm-up
        fwd_ms, (t, s) = timed(
            lambda inp=inp: gb.build_pair(**inp, update_stats=False), args.repeats
        )
        upd_ms, _ = timed(lambda inp=inp: gb.build_pair(**inp, update_stats=True), args.repeats)

        def train_step(inp=inp):
            sf = [f.detach().requires_grad_(True) for f in inp["student_features"]]
            _, st = gb.build_pair(**{**inp, "student_features": sf}, update_stats=True)
            (st.edge_dist.sum() + st.edge_sim.sum() + st.x.square().mean()).backward()

        train_ms, _ = timed(train_step, max(3, args.repeats // 2))
        # Same statistics for both paths: rebuild the vectorised graphs now that they are fixed.
        t, s = gb.build_pair(**inp, update_stats=False)
        merges = (gb.last_stats["merges_step_a"], gb.last_stats["merges_step_b"])
        keys = (
            "teacher_features",
            "student_features",
            "boxes",
            "gt_classes",
            "gt_instance",
            "teacher_bg_prob",
        )
        naive_ms, naive = timed(
            lambda inp=inp, keys=keys: [
                naive_image(gb, *(inp[k][b] for k in keys)) for b in range(args.batch)
            ],
            args.naive_repeats,
        )
        agree = [compare(naive[b], t, s, b) for b in range(args.batch)]
        ok = all(
            a["same_clusters"] and a["max_rel_dist_err"] < 1e-3 and a["max_abs_sim_err"] < 1e-3
            for a in agree
        )
        results.append(
            {
                "rois_per_image": n,
                "nodes_per_image": t.num_nodes / args.batch,
                "edges_per_image": t.edge_index.shape[1] / args.batch,
                "merges_step_a_per_batch": merges[0],
                "merges_step_b_per_batch": merges[1],
                "vectorised_ms_per_batch": round(fwd_ms, 2),
                "vectorised_ms_per_image_pair": round(fwd_ms / args.batch, 2),
                "vectorised_with_stats_update_ms_per_image_pair": round(upd_ms / args.batch, 2),
                "vectorised_fwd_bwd_with_update_ms_per_image_pair": round(train_ms / args.batch, 2),
                "naive_ms_per_image_pair": round(naive_ms / args.batch, 1),
                "speedup": round(naive_ms / fwd_ms, 1),
                "agree": ok,
                "max_rel_dist_err": max(a["max_rel_dist_err"] for a in agree),
                "max_abs_sim_err": max(a["max_abs_sim_err"] for a in agree),
                "same_clusters": all(a["same_clusters"] for a in agree),
            }
        )
        print(f"# N={n} done", file=sys.stderr, flush=True)

    at256 = next((r for r in results if r["rois_per_image"] == 256), None)
    out = {
        "benchmark": "graph pair construction (teacher + student), CPU",
        "what": "GraphBuilder.build_pair: mining, text merging, pooled node features, Mahalanobis "
        "edges [distance, similarity, type] for both models; naive = per-RoI/per-pair Python loops "
        "+ explicit inverse, float64; speedup = naive / vectorised (same statistics, no update)",
        "batch_images": args.batch,
        "channels": args.channels,
        "pooled_size": "7x7",
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "torch_scatter": has_scatter,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "results": results,
        "targets": None
        if at256 is None
        else {
            "speedup_at_256_ge_20x": at256["speedup"] >= 20,
            "ms_per_image_pair_at_256_lt_50": at256["vectorised_ms_per_image_pair"] < 50,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
