"""The email PO adapter: what the supplier receives (headers, CSV attachment), idempotency, cancellation, the sent log."""
from __future__ import annotations

import csv
import io
import json
import logging

import pytest

from email_testkit import EmailPoController, email_settings, make_email_adapter, operator_smtp, smtp, smtp_server  # noqa: F401 (fixtures)
from integrations.suppliers.base import (
    Address,
    AmendmentRefused,
    CancellationRefused,
    OrderLine,
    OutcomeUnknown,
    PermanentSupplierError,
    PlaceOrder,
    ReturnLine,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)
from integrations.suppliers.email_po import EmailPoAdapter, InMemorySentLog
from integrations.suppliers.email_po.messages import message_id
from integrations.suppliers.email_po.purchase_order_csv import COLUMNS
from integrations.suppliers.registry import build_adapter
from supplier_contract import change_request, order_request


def request(po_number: str = "PO-1001", **address) -> PlaceOrder:
    placed = order_request(EmailPoController, po_number)
    if address:
        placed = PlaceOrder(placed.external_id, Address(**{**placed.shipping_address.__dict__, **address}), placed.lines, shipping_method="Express")
    return placed


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_po_email_carries_the_po_number_and_a_csv_of_every_line(smtp):
    adapter = make_email_adapter(smtp)
    placed = adapter.place_order(request(phone="+44 20 7946 0000", email="ada@example.org", province_code="LND"))
    assert (placed.supplier_order_id, placed.external_id, placed.status) == ("PO-1001", "PO-1001", SupplierOrderStatus.PENDING)
    [mail] = smtp.mail
    message = mail.message
    assert "PO-1001" in message["Subject"] and message["X-PO-Number"] == "PO-1001"
    assert message["From"] == "Demo Shop Orders <orders@shop.example>" and message["To"] == "po@supplier.example" and message["Cc"] == "ops@shop.example"
    assert mail.mail_from == "orders@shop.example" and mail.rcpt_tos == ("po@supplier.example", "ops@shop.example")
    assert message["Message-ID"] == message_id("PO-1001", "purchase-order", "orders@shop.example")
    assert "2 x WIDGET-RED" in message.get_body(("plain",)).get_content()
    name, text = mail.attachment()
    assert name == "PO-PO-1001.csv"
    assert text.splitlines()[0].split(",") == list(COLUMNS)
    rows = csv_rows(text)
    assert [(r["po_number"], r["line_ref"], r["sku"], r["quantity"], r["name"]) for r in rows] == [
        ("PO-1001", "line-a", "WIDGET-RED", "2", "Line A"), ("PO-1001", "line-b", "WIDGET-BLUE", "1", "Line B"),
    ]
    ship_to = {key: value for key, value in rows[1].items() if key.startswith("ship_to_")}
    assert ship_to == {
        "ship_to_name": "Ada Lovelace", "ship_to_company": "", "ship_to_address1": "12 Analytical Way", "ship_to_address2": "",
        "ship_to_city": "London", "ship_to_province": "LND", "ship_to_zip": "N1 9GU", "ship_to_country": "GB",
        "ship_to_phone": "+44 20 7946 0000", "ship_to_email": "ada@example.org",
    }
    assert rows[0]["shipping_method"] == "Express"


def test_customer_text_cannot_become_a_spreadsheet_formula(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request(name="=HYPERLINK(\"http://evil.test\",\"x\")", address2="@SUM(1+1)", company="-2+3"))
    row = csv_rows(smtp.mail[0].attachment()[1])[0]
    assert row["ship_to_name"].startswith("'=") and row["ship_to_address2"] == "'@SUM(1+1)" and row["ship_to_company"] == "'-2+3"


def test_placing_again_sends_nothing_and_returns_the_same_po(smtp):
    adapter = make_email_adapter(smtp)
    first = adapter.place_order(request())
    assert adapter.place_order(request()) == first
    assert len(smtp.mail) == 1 and first.raw["delivery"] == "accepted"


