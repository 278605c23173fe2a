"""Convert the PRIMA Layout Analysis Dataset's PAGE-XML ground truth to COCO json.

    python scripts/prima_to_coco.py xml_dir=ROOT/prima/XML out_dir=ROOT/prima/COCO
        [image_dir=ROOT/prima/Images] [val_fraction=0.2] [seed=0]

Writes out_dir/train.json and out_dir/val.json (a seeded random val_fraction of the pages),
6 classes with ids 1..6 (see pagedata/prima.py); image_dir resolves image file extensions.
"""

import json
import sys

from graphkd.apps.kvargs import parse_kv
from pagedata.prima import convert_prima_dir

SPEC = {"xml_dir": str, "out_dir": str, "image_dir": str, "val_fraction": float, "seed": int}


def main(argv=None) -> None:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("xml_dir", "out_dir"), __doc__)
    written = convert_prima_dir(
        a["xml_dir"], a["out_dir"], a.get("image_dir"), a.get("val_fraction", 0.2), a.get("seed", 0)
    )
    for path in written.values():
        coco = json.loads(path.read_text())
        print(f"wrote {path}: {len(coco['images'])} images, {len(coco['annotations'])} regions")


if __name__ == "__main__":
    main()
