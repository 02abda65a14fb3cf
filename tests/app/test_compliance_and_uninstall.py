"""Compliance topics and app/uninstalled, end to end through intake and the worker (SQLite and PG)."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from conftest import API_KEY, sample, sample_json, webhook_headers
from shopify_app.models import ComplianceExport, ComplianceLog, Shop, ShopToken, WebhookDelivery
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"


@pytest.fixture
def app(app_factory, database_url):
    app = app_factory(database_url)
    services = app.extensions["services"]
    services.tokens.save(SHOP, "shpat_secret_value", "shprt_refresh", None, None, "read_orders")
    return app


def deliver(app, topic, payload, shop=SHOP):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=shop)).status_code == 200


def drain(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def wait_until_handled(services, topic, timeout=10.0):
    """Poll until the pump has taken the topic's delivery out of 'pending'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with services.session_factory() as session:
            status = session.scalar(select(WebhookDelivery.status).where(WebhookDelivery.topic == topic))
        if status not in (None, "pending"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"{topic} still pending after {timeout}s")


def other_customers_order():
    order = sample_json("orders_create")
    order["id"] = 555
    order["admin_graphql_api_id"] = "gid://shopify/Order/555"
    order["email"] = order["contact_email"] = "someone.else@example.org"
    order["customer"] = {"id": 777, "email": "someone.else@example.org", "first_name": "Ann", "last_name": "Other"}
    return order


def test_data_request_exports_what_we_hold_on_that_customer_only(app):
    deliver(app, "orders/create", sample("orders_create"))  # customer john@example.com
    deliver(app, "orders/create", other_customers_order())
    deliver(app, "customers/data_request", sample_json("customers_data_request"))
    assert drain(app).done == 3
    with app.extensions["services"].session_factory() as session:
        export = session.scalars(select(ComplianceExport)).one()
        log = session.scalars(select(ComplianceLog)).one()
    assert export.customer_id == "191167" and export.data_request_id == "9999"
    held = export.export["tables"]["webhook_inbox"]
    assert len(held) == 1  # john's order webhook, not the other customer's (same shipping address in the sample)
    assert held[0]["found"]["body.customer.email"] == "john@example.com"
    assert "someone.else@example.org" not in json.dumps(export.export)
    assert [o["email"] for o in export.export["sources"]["orders"]] == ["jon@example.com"]
    assert log.detail == {"sources": {"cases": 0, "compliance_exports": 0, "notices": 0, "orders": 1, "po_batches_waiting": 0, "returns": 0}, "tables": {"orders": 1, "webhook_inbox": 1}, "files": 0}
    assert "john@example.com" not in json.dumps(log.detail)
    with app.extensions["services"].session_factory() as session:
        request_body = session.scalar(select(WebhookDelivery.body).where(WebhookDelivery.topic == "customers/data_request"))
    assert "john@example.com" not in request_body and "555-625-1199" not in request_body  # handled: only ids remain
    assert json.loads(request_body)["customer"]["id"] == 191167


def test_customer_redact_erases_personal_data_and_keeps_others(app):
    deliver(app, "orders/create", sample("orders_create"))
    deliver(app, "orders/create", other_customers_order())
    deliver(app, "customers/redact", sample_json("customers_redact"))
    assert drain(app).done == 3
    with app.extensions["services"].session_factory() as session:
        bodies = [json.loads(r.body) for r in session.scalars(select(WebhookDelivery).where(WebhookDelivery.topic == "orders/create").order_by(WebhookDelivery.id))]
    johns, others = bodies
    text = json.dumps(johns)
    for personal in ("john@example.com", "jon@example.com", "123 Shipping Street", "555-625-1199", "Shipping City"):
        assert personal not in text
    assert johns["id"] == json.loads(sample("orders_create"))["id"]  # ids and amounts kept
    assert johns["total_price"] == json.loads(sample("orders_create"))["total_price"]
    assert others["customer"]["email"] == "someone.else@example.org"
    from shopify_app.orders.models import Order

    with app.extensions["services"].session_factory() as session:
        orders = {o.shopify_id: o for o in session.scalars(select(Order))}
    redacted = orders["820982911946154508"]
    assert redacted.email is None and "123 Shipping Street" not in json.dumps(redacted.shipping_address)
    assert orders["555"].email == "someone.else@example.org"