def test_a_lost_answer_is_recorded_as_unconfirmed_and_never_resent(smtp):
    adapter = make_email_adapter(smtp)
    smtp.stall_next()
    with pytest.raises(OutcomeUnknown):
        adapter.place_order(request())
    assert adapter.find_order("PO-1001").raw["delivery"] == "unconfirmed"
    adapter.place_order(request())
    assert len(smtp.mail) == 1


def test_a_refused_po_is_not_recorded_so_the_retry_sends_it(smtp):
    adapter = make_email_adapter(smtp)
    smtp.refuse_next(451)
    with pytest.raises(TransientSupplierError):
        adapter.place_order(request())
    assert adapter.find_order("PO-1001") is None and smtp.mail == []
    adapter.place_order(request())
    assert len(smtp.mail) == 1


def test_cancelling_mails_one_cancellation_threaded_under_the_po(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request())
    cancelled = adapter.cancel_order("PO-1001")
    assert cancelled.status == SupplierOrderStatus.CANCELLED and cancelled.raw["cancellation"] == "requested"
    assert adapter.cancel_order("PO-1001").status == SupplierOrderStatus.CANCELLED
    [po, cancellation] = smtp.mail
    assert cancellation.kind == "cancellation" and "CANCELLATION" in cancellation.message["Subject"] and "PO-1001" in cancellation.message["Subject"]
    assert cancellation.message["In-Reply-To"] == po.message["Message-ID"]
    assert list(cancellation.message.iter_attachments()) == []


def test_a_change_notice_is_mailed_once_under_the_po_with_every_line_and_the_new_address(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request())
    change = change_request(EmailPoController, "PO-1001", quantity_a=1, quantity_b=0, city="Leeds")
    adapter.amend_order("PO-1001", change)
    adapter.amend_order("PO-1001", change)  # a retry of the same change mails nothing more
    [po, notice] = smtp.mail
    assert notice.kind == "change" and notice.po_number == "PO-1001" and "PO-1001" in notice.message["Subject"]
    assert notice.message["In-Reply-To"] == po.message["Message-ID"] and notice.message["Message-ID"] != po.message["Message-ID"]
    body = notice.message.get_body(("plain",)).get_content()
    assert "1 x WIDGET-RED" in body and "0 x WIDGET-BLUE" in body and "REMOVED" in body and "CHANGED" in body
    _, text = notice.attachment()
    assert [(r["po_number"], r["sku"], r["quantity"], r["ship_to_city"]) for r in csv_rows(text)] == [("PO-1001", "WIDGET-RED", "1", "Leeds")]
    # Tracking is now matched against the changed PO: one unit of line A ships it all.
    EmailPoController(adapter, smtp).ship("PO-1001", {"line-a": 1})
    assert adapter.get_order("PO-1001").status == SupplierOrderStatus.SHIPPED


def test_a_change_after_a_parcel_is_refused_and_mails_nothing(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request())
    EmailPoController(adapter, smtp).ship("PO-1001", {"line-a": 1})
    with pytest.raises(AmendmentRefused):
        adapter.amend_order("PO-1001", change_request(EmailPoController, "PO-1001", quantity_a=2, quantity_b=0, city=None))
    assert len(smtp.mail) == 1


def test_tracking_after_a_cancellation_request_shows_the_goods_left(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request())
    adapter.cancel_order("PO-1001")
    EmailPoController(adapter, smtp).ship("PO-1001")
    assert adapter.get_order("PO-1001").status == SupplierOrderStatus.SHIPPED


def test_a_partially_shipped_po_cannot_be_cancelled(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request())
    EmailPoController(adapter, smtp).ship("PO-1001", {"line-a": 1})
    with pytest.raises(CancellationRefused):
        adapter.cancel_order("PO-1001")
    assert len(smtp.mail) == 1


def test_a_cancellation_the_server_refused_is_not_recorded(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request())
    smtp.refuse_next(451)
    with pytest.raises(TransientSupplierError):
        adapter.cancel_order("PO-1001")
    assert adapter.get_order("PO-1001").status == SupplierOrderStatus.PENDING
    with pytest.raises(SupplierOrderNotFound):
        adapter.cancel_order("PO-404")


