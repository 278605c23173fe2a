"""Dataset registry and validating COCO registration for detectron2.

Every dataset is COCO instances json + an image folder, registered in detectron2's
``DatasetCatalog`` / ``MetadataCatalog`` as ``<name>_<split>`` (e.g. ``publaynet_train``).
The datasets root comes from the config (``dataset.root``) or else the ``DETECTRON2_DATASETS``
environment variable (else ``./datasets``, detectron2's default); see :func:`dataset_root`.

On-disk layouts under the datasets root (each follows the official release):

``publaynet/`` (PubLayNet, IBM; ``publaynet.tar.gz`` extracted as-is)::

    publaynet/train/*.jpg   publaynet/val/*.jpg   publaynet/test/*.jpg (no labels)
    publaynet/train.json    publaynet/val.json

``doclaynet/`` (DocLayNet core, ``DocLayNet_core.zip`` extracted into ``doclaynet/``)::

    doclaynet/COCO/train.json  doclaynet/COCO/val.json  doclaynet/COCO/test.json
    doclaynet/PNG/*.png        (one image folder shared by all splits)

``prima/`` (PRIMA Layout Analysis Dataset; the release ships PAGE-XML, the COCO files are made
by ``scripts/prima_to_coco.py``)::

    prima/Images/*.tif         (the release's images)
    prima/XML/*.xml            (the release's PAGE-XML ground truth)
    prima/COCO/train.json  prima/COCO/val.json   (written by prima_to_coco.py)

``hj/`` (HJDataset; layout suggested by its authors: images per split + ``annotations/``)::

    hj/train/*.jpg  hj/val/*.jpg  hj/test/*.jpg
    hj/annotations/main_train.json  main_val.json  main_test.json

``docbank/`` (DocBank pages, token files converted by ``scripts/docbank_to_coco.py``; the
train / val split is fixed by a hash of the page's stem, ``all`` is every page)::

    docbank/images/*_ori.jpg
    docbank/COCO/{train,val,all}.json          (``docbank``: PubLayNet's 5 classes)
    docbank/COCO_labels/{train,val,all}.json   (``docbank_labels``: DocBank's 13 labels)

``synthetic/`` (generated on first use by :func:`pagedata.synthetic.ensure_synthetic`)::

    synthetic/train/*.jpg  synthetic/val/*.jpg  synthetic/train.json  synthetic/val.json
    synthetic/manifest.json

Any other COCO json registers with :func:`register_coco_dataset`.

Validation when a dataset is loaded (errors name the file and what to do):
missing json / image folder (``FileNotFoundError`` with the expected layout), unreadable json,
annotation category ids missing from ``categories`` or from the declared class list
(``ValueError`` naming the id and the json), boxes outside their image (clipped, one warning
with the count), degenerate boxes (dropped, warned), and -- on a sample of images
(``check_images``) -- missing files, images that do not decode (corrupt or truncated: every
sampled image is decoded in full) and sizes that differ from the json. The data loaders'
:class:`ImageCheckingMapper` checks every image again each time it loads one, with the same
errors naming the file. ``bad_images="skip"`` instead checks every image when the json is loaded
and leaves the bad ones out of the dataset with one warning naming them (their ids are kept in
the metadata as ``skipped_image_ids``, and evaluation leaves them out of the ground truth too).
Images without annotations are kept (evaluation needs them); detectron2's training
loader drops them when ``DATALOADER.FILTER_EMPTY_ANNOTATIONS`` is True (its default).
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog
from detectron2.data.datasets import load_coco_json
from detectron2.data.detection_utils import SizeMismatchError, read_image

from pagedata.classes import (
    DOCBANK_LABELS,
    DOCBANK_TEXT,
    DOCLAYNET_CLASSES,
    DOCLAYNET_TEXT,
    HJ_CLASSES,
    HJ_TEXT,
    PRIMA_CLASSES,
    PRIMA_TEXT,
    PUBLAYNET_CLASSES,
    PUBLAYNET_TEXT,
)
from pagedata.docbank import COCO_DIRS

logger = logging.getLogger(__name__)

__all__ = [
    "BAD_IMAGES",
    "DatasetSpec",
    "DATASETS",
    "ImageCheckingMapper",
    "dataset_root",
    "get_spec",
    "register_dataset",
    "register_coco_dataset",
    "load_coco_dataset",
    "validate_images",
]

# What to do with an image that is missing, does not decode or differs in size from the json.
BAD_IMAGES = ("error", "skip")


@dataclass(frozen=True)
class DatasetSpec:
    """Static description of a dataset.

    Attributes:
        name: registry key, also the prefix of the registered names (``<name>_<split>``).
        classes: class names in contiguous-id order (detectron2 class index i = classes[i]).
        text_classes: the subset counted as *text* by the graph's text / non-text split.
        subdir: folder under the datasets root.
        splits: split -> (json path, image folder), both relative to ``root/subdir``.
        default_splits: splits registered when none are asked for.
    """

    name: str
    classes: tuple[str, ...]
    text_classes: tuple[str, ...]
    subdir: str
    splits: dict[str, tuple[str, str]] = field(default_factory=dict)
    default_splits: tuple[str, ...] = ("train", "val")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def text_class_ids(self) -> list[int]:
        """Contiguous (detectron2) indices of the text classes."""
        return [self.classes.index(c) for c in self.text_classes]


DATASETS: dict[str, DatasetSpec] = {
    "publaynet": DatasetSpec(
        "publaynet",
        PUBLAYNET_CLASSES,
        PUBLAYNET_TEXT,
        "publaynet",
        {"train": ("train.json", "train"), "val": ("val.json", "val")},
    ),
    "doclaynet": DatasetSpec(
        "doclaynet",
        DOCLAYNET_CLASSES,
        DOCLAYNET_TEXT,
        "doclaynet",
        {s: (f"COCO/{s}.json", "PNG") for s in ("train", "val", "test")},
    ),
    "prima": DatasetSpec(
        "prima",
        PRIMA_CLASSES,
        PRIMA_TEXT,
        "prima",
        {s: (f"COCO/{s}.json", "Images") for s in ("train", "val")},
    ),
    "hj": DatasetSpec(
        "hj",
        HJ_CLASSES,
        HJ_TEXT,
        "hj",
        {s: (f"annotations/main_{s}.json", s) for s in ("train", "val", "test")},
    ),
    # DocBank (Li et al., 2020) grouped from tokens into blocks (pagedata/docbank/); the
    # pages and their images share one folder, splits train / val / all.
    "docbank": DatasetSpec(
        "docbank",
        PUBLAYNET_CLASSES,
        PUBLAYNET_TEXT,
        "docbank",
        {s: (f"{COCO_DIRS['publaynet']}/{s}.json", "images") for s in ("train", "val", "all")},
    ),
    "docbank_labels": DatasetSpec(
        "docbank_labels",
        DOCBANK_LABELS,
        DOCBANK_TEXT,
        "docbank",
        {s: (f"{COCO_DIRS['docbank']}/{s}.json", "images") for s in ("train", "val", "all")},
    ),
    # Rendered with PubLayNet's classes (pagedata.synthetic).
    "synthetic": DatasetSpec(
        "synthetic",
        PUBLAYNET_CLASSES,
        PUBLAYNET_TEXT,
        "synthetic",
        {"train": ("train.json", "train"), "val": ("val.json", "val")},
    ),
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {name!r}. Known: {sorted(DATASETS)}; register any other COCO json "
            "with detectors.datasets.register_coco_dataset(name, json_file, image_root)."
        ) from None


def dataset_root(cfg_root: str | os.PathLike | None = None) -> Path:
    """The datasets root: ``cfg_root`` when set, else ``$DETECTRON2_DATASETS``, else ``datasets``."""
    if cfg_root not in (None, ""):
        return Path(os.path.expanduser(str(cfg_root)))
    return Path(os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets")))


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def _layout_hint(spec: DatasetSpec | None) -> str:
    if spec is None:
        return ""
    files = ", ".join(f"{spec.subdir}/{j} + {spec.subdir}/{i}/" for j, i in spec.splits.values())
    return f" Expected layout for {spec.name!r} under the datasets root: {files} (see detectors/datasets.py)."


def _check_paths(json_file: Path, image_root: Path, spec: DatasetSpec | None = None) -> None:
    where = " The root comes from the config's dataset.root or $DETECTRON2_DATASETS."
    if not json_file.is_file():
        raise FileNotFoundError(
            f"Annotation file not found: {json_file}.{_layout_hint(spec)}{where}"
        )
    if not image_root.is_dir():
        raise FileNotFoundError(f"Image folder not found: {image_root}.{_layout_hint(spec)}{where}")


def _json_categories(json_file: Path, dicts_probe_name: str) -> dict[int, str]:
    """Category id -> name of a json, read from the probe metadata load_coco_json filled in."""
    meta = MetadataCatalog.get(dicts_probe_name)
    id_map = meta.thing_dataset_id_to_contiguous_id
    names = meta.thing_classes
    return {int(ds_id): names[c] for ds_id, c in id_map.items()}


def load_coco_dataset(
    json_file: str | os.PathLike,
    image_root: str | os.PathLike,
    classes: Sequence[str] | None = None,
    check_images: int | str = 8,
    spec: DatasetSpec | None = None,
    bad_images: str = "error",
    dataset_name: str | None = None,
) -> tuple[list[dict], list[str], dict[int, int]]:
    """Load a COCO json with detectron2's ``load_coco_json`` and validate it.

    Args:
        json_file, image_root: the annotation file and the folder its ``file_name`` are relative to.
        classes: declared class names (matched to the json's category names ignoring case,
            spaces, ``-`` and ``_``); None: all json categories sorted by id.
        check_images: images decoded and compared with the json's size: an int sample size,
            "all" or "none".
        spec: used only to word errors with the dataset's expected layout.
        bad_images: "error" (raise naming the file) or "skip": check every image and leave the
            missing, undecodable or wrongly sized ones out, with one warning naming them.
        dataset_name: when given, its metadata gets ``skipped_image_ids`` (the images skipped).

    Returns:
        (dataset dicts with contiguous ``category_id``, class names, dataset id -> contiguous id).
    """
    json_file, image_root = Path(json_file), Path(image_root)
    _check_paths(json_file, image_root, spec)
    dicts, json_cats = _read_coco_json(json_file, image_root)
    if classes is None:
        classes = [json_cats[i] for i in sorted(json_cats)]
    id_map = _category_map(json_file, json_cats, classes)
    _remap_and_clip(json_file, dicts, json_cats, id_map, classes)
    if bad_images not in BAD_IMAGES:
        raise ValueError(f"bad_images={bad_images!r}: use one of {BAD_IMAGES}")
    if bad_images == "skip":  # the loaders can't skip: every image is checked here, once
        dicts = _skip_bad_images(json_file, dicts, dataset_name)
    elif check_images != "none":
        n = len(dicts) if check_images == "all" else int(check_images)
        validate_images(dicts, max_images=n)
    return dicts, list(classes), id_map


def _read_coco_json(json_file: Path, image_root: Path) -> tuple[list[dict], dict[int, str]]:
    """detectron2's ``load_coco_json`` under a throw-away name, with errors that name the file.

    Returns:
        (dataset dicts with load_coco_json's contiguous ``category_id``, json category id -> name).
    """
    probe = f"__graphkd_probe__{json_file}"
    try:
        dicts = load_coco_json(str(json_file), str(image_root), dataset_name=probe)
        return dicts, _json_categories(json_file, probe)
    except KeyError as e:  # load_coco_json: annotation category id not among the json's categories
        m = re.search(r"category_id=(\S+)", str(e))
        cid = m.group(1) if m else "?"
        raise ValueError(
            f"{json_file}: an annotation has category_id={cid}, which is not in the json's "
            "'categories'. Fix the json (or drop those annotations)."
        ) from None
    except (ValueError, TypeError, AssertionError) as e:
        raise ValueError(f"{json_file} is not a valid COCO instances json: {e}") from e
    finally:
        if probe in MetadataCatalog.list():
            MetadataCatalog.remove(probe)


def _category_map(
    json_file: Path, json_cats: dict[int, str], classes: Sequence[str]
) -> dict[int, int]:
    """Json category id -> index in ``classes`` (names matched by :func:`_norm`)."""
    by_name = {_norm(n): i for i, n in json_cats.items()}
    missing = [c for c in classes if _norm(c) not in by_name]
    if missing:
        raise ValueError(
            f"{json_file}: classes {missing} are not among the json's categories "
            f"{[json_cats[i] for i in sorted(json_cats)]}."
        )
    return {by_name[_norm(c)]: k for k, c in enumerate(classes)}


def _remap_and_clip(
    json_file: Path,
    dicts: list[dict],
    json_cats: dict[int, str],
    id_map: dict[int, int],
    classes: Sequence[str],
) -> None:
    """In place: ``category_id`` -> index in ``classes``, boxes clipped to their image (one
    warning with the count) and boxes without area inside it dropped (warned).

    Raises:
        ValueError: an annotation whose category is not among ``classes``.
    """
    ds_ids = sorted(json_cats)  # load_coco_json's contiguous id -> dataset id
    json_contig = {ds_id: i for i, ds_id in enumerate(ds_ids)}
    to_ours = {json_contig[ds_id]: k for ds_id, k in id_map.items()}
    clipped = dropped = 0
    for rec in dicts:
        w, h = rec["width"], rec["height"]
        kept = []
        for obj in rec["annotations"]:
            c = obj["category_id"]
            if c not in to_ours:
                raise ValueError(
                    f"{json_file}: image {rec['image_id']} has an annotation with category id "
                    f"{ds_ids[c]} ({json_cats[ds_ids[c]]!r}), which is not among the declared "
                    f"classes {list(classes)}."
                )
            obj["category_id"] = to_ours[c]
            x, y, bw, bh = (float(v) for v in obj["bbox"])
            x0, y0 = min(max(x, 0.0), w), min(max(y, 0.0), h)
            x1, y1 = min(max(x + bw, 0.0), w), min(max(y + bh, 0.0), h)
            if (x0, y0, x1, y1) != (x, y, x + bw, y + bh):
                clipped += 1
                obj["bbox"] = [x0, y0, x1 - x0, y1 - y0]
            if x1 - x0 < 1e-3 or y1 - y0 < 1e-3:
                dropped += 1
                continue
            kept.append(obj)
        rec["annotations"] = kept
    if clipped:
        logger.warning("%s: clipped %d boxes that extend outside their image", json_file, clipped)
    if dropped:
        logger.warning("%s: dropped %d boxes with no area inside their image", json_file, dropped)


def _skip_bad_images(json_file: Path, dicts: list[dict], dataset_name: str | None) -> list[dict]:
    """``dicts`` without the images that are missing, do not decode or differ in size (one
    warning naming them); their ids go to ``dataset_name``'s ``skipped_image_ids``."""
    bad = validate_images(dicts, max_images=None, bad_images="skip")
    if bad:
        names = [b["file_name"] for b in bad]
        logger.warning(
            "%s: skipping %d of %d images that are missing, do not decode or differ in size "
            "from the json (dataset.bad_images=skip): %s%s",
            json_file, len(bad), len(dicts), names[:10], " ..." if len(names) > 10 else "",
        )  # fmt: skip
        ids = {id(b) for b in bad}
        dicts = [d for d in dicts if id(d) not in ids]
    if dataset_name is not None:
        MetadataCatalog.get(dataset_name).skipped_image_ids = [b["image_id"] for b in bad]
    return dicts


def _size_mismatch(file_name: str, json_wh: tuple[int, int], file_wh: tuple[int, int]) -> str:
    return (
        f"Image size mismatch for {file_name}: the json says {json_wh[0]}x{json_wh[1]} "
        f"(width x height), the file is {file_wh[0]}x{file_wh[1]}. Fix the json's width/height "
        "(dataset.check_images=all finds every such image before training; "
        "dataset.bad_images=skip leaves them out)."
    )


def _unreadable(file_name: str, err: Exception) -> str:
    return (
        f"Corrupt or unreadable image: {file_name} ({err}). Replace the file, or set "
        "dataset.bad_images=skip to leave such images out."
    )


def _check_image(rec: dict) -> str | None:
    """Why ``rec``'s image cannot be used (missing, undecodable, other size), or None."""
    from PIL import Image, UnidentifiedImageError

    f = rec["file_name"]
    if not os.path.isfile(f):
        return f"Image listed in the json is missing: {f}"
    try:
        with Image.open(f) as im:
            w, h = im.size
            im.load()  # decode it all: a truncated JPEG has a valid header
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        return _unreadable(f, e)
    if (w, h) != (rec["width"], rec["height"]):
        return _size_mismatch(f, (rec["width"], rec["height"]), (w, h))
    return None


def validate_images(
    dicts: Sequence[dict], max_images: int | None = None, seed: int = 0, bad_images: str = "error"
) -> list[dict]:
    """Check that images exist, decode in full and have the json's size.

    ``max_images``: check a fixed random sample of that many (None: all). ``bad_images="error"``
    raises at the first bad image (``FileNotFoundError`` / ``ValueError`` naming the file);
    ``"skip"`` returns the records of all bad images instead.
    """
    idx = list(range(len(dicts)))
    if max_images is not None and max_images < len(idx):
        idx = sorted(random.Random(seed).sample(idx, max_images))
    bad = []
    for i in idx:
        problem = _check_image(dicts[i])
        if problem is None:
            continue
        if bad_images == "skip":
            bad.append(dicts[i])
        elif problem.startswith("Image listed in the json is missing"):
            raise FileNotFoundError(problem)
        else:
            raise ValueError(problem)
    return bad


class ImageCheckingMapper(DatasetMapper):
    """detectron2's ``DatasetMapper`` whose image errors name the file.

    Every image the loader reads is checked (detectron2 checks the size; this words the error):
    an image that does not decode (e.g. ``OSError: image file is truncated``) or whose size
    differs from the json raises a ``ValueError`` naming the file (and both sizes).
    """

    def __call__(self, dataset_dict: dict) -> dict:
        f = dataset_dict.get("file_name", "?")
        try:
            return super().__call__(dataset_dict)
        except SizeMismatchError:
            h, w = read_image(f).shape[:2]  # what the mapper saw (EXIF orientation applied)
            json_wh = (dataset_dict.get("width"), dataset_dict.get("height"))
            raise ValueError(_size_mismatch(f, json_wh, (w, h))) from None
        except FileNotFoundError:
            raise FileNotFoundError(f"Image listed in the json is missing: {f}") from None
        except (OSError, SyntaxError) as e:  # PIL: truncated / unidentified image
            raise ValueError(_unreadable(f, e)) from e


def _register(name: str, loader, meta: dict) -> None:
    if name in DatasetCatalog.list():
        old = MetadataCatalog.get(name)
        if all(getattr(old, k, None) == meta[k] for k in ("json_file", "image_root", "bad_images")):
            return
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, loader)
    MetadataCatalog.get(name).set(**meta)


