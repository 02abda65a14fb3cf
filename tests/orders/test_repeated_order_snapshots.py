"""A repeated orders/* snapshot is a cheap no-op; a changed one is still applied in full (issue 20 part H).

Most of an order's webhooks (orders/paid after a paid orders/create, orders/updated and
orders/fulfilled for the same fulfillment) carry nothing routing acts on. The order keeps
digests of the last snapshot applied; these tests hold that an identical snapshot writes
nothing, that a details-only change lands exactly as the full sync would store it, that
anything routing reads (a quantity, the address) still takes the full path to the supplier
order, and that stale updates stay ignored.
"""
from __future__ import annotations

import copy
import datetime as dt

import pytest
from sqlalchemy import event, select, update

from forwarding_kit import SHOP, add_printful_supplier, app, deliver, paid_order_payload, sandbox, supplier_sandbox  # noqa: F401 - fixtures
from shopify_app.orders.models import Order, OrderEvent, OrderLine
from shopify_app.orders.payloads import parse_order
from shopify_app.orders.sync import ORDER_AMOUNT_FIELDS, Quiet, apply_unless_routing_changed
from shopify_app.suppliers.models import SupplierOrderLine

T0 = dt.datetime(2026, 12, 4, 6, 0, tzinfo=dt.timezone.utc)
STORED_FIELDS = ("name", "email", "customer_id", "customer_email", "shipping_address", "currency", "total_price", *ORDER_AMOUNT_FIELDS,
                 "discount_applications", "financial_status", "fulfillment_status", "cancelled_at", "shopify_created_at", "shopify_updated_at",
                 "customer_locale", "state", "routing_digest", "details_digest")


def order_payload(number: int, at: dt.datetime = T0, **fields) -> dict:
    payload = paid_order_payload(skus=("TSHIRT-BLK-S", "MUG-WHT-11"), order_number=number)
    payload.update(created_at=T0.isoformat(), updated_at=at.isoformat(), fulfillment_status=None, customer_locale="pl")
    payload.update(fields)
    return payload


class Statements:
    """The statements the app's engine runs while counting."""

    def __init__(self, app):
        self.engine = app.extensions["services"].session_factory.kw["bind"]
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args):
        self.statements.append(" ".join(statement.split()))

    def on(self, *tables: str) -> list[str]:
        """Those reading or writing any of the tables."""
        return [s for s in self.statements if any(f" {table} " in s.replace("(", " ").replace(",", " ") + " " for table in tables)]

    def writes(self, *tables: str) -> list[str]:
        return [s for s in self.on(*tables) if s.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def stored(app, number: int) -> tuple[dict, list[tuple], int, list[tuple]]:
    with app.extensions["services"].session_factory() as session:
        order = session.scalar(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == str(number)))
        columns = {name: getattr(order, name) for name in STORED_FIELDS}
        lines = [(l.shopify_line_id, l.quantity, l.sku, l.title, l.price) for l in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id))]
        events = session.scalar(select(OrderEvent.id).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id.desc()).limit(1))
        routed = [(sol.supplier_sku, sol.quantity) for sol in session.scalars(
            select(SupplierOrderLine).join(OrderLine, OrderLine.id == SupplierOrderLine.order_line_id).where(OrderLine.order_id == order.id).order_by(SupplierOrderLine.id))]
        return columns, lines, events, routed


def forwarded(app, *numbers: int) -> None:
    """The way back's part: the order went out (its later orders/updated read no fulfillment orders: nothing left to route)."""
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(Order).where(Order.shop_domain == SHOP, Order.shopify_id.in_([str(n) for n in numbers])).values(state="forwarded"))


@pytest.fixture
def shop_app(app, sandbox):  # noqa: F811 - the kit's fixtures
    add_printful_supplier(app, sandbox, timeout=10.0)
    return app


def test_an_identical_orders_paid_after_a_paid_orders_create_writes_nothing(shop_app):
    payload = order_payload(4001)
    deliver(shop_app, "orders/create", payload)
    before = stored(shop_app, 4001)
    assert before[3] == [("TSHIRT-BLK-S", 1), ("MUG-WHT-11", 1)], "routed by orders/create"
    assert before[0]["routing_digest"] and before[0]["details_digest"]

    with Statements(shop_app) as seen:
        deliver(shop_app, "orders/paid", copy.deepcopy(payload))
    assert seen.writes("orders", "order_lines", "order_events", "supplier_orders", "supplier_order_lines", "fulfillment_orders") == []
    # Settled from the order's row alone: its lines and supplier orders are not even read.
    assert seen.on("order_lines", "supplier_orders", "supplier_order_lines", "alerts") == []
    assert stored(shop_app, 4001) == before


