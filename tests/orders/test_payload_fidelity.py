"""Payload fidelity: real order payloads (not only the doc samples) are stored without loss.

Lines without `id` fall back to their GID, or the order is re-read through GraphQL (in the
prefetch, never inside the write transaction); discounts, taxes, shipping, tips and both
currencies are kept, and read the same from a webhook and from GraphQL; revenue and margin
are net of discounts (and of tax where prices include it) and leave tips out.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET, sample_json, webhook_headers
from forwarding_kit import with_primary_location_shopify
from shopify_app.kpis import kpis
from shopify_app.models import InboxStatus, WebhookDelivery
from shopify_app.orders.graph import order_payload_from_graphql, orders_from_bulk_lines
from shopify_app.orders.models import Order, OrderState
from shopify_app.orders.payloads import parse_order
from shopify_app.suppliers.models import Alert
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"
ORDER_TOPICS = ["orders/create", "orders/paid", "orders/updated"]


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    """The app served over HTTP, installed on the sandbox shop, receiving its signed order webhooks."""
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=ORDER_TOPICS)
    token = sandbox_shopify.issue_access_token(SHOP, API_KEY)
    sandboxed_app.extensions["services"].tokens.save(SHOP, token["access_token"], None, None, None, token.get("scope"))
    yield sandboxed_app, sandbox_shopify
    server.shutdown()


def drain(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def stored(app, shopify_id: str) -> Order:
    with app.extensions["services"].session_factory() as session:
        order = session.scalar(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == shopify_id))
        order.lines  # noqa: B018 - loaded before the session closes
        return order


def number(gid: str) -> str:
    return gid.rsplit("/", 1)[1]


def send(app, topic: str, payload: dict) -> None:
    if "fake_shopify" in app.extensions:
        app.extensions["fake_shopify"].remember(payload)
    body = json.dumps(payload).encode()
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP)).status_code == 200


def money_of(set_: dict, side: str = "shop_money") -> str:
    return set_[side]["amount"]


def dec(value) -> Decimal:
    return Decimal(str(value))


# --- the documented samples --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["orders_create", "orders_paid", "orders_updated", "orders_cancelled"])
def test_shopify_samples_are_stored_with_every_line_and_amount(app_factory, database_url, name):
    app = with_primary_location_shopify(app_factory(database_url))  # no Shopify: fulfillment orders from the stand-in
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    payload = sample_json(name)
    send(app, name.replace("_", "/", 1), payload)
    assert drain(app).done == 1
    order = stored(app, number(payload["admin_graphql_api_id"]))
    # Every line kept, keyed on its exact GID (the numeric ids of the samples went through a float).
    assert sorted(line.shopify_line_id for line in order.lines) == sorted(number(item["admin_graphql_api_id"]) for item in payload["line_items"])
    assert (order.currency, order.presentment_currency) == (payload["currency"], payload["presentment_currency"])
    assert dec(order.total_price) == dec(money_of(payload["total_price_set"]))
    assert dec(order.subtotal_price) == dec(money_of(payload["subtotal_price_set"]))
    assert dec(order.total_discounts) == dec(money_of(payload["total_discounts_set"]))
    assert dec(order.total_shipping) == dec(money_of(payload["total_shipping_price_set"]))
    assert dec(order.total_tax) == dec(money_of(payload["total_tax_set"]))
    assert dec(order.total_tip) == dec(payload["total_tip_received"])
    assert order.taxes_included is payload["taxes_included"]
    by_id = {number(item["admin_graphql_api_id"]): item for item in payload["line_items"]}
    for line in order.lines:
        item = by_id[line.shopify_line_id]
        assert dec(line.price) == dec(money_of(item["price_set"]))
        assert dec(line.discount) == sum((dec(money_of(a["amount_set"])) for a in item["discount_allocations"]), Decimal(0))
        assert dec(line.tax) == sum((dec(money_of(t["price_set"])) for t in item["tax_lines"]), Decimal(0))
        assert line.original_quantity == item["quantity"] and not line.is_tip
        assert isinstance(line.price, str)  # exact decimal text, never a float


def test_a_line_without_id_is_keyed_on_its_gid(app_factory, database_url):
    app = with_primary_location_shopify(app_factory(database_url))  # no Shopify: fulfillment orders from the stand-in
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    payload = sample_json("orders_paid")
    for item in payload["line_items"]:
        del item["id"]
    send(app, "orders/paid", payload)
    assert drain(app).done == 1
    order = stored(app, number(payload["admin_graphql_api_id"]))
    assert sorted(line.shopify_line_id for line in order.lines) == sorted(number(i["admin_graphql_api_id"]) for i in payload["line_items"])


# --- realistic variants, end to end through the sandbox ----------------------------------------


def test_a_line_without_any_id_makes_the_order_be_re_read_through_graphql(world):
    app, shopify = world
    order = shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 2, "price": "20.00"}, {"sku": "MUG-WHT", "quantity": 1, "price": "10.00"}],
                                       discount_code={"code": "SAVE10", "value": 10, "value_type": "percentage"}, shipping="4.90")
    payload = shopify.order_webhook_payload(order["id"], SHOP)
    del payload["line_items"][1]["id"], payload["line_items"][1]["admin_graphql_api_id"]
    shopify.emit(SHOP, "orders/paid", payload)
    assert drain(app).done == 1  # the network guard fails the test if the re-read ran inside the write transaction
    kept = stored(app, number(order["id"]))
    assert sorted(line.shopify_line_id for line in kept.lines) == sorted(number(ref.gid) for ref in order["lineItems"])
    assert {line.sku: (line.quantity, line.discount) for line in kept.lines} == {"TEE-S": (2, "4.00"), "MUG-WHT": (1, "1.00")}
    assert kept.state != OrderState.NOTHING_TO_SHIP.value
    with app.extensions["services"].session_factory() as session:
        assert "re_read" in [e.kind for e in session.get(Order, kept.id).events]  # on the order's timeline


def test_a_line_without_any_id_of_an_order_shopify_cannot_return_is_dead_lettered_not_dropped(world):
    app, _ = world
    payload = copy.deepcopy(sample_json("orders_paid"))  # an order the sandbox shop does not hold
    for item in payload["line_items"]:
        del item["id"], item["admin_graphql_api_id"]
    send(app, "orders/paid", payload)
    assert drain(app).dead == 1
    with app.extensions["services"].session_factory() as session:
        row = session.scalar(select(WebhookDelivery))
        assert row.status == InboxStatus.DEAD.value and "without ids" in row.last_error
        assert session.scalar(select(Order)) is None  # never stored as an order with nothing to ship


def test_an_order_read_without_lines_is_held_with_an_alert_not_nothing_to_ship(app_factory, database_url):
    app = with_primary_location_shopify(app_factory(database_url))  # no Shopify: fulfillment orders from the stand-in
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    payload = sample_json("orders_paid") | {"cancelled_at": None, "financial_status": "paid"}
    lines = payload.pop("line_items")
    payload["line_items"] = []
    send(app, "orders/paid", payload)
    drain(app)
    order = stored(app, number(payload["admin_graphql_api_id"]))
    assert order.state == OrderState.HELD.value
    with app.extensions["services"].session_factory() as session:
        [alert] = session.scalars(select(Alert).where(Alert.kind == "order_without_lines")).all()
        assert alert.resolved_at is None
    payload["line_items"] = lines
    payload["updated_at"] = "2030-01-01T00:00:00-05:00"
    send(app, "orders/updated", payload)
    drain(app)
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(Alert).where(Alert.kind == "order_without_lines")).resolved_at is not None
    assert len(stored(app, number(payload["admin_graphql_api_id"])).lines) == len(lines)


def test_multi_currency_order_keeps_shop_and_presentment_amounts_the_same_from_webhook_and_graphql(world):
    app, shopify = world
    order = shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 3, "price": "20.00"}], presentment_currency="EUR", presentment_rate="0.92",
                                       discount_code={"code": "FIVE", "value": "5.00", "value_type": "fixed_amount"}, tax_rate="0.08", shipping="5.00")
    rest = shopify.order_webhook_payload(order["id"], SHOP)
    shopify.emit(SHOP, "orders/paid", rest)
    drain(app)
    kept = stored(app, number(order["id"]))
    assert (kept.currency, kept.presentment_currency) == ("USD", "EUR")
    # 60.00 - 5.00 = 55.00; tax 8 % of 55.00 and of the 5.00 shipping = 4.40 + 0.40; total 64.80; in EUR x 0.92.
    assert (kept.subtotal_price, kept.total_discounts, kept.total_shipping, kept.total_tax, kept.total_price) == ("55.00", "5.00", "5.00", "4.80", "64.80")
    assert (kept.subtotal_price_presentment, kept.total_discounts_presentment, kept.total_tax_presentment, kept.total_price_presentment) == ("50.60", "4.60", "4.42", "59.62")
    [line] = kept.lines
    assert (line.price, line.price_presentment, line.discount, line.discount_presentment, line.tax, line.tax_presentment) == ("20.00", "18.40", "5.00", "4.60", "4.40", "4.05")
    assert kept.discount_applications == [{"type": "discount_code", "code": "FIVE", "value": "5.00", "value_type": "fixed_amount",
                                           "target_type": "line_item", "target_selection": "all", "allocation_method": "across"}]
    # The GraphQL read (OrderSyncFields, what backfill and re-reads use) maps to the same snapshot.
    graph = app.extensions["services"].gateway(SHOP).query("OrderForSync", {"id": order["id"]})["order"]
    from_graph, from_webhook = parse_order(order_payload_from_graphql(graph)), parse_order(rest)
    assert from_graph.lines == from_webhook.lines
    assert from_graph.amounts.__dict__ | {"discount_applications": ()} == from_webhook.amounts.__dict__ | {"discount_applications": ()}
    assert [{k: v for k, v in a.items() if v is not None} for a in from_graph.amounts.discount_applications] == list(from_webhook.amounts.discount_applications)


def test_tip_and_discount_code_are_stored_and_the_tip_is_neither_shipped_nor_revenue(world):
    app, shopify = world
    plain = shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 2, "price": "20.00"}, {"sku": "MUG-WHT", "quantity": 1, "price": "10.00"}])
    tipped = shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 2, "price": "20.00"}, {"sku": "MUG-WHT", "quantity": 1, "price": "10.00"}],
                                        discount_code={"code": "SAVE10", "value": 10, "value_type": "percentage"}, tip="3.00", shipping="4.90")
    for order in (plain, tipped):
        shopify.emit(SHOP, "orders/paid", shopify.order_webhook_payload(order["id"], SHOP))
    drain(app)
    kept = stored(app, number(tipped["id"]))
    tip = [line for line in kept.lines if line.is_tip]
    assert [(line.title, line.price, line.shippable) for line in tip] == [("Tip", "3.00", False)]
    assert (kept.total_tip, kept.total_discounts, kept.subtotal_price, kept.total_price) == ("3.00", "5.00", "45.00", "52.90")
    assert [a["code"] for a in kept.discount_applications] == ["SAVE10"]
    page = app.test_client().get(f"/orders/{kept.id}?shop={SHOP}&host=abc&embedded=1&id_token={shopify.mint_session_token(SHOP, API_KEY)}")
    assert page.status_code == 200
    amounts = page.get_data(as_text=True).split('id="order-amounts">')[1].split("</dl>")[0]
    # Money in the order's currency (USD here), each amount under its own label.
    assert "<dt>Discounts</dt><dd>$5.00 (SAVE10)</dd>" in amounts
    assert "<dt>Shipping</dt><dd>$4.90</dd>" in amounts and "<dt>Tip</dt><dd>$3.00</dd>" in amounts

    with app.extensions["services"].session_factory() as session:
        now = dt.datetime.now(dt.timezone.utc)
        margin = kpis(session, SHOP, now - dt.timedelta(days=1), now + dt.timedelta(days=1))["overall"]["margin"]
    # The shop's two seeded orders (MUG-WHT x2 at 12.00 + TEE-M x1) count as well: take them from their lines.
    with app.extensions["services"].session_factory() as session:
        seeded = sum((dec(line.price) * line.quantity for order in session.scalars(select(Order)) if order.shopify_id not in (number(plain["id"]), number(tipped["id"]))
                      for line in order.lines), Decimal(0))
    # plain: 2 x 20 + 10 = 50.00; tipped: 50.00 - 10 % = 45.00 (the 3.00 tip left out); shipping charged 4.90.
    assert margin["revenue"] == seeded + Decimal("50.00") + Decimal("45.00")
    assert margin["shipping_charged"] == Decimal("4.90")
    assert margin["gross_margin"] == margin["revenue"] + Decimal("4.90") - margin["supplier_cost"] - margin["refunds"]


def test_revenue_leaves_out_tax_where_prices_include_it(world):
    app, shopify = world
    order = shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 2, "price": "24.60"}], tax_rate="0.23", taxes_included=True, shipping="6.15")
    shopify.emit(SHOP, "orders/paid", shopify.order_webhook_payload(order["id"], SHOP))
    drain(app)
    kept = stored(app, number(order["id"]))
    # 49.20 holds 9.20 of VAT; the 6.15 shipping holds 1.15.
    assert (kept.taxes_included, kept.total_tax, kept.lines[0].tax) == (True, "10.35", "9.20")
    with app.extensions["services"].session_factory() as session:
        now = dt.datetime.now(dt.timezone.utc)
        only_this = [o for o in session.scalars(select(Order)) if o.shopify_id != number(order["id"])]
        for other in only_this:
            other.cancelled_at = now  # cancelled orders count for nothing: leave this one alone
        session.flush()
        margin = kpis(session, SHOP, now - dt.timedelta(days=1), now + dt.timedelta(days=1))["overall"]["margin"]
        session.rollback()
    assert (margin["revenue"], margin["shipping_charged"]) == (Decimal("40.00"), Decimal("5.00"))


def test_a_refund_cancel_lowers_revenue_by_the_net_price_of_the_units_taken_off():
    from shopify_app.kpis.compute import line_net

    # 3 units at 20.00 with 6.00 of discount; one cancelled by a refund: 2 x 20 - 2/3 x 6 = 36.00.
    assert line_net("20.00", 2, 3, "6.00", "0", False) == Decimal("36.00")
    assert line_net("24.60", 2, 2, None, "9.20", True) == Decimal("40.00")
    assert line_net("24.60", 2, 2, None, "9.20", False) == Decimal("49.20")


def test_bulk_lines_are_joined_to_their_order_whatever_their_order_in_the_file():
    order_a = {"id": "gid://shopify/Order/1", "name": "#1", "totalTipReceivedSet": None}
    order_b = {"id": "gid://shopify/Order/2", "name": "#2"}
    line = lambda n, parent: {"id": f"gid://shopify/LineItem/{n}", "quantity": 1, "__parentId": parent}  # noqa: E731
    discount = {"__typename": "DiscountCodeApplication", "code": "X", "__parentId": "gid://shopify/Order/2"}
    # Ungrouped, as Shopify writes it since 2026-01: children before and after their parents.
    lines = [line(11, "gid://shopify/Order/1"), discount, order_b, line(21, "gid://shopify/Order/2"), order_a, line(12, "gid://shopify/Order/1")]
    joined = {o["id"]: o for o in orders_from_bulk_lines(lines)}
    assert [n["id"] for n in joined["gid://shopify/Order/1"]["lineItems"]["nodes"]] == ["gid://shopify/LineItem/11", "gid://shopify/LineItem/12"]
    assert [n["id"] for n in joined["gid://shopify/Order/2"]["lineItems"]["nodes"]] == ["gid://shopify/LineItem/21"]
    assert [d["code"] for d in joined["gid://shopify/Order/2"]["discountApplications"]["nodes"]] == ["X"]


@pytest.mark.parametrize("name", ["OrderForSync", "OrdersForSync", "OrdersBulkExport"])
def test_order_documents_validate_against_the_2026_10_schema_without_deprecated_fields(name):
    import gzip

    from graphql import build_client_schema, parse, validate
    from graphql.validation import NoDeprecatedCustomRule

    from integrations.shopify.documents import get_document
    from integrations.shopify.schema import REPO_ROOT
    from shopify_app.orders.backfill import bulk_query_text

    path = REPO_ROOT.parent / "shared" / "shopify" / "admin_schema_2026-10.json.gz"
    schema = build_client_schema(json.loads(gzip.decompress(path.read_bytes()))["data"], assume_valid=True)
    text = bulk_query_text("created_at:>='2026-11-03T00:00:00Z'") if name == "OrdersBulkExport" else get_document(name)
    errors = validate(schema, parse(text)) + validate(schema, parse(text), [NoDeprecatedCustomRule])
    assert errors == [], [e.message for e in errors]
    if name == "OrdersBulkExport":
        assert "created_at:>='2026-11-03T00:00:00Z'" in text  # the window reached the query


def test_an_order_of_more_than_50_lines_is_read_whole_through_graphql(world):
    app, shopify = world
    lines = [{"sku": f"PART-{n:02}", "quantity": 1, "price": "1.00"} for n in range(55)]
    order = shopify.store.create_order(SHOP, lines)
    payload = shopify.order_webhook_payload(order["id"], SHOP)
    del payload["line_items"][0]["id"], payload["line_items"][0]["admin_graphql_api_id"]
    shopify.emit(SHOP, "orders/paid", payload)
    assert drain(app).done == 1
    kept = stored(app, number(order["id"]))
    assert sorted(line.sku for line in kept.lines) == sorted(line["sku"] for line in lines)  # the 5 past the first page too

    from shopify_app.orders.backfill import backfill_orders

    with app.extensions["services"].session_factory.begin() as session:
        session.delete(session.get(Order, kept.id))
    report = backfill_orders(app.extensions["services"], SHOP, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), method="paged")
    assert report.method == "paged" and len(stored(app, number(order["id"])).lines) == 55
