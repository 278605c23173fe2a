"""The latency benchmark's table (a ``scripts/bench_latency.py`` report)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["latency_table"]


def _load(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def latency_table(report: Mapping, overrides: Sequence[str] = ()) -> tuple[str, list[list[str]]]:
    """``(markdown, configs)``: seconds per page (median) of every model and variant of a
    ``scripts/bench_latency.py`` report, the pairs' speed-ups, and the override lists of the
    configs it timed (one per page size and pair; ``overrides``: those the bench was given)."""
    variants = ("eager", "eager_1000", "torchscript", "onnx", "onnx_int8")
    head = ["page", "model", "params (M)", "eager", "eager, 1000 proposals", "TorchScript", "ONNX",
            "ONNX int8"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pairs = ["| page | teacher -> student | eager speed-up | ONNX speed-up | "
             "best student vs teacher eager |", "|---|---|---|---|---|"]  # fmt: skip
    configs = []
    for size, models in report["models"].items():
        test = report["settings"]["test"][size]
        for name, m in models.items():
            cells = [f"{m[v]['median_s']:.3f}" if v in m else "-" for v in variants]
            page = f"{size} px ({m['input_hw'][1]} x {m['input_hw'][0]}), FPN {m['fpn_channels']}"
            lines.append(
                f"| {page} | {name} | {m['params'] / 1e6:.1f} | " + " | ".join(cells) + " |"
            )
        for pair, p in report["pairs"][size].items():
            best, onnx = p["student_best"], p.get("speedup_onnx")
            pairs.append(
                f"| {size} px | {p['teacher']} -> {p['student']} | {p['speedup_eager']:.2f}x | "
                f"{f'{onnx:.2f}x' if onnx else '-'} | "
                f"{p['speedup_best_vs_teacher_eager']:.2f}x ({best['variant']}, "
                f"{best['median_s']:.3f} s) |"
            )
            configs.append([f"pair={pair}", f"trainer={test['trainer']}", "trainer.device=cpu"])
            configs[-1] += list(overrides)
    machine = report.get("machine", {})
    note = (
        f"Seconds per page, median of {report['settings']['reps']} runs, batch 1, "
        f"{machine.get('torch_threads', '?')} threads on {machine.get('cpus', '?')} CPUs "
        f"(load {_load(machine.get('load_avg_1min_at_end'))} at the end), torch "
        f"{machine.get('torch', '?')}; random weights."
    )
    if report["settings"].get("shared_rounds"):  # reports before it timed model by model
        note += " All models timed in the same rounds; speed-ups are medians of per-round ratios."
    return "\n".join([note, "", *lines, "", *pairs]), configs
