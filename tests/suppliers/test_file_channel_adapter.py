"""The file channel adapter's own cases beyond the shared contract: reads that reach the server, names, settings the merchant may not save."""
from __future__ import annotations

import pytest

from file_channel_testkit import IN_STOCK, OUT_OF_STOCK, build_adapter, file_settings, file_world  # noqa: F401 (fixture)
from integrations import egress
from integrations.suppliers.base import Address, OrderLine, OutcomeUnknown, PlaceOrder, TransientSupplierError
from integrations.suppliers.files.config import InvalidFileSettings, parse_settings
from integrations.suppliers.files.factory import check_file_settings
from integrations.suppliers.files.po_file import po_file_name
from sandbox.supplier.file_supplier import LAYOUT_XLSX, MAPPINGS, SandboxFileSupplier, _read_rows

ADDRESS = Address(name="Ada Lovelace", address1="1 Main St", city="London", country_code="GB", zip="N1 1AA")


def order(external_id: str = "do-42") -> PlaceOrder:
    return PlaceOrder(external_id, ADDRESS, (OrderLine("1", IN_STOCK[0], 2, name="=HYPERLINK(\"x\")"),))


def test_reads_that_reach_the_server_are_transient_never_outcome_unknown(file_world):
    adapter = build_adapter(file_world.settings)
    file_world.supplier.publish_stock()
    assert {level.supplier_sku: level.available for level in adapter.get_stock([IN_STOCK[0], OUT_OF_STOCK])} == {IN_STOCK[0]: 40, OUT_OF_STOCK: 0}
    file_world.server.down = True
    for call in (lambda: adapter.get_stock([IN_STOCK[0]]), lambda: adapter.find_order("do-missing"), adapter.check_connection):
        with pytest.raises(TransientSupplierError) as caught:
            call()
        assert not isinstance(caught.value, OutcomeUnknown)


def test_a_refused_login_or_host_key_on_place_is_transient_and_writes_nothing(file_world):
    wrong_key = build_adapter({**file_world.settings, "host_key_fingerprint": "SHA256:" + "B" * 43})
    with pytest.raises(TransientSupplierError) as caught:
        wrong_key.place_order(order())
    assert not isinstance(caught.value, OutcomeUnknown) and "host key" in str(caught.value)
    assert file_world.server.renamed == []
    assert build_adapter(file_world.settings).find_order("do-42") is None  # nothing there, nothing logged


def test_xlsx_purchase_orders_are_read_back_by_the_suppliers_own_reader_with_formulas_defused(file_world):
    adapter = build_adapter({**file_world.settings, "po_format": "xlsx", "mappings": MAPPINGS[LAYOUT_XLSX]})
    placed = adapter.place_order(order("do-43"))
    path = file_world.home / "to_supplier" / po_file_name("do-43", "xlsx")
    [row] = _read_rows(path)
    assert (row["po_number"], row["sku"], row["quantity"], row["ship_to_city"], row["name"]) == ("do-43", IN_STOCK[0], "2", "London", "'=HYPERLINK(\"x\")")
    assert placed.supplier_order_id == "do-43"
    # The XLSX supplier's stock file (title rows, a named sheet) is read through its mapping.
    supplier = SandboxFileSupplier(file_world.home, LAYOUT_XLSX, stock={IN_STOCK[1]: 9})
    supplier.publish_stock()
    assert [(l.supplier_sku, l.available) for l in adapter.get_stock([IN_STOCK[1]])] == [(IN_STOCK[1], 9)]


def test_po_file_names_are_stable_plain_and_never_collide():
    assert po_file_name("do-0123abc", "csv") == "PO-do-0123abc.csv"
    odd = po_file_name("#1001/2 ü", "csv")
    assert odd.startswith("PO-1001_2-") and odd.endswith(".csv") and odd == po_file_name("#1001/2 ü", "csv")
    assert po_file_name("#1001/2 ü", "csv") != po_file_name("#1001/2 ö", "csv")


@pytest.mark.parametrize("settings, message", [
    ({"transport": "sftp", "host": "sftp.example.com", "username": "u"}, "settings.host_key_fingerprint is required for SFTP"),
    ({"transport": "sftp", "host": "sftp://x", "username": "u", "host_key_fingerprint": "SHA256:" + "a" * 43}, "settings.host must be a host name"),
    ({"transport": "ftp", "host": "ftp.example.com", "username": "u", "folders": {"tracking": "../etc"}}, "settings.folders.tracking must be a relative folder"),
    ({"transport": "ftp", "host": "ftp.example.com", "username": "u", "folders": {"stock": "from_supplier/tracking"}}, "settings.folders: orders, acknowledgements"),
    ({"transport": "local", "local_folder": "x"}, "settings.transport: local folders are only for on-premise setups"),
    ({"transport": "ftp", "host": "ftp.example.com", "username": "u", "mappings": {"stock": {"columns": {"colour": "x"}}}}, "settings.mappings.stock.columns: 'colour'"),
])
def test_settings_a_merchant_may_not_save_name_the_key(settings, message):
    with pytest.raises(InvalidFileSettings) as refused:
        parse_settings(settings)
    assert str(refused.value).startswith(message)


def test_hosts_the_egress_policy_refuses_are_refused_when_saved():
    strict = egress.EgressPolicy()
    for host, reason in (("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("169.254.169.254", "link-local")):
        with pytest.raises(InvalidFileSettings) as refused:
            check_file_settings({"transport": "ftp", "host": host, "username": "u"}, strict, 30)
        assert reason in str(refused.value)
    check_file_settings({"transport": "ftp", "host": "127.0.0.1", "username": "u"}, egress.EgressPolicy(sandbox=True), 30)


def test_an_old_po_being_written_whose_file_is_in_no_known_folder_is_not_rewritten(file_world):
    """A crash after the write, then the supplier moved the file elsewhere: ask, never write it again (review item 11)."""
    import datetime as dt

    from integrations.suppliers.base import OutcomeNeedsCheck
    from integrations.suppliers.email_po.sent_log import SentLine, SentPurchaseOrder
    from integrations.suppliers.files.adapter import WRITING

    adapter = build_adapter(file_world.settings)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for po, age in (("do-old", dt.timedelta(minutes=30)), ("do-new", dt.timedelta(minutes=1))):
        adapter.sent_log.add(SentPurchaseOrder(po_number=po, lines=(SentLine("1", IN_STOCK[0], 2),), sent_at=(now - age).isoformat(),
                                               message_id=f"file:{po_file_name(po, 'csv')}", delivery=WRITING))
    with pytest.raises(OutcomeNeedsCheck) as caught:
        adapter.place_order(order("do-old"))
    assert "Check with the supplier" in str(caught.value)
    assert file_world.server.renamed == [] and adapter.find_order("do-old") is None  # nothing written, still unknown
    # A fresh one (the crash came before the write) is written as before.
    assert adapter.place_order(order("do-new")).supplier_order_id == "do-new"
    assert len(file_world.server.renamed) == 1