@pytest.mark.parametrize(
    ("lines", "po_number", "complaint"),
    [
        ((OrderLine("a", "NOT-SOLD-HERE", 1),), "PO-1", "known_skus"),
        ((OrderLine("a", "WIDGET-RED", 1), OrderLine("a", "WIDGET-BLUE", 1)), "PO-1", "own line_ref"),
        ((OrderLine("", "WIDGET-RED", 1),), "PO-1", "own line_ref"),
        ((OrderLine("a", "WIDGET-RED", 0),), "PO-1", "at least 1"),
        ((), "PO-1", "no lines"),
        ((OrderLine("a", "WIDGET-RED", 1),), "PO-1\r\nBcc: x@evil.test", "printable"),
        ((OrderLine("a", "WIDGET-RED", 1),), "", "printable"),
    ],
)
def test_bad_orders_are_refused_before_any_email(smtp, lines, po_number, complaint):
    base = request()
    with pytest.raises(PermanentSupplierError, match=complaint):
        make_email_adapter(smtp).place_order(PlaceOrder(po_number, base.shipping_address, lines))
    assert smtp.mail == []


def test_without_known_skus_any_sku_is_mailed(smtp):
    adapter = make_email_adapter(smtp, known_skus=None)
    base = request()
    adapter.place_order(PlaceOrder("PO-any", base.shipping_address, (OrderLine("a", "WHATEVER-1", 3),)))
    assert csv_rows(smtp.mail[0].attachment()[1])[0]["sku"] == "WHATEVER-1"


@pytest.fixture
def db_runtime(smtp, sqlite_url):
    """The app's wiring: the operator's SMTP (the capture server) and the sent log in a migrated database, with one supplier."""
    from sqlalchemy import text

    from integrations.suppliers import runtime
    from shopify_app.db import make_engine, make_session_factory
    from shopify_app.suppliers.email_po_log import sent_log_factory

    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        for supplier_id, shop in ((1, "acme.myshopify.com"), (2, "other.myshopify.com")):
            conn.execute(text("INSERT INTO suppliers (id, shop_domain, name, kind, settings, inventory_terms, return_terms, priority, fulfillment_model, active, created_at) "
                              "VALUES (:id, :shop, 'Mail', 'email', '{}', '{}', '{}', 100, 'merchant_managed', 1, '2026-01-01 00:00:00')"), {"id": supplier_id, "shop": shop})
    previous = runtime.configure(runtime.SupplierRuntime(smtp=operator_smtp(smtp), sent_log_for=sent_log_factory(make_session_factory(engine))))
    yield engine
    runtime.configure(previous)
    engine.dispose()


def test_the_database_sent_log_survives_the_adapter_is_per_supplier_and_holds_no_address(smtp, db_runtime):
    from sqlalchemy import text

    from integrations.suppliers.runtime import SupplierRef

    settings = email_settings(smtp)
    first = build_adapter("email", {}, settings, SupplierRef("acme.myshopify.com", 1))
    first.place_order(request())
    again = build_adapter("email", {}, settings, SupplierRef("acme.myshopify.com", 1))  # the app builds a new adapter per delivery
    assert again.find_order("PO-1001").supplier_order_id == "PO-1001"
    again.place_order(request())
    assert len(smtp.mail) == 1
    assert build_adapter("email", {}, settings, SupplierRef("other.myshopify.com", 2)).find_order("PO-1001") is None  # another shop's log
    with db_runtime.connect() as conn:
        shop, stored = conn.execute(text("SELECT shop_domain, record FROM email_po_sent_log")).one()
    assert shop == "acme.myshopify.com"
    assert "PO-1001" in stored and "Lovelace" not in stored and "Analytical" not in stored and "N1 9GU" not in stored
    assert json.loads(stored)["lines"][0]["sku"] == "WIDGET-RED"
    shipped = again.sent_log.update("PO-1001", lambda record: record)
    assert shipped.po_number == "PO-1001"


