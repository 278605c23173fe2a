"""graphkd.apps.tools.region_gnn (scripts/region_gnn.py) end to end on a few tiny synthetic pages
(random R18-FPN backbone)."""

from __future__ import annotations

import json

import pytest
import torch

from graphkd.apps.tools import region_gnn
from pagedata.synthetic import generate_synthetic


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the script's threads=1 must not leak into other tests


def test_region_gnn_script_reports_gnn_and_mlp(tmp_path, capsys, keep_threads):
    for split, n in (("train", 3), ("val", 2)):
        generate_synthetic(tmp_path / "pages", n, seed=0, image_size=128, split=split)
    pages = tmp_path / "pages"
    out = tmp_path / "result.json"
    region_gnn.main(
        [
            "dataset=custom",
            f"dataset.train_json={pages / 'train.json'}",
            f"dataset.train_images={pages / 'train'}",
            f"dataset.val_json={pages / 'val.json'}",
            f"dataset.val_images={pages / 'val'}",
            "dataset.text_classes=[text,title,list]",
            "trainer.min_size=128",
            "trainer.max_size=128",
            "trainer.fpn_channels=32",
            "conv=sage",
            "epochs=5",
            "hidden=16",
            "seeds=2",
            "threads=1",
            f"out={out}",
        ]
    )
    report = json.loads(out.read_text())
    assert report["pages"] == {"train": 3, "val": 2} and report["backbone"] == "random R18"
    assert set(report["results"]) == {"gnn_sage", "mlp"}
    assert len(report["gnn_minus_mlp_val_accuracy_per_seed"]) == 2
    for runs in report["runs"].values():
        assert [r["seed"] for r in runs] == [0, 1]
        assert all(0.0 <= r["val"]["accuracy"] <= 1.0 for r in runs)
    assert "gnn_sage" in capsys.readouterr().out