def register_coco_dataset(
    name: str,
    json_file: str | os.PathLike,
    image_root: str | os.PathLike,
    classes: Sequence[str] | None = None,
    text_classes: Sequence[str] | None = None,
    check_images: int | str = 8,
    spec: DatasetSpec | None = None,
    bad_images: str = "error",
) -> str:
    """Register a COCO json as ``name`` (like detectron2's ``register_coco_instances``, validated).

    Paths are checked now; the json is read lazily by ``DatasetCatalog.get(name)``. Metadata
    set now: ``thing_classes`` (``classes``, or the json's category names), ``text_classes``,
    ``json_file``, ``image_root``, ``evaluator_type="coco"``; ``thing_dataset_id_to_contiguous_id``
    is set when the json is first loaded (detectron2's own COCO registration does the same).
    ``check_images`` and ``bad_images``: see :func:`load_coco_dataset`.
    """
    json_file, image_root = Path(json_file).resolve(), Path(image_root).resolve()
    _check_paths(json_file, image_root, spec)
    if bad_images not in BAD_IMAGES:
        raise ValueError(f"bad_images={bad_images!r}: use one of {BAD_IMAGES}")
    meta = {"json_file": str(json_file), "image_root": str(image_root), "evaluator_type": "coco",
            "bad_images": bad_images}  # fmt: skip
    if classes is not None:
        meta["thing_classes"] = list(classes)
        meta["text_classes"] = list(text_classes or [])

    def load() -> list[dict]:
        dicts, names, id_map = load_coco_dataset(
            json_file, image_root, classes, check_images, spec, bad_images, dataset_name=name
        )
        m = MetadataCatalog.get(name)
        if not hasattr(m, "thing_classes"):
            m.thing_classes = names
            m.text_classes = list(text_classes or [])
        m.thing_dataset_id_to_contiguous_id = id_map
        return dicts

    _register(name, load, meta)
    return name


