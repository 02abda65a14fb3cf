"""Shopify stops a connection at 25,000 objects (since 2026-01): the sandbox does too, and the
app's listings that can outgrow it go on with a narrower query instead of silently stopping.

The cap is lowered on both sides (sandbox store and gateway) so the tests reach it with a few
dozen orders; the behaviour is the same at 25,000.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

import integrations.shopify.gateway as gateway_module
from conftest import API_KEY
from integrations.shopify.errors import ShopifyError
from gateway_kit import StaticToken
from integrations.shopify.gateway import ShopifyGateway, updated_at_window
from integrations.shopify.pacing import reset_pacing
from shopify_app.orders.models import Order
from shopify_app.reconcile.runner import run_reconciliation

SHOP = "demo.myshopify.com"
CAP = 20
EXTRA_ORDERS = 45


def add_orders(sandbox, count: int) -> None:
    """`count` paid orders, each updated one second after the previous (as a busy shop's would be)."""
    shop = sandbox.store.require_shop(SHOP)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    for n in range(count):
        order = sandbox.store.create_order(shop, [{"sku": "MUG-WHT", "quantity": 1}])
        order["updatedAt"] = (start + dt.timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def capped(sandbox_shopify, monkeypatch):
    reset_pacing()
    monkeypatch.setattr(sandbox_shopify.store, "max_paginated_objects", CAP)
    monkeypatch.setattr(gateway_module, "CONNECTION_CAP", CAP)
    add_orders(sandbox_shopify, EXTRA_ORDERS)
    token = sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"]
    with sandbox_shopify.http_client() as client:
        yield sandbox_shopify, client, token
    reset_pacing()


def all_orders(sandbox) -> int:
    return len(sandbox.store.require_shop(SHOP).all("Order"))


def test_the_sandbox_stops_a_connection_at_the_cap(capped) -> None:
    sandbox, client, token = capped
    query = "query($after: String) { orders(first: 15, after: $after, sortKey: UPDATED_AT) { nodes { id } pageInfo { hasNextPage endCursor } } }"
    seen, after = [], None
    while True:
        body = client.post(f"https://{SHOP}/admin/api/2026-10/graphql.json", json={"query": query, "variables": {"after": after}},
                           headers={"X-Shopify-Access-Token": token}).json()["data"]["orders"]
        seen += body["nodes"]
        if not body["pageInfo"]["hasNextPage"]:
            break
        after = body["pageInfo"]["endCursor"]
    assert len(seen) == CAP < all_orders(sandbox)  # the rest is unreachable by paging


def test_without_a_next_window_the_gateway_refuses_to_stop_silently(capped) -> None:
    sandbox, client, token = capped
    gateway = ShopifyGateway(SHOP, StaticToken(token), http_client=client, sleep=lambda s: None)
    with pytest.raises(ShopifyError, match="stopped at"):
        list(gateway.paginate("OrdersChangedSince", {"first": 7}, ("orders",)))


def test_the_gateway_moves_on_with_an_updated_at_window_and_sees_every_order_once(capped) -> None:
    sandbox, client, token = capped
    gateway = ShopifyGateway(SHOP, StaticToken(token), http_client=client, sleep=lambda s: None)
    since = "updated_at:>='2000-01-01T00:00:00Z'"
    ids = [node["id"] for node in gateway.paginate("OrdersChangedSince", {"first": 7, "query": since}, ("orders",), next_window=updated_at_window)]
    assert len(ids) == len(set(ids)) == all_orders(sandbox) > 2 * CAP


def test_the_order_catchup_reads_past_the_cap(capped, sandboxed_app) -> None:
    sandbox, client, token = capped
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, token, None, None, None, "read_orders")
    run = run_reconciliation(services, SHOP, only=("order_catchup",))
    assert run.report["order_catchup"]["checked"] == all_orders(sandbox)
    with services.session_factory() as session:
        assert len(session.scalars(select(Order)).all()) == all_orders(sandbox)


def test_the_backfill_reads_past_the_cap(capped, sandboxed_app) -> None:
    from shopify_app.orders.backfill import backfill_orders

    sandbox, client, token = capped
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, token, None, None, None, "read_orders")
    report = backfill_orders(services, SHOP, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert report.seen == all_orders(sandbox) > CAP
    with services.session_factory() as session:
        assert len(session.scalars(select(Order)).all()) == all_orders(sandbox)
