"""Garbage email-PO settings, credentials and stock CSVs are refused with the key or row named."""
from __future__ import annotations

import pytest

from integrations.suppliers.email_po import InvalidEmailSettings, parse_settings
from integrations.suppliers.email_po.stock_feed import InMemoryStockFeed, JsonFileStockFeed, import_stock_csv, parse_stock_csv
from integrations.suppliers.registry import InvalidSupplierSettings, build_adapter, check_supplier_settings
from integrations.suppliers.runtime import OperatorSmtp

VALID = {"to_addresses": ["po@supplier.example"]}
OPERATOR = OperatorSmtp(host="smtp.operator.example", port=587, from_address="orders@operator.example", security="starttls")


def test_the_smtp_server_and_sender_are_the_operators():
    settings = parse_settings({**VALID, "reply_to": "shop@shop.example"}, smtp=OPERATOR)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_timeout_seconds) == ("smtp.operator.example", 587, "starttls", 30.0)
    assert (settings.from_address, settings.reply_to) == ("orders@operator.example", "shop@shop.example")
    assert settings.subject_template.format(po_number="PO-1") == "Purchase order PO-1"


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"to_addresses": []}, "at least one"),
        ({"to_addresses": ["po@supplier.example", "nobody"]}, "to_addresses[1] must be an email address"),
        ({"cc_addresses": [3]}, "cc_addresses[0]"),
        ({"reply_to": "shop@shop.example\r\nBcc: x@evil.test"}, "reply_to must be an email address"),
        ({"subject_template": "Purchase order"}, "must contain {po_number}"),
        ({"subject_template": "PO {po_number} for {shop}"}, "no other placeholder"),
        ({"subject_template": "PO {po_number}\nBcc: x"}, "one line"),
        # A width in the format spec would make the rendering worker build a string of any size.
        ({"subject_template": "PO {po_number:>2000000000}"}, "with no format"),
        ({"subject_template": "PO {po_number!r}"}, "with no format"),
        ({"subject_template": "PO {po_number} " + "x" * 300}, "at most 200 characters"),
        ({"known_skus": "RED"}, "known_skus must be a list"),
        ({"smtp_hots": "typo"}, "unknown key(s) 'smtp_hots'"),
    ],
)
def test_garbage_settings_are_refused_with_the_key_named(changes, complaint):
    with pytest.raises(InvalidSupplierSettings) as caught:
        check_supplier_settings("email", {**VALID, **changes})
    assert complaint in str(caught.value)
    assert "evil" not in str(caught.value)  # values are not echoed


@pytest.mark.parametrize("key", ["smtp_host", "smtp_port", "smtp_ca_file", "smtp_security", "from_address", "sent_log_path", "stock_feed_path"])
def test_server_hosts_and_paths_are_refused_when_saved(key):
    value = {"smtp_port": 6379}.get(key, "/etc/passwd" if key.endswith("path") or key.endswith("file") else "10.0.0.5")
    with pytest.raises(InvalidSupplierSettings, match="cannot be set") as caught:
        check_supplier_settings("email", {**VALID, key: value})
    assert "passwd" not in str(caught.value) and "10.0.0.5" not in str(caught.value)


def test_without_the_apps_sent_log_no_adapter_is_built():
    with pytest.raises(InvalidEmailSettings, match="sent log"):
        build_adapter("email", {}, VALID)
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
