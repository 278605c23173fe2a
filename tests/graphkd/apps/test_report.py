"""graphkd.apps.report: table values, gap closed, mean ± std, verdicts, plots; graph drawing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch_geometric.data import Data

from graphkd.apps import report
from graphkd.core.checkpoint import read_train_log

TEACHER = {"AP": 60.0, "AP50": 80.0, "AP75": 66.0, "params": 41_300_000, "latency_s": 0.30,
           "per_class": {"text": 70.0, "title": 50.0}}  # fmt: skip


def run(ap: float, text: float | None = 50.0, **kw) -> dict:
    return {"AP": ap, "AP50": ap + 20, "AP75": ap + 5, "params": 28_300_000, "latency_s": 0.2,
            "per_class": {"text": text, "title": ap - 10}, "pair": "r50_r18", **kw}  # fmt: skip


STUDENTS = {"none": [run(40.0), run(42.0)], "graphkd": [run(50.0), run(52.0, text=None)]}


def _row(table: str, start: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(f"| {start}"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_mean_std_and_gap():
    assert report.mean_std([40.0, 42.0]) == pytest.approx((41.0, math.sqrt(2)))
    assert report.mean_std([5.0]) == (5.0, 0.0)
    assert report.mean_std([None, 3.0, float("nan")]) == (3.0, 0.0)
    assert all(math.isnan(v) for v in report.mean_std([None]))
    assert report.gap_closed(51.0, 41.0, 61.0) == pytest.approx(0.5)
    assert math.isnan(report.gap_closed(51.0, 41.0, 40.0))  # teacher below baseline


def test_table_values():
    table = report.metrics_table(TEACHER, STUDENTS)
    head = _row(table, "model")
    assert head[:7] == ["model", "seeds", "params (M)", "CPU latency / page (ms)", "AP", "AP50",
                        "AP75"]  # fmt: skip
    assert head[7:] == ["AP text", "AP title", "gap closed"]
    t = dict(zip(head, _row(table, "teacher")))
    assert t["params (M)"] == "41.30" and t["CPU latency / page (ms)"] == "300"
    assert t["AP"] == "60.0" and t["AP text"] == "70.0"
    b = dict(zip(head, _row(table, "student, kd=none")))
    assert b["seeds"] == "2" and b["AP"] == "41.0 ± 1.4" and b["AP50"] == "61.0 ± 1.4"
    g = dict(zip(head, _row(table, "student, kd=graphkd")))
    assert g["AP"] == "51.0 ± 1.4"
    assert g["AP text"] == "50.0 ± 0.0"  # the None seed is ignored
    # (51 - 41) / (60 - 41) = 52.6 %
    assert g["gap closed"] == "53%"
    assert "(r50_r18)" in g["model"]


def test_single_seed_has_no_std():
    table = report.metrics_table(TEACHER, {"none": [run(40.0)], "dsig": [run(45.0)]})
    row = _row(table, "student, kd=dsig")
    assert "±" not in " ".join(row) and "25%" in row


def test_verdicts():
    v = report.verdict(STUDENTS, "graphkd")
    assert "+10.0" in v and "larger than the seed-to-seed spread" in v
    close = {"none": [run(40.0), run(44.0)], "graphkd": [run(41.0), run(45.0)]}
    assert "within the seed-to-seed spread" in report.verdict(close, "graphkd")
    worse = {"none": [run(40.0), run(41.0)], "graphkd": [run(39.0), run(40.0)]}
    assert "no improvement" in report.verdict(worse, "graphkd")
    one = report.verdict({"none": [run(40.0)], "graphkd": [run(41.0)]}, "graphkd")
    assert "one seed" in one and "unknown" in one


def _png_ok(path, min_side: int = 100) -> np.ndarray:
    im = np.asarray(Image.open(path).convert("RGB"))
    assert min(im.shape[:2]) >= min_side
    assert im.std() > 5  # not blank
    return im


def test_write_report_and_plots(tmp_path):
    logs = {}
    for name, scale in (("none", 1.0), ("graphkd", 1.5)):
        d = tmp_path / name
        d.mkdir()
        lines = [
            {"iteration": i, "total_loss": scale * (3 - 0.1 * i), "loss_cls": 1.0 - 0.05 * i,
             "loss_box_reg": 0.5, "loss_rpn_cls": 0.3, "loss_rpn_loc": 0.1, "loss_kd_node": 0.5}
            for i in range(10)
        ] + [{"iteration": 10, "AP": float("nan")}]  # an eval line: no total_loss, skipped  # fmt: skip
        (d / "train_log.json").write_text("\n".join(json.dumps(x) for x in lines))
        logs[name] = str(d)
    assert len(read_train_log(logs["none"], require="total_loss")) == 10
    assert len(read_train_log(logs["none"])) == 11
    losses = report.plot_losses(logs, tmp_path / "fig" / "losses.png")
    bars = report.plot_ap_bars(TEACHER, STUDENTS, tmp_path / "fig" / "ap.png")
    _png_ok(losses)
    _png_ok(bars)
    path = report.write_report(
        tmp_path / "out", TEACHER, STUDENTS, {"Loss curves": losses, "AP": bars}
    )
    text = path.read_text()
    assert path.name == "REPORT.md" and "| teacher |" in text
    assert "![AP](../fig/ap.png)" in text and "## Loss curves" in text
    assert "kd=graphkd vs kd=none" in text
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_train_log(tmp_path / "nowhere")


def hand_graph() -> Data:
    box = torch.tensor(
        [[10, 10, 60, 30], [70, 10, 140, 30], [10, 50, 140, 120], [10, 130, 70, 190],
         [80, 130, 140, 190]], dtype=torch.float
    )  # fmt: skip
    n = 5
    ei = (~torch.eye(n, dtype=torch.bool)).nonzero().t()
    sim = torch.linspace(0.05, 1.0, ei.shape[1])
    return Data(box=box, node_type=torch.tensor([0, 0, 1, 0, 2]),
                cluster_size=torch.tensor([3, 1, 1, 2, 1]), edge_index=ei, edge_dist=1 - sim,
                edge_sim=sim, edge_type=torch.zeros_like(ei[0]), num_nodes=n)  # fmt: skip


def test_draw_instance_graph(tmp_path):
    page = np.full((200, 150, 3), 240, np.uint8)
    g = hand_graph()
    ax = report.draw_instance_graph(page, g, out_png=tmp_path / "g.png", max_edges=4)
    assert len(ax.collections[0].get_segments()) == 4  # strongest 4 undirected edges
    # 5 node boxes; the 2 merged text nodes dashed and thicker
    rects = [p for p in ax.patches]
    assert len(rects) == 5
    assert sum(r.get_linestyle() == "--" for r in rects) == 2
    im = _png_ok(tmp_path / "g.png")
    assert (im[..., 2].astype(int) - im[..., 0] > 60).any()  # blue text boxes drawn
    out = report.draw_graph_pair(page, g, g, tmp_path / "pair.png")
    _png_ok(out)


def test_draw_detections_and_side_by_side(tmp_path):
    page = np.full((160, 124, 3), 255, np.uint8)
    dets = [{"bbox": [10, 10, 50, 20], "category_id": 1, "score": 0.9},
            {"bbox": [10, 60, 100, 60], "category_id": 5, "score": 0.3}]  # fmt: skip
    ids = {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}
    names = ["text", "title", "list", "table", "figure"]
    drawn = report.draw_detections(page, dets, names, dataset_ids=ids, score_thresh=0.5)
    assert drawn.shape == (160, 124, 3)
    assert (drawn != 255).any(axis=2)[10:31, 10:61].any()  # the kept box
    assert not (drawn != 255).any(axis=2)[70:110, 20:100].any()  # the dropped one
    gt = report.draw_detections(page, [{"bbox": [5, 5, 30, 30], "category_name": "table"}], names)
    out = report.side_by_side([drawn, gt], ["pred", "gt"], tmp_path / "sbs.png")
    _png_ok(out)
