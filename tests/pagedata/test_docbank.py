"""DocBank token files -> block-level COCO, on tiny DocBank-format pages written here.

Coordinates below are DocBank's 0..1000 units; pages are 500 x 700 pixel images. Body text is
12 units high with a 16-unit line pitch, as in real DocBank files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pagedata.docbank import (
    CLASS_SETS,
    DOCBANK_LABELS,
    PUBLAYNET_CLASSES,
    convert_docbank_dir,
    docbank_to_coco,
    group_tokens,
    read_page,
    read_token_file,
    split_stems,
)

W, H = 500, 700


def tok(word: str, x0, y0, x1, y1, label: str, font: str = "NimbusRomNo9L-Regu") -> str:
    return f"{word}\t{x0}\t{y0}\t{x1}\t{y1}\t0\t0\t0\t{font}\t{label}"


def line(x0: int, x1: int, y: int, label: str, n_words: int = 6, height: int = 12) -> list[str]:
    """Words evenly spread over [x0, x1] with word gaps of 4 units."""
    step = (x1 - x0 + 4) / n_words
    return [
        tok(f"w{k}", round(x0 + k * step), y, round(x0 + (k + 1) * step - 4), y + height, label)
        for k in range(n_words)
    ]


def paragraph(x0: int, x1: int, y: int, n: int, label: str = "paragraph", indent: int = 15):
    """n justified lines, the first indented; returns (tokens, y below the last line)."""
    out = []
    for k in range(n):
        out += line(x0 + (indent if k == 0 else 0), x1, y + 16 * k, label)
    return out, y + 16 * n


def two_column_page() -> list[str]:
    """Section title, two paragraphs (left column); list, figure + caption, table (right)."""
    L0, L1, R0, R1 = 80, 480, 520, 920
    t = line(80, 300, 60, "section", n_words=3, height=14)
    p1, y = paragraph(L0, L1, 90, 4)
    p2, y = paragraph(L0, L1, y, 5)  # no gap: the indented first line starts it
    # an inline formula inside the first paragraph's second line
    t += p1 + p2 + [tok("x_i", 200, 106, 215, 118, "equation", "CMMI10")]
    # more text in both columns: a gutter is a long stretch of rows with text on both sides
    p3, _ = paragraph(L0, L1, y + 30, 24)
    p4, _ = paragraph(R0, R1, 470, 10)
    t += p3 + p4
    # right column: a list of two items (bullet + hanging indent), items spaced
    for y0 in (90, 130):
        t += [tok("•", R0, y0, R0 + 6, y0 + 12, "list")]
        t += line(R0 + 15, R1, y0, "list") + line(R0 + 15, R1 - 100, y0 + 16, "list")
    # figure: an outer graphic with a sub-graphic inside, and a second touching one
    t += [
        tok("##LTFigure##", R0, 200, 700, 320, "figure", "default"),
        tok("##LTFigure##", 560, 220, 650, 300, "figure", "default"),
        tok("##LTFigure##", 705, 200, R1, 320, "figure", "default"),
        # an axis label tagged paragraph, inside the figure
        tok("time", 600, 305, 640, 317, "paragraph"),
    ]
    cap, _ = paragraph(R0, R1, 330, 2, "caption", indent=0)
    t += cap
    # a table: 3 rows x 3 cells with wide column gaps, and its top rule (the full column width)
    for r in range(3):
        for c in range(3):
            x = R0 + 20 + c * 130
            t.append(tok(f"c{r}{c}", x, 400 + 16 * r, x + 60, 412 + 16 * r, "table"))
    t.append(tok("##LTLine##", R0, 396, R1, 396, "table", "default"))
    # page number tagged paragraph (DocBank's label noise) and a fraction bar drawing
    t.append(tok("3", 495, 960, 505, 972, "paragraph"))
    t.append(tok("##LTLine##", 100, 700, 400, 700, "paragraph", "default"))
    return t


def write_page(folder: Path, stem: str, tokens: list[str], size=(W, H), ext=".jpg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    txt = folder / f"{stem}.txt"
    txt.write_text("\r\n".join(tokens) + "\r\n", encoding="utf-8")  # DocBank files use CRLF
    Image.new("RGB", size, "white").save(folder / f"{stem}_ori{ext}")
    return txt


def group(txt: Path, class_set: str):
    page = read_page(txt)
    classes, mapping = CLASS_SETS[class_set]
    classes_of = np.array([classes.index(mapping[lab]) if mapping[lab] else -1
                           for lab in DOCBANK_LABELS])  # fmt: skip
    boxes, cls, src = group_tokens(
        page.boxes, page.labels, classes_of, (page.width, page.height), page.drawing
    )
    return boxes * 1000 / np.array([W, H, W, H]), [classes[c] for c in cls], src


def test_read_token_file(tmp_path):
    txt = write_page(tmp_path, "p", two_column_page())
    boxes, labels, drawing = read_token_file(txt)
    assert boxes.shape == (len(two_column_page()), 4) and boxes.max() <= 1000
    assert DOCBANK_LABELS[labels[0]] == "section"
    assert drawing.sum() == 5  # 3 ##LTFigure## + 2 ##LTLine##
    page = read_page(txt)
    assert (page.width, page.height) == (W, H)
    assert np.allclose(page.boxes[0], boxes[0] * [W / 1000, H / 1000, W / 1000, H / 1000])


def test_publaynet_blocks_of_a_two_column_page(tmp_path):
    boxes, names, _ = group(write_page(tmp_path, "p", two_column_page()), "publaynet")
    by = {c: boxes[[n == c for n in names]] for c in PUBLAYNET_CLASSES}
    assert len(by["title"]) == 1
    # three paragraphs left (the indented line splits the first two), caption and paragraph
    # right; the page number is furniture and the fraction-bar drawing is ignored
    assert len(by["text"]) == 5, by["text"]
    left = by["text"][by["text"][:, 2] < 500]
    assert len(left) == 3 and np.allclose(left[:, 0], 80, atol=1)
    assert sorted(np.round(left[:, 1])) == [90, 154, 264]
    assert len(by["list"]) == 1 and by["list"][0][1] == 90 and by["list"][0][3] == 158
    assert len(by["figure"]) == 1 and np.allclose(by["figure"][0], [520, 200, 920, 320], atol=1)
    assert len(by["table"]) == 1 and np.allclose(by["table"][0], [520, 396, 920, 444], atol=1)
    # nothing crosses the gutter
    assert ((boxes[:, 2] <= 500) | (boxes[:, 0] >= 500)).all()


def test_docbank_labels_keep_footer_and_inline_formulas_follow_their_line(tmp_path):
    boxes, names, _ = group(write_page(tmp_path, "p", two_column_page()), "docbank")
    assert names.count("footer") == 1  # the page number
    assert names.count("equation") == 0  # the inline formula is part of its paragraph line
    assert names.count("caption") == 1 and names.count("section") == 1
    assert names.count("paragraph") == 4


def test_display_formula_is_text_in_publaynet_and_equation_in_docbank(tmp_path):
    t, y = paragraph(80, 920, 100, 3)
    t += line(400, 600, y + 20, "equation", n_words=3) + [tok("(1)", 890, y + 20, 920, y + 32,
                                                                "equation")]  # fmt: skip
    after, _ = paragraph(80, 920, y + 60, 3, indent=0)
    txt = write_page(tmp_path, "p", t + after)
    _, names, _ = group(txt, "publaynet")
    assert names == ["text"] * 3  # paragraph, formula with its number, paragraph
    boxes, names, _ = group(txt, "docbank")
    assert sorted(names) == ["equation", "paragraph", "paragraph"]
    eq = boxes[names.index("equation")]
    assert eq[0] == 400 and eq[2] == 920  # the number joined its formula


def test_references_split_per_entry(tmp_path):
    t = []
    for k in range(3):  # [n] entries: first line at the margin, continuation indented
        y = 100 + 40 * k
        t += [tok(f"[{k + 1}]", 80, y, 100, y + 12, "reference")]
        t += line(110, 920, y, "reference") + line(110, 700, y + 16, "reference")
    boxes, names, _ = group(write_page(tmp_path, "p", t), "publaynet")
    assert names == ["text"] * 3 and sorted(boxes[:, 1].tolist()) == [100, 140, 180]


@pytest.mark.parametrize(
    "bad,match",
    [
        ("w\t1\t2\t3\t4\t0\t0\t0\tparagraph", "expected 10 tab-separated fields"),
        ("w\t1\ta\t3\t4\t0\t0\t0\tf\tparagraph", "not integers"),
        ("w\t1\t2\t3\t1004\t0\t0\t0\tf\tparagraph", "outside DocBank's 0..1000"),
        ("w\t-1\t2\t3\t4\t0\t0\t0\tf\tparagraph", "outside DocBank's 0..1000"),
        ("w\t9\t2\t3\t4\t0\t0\t0\tf\tparagraph", "x0 > x1"),
        ("w\t1\t2\t3\t4\t0\t0\t0\tf\tsidebar", "unknown label 'sidebar'"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, bad, match):
    txt = write_page(tmp_path, "p", line(80, 400, 100, "paragraph") + [bad])
    with pytest.raises(ValueError, match=match) as e:
        read_token_file(txt)
    assert f"{txt}:7" in str(e.value)


def test_missing_image_names_the_token_file(tmp_path):
    txt = write_page(tmp_path, "p", line(80, 400, 100, "paragraph"))
    (tmp_path / "p_ori.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"p\.txt: no page image p_ori\.jpg"):
        read_page(txt)
    Image.new("RGB", (W, H)).save(tmp_path / "p.png")  # <stem>.<ext> is found too
    assert read_page(txt).image.name == "p.png"


def test_split_is_fixed_by_stem_hash():
    stems = [f"page_{k}" for k in range(80)]
    a = split_stems(stems, 0.25)
    b = split_stems(list(reversed(stems)), 0.25)
    assert a == b and len(a["train"]) == 60 and len(a["val"]) == 20
    assert set(a["train"]) | set(a["val"]) == set(stems)
    # adding pages keeps most old pages where they were
    c = split_stems(stems + [f"new_{k}" for k in range(4)], 0.25)
    assert len(set(a["val"]) & set(c["val"])) >= 18
    with pytest.raises(ValueError, match="val_fraction"):
        split_stems(stems, 1.0)


def test_convert_dir_writes_a_registrable_dataset(tmp_path):
    src = tmp_path / "docbank_src"
    for k in range(4):
        write_page(src, f"{k}.tar_x_{k}", two_column_page())
    out = tmp_path / "root" / "docbank"
    written = convert_docbank_dir(src, out, val_fraction=0.25)
    assert sorted(written) == sorted(f"{s}/{p}" for s in ("publaynet", "docbank")
                                     for p in ("train", "val", "all"))  # fmt: skip
    coco_all = json.loads((out / "COCO" / "all.json").read_text())
    val = json.loads((out / "COCO" / "val.json").read_text())
    names = [im["file_name"] for im in coco_all["images"]]
    assert names == sorted(names) and [im["id"] for im in coco_all["images"]] == [1, 2, 3, 4]
    assert len(val["images"]) == 1 and val["images"][0] in coco_all["images"]
    assert [c["name"] for c in coco_all["categories"]] == list(PUBLAYNET_CLASSES)
    labels = json.loads((out / "COCO_labels" / "all.json").read_text())
    assert [c["name"] for c in labels["categories"]] == list(DOCBANK_LABELS)
    assert all((out / "images" / n).is_file() for n in names)
    # the registry reads it as dataset=docbank / docbank_labels under the root
    from detectron2.data import DatasetCatalog

    from detectors.datasets import register_dataset

    for name in ("docbank", "docbank_labels"):
        (reg,) = register_dataset(name, tmp_path / "root", ["all"], check_images="all")
        dicts = DatasetCatalog.get(reg)
        assert len(dicts) == 4 and all(d["annotations"] for d in dicts)
        DatasetCatalog.remove(reg)


def test_convert_dir_resizes_pages(tmp_path):
    src = tmp_path / "src"
    write_page(src, "p", two_column_page(), size=(1000, 1400), ext=".png")
    out = tmp_path / "docbank"
    convert_docbank_dir(src, out, class_sets=["publaynet"], image_height=350)
    coco = json.loads((out / "COCO" / "all.json").read_text())
    (im,) = coco["images"]
    assert (im["width"], im["height"]) == (250, 350) and im["file_name"] == "p_ori.jpg"
    with Image.open(out / "images" / im["file_name"]) as page:
        assert page.size == (250, 350)
    fig = [a for a in coco["annotations"] if a["category_id"] == 5]
    assert np.allclose(fig[0]["bbox"], [130, 70, 100, 42], atol=0.5)


def test_docbank_to_coco_rejects_unknown_class_set(tmp_path):
    page = read_page(write_page(tmp_path, "p", line(80, 400, 100, "paragraph")))
    with pytest.raises(ValueError, match="Unknown class set 'doclaynet'"):
        docbank_to_coco([page], "doclaynet")


def test_cli(tmp_path, capsys):
    import scripts.docbank_to_coco as cli

    src = tmp_path / "src"
    write_page(src, "p", two_column_page())
    cli.main([f"token_dir={src}", f"out_dir={tmp_path / 'out'}", "class_sets=publaynet"])
    assert "COCO/all.json: 1 images" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="missing out_dir"):
        cli.main([f"token_dir={src}"])


def test_dataset_config_composes(tmp_path):
    from hydra import compose, initialize_config_dir

    from graphkd.apps.cli import CONFIG_DIR
    from graphkd.core.data import prepare_data

    src = tmp_path / "src"
    for k in range(4):
        write_page(src, f"p{k}", two_column_page())
    convert_docbank_dir(src, tmp_path / "docbank")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["dataset=docbank", f"dataset.root={tmp_path}"])
    data = prepare_data(cfg.dataset)
    assert (data.train, data.val) == ("docbank_train", "docbank_val")
    assert data.classes == PUBLAYNET_CLASSES and data.text_classes == ("text", "title", "list")


def test_draw_coco_draws_the_converted_boxes(tmp_path):
    import scripts.draw_coco as draw

    src = tmp_path / "src"
    write_page(src, "p", two_column_page())
    convert_docbank_dir(src, tmp_path / "docbank", class_sets=["publaynet"])
    (png,) = draw.main([f"json={tmp_path / 'docbank/COCO/all.json'}",
                        f"images={tmp_path / 'docbank/images'}", f"out={tmp_path / 'drawn'}",
                        "scale=1"])  # fmt: skip
    with Image.open(png) as im:
        assert im.size == (W, H)
        # drawn box outlines: the page is no longer uniformly white
        assert np.asarray(im.convert("L")).min() < 200


def test_empty_page_is_kept_without_annotations(tmp_path):
    src = tmp_path / "src"
    write_page(src, "a", two_column_page())
    write_page(src, "b", [])
    convert_docbank_dir(src, tmp_path / "docbank", class_sets=["docbank"])
    coco = json.loads((tmp_path / "docbank/COCO_labels/all.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == ["a_ori.jpg", "b_ori.jpg"]
    assert {a["image_id"] for a in coco["annotations"]} == {1}


def test_components_match_union_find():
    from pagedata.docbank.boxes import components

    rng = np.random.default_rng(0)
    for n in (1, 7, 60):
        i, j = rng.integers(0, n, (2, n))
        parent = list(range(n))

        def find(x, parent=parent):
            while parent[x] != x:
                x = parent[x]
            return x

        for a, b in zip(i, j):
            parent[find(a)] = find(b)
        comp = components(n, i, j)
        roots = [find(x) for x in range(n)]
        same = np.equal.outer(comp, comp)
        assert (same == np.equal.outer(roots, roots)).all()
        assert sorted(set(comp.tolist())) == list(range(len(set(roots))))


def test_token_with_a_unicode_line_separator(tmp_path):
    txt = write_page(tmp_path, "p", [tok("a\u2028b", 80, 100, 120, 112, "paragraph")])
    boxes, labels, _ = read_token_file(txt)
    assert boxes.shape == (1, 4) and DOCBANK_LABELS[labels[0]] == "paragraph"


def test_eval_pages_matches_classes_by_name(tmp_path):
    """A teacher dir (no label map: contiguous ids 0..4) scored against 1-based COCO ids."""
    import torch
    from detectron2.checkpoint import DetectionCheckpointer

    import scripts.eval_pages as ev
    from detectors.build import build_detector
    from detectors.config import get_detector_cfg

    src = tmp_path / "src"
    write_page(src, "p", two_column_page(), size=(100, 140))
    convert_docbank_dir(src, tmp_path / "docbank", class_sets=["publaynet"])
    torch.manual_seed(0)
    cfg = get_detector_cfg("R18", 5, min_size=128, rois_per_image=16)
    cfg.DATASETS.TEST = ("synthetic_val",)  # names the classes: text, title, list, table, figure
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    DetectionCheckpointer(build_detector(cfg), str(teacher)).save("model_final")
    (teacher / "config.yaml").write_text(cfg.dump())
    gt = tmp_path / "docbank/COCO/all.json"
    m = ev.main([f"checkpoint={teacher}", f"gt={gt}", f"images={tmp_path / 'docbank/images'}",
                 f"out={tmp_path / 'eval'}", "threads=1"])  # fmt: skip
    preds = json.loads((tmp_path / "eval/predictions.json").read_text())
    assert preds and m["num_dropped"] == 0
    ids = {c["name"]: c["id"] for c in json.loads(gt.read_text())["categories"]}
    assert all(p["category_id"] == ids[p["category_name"]] for p in preds)
    assert set(json.loads((tmp_path / "eval/metrics.json").read_text())["per_class"]) == set(ids)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"images": [], "annotations": [],
                                 "categories": [{"id": 1, "name": "a"}]}))  # fmt: skip
    with pytest.raises(ValueError, match="not trained for these labels"):
        ev.main([f"checkpoint={teacher}", f"gt={other}", f"images={tmp_path}", f"out={tmp_path}"])