def test_stored_server_paths_and_smtp_hosts_are_ignored(smtp, db_runtime, tmp_path):
    from integrations.suppliers.runtime import SupplierRef

    planted = tmp_path / "planted"
    stored = {**email_settings(smtp), "smtp_host": "10.0.0.5", "smtp_port": 6379, "sent_log_path": str(planted / "log.json"), "stock_feed_path": "/etc/passwd"}
    adapter = build_adapter("email", {"smtp_username": "x", "smtp_password": "y"}, stored, SupplierRef("acme.myshopify.com", 1))
    adapter.place_order(request())
    assert len(smtp.mail) == 1  # through the operator's server
    assert adapter.get_stock(["root"]) == [] and not planted.exists()


def test_an_unreadable_sent_log_is_transient_never_not_found(smtp, tmp_path):
    from integrations.suppliers.email_po import JsonFileSentLog

    path = tmp_path / "log.json"
    path.write_text("{ this is not json")
    adapter = EmailPoAdapter(make_email_adapter(smtp).settings, JsonFileSentLog(path))
    for read in (lambda: adapter.find_order("PO-1001"), lambda: adapter.get_order("PO-1001"), lambda: adapter.place_order(request())):
        with pytest.raises(TransientSupplierError) as caught:
            read()
        assert not isinstance(caught.value, OutcomeUnknown)
    assert smtp.mail == [] and path.read_text() == "{ this is not json"


def test_logs_and_errors_carry_no_addresses(smtp, caplog):
    caplog.set_level(logging.DEBUG, logger="integrations")
    adapter = make_email_adapter(smtp)
    smtp.refuse_recipient("po@supplier.example", "550 5.1.1 <po@supplier.example>: Recipient address rejected: User unknown")
    with pytest.raises(PermanentSupplierError) as caught:
        adapter.place_order(request())
    assert "550 5.1.1" in str(caught.value)
    text = caplog.text + str(caught.value) + repr(adapter.settings)
    for secret in ("po@supplier.example", "orders@shop.example", "Lovelace"):
        assert secret not in text


def test_no_stock_feed_no_webhooks_no_returns(smtp):
    adapter = EmailPoAdapter(make_email_adapter(smtp).settings, InMemorySentLog())
    assert adapter.get_stock(["WIDGET-RED"]) == []
    with pytest.raises(PermanentSupplierError):
        adapter.import_stock_csv("sku,available\nWIDGET-RED,1\n")
    with pytest.raises(NotImplementedError):
        adapter.parse_webhook({}, b"{}")
    with pytest.raises(SupplierOrderNotFound):
        adapter.create_return_authorization("PO-1001", [])  # no such PO was sent


def test_a_return_request_is_mailed_under_its_po_and_stays_pending_until_the_supplier_replies(smtp):
    adapter = make_email_adapter(smtp)
    adapter.place_order(request())
    controller = EmailPoController(adapter, smtp)
    sku = adapter.sent_log.get("PO-1001").lines[0].sku
    assert adapter.create_return_authorization("PO-1001", [ReturnLine("line-a", sku, 1, "DEFECTIVE")]).status == "refused"  # nothing shipped yet
    controller.ship("PO-1001")
    answer = adapter.create_return_authorization("PO-1001", [ReturnLine("line-a", sku, 1, "DEFECTIVE")])
    again = adapter.create_return_authorization("PO-1001", [ReturnLine("line-a", sku, 1, "DEFECTIVE")])
    assert answer.status == "pending" and answer.rma_number.startswith("RET-PO-1001-") and again.rma_number == answer.rma_number
    mail = [m for m in smtp.mail if m.kind == "return-request"]
    assert len(mail) == 2 and answer.rma_number in mail[0].message["Subject"]
    assert mail[0].message["In-Reply-To"] == message_id("PO-1001", "purchase-order", adapter.settings.from_address)
    assert "1 x " + sku in mail[0].message.get_content() and "defective" in mail[0].message.get_content()
