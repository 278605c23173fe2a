#!/usr/bin/env python
"""Compare KD methods over seeds against one teacher (paired per seed).

    python scripts/compare.py methods=none,dsig,graphkd seeds=0,1,2 [outputs=outputs]
        [baseline=none] [any Hydra override, e.g. dataset=docbank trainer.max_iter=100]

Trains the teacher when missing, then one student per (method, seed) (finished ones are reused,
killed ones resume; the runs are shared with `make demo`), and writes
<outputs>/compare/COMPARE.md and compare.json: AP per seed, mean +- std, per-seed differences to
the baseline, seeds won, and the teacher-student gap closed.
"""

import logging
import sys

from graphkd.apps.kvargs import parse_kv, split_own
from graphkd.apps.compare import run_compare


def main(argv: list[str]) -> None:
    opts = {"methods": "none,dsig,graphkd", "seeds": "0,1,2", "outputs": "outputs",
            "baseline": "none"}  # fmt: skip
    own, overrides = split_own(argv, opts)
    opts.update(parse_kv(own, dict.fromkeys(opts, str), (), __doc__))
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    path = run_compare(
        methods=[m for m in opts["methods"].split(",") if m],
        seeds=[int(s) for s in opts["seeds"].split(",") if s],
        outputs=opts["outputs"],
        overrides=overrides,
        baseline=opts["baseline"],
    )
    print(path.read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
