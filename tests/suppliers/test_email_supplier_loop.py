"""An email supplier both ways, over real servers: sandbox Shopify -> app -> PO by SMTP -> the supplier's reply in an IMAP mailbox -> Shopify fulfillment.

No hand work between the order and the fulfillment: the forwarding worker mails the PO (with
unit costs, totals, currency and a PDF copy), the supplier answers in its mail client under
our PO, and the scheduled job "email-replies" reads the reply from dovecot, takes the tracking
number out of the text and fulfils the order in Shopify with it. A second reply with a
tracking file finishes a partial shipment; replaying the mailbox changes nothing.
"""
from __future__ import annotations

import io
import threading

import pytest
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from email_testkit import CapturingSmtpServer
from imap_testkit import XLSX_TYPE, imap_server, mailbox_user, reply_email, xlsx_bytes  # noqa: F401 - fixtures
from scheduler.embedded import PERIODIC_JOBS
from shopify_app.suppliers.email_inbox_models import EmailMailbox, TrackingImportRun
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"
UPS_NUMBER = "1Z999AA10123456784"  # UPS's published example number (valid check digit)


@pytest.fixture
def smtp():
    server = CapturingSmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(app_factory, database_url, sandbox_shopify, smtp, imap_server, mailbox_user):
    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="orders@shop.example")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=["orders/create", "orders/paid", "orders/updated"])
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Mail Wholesale", kind="email",
                            settings={"to_addresses": ["po@supplier.example"], "currency": "EUR",
                                      # Unique per test: adapters are cached per process by their settings, and each test has its own database.
                                      "shop_name": f"Demo Shop {mailbox_user}"})
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="W-TEE-S", cost="4.50"))
        session.add(ProductMapping(shop_domain=SHOP, sku="MUG-WHT", supplier_id=supplier.id, supplier_sku="W-MUG", cost="3.25"))
        supplier_id = supplier.id
    headers = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY, ttl=600)}"}
    client = app.test_client()
    answer = client.put(f"/api/suppliers/{supplier_id}/mailbox", headers=headers, json={
        "host": "127.0.0.1", "port": imap_server.port, "security": "none", "username": mailbox_user, "password": imap_server.password,
        "processed_folder": "Processed", "poll_minutes": 1})
    assert answer.status_code == 200, answer.get_json()
    yield app, sandbox_shopify, smtp, imap_server, mailbox_user, supplier_id, headers
    server.shutdown()


def deliveries(app) -> list[SupplierOrder]:
    with app.extensions["services"].session_factory() as session:
        rows = session.query(SupplierOrder).order_by(SupplierOrder.id).all()
        for row in rows:
            row.lines  # noqa: B018 - load before the session closes
        return rows


def order_forwarded(app, shopify):
    """A paid order in Shopify, taken in by the app and mailed to the supplier as a PO: (order, delivery)."""
    services = app.extensions["services"]
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    InboxWorker(services.session_factory, services.settings, services).drain()
    ForwardingWorker(services.session_factory, services.box).drain()
    [delivery] = deliveries(app)
    return order, delivery


def run_job(app, name):
    [job] = [fn for job_id, _, fn in PERIODIC_JOBS if job_id == name]
    return job(app.extensions["services"])


def make_mailbox_due(app):
    from shopify_app.models import utcnow

    with app.extensions["services"].session_factory.begin() as session:
        for mailbox in session.query(EmailMailbox):
            mailbox.next_poll_at = utcnow()


def shopify_order(shopify, order_gid):
    query = """query($id: ID!) { order(id: $id) { displayFulfillmentStatus fulfillments { trackingInfo { number company } fulfillmentLineItems(first: 10) { nodes { quantity lineItem { sku } } } } } }"""
    token = shopify.issue_access_token(SHOP, API_KEY)["access_token"]
    response = shopify.http_client().post(f"https://{SHOP}/admin/api/2026-10/graphql.json", json={"query": query, "variables": {"id": order_gid}}, headers={"X-Shopify-Access-Token": token})
    return response.json()["data"]["order"]


