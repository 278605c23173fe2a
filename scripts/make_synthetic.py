"""Generate synthetic document pages (PubLayNet classes) as COCO json + images.

    python scripts/make_synthetic.py out=DIR num_pages=N seed=S [image_size=640] [split=train]
        [image_format=jpg] [noise=true] [workers=0] [style=classic|realistic]

Writes DIR/<split>/NNNNNN.<fmt> and DIR/<split>.json (PubLayNet's layout) and prints the
generation speed (pages/s). style: classic (glyph runs; the README's GraphKD-vs-DSIG pages) or
realistic (real words in LaTeX / Times fonts, equations, paper-like figures and tables).
"""

import json
import sys
import time

from graphkd.apps.kvargs import parse_kv
from pagedata.synthetic import generate_synthetic

SPEC = {"out": str, "num_pages": int, "seed": int, "image_size": int, "split": str,
        "image_format": str, "noise": bool, "workers": int, "style": str}  # fmt: skip


def main(argv=None) -> None:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("out", "num_pages"), __doc__)
    t0 = time.perf_counter()
    path = generate_synthetic(
        a["out"], a["num_pages"], a.get("seed", 0), a.get("image_size", 640),
        split=a.get("split", "train"), image_format=a.get("image_format", "jpg"),
        noise=a.get("noise", True), workers=a.get("workers", 0), style=a.get("style", "classic"),
    )  # fmt: skip
    dt = time.perf_counter() - t0
    coco = json.loads(path.read_text())
    counts = {c["name"]: 0 for c in coco["categories"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    for ann in coco["annotations"]:
        counts[names[ann["category_id"]]] += 1
    print(f"wrote {len(coco['images'])} images to {path.parent / a.get('split', 'train')}/")
    print(
        f"wrote {len(coco['annotations'])} annotations to {path}  ({dt:.1f} s, {len(coco['images']) / dt:.1f} pages/s)"
    )
    print("boxes per class: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
