"""Property tests (hypothesis) of the KD losses on graphs from graph.GraphBuilder: every term is
>= 0, zero when the student equals the teacher, and independent of the order of the images."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_losses import PAPER_GRAPH, PAPER_LOSS

from graph import GraphBuilder
from graphkd.core.losses import KDLoss, KDLossConfig

C, K = 6, 5  # channels; classes (0..2 text, 3..4 non-text, 5 = background)
PRESETS = {
    "graphkd": (PAPER_GRAPH, PAPER_LOSS),
    "dsig": (
        dict(PAPER_GRAPH, split_mode="none", merge=False, edge_metric="cosine"),
        dict(PAPER_LOSS, node_mode="dsig", struct=False),
    ),
}


def _image(n: int, seed: int, c_s: int = C) -> dict:
    g = torch.Generator().manual_seed(seed)
    inst = torch.randint(-1, 6, (n,), generator=g)
    inst_cls = torch.randint(0, K, (6,), generator=g)
    gt_classes = torch.where(inst >= 0, inst_cls[inst.clamp_min(0)], torch.full_like(inst, K))
    xy = torch.rand(n, 2, generator=g) * 80
    return {
        "teacher_features": torch.randn(n, C, 7, 7, generator=g),
        "student_features": torch.randn(n, c_s, 7, 7, generator=g),
        "boxes": torch.cat([xy, xy + 4 + 30 * torch.rand(n, 2, generator=g)], 1),
        "gt_classes": gt_classes,
        "gt_instance": inst,
        "teacher_bg_prob": torch.rand(n, generator=g) * 0.5,  # low: bg RoIs are mined
    }


def _batch(images: list[dict]) -> dict:
    return {k: [im[k] for im in images] for k in images[0]}


def _setup(method: str, c_s: int = C) -> tuple[GraphBuilder, KDLoss]:
    graph_opts, loss_opts = PRESETS[method]
    builder = GraphBuilder(
        text_classes=[0, 1, 2], num_classes=K, teacher_channels=C, student_channels=c_s,
        min_samples=1, **graph_opts,
    )  # fmt: skip
    builder.build_pair(**_batch([_image(30, 999 + i, c_s) for i in range(3)]))  # warm statistics
    return builder, KDLoss(KDLossConfig(**loss_opts), student_channels=c_s, teacher_channels=C)


_SETUPS: dict = {}


def _cached(method: str, c_s: int = C):
    key = (method, c_s)
    if key not in _SETUPS:
        _SETUPS[key] = _setup(method, c_s)
    return _SETUPS[key]


sizes = st.lists(st.integers(min_value=0, max_value=14), min_size=1, max_size=4)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(sizes=sizes, seed=st.integers(0, 10_000), method=st.sampled_from(sorted(PRESETS)))
def test_losses_non_negative(sizes, seed, method):
    builder, kd = _cached(method, c_s=4)  # different widths: the adapter maps 4 -> 6 channels
    images = [_image(n, seed + 31 * i, c_s=4) for i, n in enumerate(sizes)]
    teacher, student = builder.build_pair(**_batch(images), update_stats=False)
    for name, value in kd(teacher, student).items():
        assert bool(torch.isfinite(value)) and float(value) >= 0.0, (name, float(value))


@settings(max_examples=15, deadline=None, derandomize=True)
@given(sizes=sizes, seed=st.integers(0, 10_000), method=st.sampled_from(sorted(PRESETS)))
def test_losses_zero_when_student_equals_teacher(sizes, seed, method):
    builder, kd = _cached(method)
    images = [_image(n, seed + 31 * i) for i, n in enumerate(sizes)]
    for im in images:
        im["student_features"] = im["teacher_features"].clone()
    # The student's statistics must equal the teacher's too: copy them.
    builder.student_stats.load_state_dict(builder.teacher_stats.state_dict())
    teacher, student = builder.build_pair(**_batch(images), update_stats=False)
    for name, value in kd(teacher, student).items():
        assert abs(float(value)) < 1e-5, (name, float(value))


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    sizes=sizes,
    seed=st.integers(0, 10_000),
    method=st.sampled_from(sorted(PRESETS)),
    order=st.randoms(use_true_random=False),
)
def test_losses_invariant_to_image_order(sizes, seed, method, order):
    builder, kd = _cached(method, c_s=4)
    images = [_image(n, seed + 31 * i, c_s=4) for i, n in enumerate(sizes)]
    shuffled = list(images)
    order.shuffle(shuffled)
    a = kd(*builder.build_pair(**_batch(images), update_stats=False))
    b = kd(*builder.build_pair(**_batch(shuffled), update_stats=False))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-5, atol=1e-6, msg=name)
