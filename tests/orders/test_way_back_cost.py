"""Issue 20 (CPU per order), placing and the way back: work whose inputs did not change is skipped.

Each test proves a saving keeps its guarantee: a supplier status we already hold writes
nothing; a forwarding thread that starts right after its claim sends without renewing its
lease, while one whose claim waited renews it and sends nothing when the lease was lost.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import event, select, update

from forwarding_kit import (  # noqa: F401 - app, sandbox, supplier_sandbox: fixtures
    add_printful_supplier, app, deliver, deliveries, paid_order_payload, sandbox, supplier_sandbox, worker,
)
from integrations.suppliers.base import SupplierEvent, SupplierEventKind, SupplierOrderStatus
from shopify_app.orders.models import OrderEvent
from shopify_app.suppliers import forwarding
from shopify_app.suppliers.events import apply_event
from shopify_app.suppliers.models import Supplier, SupplierOrder


class Statements:
    """The SQL statements the app's engine runs while recording."""

    def __init__(self, engine):
        self.engine, self.seen, self.on = engine, [], False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, *args):
        if self.on:
            self.seen.append(" ".join(statement.split()))

    def __enter__(self):
        self.seen.clear()
        self.on = True
        return self

    def __exit__(self, *exc):
        self.on = False
        event.remove(self.engine, "before_cursor_execute", self._record)

    def writes(self):
        return [s for s in self.seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def _placed(app, sandbox):
    add_printful_supplier(app, sandbox, timeout=10)
    deliver(app, "orders/paid", paid_order_payload())
    assert worker(app).drain().placed == 1
    [delivery] = deliveries(app)
    return delivery


def _apply(app, delivery, status):
    services = app.extensions["services"]
    calls = []
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, delivery.supplier_id)
        update_ = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id, status=status)
        apply_event(session, supplier, update_, services, calls.append)
    assert calls == []  # a status needs no call out


def _timeline(app, delivery):
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == delivery.order_id).order_by(OrderEvent.id)).all()


def test_a_supplier_status_we_already_hold_writes_nothing_and_reads_no_order(app, sandbox):
    delivery = _placed(app, sandbox)
    _apply(app, delivery, SupplierOrderStatus.SHIPPED)
    [after_first] = deliveries(app)
    assert after_first.supplier_status == "shipped"
    timeline = _timeline(app, delivery)
    engine = app.extensions["services"].session_factory.kw["bind"]
    with Statements(engine) as statements:
        _apply(app, delivery, SupplierOrderStatus.SHIPPED)  # the same report again (a new delivery of the webhook)
    assert statements.writes() == []
    assert not any(" FROM orders " in s for s in statements.seen), statements.seen
    assert _timeline(app, delivery) == timeline


def test_an_acknowledgement_is_told_on_the_timeline_though_placing_stored_the_status(app, sandbox):
    delivery = _placed(app, sandbox)
    assert delivery.supplier_status == "acknowledged"  # placing stored the supplier's answer
    _apply(app, delivery, SupplierOrderStatus.ACKNOWLEDGED)
    assert _timeline(app, delivery)[-1] == "acknowledged"


def _routed(app, sandbox):
    add_printful_supplier(app, sandbox, timeout=10)
    deliver(app, "orders/paid", paid_order_payload())
    [delivery] = deliveries(app)
    return delivery


def _lease(app, delivery_id, owner):
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(SupplierOrder).where(SupplierOrder.id == delivery_id).values(lease_owner=owner, lease_until=forwarding.utcnow() + forwarding.dt.timedelta(seconds=60)))


def test_a_thread_starting_right_after_its_claim_sends_without_renewing_the_lease(app, sandbox):
    delivery = _routed(app, sandbox)
    forwarder = worker(app)
    _lease(app, delivery.id, forwarder.owner)  # as its claim left it
    engine = app.extensions["services"].session_factory.kw["bind"]
    with Statements(engine) as statements:
        report = forwarder._process_one(delivery.id, time.monotonic())
    assert report.placed == 1 and sandbox.orders_created(delivery.idempotency_key) == 1
    assert not [s for s in statements.writes() if s.startswith("UPDATE supplier_orders SET lease_until")], statements.writes()


@pytest.mark.parametrize("taken_by_another", [False, True])
def test_a_claim_that_waited_renews_its_lease_and_is_not_sent_when_another_worker_took_it(app, sandbox, taken_by_another):
    delivery = _routed(app, sandbox)
    forwarder = worker(app)
    _lease(app, delivery.id, "another-worker" if taken_by_another else forwarder.owner)
    waited = time.monotonic() - forwarding.FRESH_CLAIM_SECONDS - 1
    report = forwarder._process_one(delivery.id, waited)
    assert report.placed == (0 if taken_by_another else 1)
    assert sandbox.orders_created(delivery.idempotency_key) == (0 if taken_by_another else 1)