def test_a_reply_with_tracking_in_its_text_becomes_a_shopify_fulfillment_with_no_hand_work(world):
    from pypdf import PdfReader

    app, shopify, smtp, imap, user, supplier_id, headers = world
    services = app.extensions["services"]
    order, delivery = order_forwarded(app, shopify)
    assert delivery.state == "placed"
    [po_mail] = smtp.mail
    po_number = po_mail.po_number
    assert po_number == delivery.idempotency_key == delivery.supplier_order_id

    # The PO carries unit costs, line totals, the total and the currency, in the CSV, the text and a PDF copy.
    import csv
    rows = list(csv.DictReader(io.StringIO(po_mail.attachment()[1])))
    assert [(r["sku"], r["quantity"], r["unit_cost"], r["line_total"], r["currency"]) for r in rows] == [
        ("W-TEE-S", "2", "4.50", "9.00", "EUR"), ("W-MUG", "1", "3.25", "3.25", "EUR")]
    assert "Total: 12.25 EUR" in po_mail.message.get_body(("plain",)).get_content()
    name, pdf = po_mail.pdf_attachment()
    assert name.endswith(".pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert po_number in text and "W-TEE-S" in text and "4.50" in text and "9.00" in text and "Total: 12.25 EUR" in text

    # The supplier answers under our PO, tracking in the text; the PO's own words are quoted below.
    imap.deliver(user, reply_email(subject=f"Re: {po_mail.message['Subject']}", in_reply_to=po_mail.message["Message-ID"],
                                   body=f"Hi,\n\nall packed and sent today with UPS, tracking {UPS_NUMBER}.\n\nRegards\n\n> please ship purchase order {po_number}\n"))
    make_mailbox_due(app)
    assert run_job(app, "email-replies") == 1

    status = shopify_order(shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    [fulfillment] = status["fulfillments"]
    assert fulfillment["trackingInfo"] == [{"number": UPS_NUMBER, "company": "UPS"}]
    assert sorted((n["lineItem"]["sku"], n["quantity"]) for n in fulfillment["fulfillmentLineItems"]["nodes"]) == [("MUG-WHT", 1), ("TEE-S", 2)]
    [delivery] = deliveries(app)
    assert delivery.state == "shipped"

    # The reply was moved to the processed folder, marked read, and reported row by row through the API.
    assert imap.flags(user) == {}
    assert ["\\Seen" in flags for flags in imap.flags(user, "Processed").values()] == [True]
    listed = app.test_client().get(f"/api/suppliers/{supplier_id}/tracking-imports", headers=headers).get_json()["tracking_imports"]
    assert [(run["source"], run["counts"]["applied"]) for run in listed] == [("email", 1)]
    report = app.test_client().get(f"/api/tracking-imports/{listed[0]['id']}", headers=headers).get_json()["tracking_import"]
    assert [(r["source"], r["outcome"], r["carrier"], r["tracking_number"], r["po_number"]) for r in report["rows"]] == [("text", "applied", "UPS", UPS_NUMBER, po_number)]

    # The same reply again (the supplier's client sent it twice): reported as a duplicate, nothing new in Shopify.
    imap.deliver(user, reply_email(subject=f"Re: {po_mail.message['Subject']}", in_reply_to=po_mail.message["Message-ID"], body=f"Sent: UPS {UPS_NUMBER}"))
    make_mailbox_due(app)
    run_job(app, "email-replies")
    assert len(shopify_order(shopify, order["id"])["fulfillments"]) == 1
    with services.session_factory() as session:
        last = session.query(TrackingImportRun).order_by(TrackingImportRun.id.desc()).first()
        assert (last.applied, last.duplicate) == (0, 1)


def test_a_tracking_file_by_email_ships_part_and_an_uploaded_xlsx_ships_the_rest(world):
    app, shopify, smtp, imap, user, supplier_id, headers = world
    services = app.extensions["services"]
    order, delivery = order_forwarded(app, shopify)
    [po_mail] = smtp.mail
    tee_line = next(str(line.id) for line in delivery.lines if line.supplier_sku == "W-TEE-S")
    po_number = po_mail.po_number

    # A reply with no PO in its subject: the CSV names the PO; one row is for a PO we never sent.
    csv_text = ("po_number,line_ref,quantity,carrier,tracking_number\r\n"
                f"{po_number},{tee_line},2,DHL,JJD000390007839912345\r\n"
                "PO-NOT-OURS,1,1,DHL,JJD000390007839999999\r\n")
    imap.deliver(user, reply_email(subject="Tracking for today", body="See attached.", attachments=[("tracking.csv", csv_text.encode(), ("text", "csv"))]))
    make_mailbox_due(app)
    run_job(app, "email-replies")
    status = shopify_order(shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    with services.session_factory() as session:
        run = session.query(TrackingImportRun).one()
        assert [(row["row"], row["outcome"]) for row in run.rows] == [(2, "applied"), (3, "unknown_po")]

    # The merchant uploads the supplier's spreadsheet for the mug (by SKU).
    workbook = xlsx_bytes([["PO Number", "SKU", "Quantity", "Carrier", "Tracking Number"], [po_number, "W-MUG", 1, "InPost", "620123456789012345678901"]])
    answer = app.test_client().post(f"/api/suppliers/{supplier_id}/tracking-imports?filename=mugs.xlsx", data=workbook,
                                    headers={**headers, "Content-Type": "/".join(XLSX_TYPE)})
    assert answer.status_code == 201, answer.get_json()
    uploaded = answer.get_json()["tracking_import"]
    assert uploaded["counts"] == {"applied": 1, "duplicate": 0, "unknown_po": 0, "unreadable": 0}
    status = shopify_order(shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    assert sorted(t["number"] for f in status["fulfillments"] for t in f["trackingInfo"]) == ["620123456789012345678901", "JJD000390007839912345"]
    # The same file again: every row a duplicate.
    again = app.test_client().post(f"/api/suppliers/{supplier_id}/tracking-imports", data=workbook, headers={**headers, "Content-Type": "application/octet-stream"})
    assert again.get_json()["tracking_import"]["counts"]["duplicate"] == 1
    assert len(shopify_order(shopify, order["id"])["fulfillments"]) == 2
