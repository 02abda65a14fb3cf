"""Install order: webhooks that arrive before a shop's install completes wait and are processed when it does;
a shop that never completes it is bounded; at install the recent orders are backfilled (bulk for a large shop).
"""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import select, update
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET, webhook_headers
from shopify_app.models import Shop, WebhookDelivery
from shopify_app.orders import backfill as backfill_module
from shopify_app.orders.backfill import run_install_backfills
from shopify_app.orders.models import InstallBackfill, Order
from shopify_app.suppliers.models import Alert
from shopify_app.webhooks import inbox
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"
STRANGER = "stranger.myshopify.com"
ORDER_TOPICS = ["orders/create", "orders/paid", "orders/updated"]


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    """The app served over HTTP and registered with the sandbox, which sends it order webhooks; the shop is NOT installed yet."""
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=ORDER_TOPICS)
    yield sandboxed_app, sandbox_shopify
    server.shutdown()


def drain(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def statuses(app, shop=SHOP) -> list[str]:
    with app.extensions["services"].session_factory() as session:
        return list(session.scalars(select(WebhookDelivery.status).where(WebhookDelivery.shop_domain == shop).order_by(WebhookDelivery.id)))


def orders_of(app) -> dict[str, Order]:
    with app.extensions["services"].session_factory() as session:
        rows = session.scalars(select(Order).where(Order.shop_domain == SHOP)).all()
        for row in rows:
            row.lines  # noqa: B018
        return {row.name: row for row in rows}


def open_app_home(app, sandbox):
    """The merchant opens the app in the admin: the session token is exchanged and the install completes."""
    token = sandbox.mint_session_token(SHOP, API_KEY)
    assert app.test_client().get(f"/?shop={SHOP}&host=abc&embedded=1&id_token={token}").status_code == 200


def test_a_webhook_before_install_waits_and_is_processed_when_the_install_completes(world):
    app, shopify = world
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}], email="first@example.com")  # orders/create + orders/paid
    report = drain(app)
    assert (report.waiting, report.done, report.ignored) == (2, 0, 0)
    assert statuses(app) == ["waiting", "waiting"] and orders_of(app) == {}
    assert drain(app).handled == 0  # waiting rows are not retried (no attempts spent)

    open_app_home(app, shopify)  # the install completes through token exchange
    assert statuses(app) == ["pending", "pending"]
    report = drain(app)
    assert report.done == 2
    assert statuses(app) == ["done", "done"]
    kept = orders_of(app)[order["name"]]
    assert [(line.sku, line.quantity) for line in kept.lines] == [("TEE-S", 2)]
    with app.extensions["services"].session_factory() as session:
        armed = session.scalar(select(InstallBackfill).where(InstallBackfill.shop_domain == SHOP))
        assert (armed.status, armed.window_days) == ("pending", 30)


def test_a_strangers_flood_is_bounded_per_shop_and_dropped_after_a_while(app_factory, database_url, monkeypatch):
    monkeypatch.setattr(inbox, "MAX_WAITING_PER_SHOP", 5)
    app = app_factory(database_url)
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    for n in range(8):
        body = json.dumps({"id": n, "note": "x" * 1000}).encode()
        assert app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/updated", body, shop=STRANGER)).status_code == 200
    report = drain(app)
    assert (report.waiting, report.ignored) == (5, 3)
    with app.extensions["services"].session_factory() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.shop_domain == STRANGER).order_by(WebhookDelivery.id)).all()
        assert [r.status for r in rows] == ["waiting"] * 5 + ["ignored"] * 3
        assert all(r.body == "" and "dropped" in r.last_error for r in rows[5:])  # the bodies are gone: the disk is bounded
    # Another shop's deliveries are not held back by the stranger's queue.
    body = json.dumps({"id": 99}).encode()
    app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/updated", body, shop="other.myshopify.com"))
    assert drain(app).waiting == 1

    # A week later the stranger never completed the install: its waiting deliveries are dropped too.
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.shop_domain == STRANGER)
                        .values(received_at=dt.datetime.now(dt.timezone.utc) - inbox.WAITING_TTL - dt.timedelta(minutes=1)))
        assert inbox.expire_waiting_deliveries(session) == 5
    assert statuses(app, STRANGER) == ["ignored"] * 8
    assert statuses(app, "other.myshopify.com") == ["waiting"]


