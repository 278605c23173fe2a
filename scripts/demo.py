#!/usr/bin/env python
"""The main job on the embedded default (what `make demo` runs).

    python scripts/demo.py [seeds=1] [outputs=outputs] [any Hydra override, e.g. trainer.max_iter=100]

Generates the synthetic pages, trains the R50-FPN teacher, the R18-FPN baseline (kd=none) and
the distilled students (kd=graphkd, kd=dsig) for each seed, evaluates them and writes
<outputs>/demo/REPORT.md with its figures. Finished jobs are reused; killed ones resume.
"""

import logging
import sys

from detectors.kvargs import parse_kv, split_own
from graphkd.demo import run_demo


def main(argv: list[str]) -> None:
    own, overrides = split_own(argv, ("seeds", "outputs"))
    a = parse_kv(own, {"seeds": int, "outputs": str}, (), __doc__)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    print(
        run_demo(seeds=a.get("seeds", 1), outputs=a.get("outputs", "outputs"), overrides=overrides)
    )


if __name__ == "__main__":
    main(sys.argv[1:])
