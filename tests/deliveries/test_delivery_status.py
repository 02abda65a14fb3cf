"""Delivery status from Shopify end to end: the carrier moves a parcel through Shopify's fulfillment events,
Shopify's fulfillments/* webhooks reach the app over HTTP, and the status, timeline, alerts, on-time KPI
and return windows follow (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from deliveries.delivery_world import SHOP, DeliveryWorld, days_ago
from orders.forwarding_kit import deliver
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.deliveries.models import FulfillmentDelivery
from shopify_app.deliveries.status import failure_alert_key
from shopify_app.kpis.compute import kpis
from shopify_app.models import WebhookDelivery
from shopify_app.suppliers.models import Alert, SupplierShipment


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    supplier_server = RestSandboxSupplier()
    supplier_server.start()
    yield DeliveryWorld(sandboxed_app, sandbox_shopify, supplier_server, f"http://127.0.0.1:{server.server_port}")
    supplier_server.stop()
    server.shutdown()


def delivery(world, fulfillment_gid: str) -> FulfillmentDelivery:
    with world.services.session_factory() as session:
        return session.scalar(select(FulfillmentDelivery).where(FulfillmentDelivery.fulfillment_gid == fulfillment_gid))


def parcel(world, fulfillment_gid: str) -> SupplierShipment:
    with world.services.session_factory() as session:
        return session.scalar(select(SupplierShipment).where(SupplierShipment.shopify_fulfillment_id == fulfillment_gid))


def test_status_moves_forward_only_whatever_order_and_copies_the_webhooks_arrive_in(world):
    order, fulfillment = world.shipped_order()
    created = delivery(world, fulfillment)
    assert (created.shipment_status, created.order_id is not None, created.delivered_at) == (None, True, None)

    picked, moving, out, done, estimate = days_ago(6), days_ago(5), days_ago(2), days_ago(1.5), days_ago(1)
    # Shopify's deliveries come shuffled and twice; one event is recorded after the parcel arrived.
    world.shopify.webhooks.configure(duplicate_rate=1.0, reorder_window=3, seed=7)
    world.carrier_event(fulfillment, "IN_TRANSIT", moving, estimatedDeliveryAt=estimate)
    world.carrier_event(fulfillment, "OUT_FOR_DELIVERY", out)
    world.carrier_event(fulfillment, "DELIVERED", done)
    world.shopify.webhooks.flush()
    world.drain()
    world.carrier_event(fulfillment, "CONFIRMED", picked)  # older than what we hold: history only
    world.shopify.webhooks.flush()
    world.shopify.webhooks.configure(duplicate_rate=0.0, reorder_window=0)
    world.drain()

    row = delivery(world, fulfillment)
    assert (row.shipment_status, row.status_at, row.display_status) == ("delivered", done, "delivered")
    assert (row.in_transit_at, row.delivered_at, row.first_estimated_delivery_at) == (moving, done, estimate)
    # One timeline entry per status change, in the order they happened, none for the late older event.
    assert world.timeline(order) == [("delivery_in_transit", moving.isoformat()), ("delivery_out_for_delivery", out.isoformat()), ("delivered", done.isoformat())]
    # Our parcel takes the carrier's delivery date (the delay detector and the returns policy read it).
    assert dt.datetime.fromisoformat(parcel(world, fulfillment).delivered_at) == done


def test_a_failed_delivery_raises_an_alert_that_delivery_resolves(world):
    order, fulfillment = world.shipped_order()
    world.carrier_event(fulfillment, "FAILURE", days_ago(1), message="Address not found")
    world.drain()
    with world.services.session_factory() as session:
        alert = session.scalar(select(Alert).where(Alert.dedupe_key == failure_alert_key(SHOP, fulfillment)))
        assert (alert.kind, alert.severity, alert.resolved_at) == ("delivery_failed", "critical", None)
        assert "Address not found" in alert.message and order["name"] in alert.message
    row = delivery(world, fulfillment)
    assert (row.shipment_status, row.failure_message) == ("failure", "Address not found")
    page = world.order_page(order)
    assert "Delivery (from Shopify)" in page and 'class="badge failure"' in page and "Address not found" in page
    world.carrier_event(fulfillment, "DELIVERED", days_ago(0.5))
    world.drain()
    with world.services.session_factory() as session:
        assert session.scalar(select(Alert.resolved_at).where(Alert.dedupe_key == failure_alert_key(SHOP, fulfillment))) is not None
    assert [kind for kind, _ in world.timeline(order)] == ["delivery_failure", "delivered"]
    # A delivery problem for the KPIs, reacted to when it was resolved.
    with world.services.session_factory() as session:
        problems = kpis(session, SHOP, days_ago(2), days_ago(-1))["overall"]["complaints"]["delivery_problem"]
    assert (problems["count"], problems["within"]) == (1, 1)


def test_delivered_dates_feed_the_on_time_kpi(world):
    promised = days_ago(3)
    _, early = world.shipped_order()
    world.carrier_event(early, "IN_TRANSIT", days_ago(6), estimatedDeliveryAt=promised)
    world.carrier_event(early, "DELIVERED", days_ago(4))
    late_order, late = world.shipped_order("TEE-S")
    world.carrier_event(late, "IN_TRANSIT", days_ago(6), estimatedDeliveryAt=promised)
    world.carrier_event(late, "IN_TRANSIT", days_ago(4), estimatedDeliveryAt=days_ago(1))  # the carrier moves its estimate
    world.carrier_event(late, "DELIVERED", days_ago(1))
    # A fulfillment the app did not create (the merchant shipped from stock) counts for the store only.
    merchant_order = world.store.create_order(SHOP, [{"sku": "BTL-500", "quantity": 1}])
    [fo] = [f for f in world.store.require_shop(SHOP).all("FulfillmentOrder") if f["order"].gid == merchant_order["id"]]
    own = world.store.create_fulfillment(SHOP, [{"fulfillmentOrderId": fo["id"]}])["id"]
    world.shopify.deliver_pending()
    world.carrier_event(own, "DELIVERED", days_ago(2))
    world.drain()

    # The app never heard of that order (no webhook for it): the fulfillment is kept on its GID.
    assert (delivery(world, own).order_id, delivery(world, own).order_gid) == (None, merchant_order["id"])
    with world.services.session_factory() as session:
        report = kpis(session, SHOP, days_ago(10), days_ago(-1))
    on_time = report["overall"]["on_time"]
    # Against the first promise: the early parcel was on time, the late one was not (the moved estimate does not excuse it).
    assert (on_time["on_time"], on_time["late"], on_time["no_eta"]) == (1, 1, 1)
    [supplier] = report["overall"]["suppliers"]
    assert (supplier["on_time"]["on_time"], supplier["on_time"]["late"], supplier["on_time"]["no_eta"]) == (1, 1, 0)
    assert report["overall"]["shipping_days"]["count"] == 2  # the merchant's parcel has no shipping date
    # The second in-transit event moved the estimate, not the status: one timeline entry.
    assert [kind for kind, _ in world.timeline(late_order)] == ["delivery_in_transit", "delivered"]


def test_the_return_window_starts_at_the_carriers_delivery(world):
    long_ago, first = world.shipped_order()
    recent, second = world.shipped_order()
    delivered_long_ago, delivered_recently = days_ago(20), days_ago(3)
    world.carrier_event(first, "DELIVERED", delivered_long_ago)
    world.carrier_event(second, "DELIVERED", delivered_recently)
    world.drain()
    late = world.request_return(long_ago, "MUG-WHT")
    assert (late.decision, late.decline_reason) == ("decline", "RETURN_PERIOD_ENDED")
    in_time = world.request_return(recent, "MUG-WHT")
    assert in_time.decision == "approve"
    assert (late.delivered_at, in_time.delivered_at) == (delivered_long_ago, delivered_recently)


def test_a_fulfillment_shopify_no_longer_has_is_kept_from_its_payload_and_bad_payloads_are_dead_lettered(world):
    payload = {"id": 424242, "admin_graphql_api_id": "gid://shopify/Fulfillment/424242", "order_id": 99, "name": "#9999.1",
               "status": "success", "shipment_status": "in_transit", "updated_at": "2026-11-20T10:00:00-05:00"}
    deliver(world.app, "fulfillments/update", payload)
    deliver(world.app, "fulfillments/update", payload | {"shipment_status": "confirmed", "updated_at": "2026-11-19T10:00:00-05:00"})  # late and older
    row = delivery(world, "gid://shopify/Fulfillment/424242")
    assert (row.shipment_status, row.status_at, row.order_gid, row.order_id) == (
        "in_transit", dt.datetime(2026, 11, 20, 15, tzinfo=dt.timezone.utc), "gid://shopify/Order/99", None)
    outcome = deliver(world.app, "fulfillments/update", {"id": "not an id"})
    with world.services.session_factory() as session:
        dead = session.scalar(select(WebhookDelivery).where(WebhookDelivery.topic == "fulfillments/update").order_by(WebhookDelivery.id.desc()))
        assert dead.status == "dead" and "id" in (dead.last_error or ""), outcome


def test_the_reconciliation_reads_what_lost_webhooks_did_not_bring(world):
    from shopify_app.reconcile.runner import run_reconciliation

    order, fulfillment = world.shipped_order()
    world.shopify.webhooks.configure(drop_rate=1.0)  # Shopify's deliveries never arrive
    delivered = days_ago(1)
    world.carrier_event(fulfillment, "IN_TRANSIT", days_ago(3))
    world.carrier_event(fulfillment, "DELIVERED", delivered)
    world.drain()
    assert delivery(world, fulfillment).shipment_status is None
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    run = run_reconciliation(world.services, SHOP, only=("delivery_status",), now=later)
    assert run.report["delivery_status"] == {"checked": 1, "found": 1, "repaired": 1, "open": 0}
    row = delivery(world, fulfillment)
    assert (row.shipment_status, row.delivered_at, row.reconciled_at) == ("delivered", delivered, later)
    assert [kind for kind, _ in world.timeline(order)] == ["delivery_in_transit", "delivered"]
    # Delivered now: the next pass has nothing left to read.
    again = run_reconciliation(world.services, SHOP, only=("delivery_status",), now=later + dt.timedelta(days=1))
    assert again.report["delivery_status"] == {"checked": 0, "found": 0, "repaired": 0, "open": 0}


def test_the_carriers_estimate_drives_the_delay_alert_and_delivery_closes_it(world):
    from shopify_app.orders.delays import detect_delays

    order, fulfillment = world.shipped_order()
    world.carrier_event(fulfillment, "IN_TRANSIT", days_ago(4), estimatedDeliveryAt=days_ago(1))
    world.drain()
    assert parcel(world, fulfillment).estimated_delivery is not None  # the supplier gave none: the carrier's promise
    with world.services.session_factory.begin() as session:
        assert detect_delays(session) == 1
    key = f"delay:{parcel(world, fulfillment).id}"
    world.carrier_event(fulfillment, "DELIVERED", days_ago(0.1))
    world.drain()
    with world.services.session_factory() as session:
        assert session.scalar(select(Alert.resolved_at).where(Alert.dedupe_key == key)) is not None
    with world.services.session_factory.begin() as session:
        assert detect_delays(session) == 0


def test_an_older_snapshot_read_late_changes_nothing(world):
    """Two workers read the fulfillment at different moments; the earlier read commits last."""
    from shopify_app.deliveries.status import apply_fulfillment_state, state_from_graphql

    def node(updated_at: str, events: list[tuple[str, str]]) -> dict:
        return {"id": "gid://shopify/Fulfillment/77", "name": "#1.1", "status": "SUCCESS", "displayStatus": events[-1][0], "updatedAt": updated_at,
                "deliveredAt": next((at for status, at in events if status == "DELIVERED"), None), "inTransitAt": events[0][1], "estimatedDeliveryAt": None,
                "order": {"id": "gid://shopify/Order/1"},
                "events": {"nodes": [{"id": f"gid://shopify/FulfillmentEvent/{i}", "status": s, "happenedAt": at, "estimatedDeliveryAt": None, "message": None}
                                     for i, (s, at) in enumerate(reversed(events))]}}

    newer = node("2026-11-22T10:00:00Z", [("IN_TRANSIT", "2026-11-20T10:00:00Z"), ("DELIVERED", "2026-11-22T09:00:00Z")])
    older = node("2026-11-20T10:00:01Z", [("IN_TRANSIT", "2026-11-20T10:00:00Z")])
    for snapshot in (newer, older):
        with world.services.session_factory.begin() as session:
            apply_fulfillment_state(session, SHOP, state_from_graphql(snapshot))
    row = delivery(world, "gid://shopify/Fulfillment/77")
    assert (row.shipment_status, row.delivered_at, row.shopify_updated_at) == (
        "delivered", dt.datetime(2026, 11, 22, 9, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 22, 10, tzinfo=dt.timezone.utc))
