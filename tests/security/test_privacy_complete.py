"""Privacy requests reach everything (issue 12, item 6), on SQLite and PostgreSQL.

One customer's name, email, phone and address are planted through each path the app keeps
data by (order webhooks through the real intake, a supplier event naming the recipient, a
return note, a timeline event, a desync's evidence, an alert, a customer notice, a delivery
attempt, the email-PO sent log, other topics' payloads, legacy files under the instance
folder, the compliance requests themselves), next to a second customer of the same shop and
a customer of another shop. After customers/redact (through the real inbox worker) the
whole database, every table and column found by inspection, and the instance folder hold
nothing of the first customer, and the others' data is exactly as it was. After shop/redact
nothing of the shop is left but the request's own record, and the other shop is untouched.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from conftest import sample_json, webhook_headers
from shopify_app.alerts import raise_alert
from shopify_app.jobs.models import JobRun
from shopify_app.models import ComplianceExport, ComplianceLog, ShopSetting, WebhookDelivery, utcnow
from shopify_app.orders.models import CustomerNotice, Order
from shopify_app.orders.timeline import record_event
from shopify_app.reconcile.models import Desync
from shopify_app.returns.models import ReturnCase, ReturnLine
from shopify_app.suppliers.models import DeliveryAttempt, Supplier, SupplierOrder, SupplierShipment
from shopify_app.webhooks.worker import InboxWorker

SHOP_A = "demo.myshopify.com"
SHOP_B = "other.myshopify.com"


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str
    phone: str
    phone_compact: str  # how a supplier writes the same number
    address1: str
    city: str
    zip: str
    customer_id: int
    order_id: int
    order_name: str

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"

    def searched(self) -> list[str]:
        """What must be gone after redaction (the phone as both spellings, minus the country code)."""
        return [self.full, self.first, self.last, self.email, self.phone.split(" ", 1)[1], self.phone_compact[2:], self.address1, self.city, self.zip]

    def address(self) -> dict:
        return {"first_name": self.first, "last_name": self.last, "name": self.full, "address1": self.address1, "address2": None,
                "city": self.city, "zip": self.zip, "province": "Ontario", "country": "Canada", "country_code": "CA", "phone": self.phone}

    def recipient(self) -> dict:
        """The recipient as a supplier's API shows it."""
        return {"name": self.full, "address1": self.address1, "city": self.city, "zip": self.zip, "country_code": "CA",
                "phone": self.phone_compact, "email": self.email}


GRACE = Person("Grace", "Hopwood", "grace.hopwood@example.net", "+1 613-555-0142", "+16135550142", "42 Wallaby Way", "Quokkaville", "K9Z 4Q1", 9100001, 7100000001, "#7001")
ANN = Person("Annika", "Ostrander", "annika.o@example.org", "+1 902-555-0187", "+19025550187", "9 Harbour Lane", "Seabrookfen", "B3K 5X5", 9100002, 7100000002, "#7002")
BOB = Person("Bertram", "Quillfeather", "bertram.quill@example.com", "+1 250-555-0199", "+12505550199", "77 Kestrel Rise", "Ravenmoor", "V8W 1N6", 9200001, 7200000001, "#8001")


# --- the world --------------------------------------------------------------------

@pytest.fixture
def instance(tmp_path, monkeypatch) -> Path:
    """The test's instance folder (legacy files live there)."""
    folder = tmp_path / "instance"
    (folder / "email-po").mkdir(parents=True)
    monkeypatch.setattr("shopify_app.config.INSTANCE_DIR", folder)
    return folder


@pytest.fixture
def app(app_factory, database_url, instance):
    app = app_factory(database_url)
    for shop in (SHOP_A, SHOP_B):
        app.extensions["services"].tokens.save(shop, "shpat_test", None, None, None, "read_orders")
    return app


def deliver(app, topic: str, payload: dict, shop: str) -> None:
    body = json.dumps(payload).encode()
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=shop))
    assert response.status_code == 200


def drain(app) -> None:
    services = app.extensions["services"]
    report = InboxWorker(services.session_factory, services.settings, services).drain()
    assert report.dead == 0 and report.retried == 0, report.errors


