"""Issue 12, item 3: no network call inside a write transaction.

A supplier that hangs for shop A must not stop shop B: the inbox pump calls it with no
write transaction open, so shop B's webhooks are taken (200, committed) and its API
writes go through while shop A's call is still hanging. Before the fix the handler held
SQLite's write lock for the whole call and shop B's requests waited for busy_timeout.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET, install_shop, sample, webhook_headers
from sandbox.supplier.rest_webhooks import sign as sign_supplier_webhook
from scheduler.pump import Pump
from shopify_app.db import make_engine, make_session_factory, read_only
from shopify_app.models import InboxStatus, WebhookDelivery
from shopify_app.orders.models import Order
from shopify_app.suppliers.models import DeliveryState, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker
from shopify_app.write_transactions import holds_write_transaction

SHOP_A, SHOP_B = "hanging-supplier.myshopify.com", "bystander.myshopify.com"
SUPPLIER_SECRET = "whsec-hanging-0123456789"
CLIENT_TIMEOUT = 5.0  # under SQLite's busy_timeout (10 s): a request that waited for the write lock fails


class HangingSupplier:
    """A supplier API on 127.0.0.1 whose every answer waits until the test releases it."""

    def __init__(self):
        self.arrived, self.release = threading.Event(), threading.Event()
        self.in_flight = 0
        supplier = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                supplier.in_flight += 1
                supplier.arrived.set()
                supplier.release.wait(40)
                supplier.in_flight -= 1
                body = b'{"error": "try later"}'
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def hanging_supplier():
    supplier = HangingSupplier()
    yield supplier
    supplier.stop()


def session_token(shop: str) -> str:
    now = int(time.time())
    claims = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": API_KEY, "sub": "1", "exp": now + 60, "nbf": now - 1,
              "iat": now, "jti": str(uuid.uuid4()), "sid": uuid.uuid4().hex}
    return jwt.encode(claims, API_SECRET, algorithm="HS256")


def shop_a_shipment_awaiting_itemisation(services, base_url: str) -> int:
    """Shop A: a REST supplier at `base_url` and a placed supplier order whose parcel the supplier will not itemise."""
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP_A, name="Slow supplier", kind="rest",
                            settings={"preset": "sandbox-rest", "base_url": base_url, "timeout_seconds": 30},
                            credentials_enc=services.box.encrypt(json.dumps({"api_key": "k", "webhook_secret": SUPPLIER_SECRET})))
        order = Order(shop_domain=SHOP_A, shopify_id="9001", name="#A1", financial_status="paid")
        session.add_all([supplier, order])
        session.flush()
        session.add(SupplierOrder(shop_domain=SHOP_A, order_id=order.id, supplier_id=supplier.id, idempotency_key="so-a-1",
                                  state=DeliveryState.PLACED.value, supplier_order_id="5"))
        return supplier.id


def test_a_hanging_supplier_for_one_shop_never_blocks_another_shops_webhooks_or_api(app_factory, sqlite_url, hanging_supplier):
    app = app_factory(sqlite_url)
    services = app.extensions["services"]
    install_shop(app, SHOP_A, SHOP_B)
    supplier_id = shop_a_shipment_awaiting_itemisation(services, hanging_supplier.url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    pump = Pump("inbox-pump", InboxWorker(services.session_factory, services.settings, services).drain, services.inbox_wakeup, poll_seconds=0.2)
    pump.start()
    try:
        # Shop A's supplier says "shipped" without itemising: the handler asks it for the parcels.
        event = json.dumps({"id": "evt_1", "type": "order.shipped", "order": {"id": 5, "reference": "so-a-1", "status": "shipped"},
                            "shipment": {"id": "shp_5_1", "carrier": "DHL", "tracking": {"number": "JD0001"}}}).encode()
        answer = httpx.post(f"{base}/suppliers/{supplier_id}/webhooks", content=event, timeout=CLIENT_TIMEOUT,
                            headers={"X-Signature": sign_supplier_webhook(event, SUPPLIER_SECRET), "Content-Type": "application/json"})
        assert answer.status_code == 200
        assert hanging_supplier.arrived.wait(10), "the inbox pump never called shop A's supplier"

        # While that call hangs: shop B's webhooks are taken and committed, its API writes succeed.
        with httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT) as client:
            statuses = []
            for _ in range(5):
                body = sample("orders_create")
                statuses.append(client.post("/webhooks", content=body, headers=webhook_headers("orders/create", body, shop=SHOP_B)).status_code)
            policy = client.put("/api/settings/return-policy", json={"window_days": 45}, headers={"Authorization": f"Bearer {session_token(SHOP_B)}"})
            listed = client.get("/api/returns", headers={"Authorization": f"Bearer {session_token(SHOP_B)}"})
        assert statuses == [200] * 5
        assert (policy.status_code, listed.status_code) == (200, 200)
        with services.session_factory() as session:
            committed = session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.shop_domain == SHOP_B))
        assert committed == 5
        assert hanging_supplier.in_flight == 1 and not hanging_supplier.release.is_set()  # shop A's call was still hanging throughout
    finally:
        hanging_supplier.release.set()

    # Released: the pump carries on and handles shop B's deliveries (shop A's is retried later).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with services.session_factory() as session:
            done = session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.shop_domain == SHOP_B, WebhookDelivery.status == InboxStatus.DONE.value))
        if done == 5:
            break
        services.inbox_wakeup.set()
        time.sleep(0.1)
    pump.stop()
    server.shutdown()
    assert done == 5
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Order).where(Order.shop_domain == SHOP_B)) == 1
        shop_a = session.scalar(select(WebhookDelivery).where(WebhookDelivery.shop_domain == SHOP_A))
        assert shop_a.status == InboxStatus.PENDING.value and shop_a.attempts >= 1 and shop_a.last_error  # retried later, not lost


def test_the_tracker_knows_sqlite_immediate_transactions_and_postgres_writes(database_url):
    factory = make_session_factory(make_engine(database_url))
    assert not holds_write_transaction()
    with factory.begin() as session:
        session.execute(select(1))
        # SQLite's BEGIN IMMEDIATE holds the write lock from the start; on PostgreSQL a transaction writes once it wrote.
        assert holds_write_transaction() is (factory.kw["bind"].dialect.name == "sqlite")
        session.add(Order(shop_domain=SHOP_A, shopify_id="1"))
        session.flush()
        assert holds_write_transaction()
    assert not holds_write_transaction()
    with read_only(factory)() as session:
        session.execute(select(1))
        assert not holds_write_transaction()
    seen = []
    with factory.begin() as session:
        session.add(Order(shop_domain=SHOP_A, shopify_id="2"))
        session.flush()
        other = threading.Thread(target=lambda: seen.append(holds_write_transaction()))
        other.start()
        other.join()
    assert seen == [False]  # per thread: another thread's transaction is not ours


def test_the_guard_reports_an_outbound_call_inside_a_write_transaction(sqlite_url, no_network_in_write_transactions, hanging_supplier):
    hanging_supplier.release.set()
    guard = no_network_in_write_transactions  # the suite's autouse guard
    factory = make_session_factory(make_engine(sqlite_url))
    with factory.begin() as session:
        session.execute(select(1))
        httpx.get(hanging_supplier.url, timeout=5)
    assert len(guard.violations) == 1 and "HTTP request started inside a write transaction" in guard.violations[0]
    httpx.get(hanging_supplier.url, timeout=5)  # outside: fine
    assert len(guard.violations) == 1
    guard.violations.clear()  # this test's own violation is the subject, not a failure


def test_every_outbound_path_we_call_from_jobs_and_handlers_has_a_finite_timeout(app_factory, sqlite_url):
    """Shopify (gateway and token refresh share this client) and SMTP never wait forever."""
    from shopify_app.notify.email import SmtpSettings

    services = app_factory(sqlite_url).extensions["services"]
    timeout = services.http_client.timeout
    assert all(value is not None and 0 < value <= 30 for value in (timeout.connect, timeout.read, timeout.write, timeout.pool))
    assert services.tokens.http_client is services.http_client
    assert 0 < SmtpSettings(host="127.0.0.1").timeout <= 30
