"""graphkd.apps.doc_tables on a small fake demo output folder written here: the tables come from
the files, carry a record whose config hash today's defaults reproduce, and go stale when the
config they were made with no longer composes to the same thing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from graphkd.apps import doc_blocks as db
from graphkd.apps import doc_tables as dt
from graphkd.apps.cli import compose_config

AP = {"none": [10.0, 12.0, 11.0], "graphkd": [20.0, 22.0, 21.0], "dsig": [18.0, 19.0, 20.0]}
CLASSES = ("text", "title")


def _metrics(ap: float) -> dict:
    return {"AP": ap, "AP50": ap + 20, "AP75": ap - 5, "params": 19.5e6, "latency_s": 0.1,
            "per_class": {c: ap + i for i, c in enumerate(CLASSES)}}  # fmt: skip


def write_fake_demo(root: Path, overrides: tuple[str, ...] = (), broken: str = "") -> Path:
    """``root/outputs/demo`` as ``run_demo`` leaves it: runs, their teacher, real-page scores."""
    outputs = root / "outputs"
    for kd, aps in AP.items():
        for seed, ap in enumerate(aps):
            run = outputs / "demo" / "runs" / kd / f"seed{seed}"
            run.mkdir(parents=True)
            extra = [broken] if broken and kd == "graphkd" and seed == 1 else []
            cfg = compose_config([f"outputs={outputs}", *overrides, f"kd={kd}",
                                  f"trainer.seed={seed}", *extra])  # fmt: skip
            (run / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
            (run / "metrics.json").write_text(json.dumps(_metrics(ap)))
            (run / "job_done.json").write_text("{}")
    teacher = Path(cfg.teacher_checkpoint).parent
    teacher.mkdir(parents=True)
    (teacher / "metrics.json").write_text(json.dumps(_metrics(40.0)))
    for name, ap in {"teacher": 15.0, "student_kd-none": 5.0, "student_kd-graphkd": 9.0,
                     "student_kd-graphkd_seed1": 11.0}.items():  # fmt: skip
        d = outputs / "demo" / "real_pages" / name
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(
            json.dumps({**_metrics(ap), "num_pages": 80, "gt": "gt.json"})
        )
    return outputs / "demo"


def write_fake_recipe(root: Path, broken: str = "", teacher_seed: int = 0, gain: float = 0.0,
                      teacher_ap: float = 30.0, pages: Path | None = None,
                      teacher_of: Path | None = None) -> Path:  # fmt: skip
    """``root/outputs/demo_real`` as ``run_demo_real`` leaves it: the real stage's runs (their
    own data and starting weights), its fine-tuned teacher (``teacher_seed``: the seed its saved
    detectron2 config names), the synthetic models' scores; ``gain`` is added to the students'
    AP; ``broken``: an override of the kd=dsig runs; ``pages``: the folder of the pages' jsons
    (default ``root``); ``teacher_of``: another fake folder whose teacher the runs learned from
    (``teacher_from=``), instead of one of their own."""
    out, pages = root / "outputs" / "demo_real", pages or root
    stage = ["trainer=cpu_real", "dataset=custom", "dataset.name=real_pages",
             f"dataset.train_json={pages}/train.json", f"dataset.val_json={pages}/val.json"]  # fmt: skip
    for kd, aps in AP.items():
        for seed, ap in enumerate(aps[:2]):
            run = out / "runs" / kd / f"seed{seed}"
            run.mkdir(parents=True)
            extra = [broken] if broken and kd == "dsig" else []
            if teacher_of:
                extra.append(
                    f"teacher_checkpoint={next(teacher_of.glob('teachers/*'))}/model_final.pth"
                )
            cfg = compose_config([f"outputs={out}", *stage, f"kd={kd}", f"trainer.seed={seed}",
                                  f"pair.student.weights={root}/pre/none/seed{seed}.pth",
                                  *extra])  # fmt: skip
            (run / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
            (run / "metrics.json").write_text(json.dumps(_metrics(ap + gain)))
            (run / "job_done.json").write_text("{}")
    teacher = Path(cfg.teacher_checkpoint).parent
    assert teacher.parent == (teacher_of or out) / "teachers"
    if not teacher_of:
        teacher.mkdir(parents=True)
        (teacher / "metrics.json").write_text(json.dumps(_metrics(teacher_ap)))
        (teacher / "config.yaml").write_text(f"MODEL:\n  DEVICE: cpu\nSEED: {teacher_seed}\n")
    for name, ap in {"synthetic_teacher": 22.0, "synthetic_student_kd-none": 6.0}.items():
        (out / "real_pages" / name).mkdir(parents=True)
        (out / "real_pages" / name / "metrics.json").write_text(json.dumps(_metrics(ap)))
    return out


def _bench(path: Path) -> Path:
    model = {"params": 19.5e6, "input_hw": [320, 247], "fpn_channels": 128,
             **{v: {"median_s": 0.1, "min_s": 0.09} for v in ("eager", "eager_1000", "onnx")}}  # fmt: skip
    report = {
        "machine": {"cpus": 2, "torch": "2.3.1", "torch_threads": 2, "load_avg_1min_at_end": 1.0},
        "settings": {"reps": 3, "test": {"320": {"trainer": "cpu", "post_nms_topk": 300}}},
        "models": {"320": {"R50": model, "R18": {**model, "eager": {"median_s": 0.05}}}},
        "pairs": {"320": {"r50_r18": {"teacher": "R50", "student": "R18", "speedup_eager": 2.0,
                                      "speedup_best_vs_teacher_eager": 2.0,
                                      "student_best": {"variant": "eager", "median_s": 0.05}}}},
    }  # fmt: skip
    path.write_text(json.dumps(report))
    return path


def _docs(tmp: Path) -> tuple[Path, Path]:
    blocks = {n: f"<!-- BEGIN doc_tables:{n} -->\nnot produced yet\n<!-- END doc_tables:{n} -->"
              for n in ("demo", "real", "recipe", "latency", "headline", "headline_real")}  # fmt: skip
    results = tmp / "results.md"
    results.write_text(
        "# Results\n\n" + "\n\n".join(blocks[n] for n in ("demo", "real", "recipe", "latency"))
    )
    readme = tmp / "README.md"
    readme.write_text(
        "# GraphKD\n\n" + blocks["headline"] + "\n\n" + blocks["headline_real"] + "\n\nmore\n"
    )
    return results, readme


def test_tables_come_from_the_files_and_their_hash_is_today_s(tmp_path):
    demo = write_fake_demo(tmp_path)
    results, readme = _docs(tmp_path)
    cfg = dt.DocTablesConfig(demo=str(demo), recipe=str(tmp_path / "none"),
                             latency=str(_bench(tmp_path / "b.json")), commit="abc1234")  # fmt: skip
    assert dt.write_results(cfg, results, readme) == ["demo", "headline", "real", "latency"]
    text = results.read_text()
    assert "| kd=graphkd | 20.0 | 22.0 | 21.0 | 21.0 ± 1.0 | +10.0, +10.0, +10.0 |" in text
    assert "Teacher AP 40.0." in text and "`make demo SEEDS=3`" in text and "`abc1234`" in text
    assert "| student, kd=graphkd |  | 9.0 | 11.0 |" not in text  # seeds are columns
    assert "| student, kd=graphkd | 9.0 | 11.0 | 10.0 ± 1.4 |" in text
    assert "| 320 px (247 x 320), FPN 128 | R18 | 19.5 | 0.050 |" in text
    assert "same rounds" not in text  # a report from before the shared rounds says nothing of them
    assert "21.0 ± 1.0" in readme.read_text() and readme.read_text().endswith("more\n")
    blocks = db.read_blocks(text)
    assert blocks["demo"]["config"] == db.config_hash([["kd=dsig"], ["kd=graphkd"], ["kd=none"]])
    assert db.stale_tables([results, readme]) == []
    # A table made with other settings than today's is named.
    spec = dict(blocks["latency"], config="sha256:000000000000")
    results.write_text(db.replace_block(text, "latency", "old", spec))
    assert db.stale_tables([results, readme]) == ["results.md: latency"]


def test_runs_of_other_settings_are_refused(tmp_path):
    demo = write_fake_demo(tmp_path, broken="kd.loss.node_weight=3.0")
    results, readme = _docs(tmp_path)
    cfg = dt.DocTablesConfig(demo=str(demo), recipe=str(tmp_path / "none"),
                             latency=str(tmp_path / "none.json"), commit="x")  # fmt: skip
    with pytest.raises(ValueError, match=r"graphkd/seed1: kd.loss.node_weight: 3.0 != 2.0"):
        dt.write_results(cfg, results, readme)
    assert "not produced yet" in results.read_text()  # nothing half-written


def test_recipe_tables_compare_the_stage_s_settings_not_its_inputs(tmp_path):
    """The real-page recipe's runs: their pages and starting weights are the recipe's own; the
    schedule and methods are what the table's hash (trainer=cpu_real, kd=...) stands for."""
    recipe = write_fake_recipe(tmp_path)
    results, readme = _docs(tmp_path)
    cfg = dt.DocTablesConfig(demo=str(tmp_path / "none"), recipe=str(recipe),
                             latency=str(tmp_path / "none.json"), commit="abc1234")  # fmt: skip
    assert dt.write_results(cfg, results, readme) == ["recipe", "headline_real"]
    text, head = results.read_text(), readme.read_text()
    assert "Teacher AP 30.0." in text and "| kd=graphkd | 20.0 | 22.0 | 21.0 ± 1.4 |" in text
    assert "`python scripts/demo_real.py seeds=2`" in text and "| AP text |" in text
    line = "Before fine-tuning (synthetic pages only): teacher 22.0 AP, kd=none student 6.0 AP."
    assert line in text and line in head and "Teacher AP 30.0." in head
    spec = db.read_blocks(head)["headline_real"]
    assert spec["configs"][0] == ["trainer=cpu_real", "kd=dsig"]
    assert db.stale_tables([results, readme]) == []

    broken = write_fake_recipe(tmp_path / "b", broken="trainer.min_size=320")
    cfg.recipe = str(broken)
    with pytest.raises(ValueError, match=r"dsig/seed0: trainer.min_size: 320 != 480"):
        dt.write_results(cfg, results, readme)


