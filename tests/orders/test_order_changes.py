"""Order changes reach the supplier, end to end over real HTTP: sandbox Shopify -> app -> supplier sandbox.

An edit lowering a quantity, removing and adding lines updates the Printful order; a
refund-cancel after production started raises an alert naming what Printful still has; an
address change at a supplier whose API cannot change orders cancels the order and places it
again under a new key, once, even when the worker dies between the cancel and its record.
"""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, update
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from forwarding_kit import SHOP, add_printful_supplier, deliveries, make_due
from sandbox.supplier.orders import NotFound
from sandbox.supplier.printful import SandboxSupplier
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.fulfillment.refresh import refresh_order
from shopify_app.orders.models import Order, OrderEvent
from shopify_app.suppliers.amendment_models import SupplierOrderAmendment
from shopify_app.suppliers.amendments import AmendmentWorker, replacement_key
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import Alert, ProductMapping, Supplier, SupplierOrderLine
from shopify_app.webhooks.worker import InboxWorker

TOPICS = ["orders/create", "orders/paid", "orders/updated", "orders/edited", "refunds/create"]


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=TOPICS)
    sandboxed_app.config["TEST_APP_URL"] = f"http://127.0.0.1:{server.server_port}"
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "read_orders")
    yield sandboxed_app, sandbox_shopify
    server.shutdown()


@pytest.fixture
def printful(world):
    app, _ = world
    supplier = SandboxSupplier()
    supplier.start()
    add_printful_supplier(app, supplier, skus=("TEE-S", "MUG-WHT", "MUG-BLK"))
    yield supplier
    supplier.stop()


@pytest.fixture
def rest_without_updates(world):
    """The REST sandbox as a supplier whose settings declare no order updates: changes cancel and place again."""
    app, _ = world
    sandbox = RestSandboxSupplier()
    sandbox.start()
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Acme REST", kind="rest", credentials_enc=services.box.encrypt(json.dumps(sandbox.adapter_credentials())),
                            settings={**sandbox.adapter_settings(), "update_accepts": []})
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="TEE-S", cost="4.00"))
    sandbox.configure_webhooks(f"{app.config['TEST_APP_URL']}/suppliers/{supplier.id}/webhooks")
    yield sandbox
    sandbox.stop()


def drain_inbox(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def forward(app):
    services = app.extensions["services"]
    return ForwardingWorker(services.session_factory, services.box).drain()


def amend(app, **kw):
    services = app.extensions["services"]
    return AmendmentWorker(services.session_factory, services.box, **kw).drain()


def placed_order(app, shopify, lines):
    order = shopify.place_order(SHOP, lines, email="buyer@example.com")
    drain_inbox(app)
    assert forward(app).placed == 1
    [delivery] = deliveries(app)
    assert delivery.state == "placed"
    return order, delivery


def line_gid(order, sku):
    return next(ref.gid for ref in order["lineItems"] if ref.gid and _sku_of(order, ref.gid) == sku)


def _sku_of(order, gid):
    return next(sku for sku, line in zip(order["_skus"], order["lineItems"]) if line.gid == gid)


def timeline(app) -> list[tuple[str, dict]]:
    with app.extensions["services"].session_factory() as session:
        return [(e.kind, e.detail) for e in session.scalars(select(OrderEvent).order_by(OrderEvent.id))]


def open_alerts(app) -> list[Alert]:
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(Alert).where(Alert.resolved_at.is_(None))).all()


