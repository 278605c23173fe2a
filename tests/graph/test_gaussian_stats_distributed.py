"""GaussianStats under torch.distributed: every rank ends with the statistics of the global batch."""

import os
from datetime import timedelta

import torch
from detectron2.engine import launch
from detectron2.utils import comm

from graph.gaussian_stats import GaussianStats, all_gather_rows

DIM = 6


def _rank_data(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 * step + rank)
    n = 5 + 3 * rank + step  # different row counts per rank exercise the padding
    return torch.randn(n, DIM, generator=g), torch.rand(n, generator=g) < 0.4


def _worker(out_dir: str) -> None:
    rank = comm.get_rank()
    stats = GaussianStats(DIM, min_samples=4)
    for step in range(3):
        stats.update(*_rank_data(rank, step))
    stats.update(torch.zeros(0, DIM), torch.zeros(0, dtype=torch.bool))  # empty on every rank
    rows = all_gather_rows(torch.full((rank + 1, 2), float(rank)))[0]
    torch.save({"state": stats.state_dict(), "rows": rows}, os.path.join(out_dir, f"{rank}.pt"))
    comm.synchronize()


def test_updates_are_gathered_across_processes(tmp_path):
    # The training path: detectron2's launch (tcp on a free local port, gloo on CPU). An earlier
    # version rendezvoused through file:// and called destroy_process_group, and hung once; a
    # short timeout makes any stuck collective fail instead of waiting 30 minutes.
    world = 2
    launch(_worker, world, dist_url="auto", args=(str(tmp_path),), timeout=timedelta(seconds=60))
    reference = GaussianStats(DIM, min_samples=4)
    for step in range(3):
        parts = [_rank_data(r, step) for r in range(world)]
        reference.update(torch.cat([z for z, _ in parts]), torch.cat([t for _, t in parts]))
    for rank in range(world):
        saved = torch.load(tmp_path / f"{rank}.pt")
        for key, value in reference.state_dict().items():
            torch.testing.assert_close(saved["state"][key], value, msg=f"rank {rank}: {key}")
        assert saved["rows"].tolist() == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]


def test_without_a_process_group_nothing_is_gathered():
    z = torch.randn(3, DIM)
    assert all_gather_rows(z)[0] is z
