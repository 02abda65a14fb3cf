"""A new order's routing reads and fulfillment-order insert (issue 19 session 33 part C): the edges of their fast paths.

Routing reads an order's mappings and suppliers with statements built once per size of their
IN lists, and expands longer lists; a new order's fulfillment orders are inserted as plain rows,
one INSERT keyed back by Shopify id. Either way the outcome is what the general path gives.
"""
from __future__ import annotations

from sqlalchemy import select

from forwarding_kit import SHOP, add_printful_supplier, app, deliver, paid_order_payload, sandbox, supplier_sandbox  # noqa: F401 - fixtures
from shopify_app.fulfillment.sync import store_fulfillment_orders
from shopify_app.orders import routing
from shopify_app.orders.models import Order, OrderLine
from shopify_app.orders.routing import CandidateSource
from shopify_app.orders.sync import upsert
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from test_new_order_insert import columns, fulfillment_orders, snapshot


def routed_skus(app, number: int) -> list[str]:
    with app.extensions["services"].session_factory() as session:
        order = session.scalar(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == str(number)))
        assert order.state == "routed"
        delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.order_id == order.id))
        return sorted(line.supplier_sku for line in delivery.lines)


def test_an_order_with_more_skus_than_the_built_reads_list_is_routed_whole(app, sandbox):  # noqa: F811
    many = tuple(f"SKU-{n:02d}" for n in range(routing.MAX_LISTED + 3))  # the expanding read
    add_printful_supplier(app, sandbox, skus=many)
    deliver(app, "orders/create", paid_order_payload(skus=many, order_number=6101))
    assert routed_skus(app, 6101) == sorted(many)
    listed = many[:routing.MAX_LISTED]  # the largest read built once
    deliver(app, "orders/create", paid_order_payload(skus=listed, order_number=6102))
    assert routed_skus(app, 6102) == sorted(listed)


def test_candidates_are_the_same_whichever_read_finds_them(app, sandbox):  # noqa: F811
    skus = tuple(f"SKU-{n:02d}" for n in range(routing.MAX_LISTED + 2))
    supplier_id = add_printful_supplier(app, sandbox, skus=skus)
    with app.extensions["services"].session_factory.begin() as session:
        vendor = Supplier(shop_domain=SHOP, name="Vendor Co", kind="printful", vendor="Acme", settings={})
        session.add(vendor)
        session.add(ProductMapping(shop_domain=SHOP, variant_id="4242", sku="OTHER", supplier_id=supplier_id, supplier_sku="BY-VARIANT", cost="1.00"))
        session.flush()
        order = upsert(session, SHOP, snapshot(6103)).order
        lines = [OrderLine(id=n, order_id=order.id, shopify_line_id=str(n), sku=sku, vendor="Acme", variant_id="4242" if n == 0 else None)
                 for n, sku in enumerate((*skus, "UNMAPPED"))]

        def found(source, line):
            return [(c.supplier.id, c.supplier_sku, c.rank) for c in source.for_line(order, line)]

        one_by_one = [found(CandidateSource(session, order, [line]), line) for line in lines]
        for size in (0, 1, routing.MAX_LISTED, len(lines)):
            together = CandidateSource(session, order, lines[:size])
            assert [found(together, line) for line in lines[:size]] == one_by_one[:size]
        assert one_by_one[0][0] == (supplier_id, "BY-VARIANT", 0) and one_by_one[-1] == [(vendor.id, "UNMAPPED", 2)]


def test_a_fulfillment_order_read_twice_is_stored_once_for_a_new_order_as_for_a_stored_one(app):  # noqa: F811
    def listed_twice(base: int) -> list[dict]:
        first, second = fulfillment_orders(base)
        newer = dict(first, updated_at="2026-12-04T06:00:05Z", holds=second["holds"])  # the same one, held since
        older = dict(second, updated_at="2026-12-04T06:00:00Z", holds=[])  # a stale copy: ignored
        return [first, second, newer, older]

    with app.extensions["services"].session_factory.begin() as session:
        fresh_order = upsert(session, SHOP, snapshot(6104)).order
        stored_order = upsert(session, SHOP, snapshot(6105)).order
        session.flush()
        fresh = store_fulfillment_orders(session, fresh_order, listed_twice(900), fresh=True)
        general = store_fulfillment_orders(session, stored_order, listed_twice(950))
        skip = {"id", "order_id", "shopify_id", "created_at", "updated_at"}
        assert [columns(r, skip) for r in fresh.records] == [columns(r, skip) for r in general.records] and len(fresh.records) == 2
        assert [int(r.shopify_id) - 900 for r in fresh.placed] == [int(r.shopify_id) - 950 for r in general.placed] == [1, 0]
        assert fresh.released == general.released == []
        assert fresh.managers.keys() == {r.id for r in fresh.records}
        assert [fresh.managers[r.id] for r in fresh.records] == [general.managers[r.id] for r in general.records]
        assert not session.new and not session.dirty
