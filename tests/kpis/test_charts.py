"""The KPI charts: well-formed SVG, escaped labels, one mark per value, gaps for missing values, the target line."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from shopify_app.kpis.charts import bar_chart, line_chart

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iterfind(f".//svg:{tag}", NS) if e.get("class") == cls]


def test_bars_one_per_value_with_escaped_labels_and_a_target() -> None:
    series = [("<script>alert(1)</script>", 0.05), ("Tom & Jerry's \"mugs\"", 0.2), ("no data", None)]
    svg = bar_chart(series, 0.1, "Return rate <by product> & more", percent=True, higher_is_better=False)
    root = parse(svg)
    assert "<script>" not in svg and not root.findall(".//svg:script", NS)
    bars = by_class(root, "rect", "bar")
    assert len(bars) == 2  # the None value is a gap, not a zero bar
    assert [b.get("fill") for b in bars] == ["#5c6ac4", "#de3618"]  # 20 % misses a 10 % maximum
    assert float(bars[1].get("height")) > float(bars[0].get("height"))
    assert [e.text for e in by_class(root, "text", "label")] == ["<script>alert(1)</script>", "Tom & Jerry's \"mugs\"", "no data"]
    assert root.find("svg:title", NS).text == "Return rate <by product> & more"
    assert root.get("aria-label") == "Return rate <by product> & more"
    assert by_class(root, "text", "target-label")[0].text == "target 10.0 %"
    assert bars[0].find("svg:title", NS).text == "<script>alert(1)</script>: 5.0 %"


def test_the_target_line_sits_at_its_value() -> None:
    root = parse(bar_chart([("a", 1.0), ("b", 2.0)], 2.0, "t"))
    target = by_class(root, "line", "target")[0]
    top_bar = by_class(root, "rect", "bar")[1]
    assert float(target.get("y1")) == float(top_bar.get("y"))  # same value, same height
    assert not by_class(parse(bar_chart([("a", 1.0)], None, "t")), "line", "target")


def test_lines_break_at_missing_values() -> None:
    root = parse(line_chart([("d1", 1), ("d2", 2), ("d3", None), ("d4", 3), ("d5", 4), ("d6", Decimal("5.50"))], 2.5, "Margin"))
    assert len(by_class(root, "circle", "point")) == 5
    lines = by_class(root, "polyline", "line")
    assert [len(line.get("points").split()) for line in lines] == [2, 3]
    assert by_class(root, "text", "target-label")[0].text == "target 2.5"


def test_empty_and_crowded_series_still_make_valid_svg() -> None:
    empty = parse(bar_chart([], None, "Nothing yet"))
    assert by_class(empty, "text", "empty")[0].text == "No data"
    parse(line_chart([], 0.95, "", percent=True))
    crowded = parse(line_chart([(f"2026-03-{d:02d}", d / 31) for d in range(1, 32)], None, "March"))
    assert len(by_class(crowded, "circle", "point")) == 31
    assert len(by_class(crowded, "text", "label")) == 8  # every fourth label of 31, so they do not overlap
