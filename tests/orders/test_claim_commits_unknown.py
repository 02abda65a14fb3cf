"""The claim that leases a new delivery commits it UNKNOWN in the same transaction (issue 19 session 32 part F).

One write transaction less per order: the lease, the read of what is sent and "we may have
sent it" are one commit. A crash right after that commit (before the supplier call) leaves the
row UNKNOWN under an expiring lease: the next attempt looks the order up by its external id,
finds nothing, and places it once. The cost is one lookup call, on recovery only.
"""
from __future__ import annotations

from sqlalchemy import event, select

from forwarding_kit import add_printful_supplier, app, deliver, deliveries, make_due, paid_order_payload, sandbox, supplier_sandbox, worker  # noqa: F401 - fixtures
from shopify_app.fulfillment.models import FulfillmentOrderRecord
from shopify_app.suppliers.forwarding import ForwardReport
from shopify_app.suppliers.models import DeliveryAttempt


def attempts(app) -> list[tuple[str, str]]:
    with app.extensions["services"].session_factory() as session:
        return [(a.action, a.outcome) for a in session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))]


def test_a_crash_right_after_the_claim_places_the_order_exactly_once(app, sandbox):  # noqa: F811
    add_printful_supplier(app, sandbox)
    deliver(app, "orders/paid", paid_order_payload())
    dying = worker(app)
    claimed = dying._claim(10, ForwardReport(), 8)  # the merged transaction commits; the process dies before any thread runs
    assert len(claimed) == 1
    [delivery] = deliveries(app)
    assert (delivery.state, delivery.lease_owner, delivery.attempts) == ("unknown", dying.owner, 1), "leased and UNKNOWN in one commit"
    assert delivery.sent_address_digest and [line.sent_quantity for line in delivery.lines] == [1, 1], "what is sent is recorded with it"
    assert sandbox.orders_created(delivery.idempotency_key) == 0
    assert worker(app).drain().placed == 0, "leased by the dead worker: nobody sends meanwhile"
    make_due(app)  # the dead worker's lease runs out
    report = worker(app).drain()
    assert report.placed == 1 and report.found_after_unknown == 0
    [placed] = deliveries(app)
    assert placed.state == "placed" and placed.lease_owner is None
    assert sandbox.orders_created(delivery.idempotency_key) == 1
    assert attempts(app) == [("lookup", "not_found"), ("place", "ok")], "asked the supplier before sending"


def test_a_delivery_the_claim_finds_held_is_postponed_in_the_claim_and_not_sent(app, sandbox):  # noqa: F811
    add_printful_supplier(app, sandbox)
    payload = paid_order_payload()
    deliver(app, "orders/paid", payload)
    fake = app.extensions["fake_shopify"]
    fo_gid = f"gid://shopify/FulfillmentOrder/{payload['id']}"
    fake.holds[fo_gid] = {"id": "gid://shopify/FulfillmentHold/9", "handle": "merchant", "reason": "OTHER", "heldByRequestingApp": False}
    with app.extensions["services"].session_factory.begin() as session:  # Shopify's hold, as stored by the fulfillment-order sync
        record = session.scalars(select(FulfillmentOrderRecord)).one()
        record.status, record.holds = "ON_HOLD", [fake.holds[fo_gid]]
    w = worker(app)
    report = ForwardReport()
    assert w._claim(10, report, 8) == []  # nothing handed to a thread
    assert report.postponed == 1
    [delivery] = deliveries(app)
    assert (delivery.state, delivery.lease_owner, delivery.attempts) == ("on_hold", None, 0)
    assert w.slots.free(delivery.supplier_id) == w.slots.limit, "its supplier slot was given back"
    assert sandbox.orders_created(delivery.idempotency_key) == 0


def test_a_new_order_is_placed_in_two_write_transactions(app, sandbox):  # noqa: F811
    """The claim (lease, read, UNKNOWN, what is sent) and the record of the answer: nothing else is committed."""
    add_printful_supplier(app, sandbox)
    deliver(app, "orders/paid", paid_order_payload())
    engine = app.extensions["services"].session_factory.kw["bind"]
    writes = []

    def on_statement(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(id(conn.connection.dbapi_connection))

    commits = []

    def on_commit(conn):
        commits.append(bool(writes))  # a commit that wrote something (a read transaction ends in a rollback)
        writes.clear()

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        assert worker(app).drain().placed == 1
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    assert commits.count(True) == 2


def test_a_delivery_that_cannot_be_read_in_the_claim_costs_only_itself(app, sandbox, monkeypatch):  # noqa: F811
    add_printful_supplier(app, sandbox)
    deliver(app, "orders/paid", paid_order_payload(order_number=1001))
    deliver(app, "orders/paid", paid_order_payload(order_number=1002))
    bad, good = deliveries(app)
    w = worker(app)
    read_and_mark = w._read_and_mark

    def broken_for_one(connection, delivery_id, *args, **kwargs):
        if delivery_id == bad.id:
            raise ValueError("bad data in this delivery")
        return read_and_mark(connection, delivery_id, *args, **kwargs)

    monkeypatch.setattr(w, "_read_and_mark", broken_for_one)
    assert w.drain().placed == 1  # the claim did not fail for both: the good one went
    by_id = {d.id: d for d in deliveries(app)}
    assert by_id[good.id].state == "placed" and sandbox.orders_created(good.idempotency_key) == 1
    assert by_id[bad.id].state == "pending" and sandbox.orders_created(bad.idempotency_key) == 0  # left to its lease, never sent
