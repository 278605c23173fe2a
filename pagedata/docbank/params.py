"""The thresholds of DocBank token grouping."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupingParams:
    """Thresholds of :func:`group_tokens`, in units of the page's median text-token height."""

    line_gap: float = 0.8
    line_overlap: float = 0.5
    line_overlap_tall: float = 0.3
    tall: float = 2.0
    anchor: tuple[float, float] = (0.85, 1.1)
    piece_gap: float = 3.0
    snap_window: float = 8.0
    block_gap: float = 0.7
    list_gap: float = 1.2
    indent_min: float = 0.6
    indent_max: float = 4.0
    figure_gap: float = 1.0
    table_gap_x: float = 4.0
    table_gap_y: float = 1.5
    gutter_min: float = 0.5
    gutter_support: float = 0.6
    gutter_lines: float = 10.0
    gutter_near: float = 3.0
    inside: float = 0.25
    furniture_band: float = 0.12
    furniture_gap: float = 2.0
    furniture_width: float = 6.0