def test_recipe_over_teacher_seeds_pairs_the_students_by_their_teacher_s_seed(tmp_path):
    """Folders of the recipe made with trainer.seed=0/1/2: one table, the seed-0 students of each
    folder paired by the teacher's seed, each student's share of its own teacher."""
    folders = [write_fake_recipe(tmp_path / f"s{n}", teacher_seed=n, gain=n, teacher_ap=30.0 + n)
               for n in (2, 0, 1)]  # fmt: skip
    results, readme = _docs(tmp_path)
    results.write_text(results.read_text()
                       + "\n<!-- BEGIN doc_tables:recipe_seeds -->\n<!-- END doc_tables:recipe_seeds -->\n")  # fmt: skip
    cfg = dt.DocTablesConfig(demo=str(tmp_path / "none"), recipe=str(folders[1]),
                             recipe_seeds=[str(f) for f in folders],
                             latency=str(tmp_path / "none.json"), commit="abc1234")  # fmt: skip
    assert dt.write_results(cfg, results, readme) == ["recipe", "recipe_seeds", "headline_real"]
    seeds = db.read_blocks(results.read_text())
    text = results.read_text().split("doc_tables:recipe_seeds")[1]
    head = readme.read_text()
    assert "Teachers 30.0, 31.0, 32.0 AP (31.0 ± 1.0)" in text and "Teacher AP 31.0." in text
    # Student seed 0 of each folder (AP["graphkd"][0] = 20, plus the folder's gain 0 / 1 / 2).
    assert "| kd=graphkd | 20.0 | 21.0 | 22.0 | 21.0 ± 1.0 | +10.0, +10.0, +10.0 |" in text
    assert "kd=graphkd 68 ± 1%" in text and "| teacher | 30.0 | 31.0 | 32.0 |" in text
    assert "| kd=graphkd | 20.0 | 21.0 | 22.0 |" in head and "Teacher AP 31.0." in head
    assert "folder=" not in text  # every fake folder is named demo_real
    made_by = "made by `python scripts/demo_real.py`, `python scripts/demo_real.py trainer.seed=1`"
    assert made_by + " and `python scripts/demo_real.py trainer.seed=2` at commit" in text
    assert seeds["recipe_seeds"] == seeds["recipe"]
    assert db.stale_tables([results, readme]) == []

    cfg.recipe_seeds = [str(folders[1]), str(write_fake_recipe(tmp_path / "again"))]
    with pytest.raises(ValueError, match="its teacher has seed 0"):
        dt.write_results(cfg, results, readme)
    (next(folders[2].glob("teachers/*")) / "config.yaml").unlink()
    cfg.recipe_seeds = [str(f) for f in folders]
    with pytest.raises(FileNotFoundError, match="the teacher's saved config is missing"):
        dt.write_results(cfg, results, readme)