def order_payload(person: Person) -> dict:
    order = sample_json("orders_create")
    order.update(
        id=person.order_id, admin_graphql_api_id=f"gid://shopify/Order/{person.order_id}", name=person.order_name,
        email=person.email, contact_email=person.email, phone=person.phone, note=f"Leave it with {person.first}'s neighbour",
        shipping_address=person.address(), billing_address=person.address(),
        customer={"id": person.customer_id, "admin_graphql_api_id": f"gid://shopify/Customer/{person.customer_id}", "email": person.email,
                  "first_name": person.first, "last_name": person.last, "phone": person.phone, "default_address": person.address()},
    )
    return order


def handled(session, shop: str, topic: str, payload: dict) -> None:
    """A delivery already handled (its handler would call Shopify or a supplier): it stays in the inbox."""
    session.add(WebhookDelivery(webhook_id=str(uuid.uuid4()), shop_domain=shop, topic=topic, body=json.dumps(payload), status="done", attempts=1))


def add_supplier(session, shop: str, name: str, **settings) -> int:
    supplier = Supplier(shop_domain=shop, name=name, kind="email", settings={"to_addresses": ["po@supplier.example"], **settings})
    session.add(supplier)
    session.flush()
    return supplier.id


def sent_log_table(engine) -> sa.Table:
    """The email-PO sent log, found by inspection (its model lives with the email adapter)."""
    return sa.Table("email_po_sent_log", sa.MetaData(), autoload_with=engine)


def plant(app, shop: str, person: Person, supplier_id: int) -> None:
    """The person's data through every path (the order through the real intake and inbox worker)."""
    services = app.extensions["services"]
    deliver(app, "orders/create", order_payload(person), shop)
    drain(app)
    order_gid = f"gid://shopify/Order/{person.order_id}"
    sent_log = sent_log_table(services.engine)  # reflected before the write transaction (SQLite: one writer)
    with services.session_factory.begin() as session:
        order = session.scalar(select(Order).where(Order.shop_domain == shop, Order.shopify_id == str(person.order_id)))
        record_event(session, order, "problem", "supplier", reason=f"{person.first} was not home at {person.address1}")
        session.add(CustomerNotice(order_id=order.id, kind="delay", dedupe_key=f"delay:{order.id}:{person.email}", status="failed",
                                   last_error=f"550 5.1.1 <{person.email}>: mailbox unavailable"))
        delivery = SupplierOrder(shop_domain=shop, order_id=order.id, supplier_id=supplier_id, idempotency_key=f"{shop}:{person.order_id}:1",
                                 supplier_order_id=f"PO-{person.order_id}", state="placed")
        session.add(delivery)
        session.flush()
        session.add(DeliveryAttempt(supplier_order_id=delivery.id, action="place", outcome="ok",
                                    request={"external_id": delivery.idempotency_key, "recipient": person.recipient(), "items": [{"sku": "IPOD2008PINK", "quantity": 1}]},
                                    response={"id": delivery.supplier_order_id, "status": "pending", "recipient": {"name": person.full}}))
        session.add(SupplierShipment(supplier_order_id=delivery.id, shipment_id=f"SH-{person.order_id}", carrier="Canada Post", tracking_number=f"TRK{person.order_id}", lines=[]))
        case = ReturnCase(shop_domain=shop, return_gid=f"gid://shopify/Return/{person.order_id}", order_id=order.id, order_gid=order_gid, name=f"{person.order_name}-R1")
        case.lines = [ReturnLine(return_line_item_gid=f"gid://shopify/ReturnLineItem/{person.order_id}", sku="IPOD2008PINK", quantity=1, reason="DEFECTIVE",
                                 customer_note=f"{person.full} here: it arrived broken, call {person.phone}", reason_note=f"{person.first} says the box was open")]
        session.add(case)
        session.add(Desync(shop_domain=shop, kind="stuck_at_supplier", ref=f"order:{order.id}", subject=order.name,
                           evidence={"recipient": f"{person.full}, {person.address1}, {person.city} {person.zip}"}))
        session.add(Desync(shop_domain=shop, kind="notice_bounced", ref=f"mail:{person.order_id}", subject="bounce", evidence={"to": person.email}))
        raise_alert(session, shop, "notice_bounced", f"bounce:{shop}:{person.email}", f"The delay notice to {person.full} <{person.email}> bounced", subject=order.name)
        session.execute(sent_log.insert().values(
            shop_domain=shop, supplier_id=supplier_id, po_number=f"PO-{person.order_id}", version=1, created_at=utcnow(), updated_at=utcnow(),
            record={"po_number": f"PO-{person.order_id}", "lines": [{"line_ref": "1", "sku": "IPOD2008PINK", "quantity": 1, "name": "IPod Nano"}],
                    "ship_to": person.recipient(), "message_id": f"<po-{person.order_id}@app>"},
        ))
        # Other topics' payloads, kept in the inbox once handled; the supplier's own body is JSON inside our JSON.
        handled(session, shop, "supplier/event", {"supplier_id": supplier_id, "headers": {"X-Signature": "abc"}, "body": json.dumps(
            {"type": "order_updated", "data": {"order": {"external_id": delivery.idempotency_key, "status": "on_hold", "recipient": person.recipient()}}})})
        handled(session, shop, "returns/request", {"id": person.order_id, "admin_graphql_api_id": f"gid://shopify/Return/{person.order_id}", "order": {"id": person.order_id, "admin_graphql_api_id": order_gid},
                                                   "return_line_items": [{"id": 1, "quantity": 1, "return_reason": "DEFECTIVE", "customer_note": f"{person.full}: broken"}]})
        handled(session, shop, "refunds/create", {"id": 1, "order_id": person.order_id, "note": f"refund agreed with {person.first} on the phone",
                                                  "refund_line_items": [{"quantity": 1, "line_item": {"sku": "IPOD2008PINK"}}]})
        handled(session, shop, "fulfillment_orders/placed_on_hold", {"fulfillment_order": {"id": f"gid://shopify/FulfillmentOrder/{person.order_id}", "order_id": order_gid, "status": "on_hold",
                                                                                          "destination": person.address() | {"email": person.email}}})
        handled(session, shop, "fulfillment_service/notification", {"kind": "FULFILLMENT_REQUEST", "message": f"Ship to {person.full}, {person.address1}"})
        session.add(JobRun(job=f"token-refresh:{shop}", slot=utcnow(), owner="test", status="done"))
        session.add(ShopSetting(shop_domain=shop, key=f"test_{person.order_id}", value={"window_days": 30}))


