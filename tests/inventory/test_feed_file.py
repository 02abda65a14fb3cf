"""Feed files: CSV and JSON checked row by row with the same rules."""
from __future__ import annotations

import json

import pytest

from shopify_app.inventory.feed_file import FeedUnreadable, parse_feed


def _errors(result) -> dict[int, str]:
    return {e.row: e.message for e in result.errors}


def test_csv_rows_are_checked_one_by_one() -> None:
    body = b"sku,available\nA,5\nB,-1\nC,2.5\nD,lots\n,3\nA,6\nE,0\n"
    result = parse_feed(body, "text/csv")
    assert {(lv.supplier_sku, lv.available, lv.in_stock) for lv in result.levels} == {("A", 5, True), ("E", 0, False)}
    errors = _errors(result)
    assert set(errors) == {3, 4, 5, 6, 7}
    assert "negative" in errors[3]
    assert "whole number" in errors[4] and "whole number" in errors[5]
    assert "sku" in errors[6]
    assert "listed again" in errors[7]


def test_json_feed_uses_the_same_rules_and_refuses_fractions_even_when_whole() -> None:
    body = json.dumps({"items": [
        {"sku": "A", "available": 4},
        {"sku": "B", "available": 3.0},
        {"sku": "C", "in_stock": False},
        "not an object",
        {"sku": "D", "available": "7"},
    ]}).encode()
    result = parse_feed(body, "application/json")
    assert {(lv.supplier_sku, lv.available, lv.in_stock) for lv in result.levels} == {("A", 4, True), ("C", None, False), ("D", 7, True)}
    assert set(_errors(result)) == {2, 4}


def test_json_is_recognised_without_a_content_type() -> None:
    assert [lv.supplier_sku for lv in parse_feed(b'[{"sku": "X", "available": 1}]').levels] == ["X"]


@pytest.mark.parametrize("body", [b"[{oops", b'{"stock": 5}'])
def test_an_unreadable_json_feed_is_refused_as_a_whole(body: bytes) -> None:
    with pytest.raises(FeedUnreadable):
        parse_feed(body, "application/json")


def test_a_csv_without_the_needed_columns_names_them() -> None:
    result = parse_feed(b"product,count\nA,1\n", "text/csv")
    assert not result.levels
    assert "sku" in result.errors[0].message