def test_shop_redact_erases_everything_of_the_shop(app):
    deliver(app, "orders/create", sample("orders_create"))
    deliver(app, "orders/create", sample("orders_create"), shop="other.myshopify.com")
    deliver(app, "shop/redact", sample_json("shop_redact"))
    drain(app)
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(Shop).where(Shop.domain == SHOP)) is None
        assert session.scalar(select(func.count()).select_from(ShopToken)) == 0
        left = session.execute(select(WebhookDelivery.shop_domain, WebhookDelivery.topic).order_by(WebhookDelivery.id)).all()
    assert left == [("other.myshopify.com", "orders/create"), (SHOP, "shop/redact")]


def test_compliance_topics_answer_401_to_a_bad_hmac(app):
    body = sample("customers_redact")
    for topic in ("customers/data_request", "customers/redact", "shop/redact"):
        headers = webhook_headers(topic, body, secret="forged")
        assert app.test_client().post("/webhooks", data=body, headers=headers).status_code == 401


def test_app_uninstalled_deletes_tokens_and_stops_shop_jobs(app_factory, database_url):
    from scheduler.embedded import EmbeddedScheduler

    app = app_factory(database_url)
    services = app.extensions["services"]
    services.tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    services.scheduler = EmbeddedScheduler(services)
    services.scheduler.start()
    # Its per-shop units: those of every installed shop, and its profile (never read); no token due, no supplier feeding stock.
    assert sorted(services.scheduler.shop_job_ids(SHOP)) == [f"kpi-check:{SHOP}", f"kpi-snapshots:{SHOP}", f"reconcile:{SHOP}", f"shop-profile:{SHOP}", f"state-recount:{SHOP}"]
    deliver(app, "app/uninstalled", sample("app_uninstalled"))
    wait_until_handled(services, "app/uninstalled")  # the scheduler's inbox pump does it
    with services.session_factory() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        assert shop.status == "uninstalled" and shop.uninstalled_at is not None
        assert session.scalar(select(func.count()).select_from(ShopToken)) == 0
        assert session.scalar(select(WebhookDelivery.status)) == "done"
    assert services.scheduler.shop_job_ids(SHOP) == []
    assert services.tokens.has_usable_token(SHOP) is False
    # Later order webhooks for the uninstalled shop are recorded but not acted on: they wait for a reinstall.
    deliver(app, "orders/create", sample("orders_create"))
    wait_until_handled(services, "orders/create")
    with services.session_factory() as session:
        assert session.scalar(select(WebhookDelivery.status).where(WebhookDelivery.topic == "orders/create")) == "waiting"


def test_the_shop_profile_job_runs_at_install_then_daily(app_factory, sqlite_url, sandbox_shopify):
    # Pages read only the stored profile; the scheduler reads it from Shopify right after install.
    import datetime as dt

    from scheduler.embedded import EmbeddedScheduler
    from shopify_app.shop_profile import MAX_AGE

    app = app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url)
    services = app.extensions["services"]
    token = sandbox_shopify.issue_access_token(SHOP, API_KEY)  # installed with a token the sandbox Shopify accepts
    services.tokens.save(SHOP, token["access_token"], None, None, None, token.get("scope"))
    services.scheduler = EmbeddedScheduler(services)
    services.scheduler.start()
    try:
        [job] = [job for job in services.scheduler.shop_jobs.jobs if job.name == "shop-profile"]
        assert job.interval <= MAX_AGE  # retried within the day; read only when missing or a day old
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while dt.datetime.now() < deadline:
            with services.session_factory() as session:
                if session.scalar(select(Shop.profile_refreshed_at).where(Shop.domain == SHOP)) is not None:
                    break
            time.sleep(0.05)
        with services.session_factory() as session:
            shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
            assert shop.profile_refreshed_at is not None and shop.currency_code == "USD"
        assert f"shop-profile:{SHOP}" not in services.scheduler.shop_job_ids(SHOP)  # fresh: no work until it is a day old
    finally:
        services.scheduler.shutdown()
