"""Config composition and the small config-derived helpers (no training)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from graphkd.apps.cli import CONFIG_DIR
from graphkd.core.d2config import detector_cfg
from graphkd.core.data import prepare_data
from graphkd.core.models import teacher_command


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.mark.parametrize(
    "kd,pair",
    zip(
        ["none", "fitnet", "logit", "dsig", "graphkd"],
        ["r50_r18", "r101_r50", "r152_r101", "r101_eb0", "r50_mnv2"],
    ),
)
def test_every_group_option_composes(kd, pair):
    cfg = _compose([f"kd={kd}", f"pair={pair}"])
    assert cfg.kd.method == kd and cfg.pair.name == pair
    assert cfg.pair.teacher.backbone != cfg.pair.student.backbone


def test_teacher_command_keeps_overrides_that_change_the_teacher():
    cfg = _compose(["kd=dsig", "outputs=/tmp/o", "trainer.min_size=256", "trainer.fpn_channels=64"])
    cfg.overrides = ["kd=dsig", "outputs=/tmp/o", "trainer.min_size=256", "trainer.seed=3",
                     "pair.student.backbone=R34", "trainer.fpn_channels=64"]  # fmt: skip
    cmd = teacher_command(cfg)
    assert cmd.startswith("python scripts/train_teacher.py dataset=synthetic pair=r50_r18")
    assert "outputs=/tmp/o" in cmd and "trainer.min_size=256" in cmd
    assert "trainer.fpn_channels=64" in cmd
    for student_only in ("kd=dsig", "trainer.seed=3", "pair.student"):
        assert student_only not in cmd
    # the teacher path follows the same overrides
    # (dataset.style=realistic, the default, has its own teacher folder)
    assert cfg.teacher_checkpoint.startswith("/tmp/o/teachers/synthetic-realistic_R50_256px_fpn64/")


def test_known_dataset_rejects_a_different_class_list():
    cfg = _compose(["dataset=publaynet", "dataset.classes=[a,b]"])
    with pytest.raises(ValueError, match="set classes only for your own data"):
        prepare_data(cfg.dataset)


def test_custom_dataset_needs_its_paths():
    cfg = _compose(["dataset=custom"])
    with pytest.raises(Exception, match="train_json"):
        prepare_data(cfg.dataset)


def test_lr_steps_stay_inside_the_schedule():
    from graphkd.core.data import DataSplits

    data = DataSplits("a_train", "a_val", ("text", "figure"), ("text",))
    cfg = _compose(["trainer.max_iter=4", "trainer.lr_steps=[0.75,0.9,1.0]"])
    d2 = detector_cfg(cfg, "student", data)
    assert d2.SOLVER.STEPS == (3,) and d2.SOLVER.MAX_ITER == 4
    assert d2.MODEL.ROI_HEADS.NUM_CLASSES == 2


@pytest.mark.parametrize(
    "overrides,sizes",
    [
        ([], [16, 32, 64, 128, 256]),  # trainer=cpu, 320 px
        (["trainer=gpu"], [32, 64, 128, 256, 512]),  # 800 px
        (["trainer.min_size=128", "trainer.max_size=128"], [16, 32, 64, 128, 256]),
    ],
)
def test_trainer_anchors_are_the_detector_defaults(overrides, sizes):
    """One source of anchor defaults: the trainer's are detectors.config's for its page size."""
    from omegaconf import OmegaConf

    from detectors.config import get_detector_cfg
    from graphkd.core.data import DataSplits

    cfg = _compose(overrides)
    t = OmegaConf.to_container(cfg.trainer, resolve=True)
    assert t["anchor_sizes"] == sizes and t["anchor_ratios"] == [0.1, 0.25, 0.5, 1.0, 2.0]
    data = DataSplits("a_train", "a_val", ("text", "figure"), ("text",))
    ours = detector_cfg(cfg, "student", data).MODEL.ANCHOR_GENERATOR
    plain = get_detector_cfg("R18", 2, min_size=t["min_size"]).MODEL.ANCHOR_GENERATOR
    assert ours.SIZES == plain.SIZES and ours.ASPECT_RATIOS == plain.ASPECT_RATIOS
    assert ours.SIZES == [[s] for s in sizes]
    mine = _compose([*overrides, "trainer.anchor_sizes=[8,16,32,64,128]"])
    assert list(mine.trainer.anchor_sizes) == [8, 16, 32, 64, 128]  # still overridable
