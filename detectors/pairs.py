"""The teacher -> student pairs of the GraphKD paper (backbone names for get_detector_cfg)."""

from __future__ import annotations

__all__ = ["PAIRS", "get_pair"]

PAIRS: dict[str, tuple[str, str]] = {
    "r50_r18": ("R50", "R18"),
    "r101_r50": ("R101", "R50"),
    "r152_r101": ("R152", "R101"),
    "r101_eb0": ("R101", "EB0"),
    "r50_mnv2": ("R50", "MNV2"),
}


def get_pair(name: str) -> tuple[str, str]:
    """``(teacher backbone, student backbone)`` of a pair name; ValueError listing valid names."""
    try:
        return PAIRS[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown pair {name!r}; choose from {sorted(PAIRS)}.") from None
