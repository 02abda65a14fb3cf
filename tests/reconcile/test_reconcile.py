"""Each desync kind: created on purpose, then found by reconciliation and repaired or alerted, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select, update

from conftest import API_KEY
from orders.forwarding_kit import SHOP, add_printful_supplier, deliver, deliveries, paid_sandbox_order
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.models import WebhookDelivery
from shopify_app.orders.models import Order, OrderLine
from shopify_app.reconcile.models import Desync, ReconcileRun
from shopify_app.reconcile.runner import run_reconciliation
from shopify_app.returns.models import ReturnCase, ReturnLine
from shopify_app.suppliers.models import Alert, DeliveryState, SupplierOrder, SupplierOrderLine

LATER = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)  # past every in-flight window


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    supplier = SandboxSupplier()
    supplier.start()
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    add_printful_supplier(sandboxed_app, supplier, skus=("TSHIRT-BLK-S", "MUG-WHT-11", "MUG-WHT"))
    yield sandboxed_app, services, sandbox_shopify
    supplier.stop()


def desync(services, kind):
    with services.session_factory() as session:
        return session.scalars(select(Desync).where(Desync.kind == kind)).all()


def alerts(services, kind):
    with services.session_factory() as session:
        return session.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None))).all()


def test_a_paid_order_never_routed_is_routed(world) -> None:
    app, services, shopify = world
    placed = shopify.store.create_order(SHOP, [{"sku": "TSHIRT-BLK-S", "quantity": 1}])  # its webhooks were lost
    line_number = shopify.store.require_shop(SHOP).deref(placed["lineItems"])[0]["id"].rsplit("/", 1)[1]
    with services.session_factory.begin() as session:
        order = Order(shop_domain=SHOP, shopify_id=placed["id"].rsplit("/", 1)[1], name=placed["name"], financial_status="paid", state="received")
        order.lines.append(OrderLine(shopify_line_id=line_number, sku="TSHIRT-BLK-S", quantity=1))
        session.add(order)
    run = run_reconciliation(services, SHOP, only=("never_forwarded",), now=LATER)
    assert run.report["never_forwarded"] == {"checked": 1, "found": 1, "repaired": 1, "open": 0}
    assert [d.state for d in deliveries(app)] == ["pending"]
    assert desync(services, "never_forwarded")[0].status == "repaired"
    again = run_reconciliation(services, SHOP, only=("never_forwarded",), now=LATER)
    assert again.report["never_forwarded"]["found"] == 0  # idempotent: nothing left to do


def test_a_cancelled_order_still_open_at_the_supplier_is_cancelled_there(world) -> None:
    app, services, shopify = world
    paid_sandbox_order(app, shopify)
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(state=DeliveryState.PLACED.value, placed_at=dt.datetime.now(dt.timezone.utc)))
        session.execute(update(Order).values(cancelled_at=dt.datetime.now(dt.timezone.utc)))  # the cancel webhook was lost
    run = run_reconciliation(services, SHOP, only=("cancelled_but_open",), now=LATER)
    assert run.report["cancelled_but_open"]["repaired"] == 1
    assert [d.state for d in deliveries(app)] == ["cancel_requested"]


def test_a_supplier_order_past_its_sla_is_an_alert_and_resolves_when_it_ships(world) -> None:
    app, services, shopify = world
    paid_sandbox_order(app, shopify)
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(state=DeliveryState.PLACED.value, placed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=100)))
    run = run_reconciliation(services, SHOP, only=("stuck_at_supplier",), now=LATER)
    assert run.report["stuck_at_supplier"] == {"checked": 1, "found": 1, "repaired": 0, "open": 1}
    assert len(alerts(services, "desync_stuck_at_supplier")) == 1
    run_reconciliation(services, SHOP, only=("stuck_at_supplier",), now=LATER)
    assert alerts(services, "desync_stuck_at_supplier")[0].count == 2  # raised once, seen twice
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(state=DeliveryState.SHIPPED.value))
    run_reconciliation(services, SHOP, only=("stuck_at_supplier",), now=LATER)
    assert desync(services, "stuck_at_supplier")[0].status == "resolved" and alerts(services, "desync_stuck_at_supplier") == []


def test_the_unshipped_rest_of_a_split_order_past_its_sla_is_an_alert_until_it_ships(world) -> None:
    app, services, shopify = world
    paid_sandbox_order(app, shopify)  # two lines, one supplier order
    with services.session_factory.begin() as session:
        delivery = session.scalars(select(SupplierOrder)).one()
        delivery.state, delivery.placed_at = DeliveryState.PARTIALLY_SHIPPED.value, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30)
        first, second = sorted(delivery.lines, key=lambda line: line.id)
        first.shipped_quantity = first.quantity  # the first parcel carried one line
    run = run_reconciliation(services, SHOP, only=("stuck_at_supplier",), now=LATER)
    assert run.report["stuck_at_supplier"]["found"] == 0  # within the 72 h SLA: the rest may still come
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(placed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=20)))
    run = run_reconciliation(services, SHOP, only=("stuck_at_supplier",), now=LATER)
    assert run.report["stuck_at_supplier"] == {"checked": 1, "found": 1, "repaired": 0, "open": 1}
    [found] = desync(services, "stuck_at_supplier")
    assert found.evidence["unshipped"] == [{"sku": second.supplier_sku, "ordered": 1, "shipped": 0}]
    assert len(alerts(services, "desync_stuck_at_supplier")) == 1  # one per supplier order, not per line
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrderLine).values(shipped_quantity=SupplierOrderLine.quantity))
        session.execute(update(SupplierOrder).values(state=DeliveryState.SHIPPED.value))
    run_reconciliation(services, SHOP, only=("stuck_at_supplier",), now=LATER)
    assert desync(services, "stuck_at_supplier")[0].status == "resolved" and alerts(services, "desync_stuck_at_supplier") == []


def test_fulfilled_in_shopify_but_never_placed_is_an_alert(world) -> None:
    app, services, shopify = world
    paid_sandbox_order(app, shopify)
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(state=DeliveryState.FAILED.value))
        session.execute(update(Order).values(fulfillment_status="fulfilled"))
    run = run_reconciliation(services, SHOP, only=("fulfilled_unknown_to_supplier",), now=LATER)
    assert run.report["fulfilled_unknown_to_supplier"]["open"] == 1
    assert alerts(services, "desync_fulfilled_unknown_to_supplier")[0].severity == "critical"


def test_partly_fulfilled_in_shopify_but_never_placed_is_an_alert_judged_per_line(world) -> None:
    from shopify_app.fulfillment.models import FulfillmentOrderRecord

    app, services, shopify = world
    paid_sandbox_order(app, shopify)
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(state=DeliveryState.FAILED.value))
        records = session.scalars(select(FulfillmentOrderRecord)).all()
        assert records and all(item["remaining"] == item["total"] for r in records for item in r.lines)
    for status in ("partial", "partially_fulfilled"):  # REST's spelling, GraphQL's displayFulfillmentStatus
        with services.session_factory.begin() as session:
            session.execute(update(Order).values(fulfillment_status=status))
        run = run_reconciliation(services, SHOP, only=("fulfilled_unknown_to_supplier",), now=LATER)
        assert run.report["fulfilled_unknown_to_supplier"]["found"] == 0, status  # by the fulfillment orders, none of this supplier's lines shipped
    with services.session_factory.begin() as session:
        record = session.scalars(select(FulfillmentOrderRecord)).first()
        first = record.lines[0]
        record.lines = [{**first, "remaining": 0}, *record.lines[1:]]  # one line fulfilled in Shopify, by someone else
    run = run_reconciliation(services, SHOP, only=("fulfilled_unknown_to_supplier",), now=LATER)
    assert run.report["fulfilled_unknown_to_supplier"]["open"] == 1
    [found] = desync(services, "fulfilled_unknown_to_supplier")
    assert [line["units"] for line in found.evidence["fulfilled_lines"]] == [first["total"]]
    with services.session_factory.begin() as session:
        session.execute(delete(FulfillmentOrderRecord))  # no copy of the fulfillment orders: the order's status decides
    run = run_reconciliation(services, SHOP, only=("fulfilled_unknown_to_supplier",), now=LATER)
    assert run.report["fulfilled_unknown_to_supplier"]["open"] == 1 and alerts(services, "desync_fulfilled_unknown_to_supplier")[0].severity == "critical"


def test_a_return_received_but_never_disposed_is_an_alert(world) -> None:
    _, services, _ = world
    with services.session_factory.begin() as session:
        case = ReturnCase(shop_domain=SHOP, return_gid="gid://shopify/Return/1", name="#1001-R1", status="open", received_at=dt.datetime.now(dt.timezone.utc))
        case.lines.append(ReturnLine(return_line_item_gid="gid://shopify/ReturnLineItem/1", quantity=1, received_quantity=1))
        session.add(case)
    run = run_reconciliation(services, SHOP, only=("returns_stalled",), now=LATER)
    assert run.report["returns_stalled"]["open"] == 1 and desync(services, "return_not_restocked")


def test_a_closed_return_received_but_never_disposed_is_an_alert_until_disposed(world) -> None:
    _, services, _ = world
    with services.session_factory.begin() as session:
        case = ReturnCase(shop_domain=SHOP, return_gid="gid://shopify/Return/9", name="#1001-R9", status="closed", received_at=dt.datetime.now(dt.timezone.utc))
        case.lines.append(ReturnLine(return_line_item_gid="gid://shopify/ReturnLineItem/9", quantity=2, received_quantity=2, restocked_quantity=1))
        session.add(case)
    run = run_reconciliation(services, SHOP, only=("returns_stalled",), now=LATER)
    assert run.report["returns_stalled"] == {"checked": 1, "found": 1, "repaired": 0, "open": 1}
    with services.session_factory.begin() as session:
        session.execute(update(ReturnLine).values(not_restocked_quantity=1))  # the last unit written off
    run = run_reconciliation(services, SHOP, only=("returns_stalled",), now=LATER)
    assert run.report["returns_stalled"]["found"] == 0 and desync(services, "return_not_restocked")[0].status == "resolved"


def test_dead_letters_are_reported(world) -> None:
    app, services, shopify = world
    app.test_client()  # the app is built
    with services.session_factory.begin() as session:
        session.add(WebhookDelivery(shop_domain=SHOP, topic="orders/paid", webhook_id="w-dead", event_key="e-dead", api_version="2025-01", body="{}", status="dead", last_error="boom"))
    run = run_reconciliation(services, SHOP, only=("webhook_health",), now=dt.datetime.now(dt.timezone.utc))
    assert run.report["webhook_health"]["open"] == 1 and alerts(services, "desync_dead_letters")


def test_orders_whose_webhooks_were_lost_are_caught_up(world) -> None:
    _, services, _ = world
    with services.session_factory() as session:
        assert session.scalar(select(Order.id).limit(1)) is None  # the sandbox's seeded orders never reached us
    run = run_reconciliation(services, SHOP, only=("order_catchup",))
    assert run.report["order_catchup"]["repaired"] == 1
    with services.session_factory() as session:
        assert len(session.scalars(select(Order)).all()) == 2
    with services.session_factory() as session:
        assert session.scalar(select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(1)).report["order_catchup"]["checked"] == 2


def test_a_parcel_the_supplier_shipped_but_shopify_never_heard_of_becomes_a_fulfillment(world, sandbox_shopify) -> None:
    from shopify_app.suppliers.models import SupplierOrderLine, SupplierShipment

    app, services, shopify = world
    placed = sandbox_shopify.place_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}])
    deliver(app, "orders/paid", sandbox_shopify.order_webhook_payload(placed["id"], SHOP))
    with services.session_factory.begin() as session:
        delivery = session.scalars(select(SupplierOrder)).one()
        delivery.state, delivery.placed_at, delivery.supplier_order_id = DeliveryState.SHIPPED.value, dt.datetime.now(dt.timezone.utc), "pf-1"
        line = session.scalars(select(SupplierOrderLine)).one()
        session.add(SupplierShipment(supplier_order_id=delivery.id, shipment_id="parcel-1", carrier="DHL", tracking_number="TRACK-1", lines=[[line.id, 1]],
                                     created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)))
    run = run_reconciliation(services, SHOP, only=("shipped_not_fulfilled",), now=LATER)
    assert run.report["shipped_not_fulfilled"]["repaired"] == 1, desync(services, "shipped_not_fulfilled")[0].repair_note
    shopify_order = sandbox_shopify.store.require_shop(SHOP).get(placed["id"])
    fulfillments = [f for f in sandbox_shopify.store.require_shop(SHOP).all("Fulfillment") if f["order"].gid == placed["id"]]
    assert len(fulfillments) == 1 and fulfillments[0]["trackingInfo"][0]["number"] == "TRACK-1"
    assert shopify_order["displayFulfillmentStatus"] == "FULFILLED"


def test_an_order_refunded_without_a_return_is_an_alert_critical_while_the_supplier_still_has_it(world) -> None:
    app, services, shopify = world
    paid_sandbox_order(app, shopify)
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(state=DeliveryState.PLACED.value))
        session.execute(update(Order).values(financial_status="refunded"))  # the refunds/create webhook was lost; the catch-up saw the status
    run = run_reconciliation(services, SHOP, only=("refunds_without_return",), now=LATER)
    assert run.report["refunds_without_return"] == {"checked": 1, "found": 1, "repaired": 0, "open": 1}
    assert alerts(services, "desync_refund_without_return")[0].severity == "critical"
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(state=DeliveryState.SHIPPED.value))
    run_reconciliation(services, SHOP, only=("refunds_without_return",), now=LATER)
    assert alerts(services, "desync_refund_without_return")[0].severity == "warning"  # shipped: the goods stay with the customer
    with services.session_factory.begin() as session:
        order_id = session.scalar(select(Order.id))
        session.add(ReturnCase(shop_domain=SHOP, return_gid="gid://shopify/Return/9", order_id=order_id, status="open"))
    run = run_reconciliation(services, SHOP, only=("refunds_without_return",), now=LATER)
    assert run.report["refunds_without_return"]["found"] == 0
    assert desync(services, "refund_without_return")[0].status == "resolved" and alerts(services, "desync_refund_without_return") == []


def _subscriptions(sandbox_shopify):
    return {(s["topic"], s["callbackUrl"]) for s in sandbox_shopify.store.webhook_subscriptions(SHOP, client_id=API_KEY)}


def test_shop_level_webhook_subscriptions_are_diffed_never_recreated(sandbox_shopify, app_factory, database_url) -> None:
    from shopify_app.webhooks.subscriptions import subscribable_topics, topic_enum

    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url, webhook_subscriptions="shop")
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, None)
    ours = services.settings.app_url + "/webhooks"
    kept = sandbox_shopify.store.add_webhook_subscription(SHOP, API_KEY, "ORDERS_CREATE", ours)
    stray = sandbox_shopify.store.add_webhook_subscription(SHOP, API_KEY, "ORDERS_CREATE", services.settings.app_url + "/old-webhooks")
    foreign = sandbox_shopify.store.add_webhook_subscription(SHOP, API_KEY, "ORDERS_PAID", "https://erp.example.com/hooks")
    run = run_reconciliation(services, SHOP, only=("webhook_subscriptions",), now=LATER)
    wanted = {topic_enum(t) for t in subscribable_topics()}
    assert run.report["webhook_subscriptions"]["found"] == len(wanted) - 1 + 1  # every topic but ORDERS_CREATE is missing; one stray
    assert run.report["webhook_subscriptions"]["open"] == 0
    after = sandbox_shopify.store.webhook_subscriptions(SHOP, client_id=API_KEY)
    assert {s["topic"] for s in after if s["callbackUrl"] == ours} == wanted
    ids = {s["id"] for s in after}
    assert kept["id"] in ids and foreign["id"] in ids and stray["id"] not in ids  # never delete-all: the good one survived
    again = run_reconciliation(services, SHOP, only=("webhook_subscriptions",), now=LATER)
    assert again.report["webhook_subscriptions"]["found"] == 0


def test_in_app_mode_our_shop_level_duplicates_of_toml_topics_are_removed(sandbox_shopify, app_factory, database_url) -> None:
    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url)
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, None)
    sandbox_shopify.store.add_webhook_subscription(SHOP, API_KEY, "ORDERS_PAID", services.settings.app_url + "/webhooks")
    foreign = sandbox_shopify.store.add_webhook_subscription(SHOP, API_KEY, "ORDERS_PAID", "https://erp.example.com/hooks")
    run = run_reconciliation(services, SHOP, only=("webhook_subscriptions",), now=LATER)
    assert run.report["webhook_subscriptions"] == {"checked": 2, "found": 1, "repaired": 1, "open": 0}
    assert [s["id"] for s in sandbox_shopify.store.webhook_subscriptions(SHOP, client_id=API_KEY)] == [foreign["id"]]


def test_a_return_approved_long_ago_and_never_received_is_an_alert(world) -> None:
    _, services, _ = world
    approved = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)
    with services.session_factory.begin() as session:
        case = ReturnCase(shop_domain=SHOP, return_gid="gid://shopify/Return/2", name="#1002-R1", status="open", decided_at=approved, rma_state="approved")
        case.lines.append(ReturnLine(return_line_item_gid="gid://shopify/ReturnLineItem/2", quantity=1))
        session.add(case)
    run = run_reconciliation(services, SHOP, only=("returns_stalled",), now=LATER)
    assert run.report["returns_stalled"] == {"checked": 1, "found": 1, "repaired": 0, "open": 1}
    assert alerts(services, "desync_return_never_received")[0].subject == "#1002-R1"
    with services.session_factory.begin() as session:
        session.execute(update(ReturnCase).values(received_at=dt.datetime.now(dt.timezone.utc)))
    run_reconciliation(services, SHOP, only=("returns_stalled",), now=LATER)
    assert alerts(services, "desync_return_never_received") == []
