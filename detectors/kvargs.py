"""``key=value`` command-line parsing for the small scripts/ CLIs (Hydra-style overrides)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def parse_kv(
    argv: Sequence[str], spec: Mapping[str, type], required: Sequence[str] = (), usage: str = ""
) -> dict:
    """Parse ``["a=1", "b=x"]`` against ``spec`` (name -> type); SystemExit with usage on errors."""
    out: dict = {}
    for arg in argv:
        if arg in ("-h", "--help"):
            print(usage)
            raise SystemExit(0)
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if not sep or key not in spec:
            raise SystemExit(
                f"error: bad argument {arg!r}; expected key=value with key in {sorted(spec)}\n{usage}"
            )
        typ = spec[key]
        if typ is bool:
            out[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            try:
                out[key] = typ(value)
            except ValueError:
                raise SystemExit(
                    f"error: {key}={value!r} is not a valid {typ.__name__}\n{usage}"
                ) from None
    missing = [k for k in required if k not in out]
    if missing:
        raise SystemExit(f"error: missing {', '.join(k + '=...' for k in missing)}\n{usage}")
    return out