def test_an_uninstall_before_the_install_completed_drops_what_waited_for_it(world):
    app, shopify = world
    services = app.extensions["services"]
    shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}])
    drain(app)
    body = json.dumps({"id": 1, "domain": SHOP}).encode()
    app.test_client().post("/webhooks", data=body, headers=webhook_headers("app/uninstalled", body, shop=SHOP))
    assert drain(app).ignored == 1
    assert statuses(app) == ["ignored"] * 3  # the orders' deliveries too: a later install must not replay them (nor the uninstall)
    open_app_home(app, shopify)  # the merchant installs again and opens the app
    assert drain(app).handled == 0
    with services.session_factory() as session:
        assert session.scalar(select(Shop.status).where(Shop.domain == SHOP)) == "installed"


def test_after_an_uninstall_new_deliveries_wait_for_the_reinstall(world):
    app, shopify = world
    services = app.extensions["services"]
    open_app_home(app, shopify)
    body = json.dumps({"id": 1, "domain": SHOP}).encode()
    app.test_client().post("/webhooks", data=body, headers=webhook_headers("app/uninstalled", body, shop=SHOP))
    assert drain(app).done == 1
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}])  # Shopify sends again: the app is being reinstalled
    assert drain(app).waiting == 2
    open_app_home(app, shopify)
    assert drain(app).done == 2 and order["name"] in orders_of(app)


def _install(app, shopify, *, scope=None):
    token = shopify.issue_access_token(SHOP, API_KEY)
    app.extensions["services"].tokens.save(SHOP, token["access_token"], None, None, None, scope or token.get("scope"))


def _created_days_ago(shopify, days: int, sku="MUG-WHT") -> dict:
    when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    order = shopify.store.create_order(SHOP, [{"sku": sku, "quantity": 1}], created_at=when)
    shopify.store.update_order(SHOP, order["id"], updatedAt=when)
    return order


def test_install_backfills_the_orders_of_the_window_and_not_older(world):
    app, shopify = world
    recent = _created_days_ago(shopify, 10)
    old = _created_days_ago(shopify, 45)
    _install(app, shopify)
    assert run_install_backfills(app.extensions["services"]) == 1
    kept = orders_of(app)
    assert recent["name"] in kept and old["name"] not in kept  # BACKFILL_DAYS (30) honoured: created 45 days ago is left
    assert [line.sku for line in kept[recent["name"]].lines] == ["MUG-WHT"]
    with app.extensions["services"].session_factory() as session:
        row = session.scalar(select(InstallBackfill))
        assert (row.status, row.method, row.seen, row.total) == ("done", "paged", len(kept), len(kept))
    assert run_install_backfills(app.extensions["services"]) == 0  # done once
    # The merchant's app sees it.
    status = app.test_client().get("/api/shop", headers={"Authorization": f"Bearer {shopify.mint_session_token(SHOP, API_KEY)}"}).get_json()
    assert {k: status["backfill"][k] for k in ("status", "window_days", "method", "seen")} == {"status": "done", "window_days": 30, "method": "paged", "seen": len(kept)}


def test_a_window_past_60_days_without_read_all_orders_is_cut_with_an_alert(world):
    app, shopify = world
    services = app.extensions["services"]
    object.__setattr__(services.settings, "backfill_days", 90)
    within, beyond = _created_days_ago(shopify, 50), _created_days_ago(shopify, 75)
    _install(app, shopify, scope="read_orders,read_products")
    run_install_backfills(services)
    kept = orders_of(app)
    assert within["name"] in kept and beyond["name"] not in kept
    with services.session_factory() as session:
        assert session.scalar(select(Alert.kind).where(Alert.shop_domain == SHOP, Alert.resolved_at.is_(None))) == "backfill_window_cut"


def test_scopes_ask_for_read_all_orders_only_past_60_days():
    from shopify_app.config import load_settings

    base = {"SANDBOX": "1"}
    assert "read_all_orders" not in load_settings(base).scopes.split(",")
    assert "read_all_orders" not in load_settings(base | {"BACKFILL_DAYS": "60"}).scopes.split(",")
    assert "read_all_orders" in load_settings(base | {"BACKFILL_DAYS": "61"}).scopes.split(",")
    from shopify_app.config import ConfigError

    with pytest.raises(ConfigError, match="BACKFILL_DAYS"):
        load_settings(base | {"BACKFILL_DAYS": "-1"})


