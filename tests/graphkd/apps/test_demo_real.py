"""The real-page recipe (graphkd.apps.demo_real): the shipped DocBank samples, the inputs it
accepts and refuses, the routing of overrides, and a toy run on 4 shipped pages. Needs no
../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from graphkd.apps.demo_real.pages import (
    SAMPLES,
    RealPages,
    check_classes,
    mix_coco,
    resolve_real_pages,
)
from graphkd.apps.demo_real.stages import check_compatible, route_overrides, with_preset
from pagedata.classes import DOCBANK_LABELS, PUBLAYNET_CLASSES


def _coco(split: str = "all", labels: str = "COCO") -> dict:
    return json.loads((SAMPLES / labels / f"{split}.json").read_text())


def _subset(coco: dict, images: list[dict], path: Path) -> Path:
    keep = {im["id"] for im in images}
    part = dict(coco, images=images,
                annotations=[a for a in coco["annotations"] if a["image_id"] in keep])  # fmt: skip
    path.write_text(json.dumps(part))
    return path


def test_shipped_samples_are_complete():
    """80 pages, 60 / 20 split in both class sets, every listed image present at its json size,
    within the size budget, with DocBank's licence and attribution."""
    splits = {s: _coco(s) for s in ("train", "val", "all")}
    assert [len(splits[s]["images"]) for s in ("train", "val", "all")] == [60, 20, 80]
    names = {s: {im["file_name"] for im in c["images"]} for s, c in splits.items()}
    assert names["train"] | names["val"] == names["all"] and not names["train"] & names["val"]
    assert [c["name"] for c in splits["all"]["categories"]] == list(PUBLAYNET_CLASSES)
    labels = _coco("all", "COCO_labels")
    assert [c["name"] for c in labels["categories"]] == list(DOCBANK_LABELS)
    assert [im["file_name"] for im in labels["images"]] == [
        im["file_name"] for im in splits["all"]["images"]
    ]
    for im in splits["all"]["images"]:
        with Image.open(SAMPLES / "images" / im["file_name"]) as page:
            assert page.size == (im["width"], im["height"]) and im["height"] == 1000
    assert sorted(p.name for p in (SAMPLES / "images").iterdir()) == sorted(names["all"])
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 15e6
    readme = (SAMPLES / "README.md").read_text()
    assert "github.com/doc-analysis/DocBank" in readme and "Apache" in readme
    assert "Apache License" in (SAMPLES / "LICENSE").read_text()


def test_default_and_folder_inputs(tmp_path):
    default = resolve_real_pages(None, tmp_path)
    assert default == RealPages(SAMPLES / "COCO/train.json", SAMPLES / "COCO/val.json",
                                SAMPLES / "images")  # fmt: skip
    assert resolve_real_pages(str(SAMPLES), tmp_path) == default
    check_classes(default, PUBLAYNET_CLASSES)
    assert not (tmp_path / "pages").exists()  # nothing written for a split folder


def test_one_json_is_split_into_train_and_val(tmp_path):
    coco = _coco()
    gt = _subset(coco, coco["images"][:8], tmp_path / "mine.json")
    pages = resolve_real_pages(str(gt), tmp_path / "work", real_images(), None)
    assert (
        pages.train_json == tmp_path / "work/pages/train.json"
        and pages.images == SAMPLES / "images"
    )
    counts = [len(json.loads(p.read_text())["images"]) for p in (pages.train_json, pages.val_json)]
    assert counts == [6, 2]
    again = resolve_real_pages(str(gt), tmp_path / "work", real_images(), None)
    assert again.fingerprint() == pages.fingerprint()
    val = _subset(coco, coco["images"][8:10], tmp_path / "val.json")
    given = resolve_real_pages(str(gt), tmp_path / "w2", real_images(), str(val))
    assert (given.train_json, given.val_json) == (gt, val)


def real_images() -> str:
    return str(SAMPLES / "images")