def test_an_edit_lowering_a_quantity_removing_and_adding_lines_updates_the_printful_order(world, printful):
    app, shopify = world
    order, delivery = placed_order(app, shopify, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}])

    shopify.edit_order(SHOP, order["id"], quantities={line_gid(order, "TEE-S"): 1, line_gid(order, "MUG-WHT"): 0}, add=[{"sku": "MUG-BLK", "quantity": 3}])
    drain_inbox(app)
    report = amend(app)

    assert report.updated == 1
    at_printful = printful.order(delivery.supplier_order_id)
    assert sorted((printful.catalog[item.catalog_variant_id].sku, item.quantity) for item in at_printful.items) == [("MUG-BLK", 3), ("TEE-S", 1)]
    assert at_printful.status == "pending" and printful.orders_created(delivery.idempotency_key) == 1
    [delivery] = deliveries(app)
    assert {line.supplier_sku: (line.quantity, line.sent_quantity) for line in delivery.lines} == {"TEE-S": (1, 1), "MUG-WHT": (0, 0), "MUG-BLK": (3, 3)}
    kinds = [kind for kind, _ in timeline(app)]
    assert {"line_changed", "line_added", "supplier_updated"} <= set(kinds)
    # The same webhooks again change nothing: no second amendment, no second request.
    sent = len(printful.received)
    shopify.emit(SHOP, "orders/updated", shopify.order_webhook_payload(order["id"], SHOP))
    drain_inbox(app)
    assert amend(app).updated == 0 and len(printful.received) == sent


def test_an_edit_before_the_order_went_out_changes_what_is_sent_and_needs_no_amendment(world, printful):
    app, shopify = world
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    drain_inbox(app)
    shopify.edit_order(SHOP, order["id"], quantities={line_gid(order, "TEE-S"): 1})
    drain_inbox(app)
    forward(app)

    [delivery] = deliveries(app)
    items = printful.order(delivery.supplier_order_id).items
    assert sorted((printful.catalog[i.catalog_variant_id].sku, i.quantity) for i in items) == [("MUG-WHT", 1), ("TEE-S", 1)]
    with app.extensions["services"].session_factory() as session:
        assert session.scalars(select(SupplierOrderAmendment)).all() == []
    kinds = [kind for kind, _ in timeline(app)]
    assert kinds.count("line_changed") == 1 and "line_added" not in kinds and "supplier_updated" not in kinds


def test_a_refund_cancel_after_production_started_alerts_with_what_printful_still_has(world, printful):
    app, shopify = world
    order, delivery = placed_order(app, shopify, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}])
    printful.start_production(delivery.supplier_order_id)
    location = shopify.store.require_shop(SHOP).all("Location")[0]["id"]

    shopify.refund_lines(SHOP, order["id"], [{"lineItemId": line_gid(order, "TEE-S"), "quantity": 1, "restockType": "CANCEL", "locationId": location}])
    drain_inbox(app)
    report = amend(app)

    assert report.refused == 1
    [alert] = [a for a in open_alerts(app) if a.kind == "supplier_change_refused"]
    assert "Printful still has 1 x TEE-S that the order no longer has" in alert.message
    assert alert.severity == "critical"
    items = printful.order(delivery.supplier_order_id).items
    assert sorted((printful.catalog[i.catalog_variant_id].sku, i.quantity) for i in items) == [("MUG-WHT", 1), ("TEE-S", 2)]
    assert ("problem", "change_refused") in [(kind, detail.get("problem")) for kind, detail in timeline(app)]
    # Seen again (orders/updated after the refund), it is not asked or alerted twice.
    shopify.emit(SHOP, "orders/updated", shopify.order_webhook_payload(order["id"], SHOP))
    drain_inbox(app)
    assert amend(app).refused == 0
    assert [a.count for a in open_alerts(app) if a.kind == "supplier_change_refused"] == [1]


def test_refunding_every_unit_before_production_cancels_the_printful_order_from_refunds_create_alone(world, printful):
    app, shopify = world
    order, delivery = placed_order(app, shopify, [{"sku": "TEE-S", "quantity": 2}])
    # Printful v2 deletes only draft, failed or canceled orders: this one failed there (charging), so it can go.
    printful.fail(delivery.supplier_order_id, "Payment failed")
    # Only refunds/create carries the news (orders/updated is not subscribed): the refund handler re-reads the order.
    shopify.register_app(API_KEY, API_SECRET, app.config["TEST_APP_URL"], webhook_topics=["refunds/create"])

    shopify.refund_lines(SHOP, order["id"], [{"lineItemId": line_gid(order, "TEE-S"), "quantity": 2, "restockType": "NO_RESTOCK"}])
    drain_inbox(app)
    forward(app)

    [delivery] = deliveries(app)
    assert delivery.state == "cancelled"
    with pytest.raises(NotFound):  # v2 DELETE deletes the order
        printful.order(delivery.supplier_order_id)