def test_a_large_shop_is_backfilled_with_one_bulk_operation_joined_by_parent_id(world, monkeypatch):
    app, shopify = world
    services = app.extensions["services"]
    for n in range(12):
        shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1}, {"sku": "MUG-WHT", "quantity": 1 + n % 3}],
                                   discount_code={"code": "TEN", "value": 10, "value_type": "percentage"} if n % 2 else None)
    pages = []
    real_paginate = services.gateway(SHOP).__class__.paginate
    monkeypatch.setattr(services.gateway(SHOP).__class__, "paginate", lambda self, *a, **k: pages.append(a) or real_paginate(self, *a, **k))
    _install(app, shopify)
    assert run_install_backfills(services, bulk_threshold=5, poll_every=0.05) == 1
    assert pages == []  # no OrdersForSync page: one bulk operation read them all
    kept = orders_of(app)
    assert len(kept) == 14  # 12 + the shop's 2 seeded orders
    for n, name in enumerate(sorted(kept)):
        lines = {line.sku: line for line in kept[name].lines}
        assert lines and all(line.price is not None for line in lines.values())
    discounted = [o for o in kept.values() if o.discount_applications]
    assert len(discounted) == 6 and all(o.discount_applications[0]["code"] == "TEN" for o in discounted)
    assert all(sum(float(line.discount or 0) for line in o.lines) > 0 for o in discounted)
    with services.session_factory() as session:
        row = session.scalar(select(InstallBackfill))
        assert (row.status, row.method, row.seen) == ("done", "bulk", 14)


def test_the_cli_backfill_shows_a_progress_bar(world, monkeypatch, capsys, tmp_path):
    from shopify_app import cli

    app, shopify = world
    _install(app, shopify)
    services = app.extensions["services"]
    monkeypatch.setattr("shopify_app.services.build_services", lambda settings: services)
    monkeypatch.setattr(services, "close", lambda: None)
    monkeypatch.setattr(cli, "load_settings", lambda: services.settings)
    assert cli.main(["backfill", "--shop", "demo", "--days", "5", "--bulk"]) == 0
    out, err = capsys.readouterr()
    assert "backfill (bulk): 2 orders read" in out and "2/2" in err and "100%" in err
    assert len(orders_of(app)) == 2


def test_a_failing_backfill_is_retried_then_alerted(world, monkeypatch):
    app, shopify = world
    services = app.extensions["services"]
    _install(app, shopify)

    def broken(*args, **kwargs):
        raise RuntimeError("Shopify unreachable")

    monkeypatch.setattr(backfill_module, "backfill_orders", broken)
    for attempt in range(backfill_module.MAX_ATTEMPTS):
        with services.session_factory.begin() as session:
            session.execute(update(InstallBackfill).values(next_attempt_at=dt.datetime.now(dt.timezone.utc)))
        run_install_backfills(services)
    with services.session_factory() as session:
        row = session.scalar(select(InstallBackfill))
        assert (row.status, row.attempts) == ("failed", backfill_module.MAX_ATTEMPTS) and "unreachable" in row.last_error
        assert session.scalar(select(Alert.kind).where(Alert.resolved_at.is_(None))) == "install_backfill_failed"


def test_an_order_fulfilled_before_the_install_is_imported_as_history_and_never_sent_to_a_supplier(world):
    from forwarding_kit import deliveries
    from shopify_app.orders.models import OrderState
    from shopify_app.suppliers.models import ProductMapping, Supplier

    app, shopify = world
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Main", kind="rest")
        session.add(supplier)
        session.flush()
        session.add_all([ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=supplier.id, supplier_sku=sku) for sku in ("TEE-S", "MUG-WHT", "TEE-M")])
    shipped = shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1}])
    shopify.store.update_order(SHOP, shipped["id"], displayFulfillmentStatus="FULFILLED")
    waiting = shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1}])
    _install(app, shopify)
    run_install_backfills(services)
    kept = orders_of(app)
    assert kept[shipped["name"]].state == OrderState.FULFILLED_BEFORE_INSTALL.value
    assert kept[waiting["name"]].state == OrderState.ROUTED.value  # paid and unfulfilled: handled as its webhook would be
    assert kept[shipped["name"]].id not in {d.order_id for d in deliveries(app)}
