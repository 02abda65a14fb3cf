"""Issue 20 (CPU per order), supplier events: the two every order brings are applied from the delivery's row.

A status report and a parcel announced without its lines (Printful's shipment webhook) no
longer load the delivery through the ORM nor flush a unit of work; the tests prove the
writes are the same (status stored, acknowledgement on the timeline, the parcel read from
the supplier after the commit, not inside it), and that a report carrying a supplier order id we do not
hold yet still goes the ORM way and stores it.
"""
from __future__ import annotations

from sqlalchemy import event, select, update

from forwarding_kit import (  # noqa: F401 - app, sandbox, supplier_sandbox: fixtures
    add_printful_supplier, app, deliver, deliveries, paid_order_payload, sandbox, supplier_sandbox, worker,
)
from integrations.suppliers.base import Shipment, SupplierEvent, SupplierEventKind, SupplierOrderStatus
from shopify_app.orders.models import OrderEvent
from shopify_app.suppliers.events import apply_event
from shopify_app.suppliers.forwarding import adapter_from_record
from shopify_app.suppliers.models import Alert, Supplier, SupplierOrder, SupplierShipment


def _placed(app, sandbox):
    add_printful_supplier(app, sandbox, timeout=10)
    deliver(app, "orders/paid", paid_order_payload())
    assert worker(app).drain().placed == 1
    [delivery] = deliveries(app)
    return delivery


def _apply(app, delivery, supplier_event, adapter=None):
    """Apply in one write transaction as the lane does: (calls handed to after_commit, ORM flushes seen)."""
    services = app.extensions["services"]
    calls, flushes = [], []

    def flushed(session, context):
        flushes.append(1)

    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, delivery.supplier_id)
        event.listen(session, "after_flush", flushed)
        apply_event(session, supplier, supplier_event, services, calls.append, adapter)
        session.flush()  # what the lane's finish would write of the handler's ORM work
    return calls, flushes


def _timeline(app, delivery):
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == delivery.order_id).order_by(OrderEvent.id)).all()


def test_a_new_status_is_stored_and_an_acknowledgement_told_without_a_unit_of_work(app, sandbox):
    delivery = _placed(app, sandbox)
    report = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id, status=SupplierOrderStatus.PARTIALLY_SHIPPED)
    calls, flushes = _apply(app, delivery, report)
    assert calls == [] and flushes == []
    [after] = deliveries(app)
    assert after.supplier_status == "partially_shipped"
    before = len(_timeline(app, delivery))
    ack = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id, status=SupplierOrderStatus.ACKNOWLEDGED)
    calls, flushes = _apply(app, delivery, ack)
    assert flushes == []
    assert _timeline(app, delivery)[before:] == ["acknowledged"]
    [after] = deliveries(app)
    assert after.supplier_status == "acknowledged"


def test_a_parcel_announced_without_lines_is_read_from_the_supplier_after_the_commit(app, sandbox):
    delivery = _placed(app, sandbox)
    services = app.extensions["services"]
    with services.session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, delivery.supplier_id), services.box)
    sandbox.ship(delivery.supplier_order_id, tracking_number="1ZROWS", carrier="UPS")
    announced = SupplierEvent(SupplierEventKind.SHIPMENT, supplier_order_id=delivery.supplier_order_id,
                              shipment=Shipment(shipment_id="announced", carrier="UPS", tracking_number="1ZROWS", tracking_url=None, lines=()))
    calls, flushes = _apply(app, delivery, announced, adapter)
    assert flushes == [] and len(calls) == 1  # the poll (a supplier call) is handed to after the commit
    with services.session_factory() as session:  # nothing recorded inside the transaction: the poll records the parcel
        assert session.scalars(select(SupplierShipment).where(SupplierShipment.supplier_order_id == delivery.id)).all() == []


def test_a_report_with_a_supplier_order_id_we_do_not_hold_yet_goes_the_orm_way_and_stores_it(app, sandbox):
    delivery = _placed(app, sandbox)
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(SupplierOrder).where(SupplierOrder.id == delivery.id).values(supplier_order_id=None))
    report = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id, external_id=delivery.idempotency_key,
                           status=SupplierOrderStatus.PARTIALLY_SHIPPED)
    _apply(app, delivery, report)
    [after] = deliveries(app)
    assert after.supplier_order_id == delivery.supplier_order_id
    assert after.supplier_status == "partially_shipped"


