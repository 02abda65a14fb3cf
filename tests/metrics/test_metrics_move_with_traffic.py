"""Real traffic moves every figure on /metrics: webhooks from the sandbox Shopify into the app over
HTTP, orders forwarded to the Printful sandbox (ok and 5xx) and its shipping webhook back, GraphQL
through the real gateway, a job run, dead letters, alerts and a breaker that opens. Scrapes before and after, parsed with
prometheus_client's parser.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import threading

import httpx
import pytest
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET, webhook_headers
from orders.forwarding_kit import SHOP, add_printful_supplier, deliveries, make_due
from metrics_kit import TOKEN, scrape, total, value
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.alerts import raise_alert
from shopify_app.jobs.claims import run_claimed
from shopify_app.suppliers.forwarding import CircuitBreaker, ForwardingWorker
from shopify_app.suppliers.models import Supplier
from shopify_app.webhooks.worker import InboxWorker

TOPICS = ["orders/create", "orders/paid", "orders/updated"]


@pytest.fixture
def served(app_factory, database_url, sandbox_shopify):
    """The app on a real loopback port (metrics token set), the sandbox Shopify sending it webhooks, a Printful sandbox."""
    from shopify_app.metrics import breakers

    # Supplier ids restart at 1 in each database: forget breakers an earlier test left in this process.
    breakers._watched.clear()
    breakers._ever_tripped.clear()
    breakers.SUPPLIER_BREAKER_STATE.clear()
    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url, metrics_token=TOKEN)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    services = app.extensions["services"]
    services.settings = dataclasses.replace(services.settings, app_url=url)
    sandbox_shopify.register_app(API_KEY, API_SECRET, url, webhook_topics=TOPICS)
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, None)
    supplier = SandboxSupplier()
    supplier.start()
    yield app, url, supplier
    supplier.stop()
    server.shutdown()


def drain_inbox(services):
    return InboxWorker(services.session_factory, services.settings, services).drain()


def test_every_figure_moves_with_real_traffic(served, sandbox_shopify):
    app, url, supplier = served
    services = app.extensions["services"]
    supplier_id = str(add_printful_supplier(app, supplier, skus=("TEE-S", "MUG-WHT")))
    secret = supplier.configure_webhooks(f"{url}/suppliers/{supplier_id}/webhooks").secret_key
    with services.session_factory.begin() as session:
        session.get(Supplier, int(supplier_id)).credentials_enc = services.box.encrypt(json.dumps({"token": supplier.token, "webhook_secret_key": secret}))
    before = scrape(url)
    assert value(before, "dropship_database_up") == 1

    # Webhooks: Shopify delivers orders/create and orders/paid to /webhooks over HTTP.
    sandbox_shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")
    queued = scrape(url)
    assert total(queued, "dropship_webhooks_received_total", topic="orders/paid", outcome="new") == total(before, "dropship_webhooks_received_total", topic="orders/paid", outcome="new") + 1
    assert value(queued, "dropship_webhook_intake_seconds_count", topic="orders/paid") == value(before, "dropship_webhook_intake_seconds_count", topic="orders/paid") + 1
    assert value(queued, "dropship_inbox_rows", status="pending") >= 2
    assert value(queued, "dropship_inbox_oldest_pending_age_seconds") >= 0

    # A replay of the same delivery is counted as such; an unsigned one as refused, without its topic.
    body = b'{"id": 1}'
    headers = webhook_headers("orders/paid", body, shop=SHOP)
    for _ in range(2):
        assert httpx.post(f"{url}/webhooks", content=body, headers=headers).status_code == 200
    assert httpx.post(f"{url}/webhooks", content=body, headers=headers | {"X-Shopify-Hmac-Sha256": "forged", "X-Shopify-Topic": "made/up"}).status_code == 401

    # Poison input becomes a dead letter.
    poison = b"not json"
    assert httpx.post(f"{url}/webhooks", content=poison, headers=webhook_headers("orders/updated", poison, shop=SHOP)).status_code == 200
    drain_inbox(services)  # routing reads fulfillment orders from Shopify over GraphQL
    routed = scrape(url)
    assert value(routed, "dropship_webhooks_received_total", topic="orders/paid", outcome="replay") == value(before, "dropship_webhooks_received_total", topic="orders/paid", outcome="replay") + 1
    assert value(routed, "dropship_webhooks_received_total", topic="unverified", outcome="401") == value(before, "dropship_webhooks_received_total", topic="unverified", outcome="401") + 1
    assert not any(("topic", "made/up") in labels for _, labels in routed)
    assert value(routed, "dropship_inbox_dead_letters") >= value(before, "dropship_inbox_dead_letters") + 1
    assert value(routed, "dropship_inbox_rows", status="pending") < value(queued, "dropship_inbox_rows", status="pending") + 2
    assert total(routed, "dropship_shopify_graphql_requests_total", outcome="ok") > total(before, "dropship_shopify_graphql_requests_total", outcome="ok")
    assert value(routed, "dropship_shopify_graphql_cost_points_total", shop=SHOP, kind="actual") > value(before, "dropship_shopify_graphql_cost_points_total", shop=SHOP, kind="actual")
    assert value(routed, "dropship_supplier_orders_waiting", state="pending") == 1
    assert value(routed, "dropship_supplier_orders_due") == 1

    # Forwarding: placed at the Printful sandbox through the real adapter.
    ForwardingWorker(services.session_factory, services.box, rng=random.Random(0)).drain()
    forwarded = scrape(url)
    assert value(forwarded, "dropship_supplier_calls_total", kind="printful", operation="place_order", outcome="ok") == value(routed, "dropship_supplier_calls_total", kind="printful", operation="place_order", outcome="ok") + 1
    assert value(forwarded, "dropship_supplier_call_seconds_count", kind="printful", operation="place_order") > value(routed, "dropship_supplier_call_seconds_count", kind="printful", operation="place_order")
    assert value(forwarded, "dropship_supplier_orders_waiting", state="pending") == 0
    assert value(forwarded, "dropship_supplier_orders_due") == 0

    # The supplier ships: its signed webhook comes in through the suppliers' door into the inbox.
    [placed] = deliveries(app)
    supplier.ship(placed.supplier_order_id, tracking_number="1ZMETRICS", carrier="UPS")
    assert supplier.flush_webhooks()
    shipped = scrape(url)
    assert value(shipped, "dropship_webhooks_received_total", topic="supplier/event", outcome="recorded") > value(forwarded, "dropship_webhooks_received_total", topic="supplier/event", outcome="recorded")
    assert value(shipped, "dropship_webhook_intake_seconds_count", topic="supplier/event") > value(forwarded, "dropship_webhook_intake_seconds_count", topic="supplier/event")

    # A flaky supplier: 5xx are transient outcomes, and two failures out of two open this breaker.
    sandbox_shopify.place_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    drain_inbox(services)
    supplier.fail_next(503, count=10)
    flaky = ForwardingWorker(services.session_factory, services.box, rng=random.Random(0), breaker=CircuitBreaker(window=2, open_ratio=1.0, cooldown=300))
    flaky.drain()
    make_due(app)
    flaky.drain()
    failing = scrape(url)
    assert total(failing, "dropship_supplier_calls_total", kind="printful", outcome="transient") >= total(forwarded, "dropship_supplier_calls_total", kind="printful", outcome="transient") + 2
    assert value(forwarded, "dropship_supplier_breaker_state", supplier_id=supplier_id, state="open") == 0
    assert value(failing, "dropship_supplier_breaker_state", supplier_id=supplier_id, state="open") == 1
    assert value(failing, "dropship_supplier_breaker_state", supplier_id=supplier_id, state="closed") == 0
    assert value(failing, "dropship_supplier_orders_waiting", state="unknown") == 1

    # A job run through the one clock, and an alert.
    run_claimed(services.session_factory, "purge-inbox", dt.timedelta(hours=6), lambda s: None, services)
    with services.session_factory.begin() as session:
        raise_alert(session, SHOP, "supplier_unreachable", "metrics-test", "Supplier unreachable", severity="critical")
    later = scrape(url)
    assert value(later, "dropship_job_runs_total", job="purge-inbox", status="done") == value(failing, "dropship_job_runs_total", job="purge-inbox", status="done") + 1
    assert value(later, "dropship_job_duration_seconds_count", job="purge-inbox") == value(failing, "dropship_job_duration_seconds_count", job="purge-inbox") + 1
    assert value(later, "dropship_job_start_lag_seconds_count", job="purge-inbox") == value(failing, "dropship_job_start_lag_seconds_count", job="purge-inbox") + 1
    assert value(later, "dropship_job_last_success_timestamp_seconds", job="purge-inbox") > value(failing, "dropship_job_last_success_timestamp_seconds", job="purge-inbox")
    assert value(later, "dropship_job_interval_seconds", job="purge-inbox") == 6 * 3600
    assert value(later, "dropship_alerts_open", kind="supplier_unreachable", severity="critical") == value(failing, "dropship_alerts_open", kind="supplier_unreachable", severity="critical") + 1

    # Nothing personal or secret reaches a label: the buyer, the supplier's name and tokens, the shop's token.
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    for secret in ["buyer@example.com", supplier.token, '"Printful"', services.tokens.access_token(SHOP), TOKEN, "metrics-test", "Supplier unreachable"]:
        assert secret not in text
