"""detectors.config.DetectorSpec: the options of get_detector_cfg, validated on construction."""

from __future__ import annotations

import pytest

pytest.importorskip("detectron2")

from detectors.config import DetectorSpec, detector_cfg_from_spec, get_detector_cfg  # noqa: E402


def test_get_detector_cfg_builds_its_spec():
    kw = dict(min_size=(320, 352), fpn_channels=64, norm="FrozenBN", test={"post_nms_topk": 50})
    spec = DetectorSpec("R18", 3, **kw)
    assert detector_cfg_from_spec(spec).dump() == get_detector_cfg("R18", 3, **kw).dump()
    assert spec.train_sizes == (320, 352)
    assert spec.resolved_max_size == round(352 * 1333 / 800)
    assert spec.resolved_anchor_sizes == (16, 32, 64, 128, 256)
    assert spec.neck_norm == ""
    assert DetectorSpec("R18", 3, min_size=512, image_size=640).train_sizes == (640,)


def test_spec_rejects_bad_values_and_unknown_options():
    with pytest.raises(ValueError, match="one size per level"):
        DetectorSpec("R50", 5, anchor_sizes=(8, 16))
    with pytest.raises(TypeError):
        get_detector_cfg("R50", 5, not_an_option=1)
