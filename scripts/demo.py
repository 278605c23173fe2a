#!/usr/bin/env python
"""The main job on the embedded default (what `make demo` runs).

    python scripts/demo.py [seeds=1] [outputs=outputs] [any Hydra override, e.g. trainer.max_iter=100]

Generates the synthetic pages, trains the R50-FPN teacher, the R18-FPN baseline (kd=none) and
the distilled students (kd=graphkd, kd=dsig) for each seed, evaluates them and writes
<outputs>/demo/REPORT.md with its figures. Finished jobs are reused; killed ones resume.
"""

import logging
import sys

from graphkd.demo import run_demo


def main(argv: list[str]) -> None:
    seeds, outputs, overrides = 1, "outputs", []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "seeds":
            seeds = int(value)
        elif key == "outputs":
            outputs = value
        else:
            overrides.append(arg)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    print(run_demo(seeds=seeds, outputs=outputs, overrides=overrides))


if __name__ == "__main__":
    main(sys.argv[1:])
