"""Forwarding to the Printful sandbox through the real adapter: exactly once through every fault."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from forwarding_kit import (  # noqa: F401 - app, sandbox, supplier_sandbox: fixtures
    SHOP, add_printful_supplier, app, deliver, deliveries, make_due, paid_order_payload, sandbox, supplier_sandbox, worker,
)
from shopify_app.suppliers.forwarding import CircuitBreaker
from sandbox.supplier.orders import NotFound
from shopify_app.suppliers.models import Alert, DeliveryAttempt, Supplier


def routed_order(app, sandbox, **kw):
    add_printful_supplier(app, sandbox, **kw)
    deliver(app, "orders/paid", paid_order_payload())
    [delivery] = deliveries(app)
    return delivery


def test_paid_order_is_placed_once_and_replays_do_not_place_again(app, sandbox):
    delivery = routed_order(app, sandbox)
    report = worker(app).drain()
    assert report.placed == 1
    [placed] = deliveries(app)
    assert placed.state == "placed" and placed.supplier_order_id
    assert sandbox.orders_created(delivery.idempotency_key) == 1
    assert sandbox.order(placed.supplier_order_id).status != "draft"  # confirmed, not left a draft
    deliver(app, "orders/paid", paid_order_payload())  # the same webhook again
    deliver(app, "orders/updated", paid_order_payload() | {"updated_at": "2022-02-01T00:00:00Z"})
    make_due(app)
    assert worker(app).drain().placed == 0
    assert sandbox.orders_created(delivery.idempotency_key) == 1


def test_timeout_after_the_supplier_processed_is_resolved_by_lookup_not_a_second_order(app, sandbox):
    delivery = routed_order(app, sandbox, timeout=0.5)
    sandbox.time_out_next(hold_seconds=2, route="POST /v2/orders")
    first = worker(app).drain()
    assert first.retrying == 1
    assert deliveries(app)[0].state == "unknown"
    make_due(app)
    second = worker(app).drain()
    assert second.found_after_unknown + second.placed == 1
    assert deliveries(app)[0].state == "placed"
    assert sandbox.orders_created(delivery.idempotency_key) == 1


def test_crash_between_the_suppliers_answer_and_our_commit_does_not_place_twice(app, sandbox):
    delivery = routed_order(app, sandbox)
    crashing = worker(app)
    real_adapter_for = crashing.adapter_for

    class KilledAfterAnswer:
        def __init__(self, supplier):
            self.inner = real_adapter_for(supplier)

        def place_order(self, request):
            self.inner.place_order(request)  # the supplier has it...
            raise RuntimeError("worker killed before it could record the answer")

        def __getattr__(self, name):
            return getattr(self.inner, name)

    crashing.adapter_for = KilledAfterAnswer
    crashing.drain()
    assert deliveries(app)[0].state == "unknown"
    make_due(app)  # the dead worker's lease runs out
    report = worker(app).drain()
    assert report.found_after_unknown == 1 and report.placed == 0
    assert sandbox.orders_created(delivery.idempotency_key) == 1


def test_supplier_5xx_is_retried_with_backoff_and_recorded_per_attempt(app, sandbox):
    delivery = routed_order(app, sandbox)
    sandbox.fail_next(503, count=1, route="POST /v2/orders")
    assert worker(app).drain().retrying == 1
    make_due(app)
    worker(app).drain()
    assert deliveries(app)[0].state == "placed"
    with app.extensions["services"].session_factory() as session:
        attempts = [(a.action, a.outcome) for a in session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))]
    assert attempts[0] == ("place", "transient") and attempts[-1][1] == "ok"
    assert ("lookup", "not_found") in attempts  # asked before sending again
    assert sandbox.orders_created(delivery.idempotency_key) == 1


def test_an_order_created_but_not_confirmed_is_finished_with_one_confirmation_not_placed_again(app, sandbox):
    # A flaky supplier's lost confirmation: the create landed (a draft), the confirmation got a 5xx.
    delivery = routed_order(app, sandbox, timeout=15)
    sandbox.fail_next(503, count=1, route="POST /v2/orders/")  # the confirmation (not the create: its path is exactly /v2/orders)
    assert worker(app).drain().retrying == 1
    assert deliveries(app)[0].state == "unknown"
    sandbox.received.clear()
    make_due(app)
    worker(app).drain()
    [placed] = deliveries(app)
    assert placed.state == "placed" and sandbox.order(placed.supplier_order_id).status == "pending"
    # One lookup and one confirmation: no second create to be refused and read back (each call
    # is another chance for a flaky supplier to fail, and the backoff grows with every failure).
    assert [(method, path) for method, path, _ in sandbox.received] == [
        ("GET", f"/v2/orders/@{delivery.idempotency_key}"), ("POST", f"/v2/orders/{placed.supplier_order_id}/confirmation")]
    assert sandbox.orders_created(delivery.idempotency_key) == 1
    with app.extensions["services"].session_factory() as session:
        attempts = [(a.action, a.outcome, a.request.get("resumed_draft")) for a in session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))]
    assert attempts == [("place", "transient", None), ("lookup", "ok", None), ("place", "ok", placed.supplier_order_id)]


def test_permanent_rejection_is_not_retried_and_raises_an_alert(app, sandbox):
    add_printful_supplier(app, sandbox, skus=("NO-SUCH-SKU",))
    deliver(app, "orders/paid", paid_order_payload(skus=("NO-SUCH-SKU",)))
    report = worker(app).drain()
    assert report.failed == 1
    assert deliveries(app)[0].state == "failed"
    with app.extensions["services"].session_factory() as session:
        assert [a.kind for a in session.scalars(select(Alert))] == ["supplier_rejected"]
    make_due(app)
    assert worker(app).drain().placed == 0


def test_circuit_breaker_stops_calling_a_failing_supplier(app, sandbox):
    routed_order(app, sandbox)
    breaker = CircuitBreaker(window=2, open_ratio=1.0, cooldown=300)
    sandbox.fail_next(503, count=10)
    w = worker(app, breaker=breaker)
    w.drain()  # place fails
    make_due(app)
    w.drain()  # lookup fails: two failures out of two
    calls_before = len(sandbox.received)
    make_due(app)
    report = w.drain()
    assert report.postponed == 1 and len(sandbox.received) == calls_before


def test_deleted_supplier_fails_with_an_alert_instead_of_silently_dropping(app, sandbox):
    routed_order(app, sandbox)
    with app.extensions["services"].session_factory.begin() as session:
        for supplier in session.scalars(select(Supplier)):
            supplier.active = False
    assert worker(app).drain().failed == 1
    with app.extensions["services"].session_factory() as session:
        assert [a.kind for a in session.scalars(select(Alert))] == ["supplier_gone"]


def test_cancellation_in_shopify_cancels_at_the_supplier(app, sandbox):
    routed_order(app, sandbox)
    worker(app).drain()
    # Printful v2 deletes only draft, failed or canceled orders (the next test has a confirmed one): this one failed there.
    sandbox.fail(deliveries(app)[0].supplier_order_id, "Payment failed")
    deliver(app, "orders/cancelled", paid_order_payload() | {"cancelled_at": "2022-03-01T00:00:00Z", "updated_at": "2022-03-01T00:00:00Z"})
    assert worker(app).drain().cancelled == 1
    [delivery] = deliveries(app)
    assert delivery.state == "cancelled"
    with pytest.raises(NotFound):  # v2 DELETE deletes the order
        sandbox.order(delivery.supplier_order_id)


def test_cancelling_a_confirmed_printful_order_is_refused_with_an_alert_saying_what_to_do(app, sandbox):
    routed_order(app, sandbox)
    worker(app).drain()
    deliver(app, "orders/cancelled", paid_order_payload() | {"cancelled_at": "2022-03-01T00:00:00Z", "updated_at": "2022-03-01T00:00:00Z"})
    assert worker(app).drain().failed == 1
    [delivery] = deliveries(app)
    assert delivery.state == "placed" and sandbox.order(delivery.supplier_order_id).status == "pending"
    assert not [path for method, path, _ in sandbox.received if method == "DELETE"]  # refused before any DELETE
    with app.extensions["services"].session_factory() as session:
        [alert] = session.scalars(select(Alert)).all()
    assert alert.kind == "cancel_refused" and "Printful dashboard" in alert.message and alert.severity == "critical"


def test_cancellation_after_shipping_is_refused_and_alerted(app, sandbox):
    routed_order(app, sandbox)
    worker(app).drain()
    [delivery] = deliveries(app)
    sandbox.ship(delivery.supplier_order_id, tracking_number="1Z999")
    deliver(app, "orders/cancelled", paid_order_payload() | {"cancelled_at": "2022-03-01T00:00:00Z", "updated_at": "2022-03-01T00:00:00Z"})
    worker(app).drain()
    with app.extensions["services"].session_factory() as session:
        assert [a.kind for a in session.scalars(select(Alert))] == ["cancel_refused"]


def test_cancel_racing_a_forward_that_never_reached_the_supplier(app, sandbox):
    routed_order(app, sandbox)
    deliver(app, "orders/cancelled", paid_order_payload() | {"cancelled_at": "2022-03-01T00:00:00Z", "updated_at": "2022-03-01T00:00:00Z"})
    report = worker(app).drain()
    assert report.cancelled == 1 and report.placed == 0
    assert sandbox.orders_created(deliveries(app)[0].idempotency_key) == 0


def test_cancellation_arriving_while_the_forward_is_in_flight_cancels_what_was_placed(app, sandbox):
    routed_order(app, sandbox)
    racing = worker(app)
    real_adapter_for = racing.adapter_for

    class CancelledMidFlight:
        def __init__(self, supplier):
            self.inner = real_adapter_for(supplier)

        def place_order(self, request):
            result = self.inner.place_order(request)
            sandbox.fail(result.supplier_order_id)  # deletable at Printful (a confirmed order is not: see above)
            # Shopify's orders/cancelled lands while the supplier's answer is on its way.
            deliver(app, "orders/cancelled", paid_order_payload() | {"cancelled_at": "2022-03-01T00:00:00Z", "updated_at": "2022-03-01T00:00:00Z"})
            return result

        def __getattr__(self, name):
            return getattr(self.inner, name)

    racing.adapter_for = CancelledMidFlight
    racing.drain()
    [delivery] = deliveries(app)
    assert delivery.state == "cancelled" and delivery.supplier_order_id
    with pytest.raises(NotFound):  # what was placed is deleted at Printful
        sandbox.order(delivery.supplier_order_id)
    assert sandbox.orders_created(delivery.idempotency_key) == 1


def test_lines_go_to_the_backup_supplier_when_the_primary_rejects_the_order(app, sandbox):
    from shopify_app.suppliers.models import ProductMapping

    add_printful_supplier(app, sandbox, skus=("TSHIRT-BLK-S",))
    with app.extensions["services"].session_factory.begin() as session:
        primary = session.scalars(select(Supplier)).one()
        primary.name, primary.priority = "Primary", 1
        # The primary maps the SKU to something it does not sell: it will refuse (4xx).
        session.scalars(select(ProductMapping)).one().supplier_sku = "NO-SUCH-SKU"
        backup = Supplier(shop_domain=SHOP, name="Backup", kind="printful", priority=50, credentials_enc=primary.credentials_enc, settings=dict(primary.settings))
        session.add(backup)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TSHIRT-BLK-S", supplier_id=backup.id, supplier_sku="TSHIRT-BLK-S"))
    deliver(app, "orders/paid", paid_order_payload(skus=("TSHIRT-BLK-S",)))
    first = worker(app).drain()
    assert first.failed == 1 and first.placed == 1  # refused by the primary, then placed at the backup in the same pass
    by_supplier = {d.supplier.name: d for d in deliveries(app)}
    assert by_supplier["Primary"].state == "failed" and by_supplier["Primary"].lines == []
    assert by_supplier["Backup"].state == "placed" and [l.supplier_sku for l in by_supplier["Backup"].lines] == ["TSHIRT-BLK-S"]
    with app.extensions["services"].session_factory() as session:
        [alert] = session.scalars(select(Alert)).all()
    assert alert.severity == "warning" and "backup Backup" in alert.message


def test_an_outcome_only_the_supplier_can_tell_stays_unknown_with_a_critical_alert(app, sandbox):
    """The file adapter's old PO with no file anywhere (review item 11): not re-sent, not failed, the merchant asked to check."""
    from integrations.suppliers.base import OutcomeNeedsCheck
    from shopify_app.suppliers.forwarding import adapter_from_record

    routed_order(app, sandbox)
    services = app.extensions["services"]

    class Unaccounted:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def place_order(self, request):
            raise OutcomeNeedsCheck("PO x: its file is in no folder we know; check with the supplier")

    report = worker(app, adapter_for=lambda supplier: Unaccounted(adapter_from_record(supplier, services.box))).drain()
    assert report.retrying == 1 and report.failed == 0
    assert deliveries(app)[0].state == "unknown"
    with services.session_factory() as session:
        [alert] = session.scalars(select(Alert)).all()
    assert alert.kind == "supplier_outcome_unknown" and alert.severity == "critical" and "check with the supplier" in alert.message