def test_kd_pairs_pair_every_student_with_graphkd_s_by_both_seeds(tmp_path):
    """Folders of two teacher seeds, and one whose kd=dsig runs set their own node weight (its
    other runs copies of seed 0's): each setting is a row labelled by what it changes, paired
    with kd=graphkd on the (teacher seed, student seed) pairs both have."""
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "val.json").write_text(json.dumps({
        "images": [{"id": 1}], "categories": [{"id": 1, "name": "text"}, {"id": 2, "name": "title"}],
        "annotations": [{"image_id": 1, "category_id": 1}] * 3 + [{"image_id": 1, "category_id": 2}],
    }))  # fmt: skip
    t0 = write_fake_recipe(tmp_path / "t0", pages=pages)
    t1 = write_fake_recipe(tmp_path / "t1", teacher_seed=1, gain=1, teacher_ap=31.0, pages=pages)
    w2 = write_fake_recipe(
        tmp_path / "w2", broken="kd.loss.node_weight=2.0", pages=pages, teacher_of=t0
    )  # its students learned from t0's teacher
    results, readme = _docs(tmp_path)
    results.write_text(results.read_text()
                       + "\n<!-- BEGIN doc_tables:kd_pairs -->\n<!-- END doc_tables:kd_pairs -->\n")  # fmt: skip
    cfg = dt.DocTablesConfig(demo=str(tmp_path / "none"), recipe=str(tmp_path / "none"),
                             kd_pairs=[str(t0), str(t1), str(w2)],
                             latency=str(tmp_path / "none.json"), commit="abc1234")  # fmt: skip
    assert dt.write_results(cfg, results, readme) == ["kd_pairs"]
    text = results.read_text()
    assert "| student | seeds 0/0 | seeds 0/1 | seeds 1/0 | seeds 1/1 | mean ± std |" in text
    assert "| kd=graphkd | 20.0 | 22.0 | 21.0 | 23.0 | 21.5 ± 1.3 | 70 ± 4% |  |  |  |" in text
    assert "| kd=dsig | 18.0 | 19.0 | 19.0 | 20.0 | 19.0 ± 0.8 |" in text
    assert "| -2.0, -3.0, -2.0, -3.0 | -2.5 ± 0.6 (0.3) | 0/4 |" in text
    assert "| kd=dsig kd.loss.node_weight=2.0 | 18.0 | 19.0 |  |  | 18.5 ± 0.7 |" in text
    assert "kd=dsig - kd=graphkd: -2.5 AP over 4 paired seeds, more than two standard" in text
    assert "Teachers: seed 0 30.0, seed 1 31.0 AP." in text and ": text 3, title 1;" in text
    assert "| student, kd=dsig kd.loss.node_weight=2.0 | 18.5 ± 0.7 |" in text
    made_by = ("`python scripts/demo_real.py seeds=2 methods=[dsig] kd.loss.node_weight=2.0 "
               "teacher_from=demo_real` and `python scripts/demo_real.py seeds=2 "
               "methods=[graphkd,none] teacher_from=demo_real` at")  # fmt: skip
    assert made_by in text and "trainer.seed=1" in text
    spec = db.read_blocks(text)["kd_pairs"]
    assert ["trainer=cpu_real", "kd=dsig", "kd.loss.node_weight=2.0"] in spec["configs"]
    assert db.stale_tables([results, readme]) == []

    cfg.kd_pairs = [str(t0), str(write_fake_recipe(tmp_path / "other", gain=0.5, pages=pages))]
    with pytest.raises(ValueError, match="a different kd=dsig run of seeds 0/0 exists"):
        dt.write_results(cfg, results, readme)
    cfg.kd_pairs = [str(t0), str(write_fake_recipe(tmp_path / "elsewhere"))]
    with pytest.raises(ValueError, match="scored on .*elsewhere/val.json, not on"):
        dt.write_results(cfg, results, readme)