def test_an_orders_create_handled_after_the_orders_paid_of_the_same_snapshot_reads_and_writes_nothing(shop_app):
    """Both arrive together and either may be handled first: the later one is settled by the order's row alone."""
    payload = order_payload(4010)
    reads: list[str] = []
    fake = shop_app.extensions["fake_shopify"]
    query = fake.query
    fake.query = lambda name, variables: (reads.append(name), query(name, variables))[1]
    deliver(shop_app, "orders/paid", payload)
    before = stored(shop_app, 4010)
    assert before[3] == [("TSHIRT-BLK-S", 1), ("MUG-WHT-11", 1)] and reads == ["FulfillmentOrdersForOrder"], "routed by orders/paid"
    with Statements(shop_app) as seen:
        deliver(shop_app, "orders/create", copy.deepcopy(payload))
    assert reads == ["FulfillmentOrdersForOrder"], "Shopify is not asked again"
    assert seen.writes("orders", "order_lines", "order_events", "supplier_orders", "supplier_order_lines", "fulfillment_orders") == []
    assert seen.on("order_lines", "supplier_orders", "supplier_order_lines", "alerts") == []
    assert stored(shop_app, 4010) == before


def test_a_details_only_change_is_stored_exactly_as_the_full_sync_stores_it(shop_app):
    # Two orders, the same history; the second's last snapshot is forced through the full sync.
    later = T0 + dt.timedelta(seconds=5)
    for number in (4002, 4003):
        deliver(shop_app, "orders/create", order_payload(number))
    forwarded(shop_app, 4002, 4003)
    changed = dict(fulfillment_status="fulfilled", email="new@example.com", customer_locale=None, name="#renamed")
    with Statements(shop_app) as seen:
        deliver(shop_app, "orders/updated", order_payload(4002, later, **changed))
    assert seen.on("order_lines", "order_events", "supplier_orders", "supplier_order_lines", "alerts") == []
    assert len(seen.writes("orders")) == 1, "one UPDATE of the order's own columns"
    with shop_app.extensions["services"].session_factory.begin() as session:  # no digest: the full path
        session.execute(update(Order).where(Order.shopify_id == "4003").values(routing_digest=None))
    deliver(shop_app, "orders/updated", order_payload(4003, later, **changed))

    quiet, full = stored(shop_app, 4002), stored(shop_app, 4003)
    assert quiet[0]["fulfillment_status"] == "fulfilled" and quiet[0]["email"] == "new@example.com"
    assert quiet[0]["customer_locale"] == "pl", "a snapshot without a locale keeps the one we had"
    assert quiet[0]["shopify_updated_at"] == later
    digests = ("routing_digest", "details_digest")  # they cover the order's own ids, which differ
    assert {k: v for k, v in quiet[0].items() if k not in digests} == {k: v for k, v in full[0].items() if k not in digests}
    assert quiet[0]["name"] == "#renamed"
    assert [line[1:] for line in quiet[1]] == [line[1:] for line in full[1]] and quiet[3] == full[3]


def test_a_changed_quantity_or_address_still_reaches_the_supplier_order(shop_app):
    deliver(shop_app, "orders/create", order_payload(4004))
    forwarded(shop_app, 4004)
    payload = order_payload(4004, T0 + dt.timedelta(seconds=5))
    payload["line_items"][0].update(quantity=3, current_quantity=3)
    deliver(shop_app, "orders/updated", payload)
    _, lines, _, routed = stored(shop_app, 4004)
    assert lines[0][1] == 3
    assert routed == [("TSHIRT-BLK-S", 3), ("MUG-WHT-11", 1)], "the change was passed on to the supplier order"

    moved = order_payload(4004, T0 + dt.timedelta(seconds=9))
    moved["line_items"][0].update(quantity=3, current_quantity=3)
    moved["shipping_address"] = dict(moved["shipping_address"], address1="1 New Street")
    deliver(shop_app, "orders/updated", moved)
    columns, _, _, _ = stored(shop_app, 4004)
    assert columns["shipping_address"]["address1"] == "1 New Street"


