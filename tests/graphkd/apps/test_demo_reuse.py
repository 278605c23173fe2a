"""graphkd.apps.jobs (the demo, compare) reuses finished runs only when trained with the same settings."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from graphkd.apps.cli import compose_config as _compose
from graphkd.apps.jobs import config_diff
from graphkd.apps.jobs import ensure_student as _student
from graphkd.apps.jobs import ensure_teacher as _teacher
from graphkd.apps.run import JobResult
from graphkd.apps.rundir import mark_done
from graphkd.core.d2config import detector_cfg
from graphkd.core.data import prepare_data
from graphkd.core.models import teacher_dir


def test_config_diff_names_changed_keys_and_honours_ignore():
    saved = {"trainer": {"min_size": 320, "steps": (1, 2), "resume": False}, "kd": {"name": "x"}}
    current = {"trainer": {"min_size": 256, "steps": [1, 2], "resume": True}, "kd": {"name": "x"}}
    assert config_diff(saved, current, ignore=("trainer.resume",)) == [
        "trainer.min_size: 320 != 256"
    ]
    assert config_diff({"a": 1}, {"b": 1}) == ["a: 1 != '<missing>'", "b: '<missing>' != 1"]


def test_student_run_with_other_settings_is_an_error_not_reused(tmp_path):
    overrides = [f"outputs={tmp_path}"]
    run_dir = tmp_path / "runs" / "none" / "seed0"
    run_dir.mkdir(parents=True)
    old = _compose(overrides + ["kd=none", "trainer.seed=0", "trainer.min_size=128"])
    OmegaConf.save(old, run_dir / "config_resolved.yaml", resolve=True)
    (run_dir / "metrics.json").write_text('{"AP": 1.0}')
    mark_done(run_dir)
    default = _compose(overrides + ["kd=none"]).trainer.min_size
    with pytest.raises(RuntimeError, match=rf"other settings \(trainer.min_size: 128 != {default}"):
        _student(overrides, "none", 0, str(run_dir))
    # Same settings (resume differs, as the demo always resumes): reused as it is.
    same = _compose(overrides + ["kd=none", "trainer.seed=0"])
    OmegaConf.save(same, run_dir / "config_resolved.yaml", resolve=True)
    assert _student(overrides, "none", 0, str(run_dir)) == {"AP": 1.0}


def test_run_without_done_marker_is_resumed_not_reused(tmp_path, monkeypatch):
    """metrics.json without job_done.json (killed before the job's last writes): run the job."""
    import graphkd.apps.jobs as jobs

    overrides = [f"outputs={tmp_path}"]
    run_dir = tmp_path / "runs" / "none" / "seed0"
    run_dir.mkdir(parents=True)
    OmegaConf.save(_compose(overrides + ["kd=none", "trainer.seed=0"]), run_dir / "config_resolved.yaml", resolve=True)  # fmt: skip
    (run_dir / "metrics.json").write_text('{"AP": 1.0}')
    launched = []

    def fake_launch(worker, cfg, out):
        launched.append((worker.__name__, out, cfg.trainer.resume))
        return JobResult(out, {"AP": 2.0})

    monkeypatch.setattr(jobs, "launch_job", fake_launch)
    assert _student(overrides, "none", 0, str(run_dir)) == {"AP": 2.0}
    assert launched == [("distill_worker", str(run_dir), True)]


def test_teacher_trained_with_other_settings_is_an_error_not_reused(tmp_path):
    overrides = [f"outputs={tmp_path}", "dataset.num_train=2", "dataset.num_val=1",
                 "dataset.page_size=128"]  # fmt: skip
    cfg = _compose(overrides + ["kd=none"])
    saved = detector_cfg(cfg, "teacher", prepare_data(cfg.dataset))
    saved.SOLVER.MAX_ITER = 7
    out = Path(teacher_dir(cfg))
    out.mkdir(parents=True)
    (out / "config.yaml").write_text(saved.dump())
    with pytest.raises(
        RuntimeError, match=rf"SOLVER.MAX_ITER: 7 != {cfg.trainer.teacher_max_iter}"
    ):
        _teacher(overrides)