def _statements(app, delivery, supplier_event, adapter=None):
    """The SQL statements applying one event runs (as the lane runs it), by their first word."""
    engine = app.extensions["services"].engine
    seen = []

    def executed(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", executed)
    try:
        calls, flushes = _apply(app, delivery, supplier_event, adapter)
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    return [word for word in seen if word in ("SELECT", "INSERT", "UPDATE", "DELETE")], calls, flushes


def test_a_status_already_known_reads_one_row_and_writes_nothing(app, sandbox):
    delivery = _placed(app, sandbox)
    report = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id,
                           status=SupplierOrderStatus.PARTIALLY_SHIPPED)
    _apply(app, delivery, report)
    before = _timeline(app, delivery)
    statements, calls, flushes = _statements(app, delivery, report)  # the redelivery
    assert statements[-1:] == ["SELECT"] and statements.count("SELECT") == 2  # the supplier, then the delivery's row
    assert calls == [] and flushes == [] and _timeline(app, delivery) == before


def test_a_new_status_costs_one_read_and_one_update(app, sandbox):
    delivery = _placed(app, sandbox)
    report = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id,
                           status=SupplierOrderStatus.PARTIALLY_SHIPPED)
    statements, _, _ = _statements(app, delivery, report)
    assert statements[1:] == ["SELECT", "UPDATE"]
    ack = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id, status=SupplierOrderStatus.ACKNOWLEDGED)
    statements, _, _ = _statements(app, delivery, ack)
    assert statements[1:] == ["SELECT", "UPDATE", "INSERT"]


def test_a_parcel_announced_for_a_supplier_order_id_learnt_only_now_stores_it_and_is_polled(app, sandbox):
    delivery = _placed(app, sandbox)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        session.execute(update(SupplierOrder).where(SupplierOrder.id == delivery.id).values(supplier_order_id=None))
        adapter = adapter_from_record(session.get(Supplier, delivery.supplier_id), services.box)
    announced = SupplierEvent(SupplierEventKind.SHIPMENT, supplier_order_id=delivery.supplier_order_id, external_id=delivery.idempotency_key,
                              shipment=Shipment(shipment_id="announced", carrier="UPS", tracking_number="1ZNEWS", tracking_url=None, lines=()))
    calls, _ = _apply(app, delivery, announced, adapter)
    assert len(calls) == 1  # the poll, after the commit
    [after] = deliveries(app)
    assert after.supplier_order_id == delivery.supplier_order_id


def test_on_hold_is_told_and_alerted_the_orm_way(app, sandbox):
    delivery = _placed(app, sandbox)
    hold = SupplierEvent(SupplierEventKind.ORDER_UPDATED, supplier_order_id=delivery.supplier_order_id, status=SupplierOrderStatus.ON_HOLD,
                         reason="address check")
    _, flushes = _apply(app, delivery, hold)
    assert flushes  # the rare events keep the ORM way
    [after] = deliveries(app)
    assert after.supplier_status == "on_hold"
    assert _timeline(app, delivery)[-1] == "problem"
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(Alert.kind).where(Alert.dedupe_key == f"supplier_hold:{delivery.id}")) == "supplier_hold"


def test_an_event_for_a_delivery_we_do_not_know_changes_nothing(app, sandbox):
    delivery = _placed(app, sandbox)
    stray = SupplierEvent(SupplierEventKind.ORDER_FAILED, supplier_order_id="not-ours", reason="no")
    before = _timeline(app, delivery)
    calls, flushes = _apply(app, delivery, stray)
    assert calls == [] and flushes == [] and _timeline(app, delivery) == before
    [after] = deliveries(app)
    assert after.state == delivery.state


def test_a_parcel_whose_fields_no_column_holds_is_still_recorded(app, sandbox):
    """Session 34: every adapter's shipment reaches the database in record_shipment. A Printful tracking number of 300 characters,
    a carrier sent as an object, a NUL, a lone surrogate or a 200-character id failed the parcel's write (PostgreSQL; SQLite the
    object and the surrogate): its tracking never reached Shopify and every later report of it failed the same way."""
    import json

    from shopify_app.suppliers.events import record_shipments

    delivery = _placed(app, sandbox)
    odd = [
        Shipment(shipment_id="s" * 200, carrier={"name": "UPS"}, tracking_number="9" * 300, tracking_url=None, lines=(), shipped_at="2026" * 20),
        Shipment(shipment_id="p2", carrier="DHL\x00" + "C" * 300, tracking_number="1Z\x00" + json.loads('"\\udc80"'), tracking_url=None, lines=(),
                 estimated_delivery=1767225600),
    ]
    services = app.extensions["services"]
    for _ in range(2):  # a second report of the same parcels corrects the same rows
        with services.session_factory.begin() as session:
            record_shipments(session, session.get(SupplierOrder, delivery.id), odd)
    with services.session_factory() as session:
        rows = session.scalars(select(SupplierShipment).where(SupplierShipment.supplier_order_id == delivery.id).order_by(SupplierShipment.id)).all()
        stored = [(len(r.shipment_id), r.carrier, r.tracking_number, r.shipped_at, r.estimated_delivery) for r in rows]
    assert stored == [(128, None, None, None, None), (2, "DHL" + "C" * 125, "1Z?", None, "1767225600")]