def test_an_address_change_cancels_and_places_again_once_under_a_derived_key_even_across_a_crash(world, rest_without_updates):
    app, shopify = world
    supplier = rest_without_updates
    order, delivery = placed_order(app, shopify, [{"sku": "TEE-S", "quantity": 2}])
    old_key, old_id = delivery.idempotency_key, delivery.supplier_order_id
    assert supplier.order(old_id).ship_to["city"] == "Toronto"

    shopify.change_shipping_address(SHOP, order["id"], address1="1 Harbour Road", city="Halifax", provinceCode="NS", province="Nova Scotia", zip="B3H 1A1")
    drain_inbox(app)
    events = [kind for kind, _ in timeline(app)]
    assert "address_changed" in events

    # The worker dies after the supplier cancelled, before it recorded the replacement.
    services = app.extensions["services"]
    dying = AmendmentWorker(services.session_factory, services.box)
    real = dying.adapter_for

    class DiesAfterCancel:
        def __init__(self, record):
            self.inner = real(record)

        def cancel_order(self, supplier_order_id):
            self.inner.cancel_order(supplier_order_id)
            raise RuntimeError("SIGKILL")

        def __getattr__(self, name):
            return getattr(self.inner, name)

    dying.adapter_for = DiesAfterCancel
    dying.drain()
    assert supplier.order(old_id).status == "cancelled"
    # The supplier's order.cancelled webhook for the order being replaced is ours: no "supplier cancelled" alarm.
    supplier.flush_webhooks()
    drain_inbox(app)
    assert [d.state for d in deliveries(app)] == ["placed"]
    assert not [a for a in open_alerts(app) if a.kind == "supplier_cancelled"]
    with services.session_factory.begin() as session:
        [amendment] = session.scalars(select(SupplierOrderAmendment)).all()
        assert amendment.state == "replacing"
        session.execute(update(SupplierOrderAmendment).values(lease_until=None))

    assert amend(app).replaced == 1  # resumed: the cancel is seen as done, the replacement recorded
    make_due(app)
    forward(app)
    forward(app)

    [delivery] = deliveries(app)
    new_key = replacement_key(old_key, 1)
    assert delivery.idempotency_key == new_key and delivery.state == "placed" and delivery.supplier_order_id != old_id
    assert supplier.orders_created(new_key) == 1 and supplier.orders_created(old_key) == 1
    assert supplier.order(delivery.supplier_order_id).ship_to["city"] == "Halifax"
    assert [item.qty for item in supplier.order(delivery.supplier_order_id).items] == [2]
    replaced = [detail for kind, detail in timeline(app) if kind == "supplier_replaced"]
    assert replaced and replaced[0]["cancelled_supplier_order_id"] == old_id
    with services.session_factory() as session:
        assert session.scalar(select(Order.state)) == "forwarded"


def test_an_update_whose_answer_was_lost_is_sent_again_and_lands_once(world, printful):
    app, shopify = world
    order, delivery = placed_order(app, shopify, [{"sku": "TEE-S", "quantity": 3}])
    shopify.edit_order(SHOP, order["id"], quantities={line_gid(order, "TEE-S"): 1})
    drain_inbox(app)

    printful.garble_next()  # Printful applies the PATCH; its answer is lost
    assert amend(app).retrying == 1
    with app.extensions["services"].session_factory.begin() as session:
        [amendment] = session.scalars(select(SupplierOrderAmendment)).all()
        assert amendment.state == "updating"
        amendment.next_attempt_at = amendment.created_at
    assert amend(app).updated == 1

    patches = [body for method, _, body in printful.received if method == "PATCH"]
    assert len(patches) == 2 and patches[0] == patches[1]  # the same desired state twice: applied once
    assert [item.quantity for item in printful.order(delivery.supplier_order_id).items] == [1]
    assert printful.orders_created(delivery.idempotency_key) == 1