def test_stale_updates_stay_ignored_after_a_repeated_snapshot_moved_the_version_on(shop_app):
    deliver(shop_app, "orders/create", order_payload(4005))
    forwarded(shop_app, 4005)
    deliver(shop_app, "orders/updated", order_payload(4005, T0 + dt.timedelta(seconds=10)))  # identical but newer
    assert stored(shop_app, 4005)[0]["shopify_updated_at"] == T0 + dt.timedelta(seconds=10)

    stale = order_payload(4005, T0 + dt.timedelta(seconds=5), email="stale@example.com")
    stale["line_items"][0].update(quantity=7, current_quantity=7)
    deliver(shop_app, "orders/updated", stale)
    columns, lines, _, routed = stored(shop_app, 4005)
    assert columns["email"] != "stale@example.com" and lines[0][1] == 1 and routed[0] == ("TSHIRT-BLK-S", 1)


def test_a_cancellation_with_nothing_else_changed_takes_the_full_path(shop_app):
    deliver(shop_app, "orders/create", order_payload(4006))
    cancelled = order_payload(4006, T0 + dt.timedelta(seconds=5), cancelled_at=(T0 + dt.timedelta(seconds=5)).isoformat())
    deliver(shop_app, "orders/cancelled", cancelled)
    columns, _, _, _ = stored(shop_app, 4006)
    assert columns["state"] == "cancelled"
    with shop_app.extensions["services"].session_factory() as session:
        assert session.scalars(select(OrderEvent.kind).where(OrderEvent.kind == "cancelled")).all() == ["cancelled"]


def test_only_an_order_we_hold_with_digests_and_the_same_routing_inputs_is_settled_quietly(shop_app):
    services = shop_app.extensions["services"]
    deliver(shop_app, "orders/create", order_payload(4007))
    same = parse_order(order_payload(4007))
    with services.session_factory.begin() as session:
        assert apply_unless_routing_changed(session, SHOP, parse_order(order_payload(4999))) is None, "unknown order"
        assert apply_unless_routing_changed(session, SHOP, same) is Quiet.SAME
        assert apply_unless_routing_changed(session, "other.myshopify.com", same) is None, "another shop's order of the same id"
        assert apply_unless_routing_changed(session, SHOP, parse_order(order_payload(4007, T0 - dt.timedelta(seconds=1)))) is Quiet.STALE
        unpaid = parse_order(order_payload(4007, financial_status="pending"))
        assert apply_unless_routing_changed(session, SHOP, unpaid) is None, "financial state is routing's input"
        assert apply_unless_routing_changed(session, SHOP, parse_order(order_payload(4007, email="x@example.com"))) is Quiet.DETAILS
        session.execute(update(Order).where(Order.shopify_id == "4007").values(routing_digest=None))
        assert apply_unless_routing_changed(session, SHOP, same) is None, "stored before the digests existed"


def test_a_new_order_is_routed_without_reading_what_it_cannot_have_yet(shop_app):
    with Statements(shop_app) as seen:
        deliver(shop_app, "orders/create", order_payload(4008))
    _, lines, _, routed = stored(shop_app, 4008)
    assert routed == [("TSHIRT-BLK-S", 1), ("MUG-WHT-11", 1)] and len(lines) == 2
    reads = [s for s in seen.on("order_lines", "supplier_orders", "supplier_order_lines", "return_cases", "alerts", "product_mappings")
             if s.startswith("SELECT")]
    # Only the mappings, once for both lines; its lines, supplier orders, returns and alerts cannot exist yet.
    assert len(reads) == 1 and " product_mappings " in reads[0] + " "
    assert [s for s in seen.on("fulfillment_orders") if s.startswith("SELECT fulfillment_orders.id, ")] == [], "its fulfillment orders are written, never read back"
    with shop_app.extensions["services"].session_factory() as session:
        order = session.scalar(select(Order).where(Order.shopify_id == "4008"))
        assert order.state == "routed"
        assert [e.kind for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id))] == ["received", "routed", "routed"]


def test_an_order_stored_after_the_prefetch_looked_is_updated_not_duplicated_and_never_set_back(shop_app):
    from shopify_app.webhooks.handlers.orders import sync_snapshot

    services = shop_app.extensions["services"]
    deliver(shop_app, "orders/create", order_payload(4009, T0 + dt.timedelta(seconds=5)))  # "another worker" stored it meanwhile
    with services.session_factory.begin() as session:  # our prefetch had seen no such order, and our snapshot is older
        assert sync_snapshot(session, services, SHOP, parse_order(order_payload(4009, email="older@example.com")), absent=True) is None
    with services.session_factory.begin() as session:  # and a newer one is applied to the stored order
        newer = parse_order(order_payload(4009, T0 + dt.timedelta(seconds=9), email="newer@example.com"))
        assert sync_snapshot(session, services, SHOP, newer, absent=True) is not None
    with services.session_factory() as session:
        assert session.scalars(select(Order.email).where(Order.shopify_id == "4009")).all() == ["newer@example.com"]
