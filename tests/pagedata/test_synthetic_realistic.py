"""The realistic synthetic style: determinism, boxes on ink inside the page, every class, its own
data folder and teacher folder, and the classic style left bit-identical."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pagedata.synthetic import ensure_synthetic, generate_synthetic, render_page
from pagedata.synthetic.realistic.equations import equation_bank
from pagedata.synthetic.realistic.text import corpus

SIZE = 256


def _digest(json_path: Path, img_dir: Path) -> str:
    h = hashlib.sha256(json_path.read_bytes())
    for f in sorted(img_dir.iterdir()):
        h.update(f.read_bytes())
    return h.hexdigest()


def test_classic_style_is_unchanged(tmp_path):
    """The pages the GraphKD-vs-DSIG runs of docs/experiments.md used, byte for byte (json + JPEGs
    of generate_synthetic(seed=0, 3 pages, 256 px) as the generator wrote them before styles)."""
    js = generate_synthetic(tmp_path, 3, seed=0, image_size=256)
    assert _digest(js, tmp_path / "train") == (
        "e04e8e7ad324da46d90c40fc1911531bd2268ba97c2e0c7b90c5155d0d1fb666"
    )
    assert "style" not in json.loads(js.read_text())["info"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    path = generate_synthetic(out, 40, seed=1, image_size=SIZE, style="realistic")
    return out, json.loads(path.read_text())


def test_determinism(tmp_path, sample):
    out, coco = sample
    again = generate_synthetic(tmp_path / "a", 4, seed=1, image_size=SIZE, style="realistic")
    twice = generate_synthetic(tmp_path / "b", 4, seed=1, image_size=SIZE, style="realistic")
    assert again.read_bytes() == twice.read_bytes()
    assert _digest(again, tmp_path / "a/train") == _digest(twice, tmp_path / "b/train")
    first4 = [a for a in coco["annotations"] if a["image_id"] <= 4]
    assert json.loads(again.read_text())["annotations"] == first4  # page i independent of count
    other = generate_synthetic(tmp_path / "c", 4, seed=2, image_size=SIZE, style="realistic")
    assert other.read_bytes() != again.read_bytes()
    info = json.loads(again.read_text())["info"]
    assert info["style"] == "realistic" and info["style_version"] >= 1


def test_every_class_and_real_page_shapes(sample):
    _, coco = sample
    present = {a["category_id"] for a in coco["annotations"]}
    assert present == {1, 2, 3, 4, 5}
    sizes = {(im["width"], im["height"]) for im in coco["images"]}
    assert all(h == SIZE for _, h in sizes)
    # letter (8.5 x 11) and A4 pages, as in DocBank / PubLayNet
    assert {round(SIZE * 8.5 / 11), round(SIZE * 210 / 297)} == {w for w, _ in sizes}
    per_page = len(coco["annotations"]) / len(coco["images"])
    assert 4 < per_page < 40


def test_boxes_inside_pages_on_ink_and_tight(sample):
    out, coco = sample
    anns: dict[int, list] = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    for im in coco["images"][:12]:
        W, H = im["width"], im["height"]
        ink = np.asarray(Image.open(out / "train" / im["file_name"]).convert("L")) < 235
        inside = np.zeros_like(ink)
        for a in anns.get(im["id"], []):
            x, y, w, h = a["bbox"]
            assert w >= 1 and h >= 1 and x >= 0 and y >= 0
            assert x + w <= W + 1e-6 and y + h <= H + 1e-6
            x0, y0, x1, y1 = int(x), int(y), int(np.ceil(x + w)), int(np.ceil(y + h))
            inside[y0:y1, x0:x1] = True
            ys, xs = np.nonzero(ink[y0:y1, x0:x1])
            assert len(xs), f"{im['file_name']}: box {a['bbox']} holds no ink"
            # tight: the ink reaches (within 2 px) each side of the box
            assert xs.min() <= 2 and ys.min() <= 2, (im["file_name"], a)
            assert xs.max() >= x1 - x0 - 3 and ys.max() >= y1 - y0 - 3, (im["file_name"], a)
        # only the unannotated furniture (running head, page number, footnotes) lies outside
        assert (ink & ~inside).sum() <= 0.2 * ink.sum()


def test_text_source_and_equations():
    words = corpus()
    assert len(words) > 10_000 and "the" in words
    bank = equation_bank()
    assert len(bank) >= 40 and all(m.mode == "L" and m.width > m.height for m in bank[:5])


def test_render_page_style_argument():
    img, blocks, quality = render_page(0, 0, SIZE, style="realistic", noise=False)
    assert img.size[1] == SIZE and blocks and quality is None
    with pytest.raises(ValueError, match="style"):
        render_page(0, 0, SIZE, style="fancy")


def test_styles_live_in_their_own_folders(tmp_path):
    from detectors.datasets import register_dataset

    register_dataset("synthetic", tmp_path, ["val"], synthetic={"splits": {"val": 2},
                     "image_size": 128, "style": "realistic"})  # fmt: skip
    manifest = json.loads((tmp_path / "synthetic_realistic/manifest.json").read_text())
    assert manifest["splits"]["val"]["style"] == "realistic"
    assert not (tmp_path / "synthetic").exists()
    ensure_synthetic(tmp_path / "synthetic", {"val": 1}, image_size=128)  # classic: unchanged keys
    classic = json.loads((tmp_path / "synthetic/manifest.json").read_text())["splits"]["val"]
    assert "style" not in classic


def test_teacher_folder_is_keyed_by_style():
    from hydra import compose, initialize_config_dir

    from graphkd.apps.cli import CONFIG_DIR, register_configs

    register_configs()

    def ckpt(*overrides):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose("config", overrides=list(overrides)).teacher_checkpoint

    assert "/synthetic_R50_" in ckpt("dataset.style=classic")  # the README runs' folder
    assert "/synthetic-realistic_R50_" in ckpt("dataset.style=realistic")
    assert "/docbank_R50_" in ckpt("dataset=docbank")


@pytest.mark.parametrize("family", ["cm", "stix", "dejavu_serif", "dejavu_sans"])
def test_word_boxes_are_pdf_text_boxes(family):
    """A word's box spans its font's em box, as PDFMiner reports DocBank's tokens: the same rows
    with or without ascenders and descenders, one font size high, the descenders' foot at its
    bottom (on DocBank's pages: 0.15 em above the ascenders, 0.19 em below a baseline)."""
    from pagedata.synthetic.realistic import RealPage
    from pagedata.synthetic.realistic.glyphs import FAMILIES, load_font

    page = RealPage(np.random.default_rng(0), 320)
    size = 40
    for font in FAMILIES[family][:2]:
        boxes = {t: page.word(10, 50, t, font, size) for t in ("one", "held", "ply", "Q2")}
        rows = {(b[1], b[3]) for b in boxes.values()}
        assert len(rows) == 1, (font, boxes)
        top, bottom = rows.pop()
        assert bottom - top == size
        assert boxes["held"][1] < boxes["one"][3] - size * 0.5  # the ink is inside the box
        baseline = 50 + 1 + load_font(font, size).getmetrics()[0]  # word_mask draws at (1, 1)
        assert 0.1 * size <= bottom - baseline <= 0.3 * size


def test_display_formula_joins_a_close_paragraph():
    """A display formula and the paragraph next to it are one text block when they are as close
    as the DocBank converter joins blocks (leading + block_gap body sizes), two when further."""
    from pagedata.docbank import GroupingParams
    from pagedata.synthetic.common import TEXT, TITLE
    from pagedata.synthetic.realistic import RealPage

    page = RealPage(np.random.default_rng(0), 320)
    limit = page.lh - page.size + GroupingParams.block_gap * page.size
    para = (10.0, 100.0, 200.0, 160.0)
    for gap, blocks in ((limit - 1, 1), (limit + 1, 2)):
        page.blocks = [(TEXT, para), (TEXT, (40.0, 160 + gap, 170.0, 190 + gap))]
        page.join_display()
        assert len(page.blocks) == blocks
    assert page.blocks[0] == (TEXT, para)
    page.blocks = [(TITLE, para), (TEXT, (40.0, 161.0, 170.0, 190.0))]
    page.join_display()  # only text joins text
    assert len(page.blocks) == 2


def test_consecutive_paragraphs_are_indented():
    """With first-line indentation a paragraph straight below another always starts indented
    (without it nothing on the page would show where one ends and the next begins)."""
    from pagedata.synthetic.realistic import RealPage

    page = RealPage(np.random.default_rng(0), 320)
    page.indent_paras = True
    for k in range(20):  # one-line paragraphs: the box is the first line's
        page.paragraph(100, 100 + 100 * k, 1500, 3000, n=1)  # first_indent=None: a new one
        assert page.last_box[0] >= 100 + page.parindent - 2


def test_layout_spaces_titles_and_joins_displays(monkeypatch):
    """The column flow applies the version-4 rhythm: section titles set tight (0-0.35 body
    sizes from the paragraph's box to the title's line; the title's em box starts a little
    lower) on `tight_titles` pages and 1.3-3.2 sizes below it otherwise, and it offers every
    display formula next to a paragraph to `join_display`. Version 3 left 0.8-2 sizes always."""
    from pagedata.synthetic.common import TEXT, TITLE
    from pagedata.synthetic.realistic import RealPage, layout

    calls = []
    join = RealPage.join_display
    monkeypatch.setattr(RealPage, "join_display", lambda self: calls.append(1) or join(self))
    gaps = {True: [], False: []}
    for seed in range(60):
        page = RealPage(np.random.default_rng(seed), 320)
        layout(page)
        for (c0, a), (c1, b) in zip(page.blocks, page.blocks[1:]):
            if c0 == TEXT and c1 == TITLE and a[3] <= b[1] + 1 and a[0] < b[2] and b[0] < a[2]:
                gaps[page.tight_titles].append((b[1] - a[3]) / page.size)
    assert calls
    assert len(gaps[True]) >= 5 and len(gaps[False]) >= 5
    assert np.median(gaps[True]) <= 0.7  # a caption above a title (after a float) leaves more
    assert min(gaps[False]) >= 1.3
