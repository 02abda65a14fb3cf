"""Garbage email-PO settings, credentials and stock CSVs are refused with the key or row named."""
from __future__ import annotations

import pytest

from integrations.suppliers.email_po import InvalidEmailSettings, parse_settings
from integrations.suppliers.email_po.stock_feed import InMemoryStockFeed, JsonFileStockFeed, import_stock_csv, parse_stock_csv
from integrations.suppliers.registry import build_adapter

VALID = {"smtp_host": "smtp.shop.example", "from_address": "orders@shop.example", "to_addresses": ["po@supplier.example"], "sent_log_path": "/tmp/x.json"}


def test_defaults():
    settings = parse_settings(VALID)
    assert (settings.smtp_port, settings.smtp_security, settings.smtp_timeout_seconds) == (587, "starttls", 30.0)
    assert parse_settings({**VALID, "smtp_security": "ssl"}).smtp_port == 465
    assert settings.subject_template.format(po_number="PO-1") == "Purchase order PO-1"


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"smtp_host": ""}, "smtp_host is required"),
        ({"smtp_port": 70000}, "port number"),
        ({"smtp_port": "25"}, "port number"),
        ({"smtp_security": "tls"}, "smtp_security must be one of"),
        ({"smtp_timeout_seconds": -1}, "positive number"),
        ({"from_address": "not an address"}, "from_address must be an email address"),
        ({"from_address": "orders@shop.example\r\nBcc: x@evil.test"}, "from_address must be an email address"),
        ({"to_addresses": []}, "at least one"),
        ({"to_addresses": ["po@supplier.example", "nobody"]}, "to_addresses[1] must be an email address"),
        ({"cc_addresses": [3]}, "cc_addresses[0]"),
        ({"subject_template": "Purchase order"}, "must contain {po_number}"),
        ({"subject_template": "PO {po_number} for {shop}"}, "no other placeholder"),
        ({"subject_template": "PO {po_number}\nBcc: x"}, "one line"),
        ({"known_skus": "RED"}, "known_skus must be a list"),
        ({"smtp_hots": "typo"}, "unknown key(s) 'smtp_hots'"),
    ],
)
def test_garbage_settings_are_refused_with_the_key_named(changes, complaint):
    with pytest.raises(InvalidEmailSettings) as caught:
        build_adapter("email", {}, {**VALID, **changes})
    assert complaint in str(caught.value)
    assert "evil" not in str(caught.value)  # values are not echoed


def test_credentials_come_in_pairs_and_the_log_path_is_required():
    with pytest.raises(InvalidEmailSettings, match="both smtp_username and smtp_password"):
        build_adapter("email", {"smtp_username": "shop"}, VALID)
    with pytest.raises(InvalidEmailSettings, match="sent_log_path is required"):
        build_adapter("email", {}, {key: value for key, value in VALID.items() if key != "sent_log_path"})
    with pytest.raises(InvalidEmailSettings, match="JSON object"):
        parse_settings(["smtp_host"])


def test_stock_csv_rows_are_checked():
    text = "sku,available,in_stock\nRED,4,\nBLUE,,no\nGREEN,x,\nPINK,-1,\nGREY,,maybe\n,3,\nRED,1,\nTEAL,,\n"
    result = parse_stock_csv(text)
    assert [(level.supplier_sku, level.in_stock, level.available) for level in result.levels] == [("RED", True, 4), ("BLUE", False, None)]
    assert [(error.row, error.message) for error in result.errors] == [
        (4, "available 'x' is not a whole number"), (5, "available -1 cannot be negative"), (6, "in_stock 'maybe' is not yes or no"),
        (7, "sku is missing"), (8, "SKU RED is listed again (first on row 2)"), (9, "needs available or in_stock"),
    ]
    assert [(e.row, "lacks column(s) available or in_stock" in e.message) for e in parse_stock_csv("sku\nRED\n").errors] == [(1, True)]


def test_stock_feeds_keep_what_was_imported(tmp_path):
    for feed in (InMemoryStockFeed(), JsonFileStockFeed(tmp_path / "stock.json")):
        import_stock_csv(feed, "sku,available\nRED,4\nBLUE,0\n")
        import_stock_csv(feed, "sku,in_stock\nBLUE,yes\n")
        assert [(level.supplier_sku, level.in_stock, level.available) for level in feed.levels(["BLUE", "NOPE", "RED"])] == [("BLUE", True, None), ("RED", True, 4)]
