"""End-to-end on CPU: teacher -> distill -> checkpoint -> evaluate -> predict, resume, errors, DDP.

Tiny sizes (see e2e_helpers.TINY); the teacher is trained once per session by the ``teacher``
fixture (defined here, not in a conftest.py, which tests/graph's ``from conftest import`` would
pick up). Configs are composed with Hydra's compose API and the workers run in-process, except
for the multi-process and multirun tests, which run ``scripts/distill.py`` like a user would.
The in-process tests took ~55 s on 2 idle cores with an R18 teacher; TINY's teacher is now the
pair's R50 (bigger than the student, as in the paper), which adds to that (6 min measured at a
load average of ~14). The two subprocess tests take 2-process gloo ~28 s, multirun ~22 s idle, 2-3x
that on a busy machine.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.engine import DefaultPredictor
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage, get_event_storage
from e2e_helpers import PYTHON, REPO, TINY, compose_cfg, script_env
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from PIL import Image

import graphkd.core.distiller as distiller_module
import graphkd.core.engine as engine
import graphkd.core.losses.kd_loss as kd_loss_module
from detectors.build import build_detector, count_parameters
from detectors.config import load_detector_cfg
from detectors.dummy import make_dummy_batch
from graphkd.apps.cli import CONFIG_DIR, register_configs
from graphkd.apps.package import STUDENT_CHECKPOINT, STUDENT_CONFIG
from graphkd.apps.run import distill_worker, launch_job, teacher_worker
from graphkd.core.d2config import detector_cfg
from graphkd.core.data import DataSplits, prepare_data
from graphkd.core.distiller import Distiller
from graphkd.core.models import build_distiller, build_teacher, teacher_dir
from graphkd.core.precision import CPUAutocast, cpu_bf16_supported, training_precision

DETECTOR_LOSSES = {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}
RUN_FILES = (
    "metrics.json",
    STUDENT_CHECKPOINT,
    STUDENT_CONFIG,
    "label_map.json",
    "coco_instances_results.json",
    engine.TRAIN_LOG,
    "config_resolved.yaml",
    "model_final.pth",
    "last_checkpoint",
    "job_done.json",
)
# Distiller-only state that must never reach the student checkpoint.
NOT_STUDENT = ("teacher", "adapter", "stats", "builder", "kd_loss")


# --- fixtures: one tiny teacher per session --------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _threads():
    """Fixed thread count: CPU results are deterministic for a given number of threads."""
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    """Session directory holding the synthetic pages and the teacher."""
    return tmp_path_factory.mktemp("graphkd_e2e")


@pytest.fixture(scope="session")
def teacher(shared_root) -> Path:
    """Trains the tiny teacher once per session; returns its ``model_final.pth``."""
    cfg = compose_cfg(*TINY, f"outputs={shared_root}", f"dataset.root={shared_root / 'data'}")
    result = launch_job(teacher_worker, cfg, teacher_dir(cfg))
    ckpt = Path(cfg.teacher_checkpoint)
    assert ckpt.is_file(), f"teacher training did not write {ckpt}"
    assert {"AP", "params"} <= set(result.metrics)
    assert result.metrics["precision"] == training_precision(True, "cpu")  # trainer=cpu: amp
    assert (ckpt.parent / "job_done.json").is_file()
    # Distillation compresses: the teacher is the bigger model (R50 vs R18 in TINY).
    student = build_detector(detector_cfg(cfg, "student", prepare_data(cfg.dataset)))
    assert result.metrics["params"] > 1.5 * count_parameters(student)
    return ckpt


def test_teacher_dir_carries_its_label_files(teacher):
    # Without them predict.py wrote contiguous ids 0..K-1 for a teacher against the json's 1..K.
    from graphkd.apps.package import read_classes

    label_map = json.loads((teacher.parent / "label_map.json").read_text())
    classes, _, dataset_ids = read_classes(teacher.parent)
    assert list(label_map.values()) == classes == ["text", "title", "list", "table", "figure"]
    assert dataset_ids == {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}


@pytest.fixture
def student_overrides(shared_root, teacher, tmp_path) -> list[str]:
    """TINY + this test's outputs dir + the session's data and teacher."""
    return [
        *TINY,
        f"outputs={tmp_path / 'outputs'}",
        f"dataset.root={shared_root / 'data'}",
        f"teacher_checkpoint={teacher}",
    ]


def _read_log(run_dir: Path) -> list[dict]:
    with open(run_dir / engine.TRAIN_LOG) as f:
        return [json.loads(line) for line in f]


def _val_page(shared_root: Path) -> np.ndarray:
    """The first synthetic val page as an HxWx3 uint8 BGR array (DefaultPredictor's input)."""
    data = shared_root / "data" / "synthetic_realistic"  # the default style's folder
    with open(data / "val.json") as f:
        name = json.load(f)["images"][0]["file_name"]
    rgb = np.asarray(Image.open(data / "val" / name).convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


# --- 1. teacher -> distill -> checkpoint -> evaluate -> plain detectron2 predictor -------------


@pytest.mark.parametrize("kd", ["graphkd", "dsig"])
def test_distill_writes_a_plain_student(kd, student_overrides, shared_root, tmp_path):
    cfg = compose_cfg(*student_overrides, f"kd={kd}")
    run_dir = tmp_path / "run"
    result = launch_job(distill_worker, cfg, str(run_dir))

    for name in RUN_FILES:
        assert (run_dir / name).exists(), f"{name} missing from {sorted(os.listdir(run_dir))}"
    assert any((run_dir / "tensorboard").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == set(result.metrics) and metrics["AP"] == result.metrics["AP"]
    for key in ("AP", "AP50", "AP75", "per_class", "params", "latency_s"):
        assert key in metrics, key
    assert set(metrics["per_class"]) == {"text", "title", "list", "table", "figure"}
    assert metrics["kd"] == kd and metrics["params"] > 0 and metrics["latency_s"] > 0
    assert metrics["precision"] == training_precision(True, "cpu")
    assert math.isfinite(metrics["AP"])
    # The KD terms of this method were trained (train_log holds every logged iteration).
    log = _read_log(run_dir)
    assert [r["iteration"] for r in log] == [0, 1]
    kd_keys = {"loss_kd_node", "loss_kd_edge"} | ({"loss_kd_struct"} if kd == "graphkd" else set())
    assert kd_keys | DETECTOR_LOSSES <= set(log[-1])
    assert all(math.isfinite(log[-1][k]) for k in kd_keys)
    # The resumable checkpoint keeps the running statistics for graph methods.
    full = torch.load(run_dir / "model_final.pth", map_location="cpu")
    assert "builder.teacher_stats.count" in full["model"] and "iteration" in full

    # Student checkpoint: exactly a plain detector's state, no teacher / adapter / statistics.
    student_sd = torch.load(run_dir / STUDENT_CHECKPOINT, map_location="cpu")["model"]
    bad = [k for k in student_sd if any(s in k for s in NOT_STUDENT)]
    assert not bad, bad
    d2 = load_detector_cfg(str(run_dir / STUDENT_CONFIG))
    assert Path(d2.MODEL.WEIGHTS) == (run_dir / STUDENT_CHECKPOINT).resolve()
    assert set(student_sd) == set(build_detector(d2).state_dict())
    label_map = json.loads((run_dir / "label_map.json").read_text())  # {id: name}
    assert label_map == dict(zip("01234", ["text", "title", "list", "table", "figure"]))
    assert (run_dir / "MODEL_CARD.md").is_file() and (run_dir / "classes.json").is_file()

    predictor = DefaultPredictor(d2)
    loaded = predictor.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in student_sd.items())
    page = _val_page(shared_root)
    out = predictor(page)
    inst = out["instances"]
    assert isinstance(inst, Instances)
    assert inst.image_size == page.shape[:2]
    assert {"pred_boxes", "scores", "pred_classes"} <= set(inst.get_fields())
    assert bool((inst.pred_classes < len(label_map)).all())


# --- 2. the other baselines: loss keys of one training forward -------------------------------


@pytest.mark.parametrize(
    "kd, kd_keys",
    [("none", set()), ("fitnet", {"loss_kd_fpn"}), ("logit", {"loss_kd_logit"})],
)
def test_baseline_losses(kd, kd_keys, student_overrides):
    cfg = compose_cfg(*student_overrides, f"kd={kd}")
    distiller, s_cfg = build_distiller(cfg, prepare_data(cfg.dataset))
    assert (distiller.teacher is None) == (kd == "none")
    distiller.train()
    batch = make_dummy_batch(2, height=128, width=128, num_classes=5, seed=0)
    optimizer = torch.optim.SGD([p for p in distiller.parameters() if p.requires_grad], lr=1e-3)
    for it in range(2):  # two steps: the terms stay finite after an update
        with EventStorage(it):
            losses = distiller(batch)
        assert set(losses) == DETECTOR_LOSSES | kd_keys
        assert all(bool(torch.isfinite(v)) for v in losses.values()), losses
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    assert all(p.grad is not None for n, p in distiller.student.named_parameters() if "fpn" in n)
    if distiller.teacher is not None:
        assert all(p.grad is None for p in distiller.teacher.parameters())


def test_graphkd_steps_under_cpu_bf16_autocast(student_overrides):
    """trainer.amp=true on a CPU with bfloat16: the detectors run in bfloat16, the graph and KD
    terms in fp32 (the Distiller turns autocast off for them), and the losses reach the
    optimizer finite and fp32."""
    cfg = compose_cfg(*student_overrides, "kd=graphkd")
    distiller, _ = build_distiller(cfg, prepare_data(cfg.dataset))
    distiller.train()
    dtypes = []
    distiller.student.backbone.register_forward_hook(
        lambda m, i, out: dtypes.append(out["p2"].dtype)
    )
    model = CPUAutocast(distiller)
    batch = make_dummy_batch(2, height=128, width=128, num_classes=5, seed=0)
    optimizer = torch.optim.SGD([p for p in distiller.parameters() if p.requires_grad], lr=1e-3)
    with EventStorage(0):  # one step: bfloat16 is emulated, hence slow, on most CI CPUs
        losses = model(batch)
    assert {"loss_kd_node", "loss_kd_edge", "loss_kd_struct"} <= set(losses)
    assert all(v.dtype == torch.float32 and bool(torch.isfinite(v)) for v in losses.values())
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    assert dtypes == [torch.bfloat16]
    assert {p.grad.dtype for p in distiller.student.parameters() if p.grad is not None} == {
        torch.float32
    }
    # The running feature statistics (the Mahalanobis metric) never saw bfloat16.
    stats = distiller.builder.state_dict()
    assert not [k for k, t in stats.items() if t.dtype in (torch.bfloat16, torch.float16)]
    assert float(distiller.builder.teacher_stats.num_samples) > 0


# --- 3. resume after a kill at iteration k == uninterrupted run ------------------------------


class _Killed(Exception):
    """Stands for the process being killed between two iterations."""


# Emulated bfloat16 (a CPU without it) makes the bf16 run minutes long; the bfloat16 step itself
# is tested on every CPU above (test_graphkd_steps_under_cpu_bf16_autocast).
NATIVE_BF16 = pytest.mark.skipif(
    not cpu_bf16_supported(), reason="trainer.amp=true trains in bfloat16 on CPUs that have it"
)


@pytest.mark.parametrize(
    "amp", [False, pytest.param(True, marks=NATIVE_BF16)], ids=["fp32", "bf16"]
)
def test_resume_matches_uninterrupted_run(amp, student_overrides, tmp_path, monkeypatch):
    """Also with trainer.amp=true on a CPU with native bfloat16 (its forward under autocast)."""
    n, k = 4, 2
    overrides = [
        *student_overrides,
        "kd=graphkd",
        f"trainer.max_iter={n}",
        f"trainer.checkpoint_period={k}",  # checkpoint after iterations 0..k-1
        f"trainer.amp={str(amp).lower()}",
    ]
    full_dir, part_dir = tmp_path / "full", tmp_path / "part"
    # Evaluation is covered above; here it would only cost time.
    monkeypatch.setattr(engine, "evaluate", lambda *args, **kwargs: {"AP": 0.0})
    autocast_steps = []

    class CountedAutocast(engine.CPUAutocast):
        def forward(self, batched_inputs):
            autocast_steps.append(1)
            return super().forward(batched_inputs)

    monkeypatch.setattr(engine, "CPUAutocast", CountedAutocast)
    launch_job(distill_worker, compose_cfg(*overrides), str(full_dir))

    seed_step = engine.StepSeed.before_step

    def killed_at_k(self):
        if self.trainer.iter == k:
            raise _Killed
        seed_step(self)

    with monkeypatch.context() as patch:
        patch.setattr(engine.StepSeed, "before_step", killed_at_k)
        with pytest.raises(_Killed):
            launch_job(distill_worker, compose_cfg(*overrides), str(part_dir))
    assert (part_dir / "last_checkpoint").read_text().strip() == f"model_{k - 1:07d}.pth"
    assert not (part_dir / "model_final.pth").exists()
    launch_job(distill_worker, compose_cfg(*overrides, "trainer.resume=true"), str(part_dir))
    # n steps uninterrupted, k before the kill, n - k after the resume
    assert len(autocast_steps) == (2 * n if amp else 0)

    full_log, part_log = _read_log(full_dir), _read_log(part_dir)
    assert [r["iteration"] for r in full_log] == list(range(n))
    assert [r["iteration"] for r in part_log] == list(range(n))  # k..n-1 appended after resume
    loss_keys = sorted(k_ for k_ in full_log[0] if k_.startswith("loss_") or k_ == "total_loss")
    assert {"loss_kd_node", "loss_kd_edge", "loss_kd_struct"} <= set(loss_keys)
    for a, b in zip(full_log, part_log):
        for key in loss_keys + ["lr", "graph/num_nodes", "graph/teacher_stats_samples"]:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-8), (a["iteration"], key)

    full = torch.load(full_dir / "model_final.pth", map_location="cpu")
    part = torch.load(part_dir / "model_final.pth", map_location="cpu")
    assert full["iteration"] == part["iteration"] == n - 1
    for stats in ("teacher_stats", "student_stats"):
        count = f"builder.{stats}.count"
        assert torch.equal(full["model"][count], part["model"][count])
        assert float(full["model"][count].sum()) > 0
    diff = {
        key: float((full["model"][key].double() - v.double()).abs().max())
        for key, v in part["model"].items()
        if v.is_floating_point()
    }
    assert max(diff.values()) < 1e-5, sorted(diff.items(), key=lambda kv: -kv[1])[:5]


# --- 5. clear errors ----------------------------------------------------------------------------


def test_missing_teacher_names_the_command(student_overrides, tmp_path):
    missing = tmp_path / "nowhere" / "model_final.pth"
    cfg = compose_cfg(*student_overrides, "kd=graphkd", f"teacher_checkpoint={missing}")
    with pytest.raises(FileNotFoundError) as err:
        launch_job(distill_worker, cfg, str(tmp_path / "run"))
    msg = str(err.value)
    assert str(missing) in msg
    assert "python scripts/train_teacher.py dataset=synthetic pair=r50_r18" in msg


@pytest.mark.parametrize(
    "override, key",
    [
        ("trainer.max_iters=3", "max_iters"),  # misspelt trainer key
        ("kd.loss.nodee=false", "nodee"),  # misspelt key inside a nested dataclass
    ],
)
def test_misspelt_key_fails_at_compose(override, key):
    with pytest.raises(ConfigCompositionException, match=key):
        compose_cfg("kd=graphkd", override)


def test_misspelt_key_in_yaml_fails_at_compose(tmp_path):
    """A group file with an unknown key (e.g. a user's own kd/*.yaml) is rejected too."""
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (configs / "kd" / "typo.yaml").write_text("name: typo\nmethod: graphkd\nstart_itr: 3\n")
    register_configs()
    with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
        with pytest.raises(ConfigCompositionException) as err:
            compose(config_name="config", overrides=["kd=typo"])
    assert "start_itr" in repr(err.value) + repr(err.value.__cause__)


def test_class_count_mismatch(student_overrides, teacher):
    # A student dataset with 4 classes cannot load the 5-class teacher.
    cfg = compose_cfg(*student_overrides)
    data5 = prepare_data(cfg.dataset)
    data = DataSplits(data5.train, data5.val, data5.classes[:4], data5.text_classes)
    with pytest.raises(ValueError, match="5 classes") as err:
        build_teacher(cfg, data)
    assert str(teacher) in str(err.value)
    # And in the Distiller itself, for teachers built by hand.
    t_cfg = detector_cfg(cfg, "teacher", data5)
    s_cfg = detector_cfg(cfg, "student", data)
    with pytest.raises(ValueError, match="teacher predicts 5 classes but the student 4"):
        Distiller(build_detector(s_cfg), build_detector(t_cfg), torch.nn.Module(), method="logit")


def test_nan_loss_names_term_and_iteration(student_overrides, tmp_path, monkeypatch):
    real_edge_loss = kd_loss_module.edge_loss

    def nan_at_iteration_1(*args, **kwargs):
        loss = real_edge_loss(*args, **kwargs)
        return loss * float("nan") if get_event_storage().iter == 1 else loss

    monkeypatch.setattr(kd_loss_module, "edge_loss", nan_at_iteration_1)
    cfg = compose_cfg(*student_overrides, "kd=graphkd", "trainer.max_iter=3")
    with pytest.raises(FloatingPointError) as err:
        launch_job(distill_worker, cfg, str(tmp_path / "run"))
    msg = str(err.value)
    assert "loss_kd_edge" in msg and "iteration 1" in msg, msg


def test_nan_features_name_the_iteration(student_overrides, tmp_path, monkeypatch):
    real_extract = distiller_module.extract_roi_features

    def nan_teacher_features_at_iteration_1(*args, **kwargs):
        feats = real_extract(*args, **kwargs)
        if get_event_storage().iter == 1:
            feats.teacher_features[0] = feats.teacher_features[0] * float("nan")
        return feats

    monkeypatch.setattr(
        distiller_module, "extract_roi_features", nan_teacher_features_at_iteration_1
    )
    cfg = compose_cfg(*student_overrides, "kd=graphkd", "trainer.max_iter=3")
    with pytest.raises(ValueError) as err:
        launch_job(distill_worker, cfg, str(tmp_path / "run"))
    msg = str(err.value)
    assert msg.startswith("iteration 1: ") and "non-finite" in msg, msg
    assert not (tmp_path / "run" / "job_done.json").exists()


# --- 4. and 6. through the scripts: 2 gloo processes, Hydra multirun -------------------------


def _run_script(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [PYTHON, str(REPO / "scripts" / "distill.py"), *args],
        cwd=cwd,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def test_two_gloo_processes_write_one_set_of_outputs(student_overrides, tmp_path):
    outputs = tmp_path / "outputs"
    _run_script([*student_overrides, "kd=graphkd", "trainer.num_workers_cpu=2"], cwd=tmp_path)
    runs = sorted(outputs.glob("runs/*/*/*/*"))
    assert [p.relative_to(outputs).as_posix() for p in runs] == [
        "runs/synthetic/r50_r18/graphkd/seed0"
    ]
    run_dir = runs[0]
    assert sorted(p.name for p in outputs.rglob("metrics.json")) == ["metrics.json"]
    assert len(list(outputs.rglob(STUDENT_CHECKPOINT))) == 1
    for name in RUN_FILES:
        assert (run_dir / name).exists(), name
    log = _read_log(run_dir)
    assert [r["iteration"] for r in log] == [0, 1]  # rank 0 alone writes the log
    student_sd = torch.load(run_dir / STUDENT_CHECKPOINT, map_location="cpu")["model"]
    assert not [k for k in student_sd if any(s in k for s in NOT_STUDENT)]


def test_multirun_one_run_dir_per_job(student_overrides, tmp_path):
    sweep = tmp_path / "sweep"
    _run_script(
        ["-m", *student_overrides, "kd=none,graphkd", f"hydra.sweep.dir={sweep}"], cwd=tmp_path
    )
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0_none_seed0", "1_graphkd_seed0"], jobs
    for job in jobs:
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert metrics["kd"] == job.split("_")[1]
        assert (sweep / job / STUDENT_CHECKPOINT).is_file()