def test_an_edit_landing_while_the_order_is_being_placed_reaches_printful_after_the_placement(world, printful):
    app, shopify = world
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 3}], email="buyer@example.com")
    drain_inbox(app)
    services = app.extensions["services"]
    worker = ForwardingWorker(services.session_factory, services.box)
    place = worker._place

    def edit_arrives_after_the_request_was_read(adapter, supplier, delivery_id, request, report, **kw):
        # The worker holds the lease and has read 3 units; the merchant's edit is synced now.
        shopify.edit_order(SHOP, order["id"], quantities={line_gid(order, "TEE-S"): 2})
        drain_inbox(app)
        return place(adapter, supplier, delivery_id, request, report, **kw)

    worker._place = edit_arrives_after_the_request_was_read
    worker.drain()
    [delivery] = deliveries(app)
    assert [item.quantity for item in printful.order(delivery.supplier_order_id).items] == [3]  # sent as read

    assert amend(app).updated == 1
    assert [item.quantity for item in printful.order(delivery.supplier_order_id).items] == [2]


def test_a_line_routed_later_onto_a_placed_order_by_any_path_is_passed_on(world, printful):
    """Routing can add a line to a supplier order already sent outside an order sync (a fulfillment order
    accepted later, a mapping added for a held line): the amendment worker's sweep carries it."""
    app, shopify = world
    services = app.extensions["services"]
    shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    drain_inbox(app)
    with services.session_factory.begin() as session:  # the mug's line is routed only later
        mug = session.scalar(select(SupplierOrderLine).where(SupplierOrderLine.supplier_sku == "MUG-WHT"))
        later = {"supplier_order_id": mug.supplier_order_id, "order_line_id": mug.order_line_id, "supplier_sku": "MUG-WHT", "quantity": 1}
        session.delete(mug)
    forward(app)
    [delivery] = deliveries(app)
    assert delivery.state == "placed" and [line.supplier_sku for line in delivery.lines] == ["TEE-S"]

    with services.session_factory.begin() as session:  # ...by whichever path (as routing adds lines)
        session.add(SupplierOrderLine(**later))
    assert amend(app).updated == 1
    items = printful.order(delivery.supplier_order_id).items
    assert sorted((printful.catalog[i.catalog_variant_id].sku, i.quantity) for i in items) == [("MUG-WHT", 1), ("TEE-S", 2)]
    assert amend(app).updated == 0  # swept once
    assert "line_added" in [kind for kind, _ in timeline(app)]


def test_an_incomplete_new_address_is_not_passed_on_and_the_merchant_is_told_once(world, printful):
    app, shopify = world
    order, delivery = placed_order(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    sent = len(printful.received)

    shopify.change_shipping_address(SHOP, order["id"], address1="", city="")
    drain_inbox(app)
    shopify.emit(SHOP, "orders/updated", shopify.order_webhook_payload(order["id"], SHOP))  # seen again
    drain_inbox(app)
    amend(app)

    assert len(printful.received) == sent and printful.order(delivery.supplier_order_id).recipient["city"] == "Toronto"
    [alert] = [a for a in open_alerts(app) if a.kind == "address_change_incomplete"]
    assert "Printful still has the old one" in alert.message and alert.count == 1
    # Completed in Shopify: passed on, and the alert resolves.
    shopify.change_shipping_address(SHOP, order["id"], address1="1 Harbour Road", city="Halifax")
    drain_inbox(app)
    assert amend(app).updated == 1
    assert printful.order(delivery.supplier_order_id).recipient["city"] == "Halifax"
    assert not [a for a in open_alerts(app) if a.kind == "address_change_incomplete"]



def _set_delivery(app, **values):
    from shopify_app.suppliers.models import SupplierOrder

    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(**values))


