"""Display formulas of realistic pages: a small random grammar of LaTeX formulas and a bank of
them rendered once per process with matplotlib's mathtext (Computer Modern)."""

from __future__ import annotations

import functools
from io import BytesIO

import numpy as np
from PIL import Image

_GREEK = [r"\alpha", r"\beta", r"\gamma", r"\delta", r"\epsilon", r"\theta", r"\lambda", r"\mu",
          r"\nu", r"\pi", r"\rho", r"\sigma", r"\tau", r"\phi", r"\psi", r"\omega", r"\Omega",
          r"\Gamma", r"\Delta", r"\Phi"]  # fmt: skip
_LAT = list("abcdefghkmnpqrstuvwxyzABCDEFGHLMNPRSTUVWXZ")


def _atom(r: np.random.Generator, depth: int = 0) -> str:
    """One term of a formula: a symbol with a sub/superscript, a number, a fraction, a root ..."""
    k = r.random()
    v = str(r.choice(_GREEK if r.random() < 0.35 else _LAT))
    if k < 0.35:
        return v + (f"_{{{r.choice(_LAT[:14])}}}" if r.random() < 0.5 else "")
    if k < 0.5:
        return v + f"^{{{int(r.integers(2, 4))}}}"
    if k < 0.6:
        return f"{r.integers(1, 100)}"
    if k < 0.72 and depth < 1:
        return rf"\frac{{{_expr(r, 2, depth + 1)}}}{{{_expr(r, 2, depth + 1)}}}"
    if k < 0.8 and depth < 1:
        return rf"\sqrt{{{_expr(r, 2, depth + 1)}}}"
    if k < 0.9 and depth < 1:
        return rf"\left({_expr(r, 3, depth + 1)}\right)"
    if k < 0.95:
        return rf"\hat{{{v}}}"
    return rf"\mathbf{{{r.choice(_LAT)}}}"


def _expr(r: np.random.Generator, n: int, depth: int = 0) -> str:
    """Up to ``n`` atoms joined by operators."""
    ops = ["+", "-", r"\cdot", "", "", r"\,"]
    parts = [_atom(r, depth)]
    for _ in range(int(r.integers(1, n + 1)) - 1):
        parts += [str(r.choice(ops)), _atom(r, depth)]
    return " ".join(parts)


def _formula(r: np.random.Generator) -> str:
    """A display formula ``$lhs rel [big operator] rhs$`` in mathtext."""
    lhs = _atom(r, 1)
    big = ""
    if r.random() < 0.45:
        big = str(r.choice([r"\sum_{i=1}^{N}", r"\int_{0}^{\infty}", r"\prod_{k}", r"\sum_{j}",
                            r"\int d^{3}x\,", r"\max_{\theta}"]))  # fmt: skip
    rel = str(r.choice(["=", "=", "=", r"\leq", r"\approx", r"\equiv"]))
    rhs = _expr(r, 4)
    tail = (
        rf", \quad {r.choice(_LAT)} \in \mathcal{{{r.choice(list('ABCDRS'))}}}"
        if r.random() < 0.15
        else ""
    )
    return f"${lhs} {rel} {big} {rhs}{tail}$"


EQ_PX = 30  # font size (px) the bank is rendered at


@functools.lru_cache(maxsize=1)
def equation_bank() -> tuple[Image.Image, ...]:
    """48 display formulas rendered once per process with matplotlib's mathtext (Computer Modern)
    as L masks at a 30 px font size; formulas come from a fixed-seed grammar."""
    import matplotlib
    from matplotlib.mathtext import math_to_image

    r = np.random.default_rng(20240211)
    out = []
    with matplotlib.rc_context({"mathtext.fontset": "cm"}):
        for _ in range(48):
            buf = BytesIO()
            s = _formula(r)
            try:
                math_to_image(s, buf, dpi=EQ_PX * 72 / 10, format="png")
            except Exception:  # noqa: BLE001 - a formula mathtext cannot set: skip it
                continue
            im = Image.open(BytesIO(buf.getvalue()))
            a = np.asarray(im.convert("RGBA"))
            alpha = a[..., 3].astype(np.float32) * (1 - a[..., :3].mean(-1) / 255.0)
            m = Image.fromarray(np.clip(alpha, 0, 255).astype(np.uint8), "L")
            box = m.getbbox()
            if box:
                out.append(m.crop(box))
    return tuple(out)
