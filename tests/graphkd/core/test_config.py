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


# --- kd presets: the dataclass defaults are kd=graphkd's, presets name their departures ------

# The loss and graph settings of kd=graphkd_paper (and, unused, of none / fitnet / logit).
PAPER_LOSS = dict(
    node_weight=1.0, adapter="always", text_only_weight=None, node_reduce="node",
    bg_rois="mined", image_reduction="mean",
)  # fmt: skip
PAPER_GRAPH = dict(
    descriptor="mean", shrinkage="ledoit_wolf", bg_topk=64, student_momentum=None,
    merge_text_only=True,
)  # fmt: skip
DSIG_LOSS = dict(node_weight=0.5, node_mode="dsig", text_only_weight=None)
DSIG_GRAPH = dict(
    PAPER_GRAPH, bg_topk=None, split_mode="none", merge=False, edge_metric="cosine"
)  # fmt: skip
PRESETS = {  # kd preset -> (method, kd.loss departures, kd.graph departures)
    "graphkd": ("graphkd", {}, {}),
    "graphkd_paper": ("graphkd", PAPER_LOSS, PAPER_GRAPH),
    "dsig": ("dsig", DSIG_LOSS, DSIG_GRAPH),
    "none": ("none", PAPER_LOSS, PAPER_GRAPH),
    "fitnet": ("fitnet", PAPER_LOSS, PAPER_GRAPH),
    "logit": ("logit", dict(PAPER_LOSS, temperature=2.0), PAPER_GRAPH),
}


@pytest.mark.parametrize("kd", sorted(PRESETS))
def test_kd_presets_are_the_defaults_plus_their_departures(kd):
    """kd.loss / kd.graph of every preset, as the worker gets them (to_config): the dataclass
    defaults with the preset's departures, loss terms switched on by the method's registry."""
    from graph import GraphConfig
    from graphkd.core.config import to_config
    from graphkd.core.losses import KDLossConfig
    from graphkd.core.methods import METHOD_TERMS

    method, loss, graph = PRESETS[kd]
    cfg = to_config(_compose([f"kd={kd}"]))
    assert cfg.kd.name == kd and cfg.kd.method == method and cfg.kd.start_iter == 0
    switches = {
        t: t in METHOD_TERMS[method] for t in ("node", "edge", "struct", "logit", "box", "fpn")
    }
    assert cfg.kd.loss == KDLossConfig(**loss, **switches)
    assert cfg.kd.graph == GraphConfig(**graph)
    assert cfg.kd.loss.enabled_terms() == METHOD_TERMS[method]


def test_kd_loss_switches_follow_the_method_unless_set():
    cfg = _compose(["kd=graphkd", "kd.loss.logit=true", "kd.loss.struct=false"])
    assert (cfg.kd.loss.node, cfg.kd.loss.struct, cfg.kd.loss.logit) == (True, False, True)
    assert _compose(["kd=graphkd", "kd.method=dsig"]).kd.loss.struct is False


def test_unknown_method_and_bad_shrinkage_fail_before_any_model():
    from omegaconf import OmegaConf

    from graphkd.core.config import to_config

    cfg = _compose(["kd=graphkd", "kd.method=fancy"])
    with pytest.raises(Exception, match=r"kd.method='fancy' is unknown; choose one of \('none'"):
        OmegaConf.to_container(cfg, resolve=True)  # what launch_job does in the parent
    cfg = _compose(["kd=graphkd", "kd.graph.shrinkage=ledoitwolf"])
    with pytest.raises(ValueError, match="shrinkage='ledoitwolf' is not supported"):
        to_config(OmegaConf.to_container(cfg, resolve=True))


# kd.graph of a config_resolved.yaml written by the code before the defaults moved.
OLD_RUN_CONFIG = """\
kd:
  name: graphkd_paper
  method: graphkd
  graph:
    split_mode: gt
    merge: true
    merge_ratio: 1.0
    edge_metric: mahalanobis
    bg_threshold: 0.6
    bg_topk: 64
    self_loops_on_merged: false
    shrinkage: ledoit_wolf
    momentum: null
    student_momentum: null
    merge_text_only: true
    descriptor: mean
    min_samples: null
"""


def test_an_old_run_config_loads_its_own_graph_options(tmp_path):
    from graph import GraphConfig
    from graphkd.apps.artifacts import graph_config
    from graphkd.apps.rundir import CONFIG_RESOLVED

    (tmp_path / CONFIG_RESOLVED).write_text(OLD_RUN_CONFIG)
    assert graph_config(run_dir=tmp_path) == ("graphkd_paper", GraphConfig(**PAPER_GRAPH))
    assert graph_config("graphkd", tmp_path) == ("graphkd", GraphConfig())


def test_student_fpn_width(tmp_path):
    """trainer.student_fpn_channels pairs a 256-channel teacher with a 128-channel student; a
    model's own width wins; unset, one width for both; the canonical form makes a run saved
    before ``student_fpn_channels`` existed compare and hash like today's same models."""
    from omegaconf import OmegaConf

    from graphkd.apps.doc_blocks import normalized_config
    from graphkd.apps.jobs import config_diff
    from graphkd.core.config import canonical_widths, fpn_channels_of

    gpu = _compose(["trainer=gpu"])  # the deploy-sized student by default
    assert (fpn_channels_of(gpu, "teacher"), fpn_channels_of(gpu, "student")) == (256, 128)
    # detector_cfg needs the class list only: 3 small pages in tmp_path, not the default 608
    pages = [
        f"dataset.root={tmp_path}",
        "dataset.num_train=2",
        "dataset.num_val=1",
        "dataset.page_size=128",
    ]
    data = prepare_data(_compose(["trainer=gpu", *pages]).dataset)
    assert detector_cfg(gpu, "student", data).MODEL.FPN.OUT_CHANNELS == 128
    assert detector_cfg(gpu, "teacher", data).MODEL.FPN.OUT_CHANNELS == 256
    own = _compose(["trainer=gpu", "pair.student.fpn_channels=256"])
    assert fpn_channels_of(own, "student") == 256
    cpu = _compose(["trainer.fpn_channels=64"])
    assert fpn_channels_of(cpu, "student") == fpn_channels_of(cpu, "teacher") == 64
    assert "trainer.student_fpn_channels=96" not in teacher_command(
        OmegaConf.merge(cpu, {"overrides": ["trainer.student_fpn_channels=96"]})
    )

    today = OmegaConf.to_container(_compose([]), resolve=True)
    before = OmegaConf.to_container(_compose([]), resolve=True)
    del before["trainer"]["student_fpn_channels"]  # a run saved before the key existed
    written = OmegaConf.to_container(_compose(["pair.student.fpn_channels=128"]), resolve=True)
    assert normalized_config(before) == normalized_config(today) == normalized_config(written)
    gpu_tree = OmegaConf.to_container(gpu, resolve=True)
    same = OmegaConf.to_container(
        _compose(
            ["trainer=gpu", "trainer.student_fpn_channels=null", "pair.student.fpn_channels=128"]
        ),
        resolve=True,
    )
    assert config_diff(canonical_widths(gpu_tree), canonical_widths(same)) == []
    wide = OmegaConf.to_container(
        _compose(["trainer=gpu", "pair.student.fpn_channels=256"]), resolve=True
    )
    assert config_diff(canonical_widths(gpu_tree), canonical_widths(wide)) == [
        "pair.student.fpn_channels: 128 != None"
    ]


def test_every_method_has_a_model_card_description():
    from graphkd.core.methods import METHOD_DESCRIPTIONS, METHODS

    assert set(METHOD_DESCRIPTIONS) == set(METHODS)