def _shopify_holds(app, shopify, order):
    """The merchant holds the order's fulfillment order in Shopify; the app learns it from the order webhook's re-read."""
    store = shopify.store
    with store.lock:
        [fo_gid] = [ref.gid for ref in store.require_shop(SHOP).get(order["id"])["fulfillmentOrders"]]
    store.hold_fulfillment_order(SHOP, fo_gid, reason="HIGH_RISK_OF_FRAUD", reason_notes="Checking the payment")
    refresh_order(app.extensions["services"], SHOP, order["id"])  # what the fulfillment_orders/placed_on_hold webhook does
    return fo_gid


def _shopify_releases(app, shopify, order, fo_gid):
    shopify.store.release_fulfillment_hold(SHOP, fo_gid)
    refresh_order(app.extensions["services"], SHOP, order["id"])  # what the fulfillment_orders/hold_released webhook does


def test_an_edit_while_shopify_holds_the_unsent_order_changes_what_is_sent_on_release(world, printful):
    app, shopify = world
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}], email="buyer@example.com")
    drain_inbox(app)
    fo_gid = _shopify_holds(app, shopify, order)
    assert [d.state for d in deliveries(app)] == ["on_hold"]
    shopify.edit_order(SHOP, order["id"], quantities={line_gid(order, "TEE-S"): 1})
    drain_inbox(app)
    [delivery] = deliveries(app)
    assert delivery.state == "on_hold" and [line.quantity for line in delivery.lines] == [1]
    with app.extensions["services"].session_factory() as session:
        assert session.scalars(select(SupplierOrderAmendment)).all() == []  # nothing at the supplier to amend
    _shopify_releases(app, shopify, order, fo_gid)
    forward(app)
    [delivery] = deliveries(app)
    assert [item.quantity for item in printful.order(delivery.supplier_order_id).items] == [1]


def test_an_amendment_of_an_order_held_while_in_flight_waits_for_the_placement(world, printful):
    app, shopify = world
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}], email="buyer@example.com")
    drain_inbox(app)
    _set_delivery(app, state="unknown", attempts=1)  # a placement whose answer was lost
    shopify.edit_order(SHOP, order["id"], quantities={line_gid(order, "TEE-S"): 1})
    drain_inbox(app)
    _shopify_holds(app, shopify, order)
    assert [d.state for d in deliveries(app)] == ["on_hold"]
    report = amend(app)
    assert report.waiting == 1 and report.refused == report.retrying == 0
    with app.extensions["services"].session_factory() as session:
        [amendment] = session.scalars(select(SupplierOrderAmendment)).all()
        assert amendment.state == "pending"
    assert [a.kind for a in open_alerts(app) if a.severity == "critical"] == []


def test_a_replacement_for_an_order_shopify_holds_is_not_sent_until_released(world, rest_without_updates):
    app, shopify = world
    supplier = rest_without_updates
    order, delivery = placed_order(app, shopify, [{"sku": "TEE-S", "quantity": 2}])
    old_key = delivery.idempotency_key
    fo_gid = _shopify_holds(app, shopify, order)  # held after placement: only an alert, the supplier has it
    assert [d.state for d in deliveries(app)] == ["placed"] and [a.kind for a in open_alerts(app)] == ["hold_after_placement"]
    shopify.change_shipping_address(SHOP, order["id"], address1="1 Harbour Road", city="Halifax", provinceCode="NS", province="Nova Scotia", zip="B3H 1A1")
    drain_inbox(app)
    assert amend(app).replaced == 1  # the old order is cancelled at the supplier ...
    make_due(app)
    forward(app)
    new_key = replacement_key(old_key, 1)
    assert supplier.orders_created(new_key) == 0  # ... but the replacement waits for Shopify's hold
    assert [d.state for d in deliveries(app)] == ["on_hold"]
    _shopify_releases(app, shopify, order, fo_gid)
    forward(app)
    assert supplier.orders_created(new_key) == 1 and [d.state for d in deliveries(app)] == ["placed"]
