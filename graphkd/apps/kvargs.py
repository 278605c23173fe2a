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


def split_own(
    argv: Sequence[str], keys: Sequence[str] = (), prefix: str = ""
) -> tuple[list[str], list[str]]:
    """Split ``argv`` into a script's own ``key=value`` arguments and the rest (Hydra overrides).

    Own are ``-h`` / ``--help`` and the arguments whose key is in ``keys`` or, with ``prefix``
    (e.g. ``"bench."``), starts with it; the prefix is removed so the result goes straight to
    :func:`parse_kv` (which then names any unknown key of the script's own).
    """
    own, rest = [], []
    for arg in argv:
        key = arg.partition("=")[0].lstrip("+")
        if arg in ("-h", "--help") or key in keys:
            own.append(arg)
        elif prefix and key.startswith(prefix):
            own.append(arg.lstrip("+")[len(prefix) :])
        else:
            rest.append(arg)
    return own, rest