def write_files(instance: Path, tmp_path: Path) -> dict[str, Path]:
    """Legacy email-PO logs, from when a supplier's settings named a file, and a shop-named folder."""
    def log(*people: Person) -> str:
        return json.dumps({"purchase_orders": {f"PO-{p.order_id}": {"po_number": f"PO-{p.order_id}", "lines": [{"sku": "IPOD2008PINK", "quantity": 1}], "ship_to": p.recipient()} for p in people}})

    files = {
        "a_log": instance / "email-po" / "supplier-a.json",
        "b_log": instance / "email-po" / "supplier-b.json",
        "a_folder_csv": instance / "email-po" / SHOP_A / "po-batch.csv",
        "b_folder_csv": instance / "email-po" / SHOP_B / "po-batch.csv",
        "outside": tmp_path / "outside" / "legacy.json",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["a_log"].write_text(log(GRACE, ANN))
    files["b_log"].write_text(log(BOB))
    files["outside"].write_text(log(GRACE))
    csv = "po,name,address,city,zip,email\n" + "".join(f"PO-{p.order_id},{p.full},{p.address1},{p.city},{p.zip},{p.email}\n" for p in (GRACE, ANN))
    files["a_folder_csv"].write_text(csv)
    files["b_folder_csv"].write_text(f"PO-{BOB.order_id},{BOB.full},{BOB.address1},{BOB.city},{BOB.zip},{BOB.email}\n")
    return files


@pytest.fixture
def world(app, instance, tmp_path):
    """Grace and Ann at shop A, Bertram at shop B; the legacy files; shop A's supplier also names B's log and a file outside the instance folder."""
    files = write_files(instance, tmp_path)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        supplier_a = add_supplier(session, SHOP_A, "Mail A", sent_log_path=str(files["a_log"]))
        add_supplier(session, SHOP_A, "Mail A2", sent_log_path=str(files["b_log"]), stock_feed_path=str(files["outside"]))  # paths a tenant once chose
        supplier_b = add_supplier(session, SHOP_B, "Mail B", sent_log_path=str(files["b_log"]))
    plant(app, SHOP_B, BOB, supplier_b)
    plant(app, SHOP_A, GRACE, supplier_a)
    plant(app, SHOP_A, ANN, supplier_a)
    with services.session_factory.begin() as session:  # one supplier event about two parcels, one for each customer
        handled(session, SHOP_A, "supplier/event", {"supplier_id": supplier_a, "headers": {}, "body": json.dumps(
            {"type": "batch_shipped", "data": {"orders": [{"external_id": "x-1", "recipient": GRACE.recipient()}, {"external_id": "x-2", "recipient": ANN.recipient()}]}})})
    return files


# --- searching everything -----------------------------------------------------------

def _as_text(value) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="ignore")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False) + json.dumps(value)
    return str(value)


