"""Convert DocBank token files + page images into a COCO dataset folder with block-level boxes.

    python scripts/docbank_to_coco.py token_dir=DIR out_dir=ROOT/docbank [image_dir=DIR]
        [val_fraction=0.25] [class_sets=publaynet,docbank] [image_height=0]

token_dir: DocBank ``<stem>.txt`` token files; image_dir: their ``<stem>_ori.jpg`` pages
(default: token_dir). Writes out_dir/images/ (copies, or pages resized to image_height pixels
high; 0 keeps them) and per class set out_dir/COCO/{train,val,all}.json (publaynet: text,
title, list, table, figure) and out_dir/COCO_labels/{train,val,all}.json (docbank: its 13
labels). val = a fixed fraction by a hash of the stem; all = every page. Tokens are grouped
into lines, paragraphs, figures and tables as pagedata/docbank.py describes. Then train or
evaluate with ``dataset=docbank dataset.root=ROOT`` (``dataset=docbank_labels`` for DocBank's
labels).
"""

import json
import sys

from pagedata.docbank import convert_docbank_dir
from graphkd.apps.kvargs import parse_kv

SPEC = {
    "token_dir": str,
    "out_dir": str,
    "image_dir": str,
    "val_fraction": float,
    "class_sets": str,
    "image_height": int,
}


def main(argv=None) -> dict:
    a = parse_kv(sys.argv[1:] if argv is None else argv, SPEC, ("token_dir", "out_dir"), __doc__)
    sets = [s for s in a.get("class_sets", "publaynet,docbank").split(",") if s]
    written = convert_docbank_dir(
        a["token_dir"], a["out_dir"], a.get("image_dir"), a.get("val_fraction", 0.25), sets,
        a.get("image_height") or None,
    )  # fmt: skip
    for path in written.values():
        coco = json.loads(path.read_text())
        print(f"wrote {path}: {len(coco['images'])} images, {len(coco['annotations'])} regions")
    return written


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