def _token_page(folder: Path, stem: str, k: int) -> None:
    """A DocBank-style page: a title and two paragraphs, image 400 x 520 px."""
    lines = []
    for row in range(6):
        y = 100 + 40 * row + (60 if row else 0)
        label = "title" if row == 0 else "paragraph"
        for w in range(5):
            x = 100 + 150 * w
            lines.append(f"w{k}\t{x}\t{y}\t{x + 120}\t{y + 20}\t0\t0\t0\tTimes\t{label}")
    (folder / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    Image.new("RGB", (400, 520), "white").save(folder / f"{stem}_ori.jpg")


def test_docbank_token_folder_is_converted_once(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    for k in range(4):
        _token_page(tokens, f"page{k}", k)
    pages = resolve_real_pages(str(tokens), tmp_path / "out")
    assert pages.train_json == tmp_path / "out/docbank/COCO/train.json"
    coco = json.loads((tmp_path / "out/docbank/COCO/all.json").read_text())
    assert len(coco["images"]) == 4 and {im["height"] for im in coco["images"]} == {1000}
    assert {a["category_id"] for a in coco["annotations"]} == {1, 2}  # text, title
    stamp = (tmp_path / "out/docbank/source.json").stat().st_mtime_ns
    resolve_real_pages(str(tokens), tmp_path / "out")
    assert (tmp_path / "out/docbank/source.json").stat().st_mtime_ns == stamp


def test_bad_inputs_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_real_pages(str(tmp_path / "missing"), tmp_path)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(ValueError, match="without 'images'"):
        resolve_real_pages(str(empty), tmp_path, real_images())
    coco = _coco()
    one = _subset(coco, coco["images"][:1], tmp_path / "one.json")
    with pytest.raises(ValueError, match="cannot be split"):
        resolve_real_pages(str(one), tmp_path, real_images())
    with pytest.raises(FileNotFoundError, match="real_images"):
        resolve_real_pages(str(one), tmp_path, str(tmp_path), str(one))
    with pytest.raises(FileNotFoundError, match="real_val"):
        resolve_real_pages(str(one), tmp_path, real_images(), str(tmp_path / "nope.json"))
    renamed = dict(coco, categories=[dict(c, name=c["name"].upper()) for c in coco["categories"]])
    gt = _subset(renamed, coco["images"][:2], tmp_path / "upper.json")
    with pytest.raises(ValueError, match="must use these class names"):
        check_classes(RealPages(gt, gt, SAMPLES / "images"), PUBLAYNET_CLASSES)


def test_mix_lists_both_page_sets(tmp_path):
    coco = _coco()
    real = _subset(coco, coco["images"][:2], tmp_path / "real.json")
    syn_dir = tmp_path / "syn"
    syn_dir.mkdir()
    Image.new("RGB", (64, 80), "white").save(syn_dir / "p0.jpg")
    syn = {"images": [{"id": 1, "file_name": "p0.jpg", "width": 64, "height": 80}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 9, 9],
                            "area": 81, "iscrowd": 0}],
           "categories": [{"id": 7, "name": "figure"}]}  # fmt: skip
    (tmp_path / "syn.json").write_text(json.dumps(syn))
    pages = RealPages(real, real, SAMPLES / "images")
    mixed = json.loads(
        mix_coco(pages, tmp_path / "syn.json", syn_dir, tmp_path / "m.json").read_text()
    )
    assert [im["id"] for im in mixed["images"]] == [1, 2, 3]
    assert all(Path(im["file_name"]).is_absolute() and Path(im["file_name"]).is_file()
               for im in mixed["images"])  # fmt: skip
    ids = [a["id"] for a in mixed["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    figure = next(c["id"] for c in coco["categories"] if c["name"] == "figure")
    assert (
        mixed["annotations"][-1]["image_id"] == 3
        and mixed["annotations"][-1]["category_id"] == figure
    )


def test_overrides_go_to_their_stage():
    pre, real = route_overrides(["dataset.num_train=8", "pair=r101_r50", "trainer.max_iter=5",
                                 "kd.loss.node_weight=2", "outputs=x", "trainer.fpn_channels=64"])  # fmt: skip
    assert pre == ["dataset.num_train=8", "pair=r101_r50", "trainer.fpn_channels=64"]
    assert real == ["pair=r101_r50", "trainer.max_iter=5", "kd.loss.node_weight=2",
                    "trainer.fpn_channels=64"]  # fmt: skip
    with pytest.raises(ValueError, match="kd.. options apply"):
        route_overrides(["kd=dsig"])
    assert with_preset(["trainer.max_iter=5"]) == ["trainer=cpu_real", "trainer.max_iter=5"]
    assert with_preset(["trainer=gpu"]) == ["trainer=gpu"]
    check_compatible([], with_preset([]), students=True)
    with pytest.raises(ValueError, match="fpn_channels: 128 .pretraining. != 256"):
        check_compatible([], ["trainer=gpu"], students=True)


def test_toy_recipe_on_four_shipped_pages(tmp_path, monkeypatch):
    """Synthetic pretraining, fine-tuning and distillation on 2 + 2 shipped pages at toy sizes:
    the folder is laid out like outputs/demo, a run with other settings is refused without
    retraining the pretrained models, and another folder's students learn from this folder's
    teacher with teacher_from= (bad folders refused)."""
    from e2e_helpers import TINY

    import graphkd.apps.jobs as jobs
    from graphkd.apps.demo import METHODS
    from graphkd.apps.demo_real import run_demo_real

    coco = _coco()
    train = _subset(coco, coco["images"][:2], tmp_path / "train.json")
    val = _subset(coco, coco["images"][2:4], tmp_path / "val.json")
    sizes = [o for o in TINY if o.startswith("trainer.") and o != "trainer.seed=0"]
    pretrain = [o for o in TINY if o.startswith("dataset.")] + sizes
    kw = dict(real_pages=str(train), real_val=str(val), real_images=real_images(),
              pretrain_overrides=pretrain)  # fmt: skip
    report = run_demo_real(1, str(tmp_path / "o"), sizes, **kw)
    out = tmp_path / "o" / "demo_real"
    assert report == out / "REPORT.md"
    teacher = out / "teachers" / "real_pages_R50_128px_fpn128"
    assert (teacher / "model_final.pth").is_file() and (teacher / "job_done.json").is_file()
    for kd in METHODS:
        run = out / "runs" / kd / "seed0"
        for name in ("model_student.pth", "student_config.yaml", "metrics.json", "job_done.json"):
            assert (run / name).is_file(), run / name
        resolved = (run / "config_resolved.yaml").read_text()
        assert "demo/runs/none/seed0/model_student.pth" in resolved  # from the synthetic student
        assert str(train) in resolved
    teacher_cfg = (teacher / "config.yaml").read_text()
    assert "synthetic-realistic_R50_128px_fpn128/model_final.pth" in teacher_cfg
    # mix_synthetic (the default): the teacher fine-tunes on real + synthetic train pages
    mixed = json.loads((out / "pages" / "train_mixed.json").read_text())["images"]
    assert len(mixed) > 2 and json.loads((out / "inputs.json").read_text())["mix_synthetic"]
    text = report.read_text()
    assert text.startswith("# GraphKD distillation report: real pages")
    for row in ["| teacher |", *(f"| student, kd={kd} " for kd in METHODS)]:
        assert row in text
    assert "## Before fine-tuning: synthetic pretraining alone" in text
    assert "| synthetic teacher |" in text and "| synthetic student kd=none |" in text
    assert "2 train" in text and "2 val" in text
    for png in ("ap.png", "losses.png", "detections.png", "graphs.png"):
        assert (out / png).stat().st_size > 10_000 and f"]({png})" in text

    def no_training(worker, cfg, run_dir):
        raise AssertionError(f"trained again: {worker.__name__} {run_dir}")

    launch_job = jobs.launch_job
    monkeypatch.setattr(jobs, "launch_job", no_training)
    with pytest.raises(RuntimeError, match="other real pages or settings.*mix_synthetic"):
        run_demo_real(1, str(tmp_path / "o"), sizes, mix_synthetic=False, **kw)
    # methods=: the named students only (here reused), reported without kd=none to pair with
    text = run_demo_real(1, str(tmp_path / "o"), sizes, methods=["graphkd"], **kw).read_text()
    assert "| student, kd=graphkd " in text and "| student, kd=dsig " not in text
    assert "kd=graphkd: no baseline to compare." in text and "](graphs.png)" in text
    with pytest.raises(ValueError, match="kd='nope': no such preset in configs/kd/"):
        run_demo_real(1, str(tmp_path / "o"), sizes, methods=["graphkd", "nope"], **kw)

    # teacher_from=: students of another folder learn from this folder's teacher, not retrained
    def students_only(worker, cfg, run_dir):
        assert worker.__name__ == "distill_worker", f"trained a teacher: {run_dir}"
        return launch_job(worker, cfg, run_dir)

    monkeypatch.setattr(jobs, "launch_job", students_only)
    more = dict(kw, folder="more", methods=["graphkd"], teacher_from="demo_real")
    run_demo_real(1, str(tmp_path / "o"), sizes, **more)
    resolved = (tmp_path / "o/more/runs/graphkd/seed0/config_resolved.yaml").read_text()
    assert f"teacher_checkpoint: {teacher / 'model_final.pth'}" in resolved
    assert not (tmp_path / "o" / "more" / "teachers").exists()
    with pytest.raises(FileNotFoundError, match="teacher_from=nowhere: .* not a recipe folder"):
        run_demo_real(1, str(tmp_path / "o"), sizes, **{**more, "teacher_from": "nowhere"})
    with pytest.raises(ValueError, match="teacher_from=demo_real: .*other real pages or settings"):
        run_demo_real(1, str(tmp_path / "o"), sizes, **{**more, "mix_synthetic": False})
    bigger = [*sizes, "trainer.min_size=160", "trainer.max_size=160"]
    with pytest.raises(FileNotFoundError, match="no fine-tuned teacher of these settings"):
        run_demo_real(1, str(tmp_path / "o"), bigger, **more)