def database_rows(engine) -> dict[str, list[dict]]:
    """Every row of every table the database holds, found by inspection (not a list of models)."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    with engine.connect() as conn:
        return {table.name: [dict(row) for row in conn.execute(select(table)).mappings()] for table in metadata.sorted_tables}


def database_hits(engine, values: list[str]) -> list[tuple[str, str, str, str]]:
    """(value, table, row, column) wherever one of the values occurs, any case, in any column."""
    hits = []
    for table, rows in database_rows(engine).items():
        for row in rows:
            for column, value in row.items():
                if value is None:
                    continue
                text = _as_text(value).lower()
                hits += [(needle, table, json.dumps(row, default=str)[:80], column) for needle in values if needle.lower() in text]
    return sorted(hits)


def folder_hits(folder: Path, values: list[str]) -> list[tuple[str, str]]:
    hits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="ignore").lower()
        hits += [(needle, str(path.relative_to(folder))) for needle in values if needle.lower() in text]
    return hits


def redact_request(person: Person) -> dict:
    body = sample_json("customers_redact")
    body.update(customer={"id": person.customer_id, "email": person.email, "phone": person.phone}, orders_to_redact=[person.order_id], shop_domain=SHOP_A)
    return body


# --- the tests ----------------------------------------------------------------------

def test_customer_redact_leaves_nothing_of_the_customer_anywhere(app, world, instance):
    engine = app.extensions["services"].engine
    deliver(app, "customers/data_request", sample_json("customers_data_request") | {"customer": {"id": GRACE.customer_id, "email": GRACE.email, "phone": GRACE.phone}}, SHOP_A)
    drain(app)
    assert database_hits(engine, GRACE.searched()), "the planting failed: nothing to redact"
    assert folder_hits(instance, GRACE.searched())
    others = ANN.searched() + BOB.searched()
    others_before = (database_hits(engine, others), folder_hits(instance, others))
    outside_before = world["outside"].read_text()

    deliver(app, "customers/redact", redact_request(GRACE), SHOP_A)
    drain(app)

    assert database_hits(engine, GRACE.searched()) == []
    assert folder_hits(instance, GRACE.searched()) == []
    assert (database_hits(engine, others), folder_hits(instance, others)) == others_before  # the same values in the same rows and files
    assert world["outside"].read_text() == outside_before  # a path outside the instance folder is never followed
    with app.extensions["services"].session_factory() as session:
        order = session.scalar(select(Order).where(Order.shopify_id == str(GRACE.order_id)))
        assert order.total_price == order_payload(GRACE)["total_price"] and [(line.sku, line.quantity) for line in order.lines] == [("IPOD2008PINK", 1), ("IPOD2008PINK", 1)]
        assert session.scalar(select(SupplierOrder.idempotency_key).where(SupplierOrder.order_id == order.id)) == f"{SHOP_A}:{GRACE.order_id}:1"
        assert session.scalar(select(sa.func.count()).select_from(ComplianceExport)) == 0  # the earlier export went too
        log = session.scalars(select(ComplianceLog).where(ComplianceLog.action == "customer_redact")).one()
        expected = {"webhook_inbox", "order_events", "customer_notices", "delivery_attempts", "desyncs", "alerts", "email_po_sent_log"}
        assert expected <= set(log.detail["tables"]), log.detail
        assert log.detail["sources"] == {"cases": 0, "compliance_exports": 1, "notices": 0, "orders": 1, "po_batches_waiting": 0, "returns": 1}  # their columns cleared before the sweep
        assert log.detail["files"] == 2

    # Then the other customer: her alert and notice keys were unique, and stay unique once redacted.
    deliver(app, "customers/redact", redact_request(ANN), SHOP_A)
    drain(app)
    assert database_hits(engine, GRACE.searched() + ANN.searched()) == []
    assert folder_hits(instance, GRACE.searched() + ANN.searched()) == []
    assert database_hits(engine, BOB.searched()) == [hit for hit in others_before[0] if hit[0] in BOB.searched()]


def test_a_duplicate_delivery_of_the_request_keeps_no_email_either(app):
    body = json.dumps(redact_request(GRACE)).encode()
    event = str(uuid.uuid4())
    for _ in range(2):  # a second subscription's delivery of the same event is stored as a duplicate
        headers = webhook_headers("customers/redact", body, shop=SHOP_A, event_id=event)
        assert app.test_client().post("/webhooks", data=body, headers=headers).status_code == 200
    drain(app)
    with app.extensions["services"].session_factory() as session:
        rows = session.execute(select(WebhookDelivery.status, WebhookDelivery.body)).all()
    assert sorted(status for status, _ in rows) == ["done", "duplicate"]
    for _, stored in rows:
        assert GRACE.email not in stored and GRACE.phone not in stored
        assert json.loads(stored)["customer"]["id"] == GRACE.customer_id and json.loads(stored)["orders_to_redact"] == [GRACE.order_id]


def test_data_request_finds_every_path_and_nothing_of_another_customer(app, world):
    deliver(app, "customers/data_request", sample_json("customers_data_request") | {"customer": {"id": GRACE.customer_id, "email": GRACE.email, "phone": GRACE.phone}}, SHOP_A)
    drain(app)
    with app.extensions["services"].session_factory() as session:
        export = session.scalars(select(ComplianceExport)).one().export
        request_body = session.scalar(select(WebhookDelivery.body).where(WebhookDelivery.topic == "customers/data_request"))
    text = json.dumps(export)
    for table in ("webhook_inbox", "orders", "order_events", "customer_notices", "delivery_attempts", "return_lines", "desyncs", "alerts", "email_po_sent_log"):
        assert GRACE.full in json.dumps(export["tables"][table]) or GRACE.email in json.dumps(export["tables"][table]) or GRACE.first in json.dumps(export["tables"][table]), table
    inbox_topics = {json.dumps(row) for row in export["tables"]["webhook_inbox"]}
    assert len(inbox_topics) == 7  # her order, two supplier events, return, refund, fulfillment order, fulfillment service notice
    assert set(export["files"]) == {"email-po/supplier-a.json", f"email-po/{SHOP_A}/po-batch.csv"}
    for value in ANN.searched() + BOB.searched():
        assert value not in text, value  # the batch event and the shared files hold Annika's parcel too: not in Grace's export
    assert GRACE.email not in request_body and GRACE.phone not in request_body  # the handled request keeps only ids


def test_shop_redact_leaves_nothing_of_the_shop_and_the_other_shop_intact(app, app_factory, database_url, instance, tmp_path):
    services = app.extensions["services"]
    files = write_files(instance, tmp_path)
    with services.session_factory.begin() as session:
        supplier_b = add_supplier(session, SHOP_B, "Mail B", sent_log_path=str(files["b_log"]))
    plant(app, SHOP_B, BOB, supplier_b)
    shop_b_rows = database_rows(services.engine)
    # Both shops are installed by the fixture: shop A's install is part of what must go.
    [shop_a_id] = [row["id"] for row in shop_b_rows["shops"] if row["domain"] == SHOP_A]
    shop_b_rows["shops"] = [row for row in shop_b_rows["shops"] if row["id"] != shop_a_id]
    shop_b_rows["shop_tokens"] = [row for row in shop_b_rows["shop_tokens"] if row["shop_id"] != shop_a_id]
    shop_b_rows["install_backfills"] = [row for row in shop_b_rows["install_backfills"] if row["shop_domain"] != SHOP_A]  # armed by the install
    b_files = {path: path.read_bytes() for path in (files["b_log"], files["b_folder_csv"], files["outside"])}

    with services.session_factory.begin() as session:
        supplier_a = add_supplier(session, SHOP_A, "Mail A", sent_log_path=str(files["a_log"]))
        add_supplier(session, SHOP_A, "Mail A2", sent_log_path=str(files["b_log"]), stock_feed_path=str(files["outside"]))
    plant(app, SHOP_A, GRACE, supplier_a)
    plant(app, SHOP_A, ANN, supplier_a)
    deliver(app, "customers/data_request", sample_json("customers_data_request") | {"customer": {"id": GRACE.customer_id, "email": GRACE.email, "phone": GRACE.phone}}, SHOP_A)
    drain(app)
    deliver(app, "shop/redact", sample_json("shop_redact"), SHOP_A)
    drain(app)

    after = database_rows(services.engine)
    record = [row for row in after["webhook_inbox"] if row["shop_domain"] == SHOP_A]
    assert [row["topic"] for row in record] == ["shop/redact"]  # the request itself, as the record (no personal data in it)
    log = [row for row in after["compliance_log"] if row["shop_domain"] == SHOP_A]
    assert [row["action"] for row in log] == ["shop_redact"]
    after["webhook_inbox"] = [row for row in after["webhook_inbox"] if row not in record]
    after["compliance_log"] = [row for row in after["compliance_log"] if row not in log]
    assert after == shop_b_rows  # every table: exactly shop B's rows, unchanged
    # The shop's name is left only in those two records' shop_domain column (the job run `token-refresh:<shop>` went too).
    hits = database_hits(services.engine, [SHOP_A, "demo.myshopify"])
    assert {(table, column) for _, table, _, column in hits} == {("compliance_log", "shop_domain"), ("webhook_inbox", "shop_domain")} and len(hits) == 4
    assert database_hits(services.engine, GRACE.searched() + ANN.searched()) == []
    assert folder_hits(instance, GRACE.searched() + ANN.searched()) == []
    assert not files["a_log"].exists() and not (instance / "email-po" / SHOP_A).exists()
    assert files["b_log"].exists() and files["outside"].exists()  # named by shop A's supplier too, but B's (or outside): never deleted
    for path, content in b_files.items():
        assert path.read_bytes() == content


def test_files_named_by_settings_never_include_the_database(sqlite_url, tmp_path, monkeypatch):
    """A supplier's old `sent_log_path` pointing at the database (inside the instance folder) is not the shop's file."""
    from conftest import make_settings
    from shopify_app.privacy_files import shop_paths

    folder = tmp_path
    monkeypatch.setattr("shopify_app.config.INSTANCE_DIR", folder)
    settings = make_settings(sqlite_url)
    database = Path(sa.engine.make_url(sqlite_url).database)
    engine = sa.create_engine(sqlite_url)
    with sa.orm.Session(engine) as session, session.begin():
        session.add(Supplier(shop_domain=SHOP_A, name="x", kind="email", settings={"sent_log_path": str(database)}))
        session.flush()
        assert shop_paths(session, SHOP_A, settings) == []
    engine.dispose()


def test_a_link_named_after_the_shop_is_removed_not_what_it_points_at(sqlite_url, tmp_path, monkeypatch):
    from conftest import make_settings
    from shopify_app.privacy_files import erase_shop_files

    monkeypatch.setattr("shopify_app.config.INSTANCE_DIR", tmp_path / "instance")
    theirs = tmp_path / "instance" / "email-po" / SHOP_B / "log.json"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("{}")
    link = tmp_path / "instance" / "email-po" / f"{SHOP_A}.json"
    link.symlink_to(theirs)
    engine = sa.create_engine(sqlite_url)
    with sa.orm.Session(engine) as session:
        assert erase_shop_files(session, SHOP_A, make_settings(sqlite_url)) == 1
    engine.dispose()
    assert not link.is_symlink() and theirs.read_text() == "{}"
