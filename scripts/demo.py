#!/usr/bin/env python
"""The main job on the embedded default (what `make demo` runs).

    python scripts/demo.py [seeds=1] [outputs=outputs] [real_pages=DIR_OR_COCO_JSON [real_images=DIR]]
        [any Hydra override, e.g. trainer.max_iter=100]

Generates the synthetic pages, trains the R50-FPN teacher, the R18-FPN baseline (kd=none) and
the distilled students (kd=graphkd, kd=dsig) for each seed, evaluates them and writes
<outputs>/demo/REPORT.md with its figures. Finished jobs are reused; killed ones resume.
real_pages: annotated real pages (a COCO json, or a folder with COCO/all.json + images/ as
scripts/docbank_to_coco.py writes it); the teacher and the seed-0 students are also scored on
them (classes matched by name) and REPORT.md gains a "Real pages" table.
"""

import logging
import sys

from graphkd.apps.kvargs import parse_kv, split_own
from graphkd.apps.demo import run_demo


def main(argv: list[str]) -> None:
    own, overrides = split_own(argv, ("seeds", "outputs", "real_pages", "real_images"))
    spec = {"seeds": int, "outputs": str, "real_pages": str, "real_images": str}
    a = parse_kv(own, spec, (), __doc__)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s] %(message)s")
    print(
        run_demo(
            seeds=a.get("seeds", 1),
            outputs=a.get("outputs", "outputs"),
            overrides=overrides,
            real_pages=a.get("real_pages"),
            real_images=a.get("real_images"),
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