def register_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    splits: Sequence[str] | None = None,
    *,
    check_images: int | str = 8,
    bad_images: str = "error",
    synthetic: dict | None = None,
) -> list[str]:
    """Register the splits of a known dataset as ``<name>_<split>``; returns the registered names.

    ``root`` is the datasets root (see :func:`dataset_root`). For ``synthetic``, missing or
    outdated splits are generated first with ``ensure_synthetic(root/synthetic, **synthetic)``
    (keys: splits {split: pages}, seed, image_size, image_format, noise, workers, style); a
    style other than ``classic`` lives in ``root/synthetic_<style>`` so that both coexist.
    """
    spec = get_spec(name)
    base = dataset_root(root) / spec.subdir
    splits = list(splits or spec.default_splits)
    unknown = [s for s in splits if s not in spec.splits]
    if unknown:
        raise ValueError(f"Dataset {name!r} has no split(s) {unknown}; it has {list(spec.splits)}.")
    if name == "synthetic":
        from pagedata.synthetic import ensure_synthetic

        kw = dict(synthetic or {})
        kw.setdefault("splits", {"train": 200, "val": 50})
        if kw.get("style", "classic") != "classic":
            base = base.with_name(f"{base.name}_{kw['style']}")
        missing = [s for s in splits if s not in kw["splits"]]
        if missing:
            raise ValueError(f"synthetic: no page count for split(s) {missing} in {kw['splits']}")
        ensure_synthetic(base, **kw)
    names = []
    for s in splits:
        j, i = spec.splits[s]
        names.append(
            register_coco_dataset(
                f"{name}_{s}",
                base / j,
                base / i,
                spec.classes,
                spec.text_classes,
                check_images,
                spec,
                bad_images,
            )
        )
    return names
