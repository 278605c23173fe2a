"""PRIMA PAGE-XML -> COCO conversion on tiny PAGE files written here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pagedata.prima import PRIMA_CLASSES, convert_prima_dir, parse_page_xml, prima_to_coco

PAGE_2010 = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19">
  <Page imageFilename="00000086.tif" imageWidth="200" imageHeight="300">
    <TextRegion id="r1" type="paragraph"><Coords>
      <Point x="10" y="10"/><Point x="110" y="10"/><Point x="110" y="50"/><Point x="10" y="50"/>
    </Coords></TextRegion>
    <ImageRegion id="r2"><Coords>
      <Point x="20" y="60"/><Point x="180" y="60"/><Point x="180" y="160"/><Point x="20" y="160"/>
    </Coords></ImageRegion>
    <SeparatorRegion id="r3"><Coords>
      <Point x="10" y="170"/><Point x="190" y="170"/><Point x="190" y="173"/><Point x="10" y="173"/>
    </Coords></SeparatorRegion>
    <GraphicRegion id="r4"><Coords>
      <Point x="150" y="250"/><Point x="250" y="250"/><Point x="250" y="290"/><Point x="150" y="290"/>
    </Coords></GraphicRegion>
  </Page>
</PcGts>
"""

PAGE_2019 = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
  <Page imageFilename="images/00000087.tif" imageWidth="100" imageHeight="100">
    <TableRegion id="t1"><Coords points="5,5 60,5 60,40 5,40"/>
      <TextRegion id="nested"><Coords points="6,6 20,6 20,10 6,10"/></TextRegion>
    </TableRegion>
    <MathsRegion id="m1"><Coords points="10,50 50,50 50,60 30,65 10,60"/></MathsRegion>
    <ReadingOrder/>
  </Page>
</PcGts>
"""


@pytest.fixture
def xml_dir(tmp_path):
    d = tmp_path / "XML"
    d.mkdir()
    (d / "pc-00000086.xml").write_text(PAGE_2010)
    (d / "pc-00000087.xml").write_text(PAGE_2019)
    img = tmp_path / "Images"
    img.mkdir()
    (img / "00000086.tif").write_bytes(b"")
    (img / "00000087.png").write_bytes(b"")  # different extension: found by stem
    return d


def test_parse_both_coordinate_styles(xml_dir):
    p = parse_page_xml(xml_dir / "pc-00000086.xml")
    assert p["file_name"] == "00000086.tif" and (p["width"], p["height"]) == (200, 300)
    assert [c for c, _ in p["regions"]] == [
        "TextRegion",
        "ImageRegion",
        "SeparatorRegion",
        "OtherRegion",
    ]
    q = parse_page_xml(xml_dir / "pc-00000087.xml")
    assert [c for c, _ in q["regions"]] == ["TableRegion", "MathsRegion"]  # nested region skipped
    assert q["regions"][1][1] == [10, 50, 50, 50, 50, 60, 30, 65, 10, 60]


def test_to_coco(xml_dir):
    coco = prima_to_coco(sorted(xml_dir.glob("*.xml")), xml_dir.parent / "Images")
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3, 4, 5, 6]
    assert [c["name"] for c in coco["categories"]] == list(PRIMA_CLASSES)
    assert all(c["name"] != "Background" for c in coco["categories"])
    assert [im["file_name"] for im in coco["images"]] == ["00000086.tif", "00000087.png"]
    anns = coco["annotations"]
    assert [a["category_id"] for a in anns] == [1, 2, 5, 6, 3, 4]
    assert (
        anns[0]["bbox"] == [10, 10, 100, 40] and anns[0]["area"] == 4000 and anns[0]["iscrowd"] == 0
    )
    assert anns[0]["segmentation"] == [[10, 10, 110, 10, 110, 50, 10, 50]]
    assert anns[3]["bbox"] == [150, 250, 50, 40]  # clipped to the 200 px page width
    assert anns[5]["bbox"] == [10, 50, 40, 15]  # polygon extent
    assert len({a["id"] for a in anns}) == len(anns)


def test_convert_dir_and_cli(xml_dir, tmp_path):
    out = convert_prima_dir(xml_dir, tmp_path / "COCO", val_fraction=0.5, seed=0)
    tr, va = (json.loads(out[s].read_text()) for s in ("train", "val"))
    assert len(tr["images"]) == 1 and len(va["images"]) == 1
    assert {tr["images"][0]["file_name"], va["images"][0]["file_name"]} == {
        "00000086.tif",
        "00000087.tif",
    }
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, str(root / "scripts/prima_to_coco.py"), f"xml_dir={xml_dir}",
                        f"out_dir={tmp_path / 'cli'}", "val_fraction=0"], capture_output=True, text=True,
                       env={"PYTHONPATH": str(root), "PATH": ""})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "2 images, 6 regions" in r.stdout and not (tmp_path / "cli" / "val.json").exists()


def test_errors(tmp_path):
    (tmp_path / "bad.xml").write_text("<PcGts><Page")
    with pytest.raises(ValueError, match="bad.xml is not well-formed"):
        parse_page_xml(tmp_path / "bad.xml")
    (tmp_path / "nopage.xml").write_text("<PcGts/>")
    with pytest.raises(ValueError, match="no <Page>"):
        parse_page_xml(tmp_path / "nopage.xml")
    with pytest.raises(FileNotFoundError, match="No \\*.xml"):
        convert_prima_dir(tmp_path / "empty", tmp_path / "o")
