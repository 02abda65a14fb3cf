"""One order's orders/create and orders/paid with the same snapshot, claimed in one batch, are handled once (session 33 part K).

Shopify sends both for a paid order at once. The first is handled as before (one Shopify
fulfillment-order read, one routing); the other is finished in the first one's finishing
transaction when that one is DONE, noted "same snapshot as delivery N", without a prefetch, a
parse or a transaction of its own. Anything else (a different snapshot, a topic handled
differently, a first delivery that fails, a row another worker took) is handled on its own.
"""
from __future__ import annotations

import copy
import datetime as dt
import threading

import pytest
from sqlalchemy import select, update

from conftest import webhook_headers
from forwarding_kit import SHOP, app  # noqa: F401 - fixtures
from shopify_app.models import InboxStatus, WebhookDelivery
from shopify_app.webhooks import registry
from shopify_app.webhooks.handled_alike import group_alike
from shopify_app.webhooks.handlers import orders as order_handlers
from shopify_app.webhooks.worker import DrainReport
from test_lease_on_claim import process_worker
from test_lease_when_calling_out import lane_worker, order_payload, record as record_only, row


def record(app, topic: str, payload: dict) -> int:
    """The webhook recorded (not handled yet), its order known to the fake Shopify (its fulfillment orders route it)."""
    app.extensions["fake_shopify"].remember(payload)
    return record_only(app, topic, payload)


@pytest.fixture
def counted(monkeypatch):
    """Each orders/* prefetch run (its topic), Shopify fulfillment-order read and routing, as they happen."""
    seen = {"prefetch": [], "shopify_reads": 0, "routings": 0}
    prefetch, read, route = registry.prefetch_for("orders/create"), order_handlers.read_fulfillment_orders, order_handlers.route_order

    def counted_prefetch(ctx):
        seen["prefetch"].append(ctx.topic)
        return prefetch(ctx)

    def counted_read(*args, **kw):
        seen["shopify_reads"] += 1
        return read(*args, **kw)

    def counted_route(*args, **kw):
        seen["routings"] += 1
        return route(*args, **kw)

    for topic in ("orders/create", "orders/paid", "orders/updated", "orders/cancelled"):
        monkeypatch.setitem(registry.PREFETCHES, topic, counted_prefetch)
    monkeypatch.setattr(order_handlers, "read_fulfillment_orders", counted_read)
    monkeypatch.setattr(order_handlers, "route_order", counted_route)
    return seen


def later(app, delivery: int) -> None:
    """A retry put off for an hour (its backoff is random: it must not come due during the test)."""
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery).values(
            next_attempt_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)))


def done_with(app, delivery: int, first: int | None) -> None:
    handled = row(app, delivery)
    assert (handled.status, handled.lease_owner, handled.lease_until, handled.attempts) == (InboxStatus.DONE.value, None, None, 1)
    assert handled.processed_at is not None
    assert handled.last_error == (f"same snapshot as delivery {first}" if first is not None else None)


@pytest.mark.parametrize("lease_on_claim", [False, True], ids=["embedded", "scaled-out"])
def test_an_orders_create_and_paid_of_one_snapshot_in_one_batch_are_handled_once(app, counted, lease_on_claim):  # noqa: F811
    payload = order_payload(5401)
    created = record(app, "orders/create", payload)
    paid = record(app, "orders/paid", copy.deepcopy(payload))
    worker = process_worker(app, lease_on_claim=lease_on_claim)  # scaled-out on PostgreSQL: the claim leases both and holds their order
    report = worker.drain()
    assert (report.done, report.handled, report.errors) == (2, 2, [])
    assert counted == {"prefetch": ["orders/create"], "shopify_reads": 1, "routings": 1}
    done_with(app, created, None)
    done_with(app, paid, created)
    assert len(worker.in_hand) == 0


def test_the_paid_first_carries_the_create(app, counted):  # noqa: F811
    payload = order_payload(5402)
    paid = record(app, "orders/paid", payload)
    created = record(app, "orders/create", copy.deepcopy(payload))
    assert lane_worker(app).drain().done == 2
    assert counted == {"prefetch": ["orders/paid"], "shopify_reads": 1, "routings": 1}
    done_with(app, paid, None)
    done_with(app, created, paid)


@pytest.mark.parametrize("second", ["newer", "cancelled", "orders/updated"])
def test_deliveries_whose_handling_differs_are_each_handled_on_their_own(app, counted, second):  # noqa: F811
    payload = order_payload(5403)
    created = record(app, "orders/create", payload)
    if second == "newer":
        other = record(app, "orders/paid", dict(copy.deepcopy(payload), updated_at="2026-12-04T06:00:09+00:00", email="new@example.com"))
    elif second == "cancelled":
        other = record(app, "orders/cancelled", dict(copy.deepcopy(payload), updated_at="2026-12-04T06:00:09+00:00",
                                                     cancelled_at="2026-12-04T06:00:09+00:00", cancel_reason="customer"))
    else:  # the same snapshot, but orders/updated reads Shopify again at one version (an edit in the same second)
        other = record(app, "orders/updated", copy.deepcopy(payload))
    assert lane_worker(app).drain().done == 2
    assert len(counted["prefetch"]) == 2, "each delivery prefetched and handled"
    done_with(app, created, None)
    done_with(app, other, None)


def test_a_first_delivery_that_fails_leaves_the_other_as_it_was_and_each_is_then_handled(app, counted, monkeypatch):  # noqa: F811
    payload = order_payload(5404)
    created = record(app, "orders/create", payload)
    paid = record(app, "orders/paid", copy.deepcopy(payload))
    route = order_handlers.route_order
    failures = []

    def fails_once(*args, **kw):
        if not failures:
            failures.append(True)
            raise RuntimeError("supplier catalog unavailable")
        return route(*args, **kw)

    monkeypatch.setattr(order_handlers, "route_order", fails_once)
    worker = lane_worker(app)
    claimed, seen, _ = worker._claim(10)
    claimed, riders = group_alike(claimed)
    assert seen == 2 and riders[created].ids == [paid]
    report = DrainReport()
    worker._process(created, "orders/create", report, claimed[0], riders[created])
    assert report.retried == 1 and riders[created].done == []
    failed = row(app, created)
    assert (failed.status, failed.attempts, failed.lease_owner) == (InboxStatus.PENDING.value, 1, None)
    untouched = row(app, paid)
    assert (untouched.status, untouched.attempts, untouched.lease_owner, untouched.processed_at, untouched.last_error) == (
        InboxStatus.PENDING.value, 0, None, None, None), "exactly as it was"
    worker.in_hand.discard_all([created, paid])
    later(app, created)

    assert lane_worker(app).drain().done == 1, "the paid one on its own (the create waits for its retry)"
    done_with(app, paid, None)
    with app.extensions["services"].session_factory.begin() as session:  # the create's retry is due
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == created).values(next_attempt_at=dt.datetime.now(dt.timezone.utc)))
    assert lane_worker(app).drain().done == 1
    retried = row(app, created)
    assert (retried.status, retried.attempts) == (InboxStatus.DONE.value, 2)
    assert counted["prefetch"] == ["orders/create", "orders/paid", "orders/create"], "each handled on its own"


@pytest.mark.parametrize("lease_on_claim", [False, True], ids=["embedded", "scaled-out"])
def test_a_first_delivery_that_fails_in_every_try_leaves_both_due_and_the_retry_handles_both(app, counted, monkeypatch, lease_on_claim):  # noqa: F811
    payload = order_payload(5405)
    created = record(app, "orders/create", payload)
    paid = record(app, "orders/paid", copy.deepcopy(payload))
    route = order_handlers.route_order
    monkeypatch.setattr(order_handlers, "route_order", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("down")))
    report = process_worker(app, lease_on_claim=lease_on_claim).drain()
    assert (report.done, report.retried) == (0, 2)
    for delivery in (created, paid):
        due = row(app, delivery)
        assert (due.status, due.attempts, due.lease_owner) == (InboxStatus.PENDING.value, 1, None)
    monkeypatch.setattr(order_handlers, "route_order", route)
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_([created, paid])).values(next_attempt_at=dt.datetime.now(dt.timezone.utc)))
    counted["prefetch"].clear()
    assert process_worker(app, lease_on_claim=lease_on_claim).drain().done == 2
    assert counted["prefetch"] == ["orders/create"]
    assert (row(app, created).status, row(app, paid).status, row(app, paid).attempts) == (InboxStatus.DONE.value, InboxStatus.DONE.value, 2)
    assert row(app, paid).last_error == f"same snapshot as delivery {created}"


@pytest.mark.parametrize("lease_on_claim", [False, True], ids=["embedded", "scaled-out"])
def test_the_other_delivery_taken_by_another_worker_meanwhile_is_not_touched(app, counted, monkeypatch, lease_on_claim):  # noqa: F811
    payload = order_payload(5406)
    created = record(app, "orders/create", payload)
    paid = record(app, "orders/paid", copy.deepcopy(payload))
    prefetch = registry.PREFETCHES["orders/create"]
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)

    def then_taken(ctx):
        reads = prefetch(ctx)
        if ctx.delivery_id == created:  # (its lease ran out and) another worker has the paid one now
            with app.extensions["services"].session_factory.begin() as session:
                session.execute(update(WebhookDelivery).where(WebhookDelivery.id == paid).values(lease_owner="other-worker", lease_until=until))
        return reads

    monkeypatch.setitem(registry.PREFETCHES, "orders/create", then_taken)
    report = process_worker(app, lease_on_claim=lease_on_claim).drain()
    assert report.done == 1 and report.errors == []
    done_with(app, created, None)
    untouched = row(app, paid)
    assert (untouched.status, untouched.lease_owner, untouched.attempts, untouched.last_error) == (InboxStatus.PENDING.value, "other-worker", 0, None)


def test_a_first_delivery_with_follow_up_calls_finishes_the_other_after_them(app, counted, monkeypatch):  # noqa: F811
    payload = order_payload(5407)
    created = record(app, "orders/create", payload)
    paid = record(app, "orders/paid", copy.deepcopy(payload))
    calls, failing = [], [True]
    monkeypatch.setattr(order_handlers, "has_pending_holds", lambda session, shop: True)

    def sync_fails_first(services, shop):
        calls.append(shop)
        if failing:
            failing.clear()
            raise RuntimeError("Shopify hold call failed")

    monkeypatch.setattr(order_handlers, "sync_app_holds", sync_fails_first)
    report = lane_worker(app).drain()
    assert (report.done, report.retried) == (1, 1), "the create's follow-up failed: retried; the paid one handled on its own"
    assert row(app, created).status == InboxStatus.PENDING.value
    done_with(app, paid, None)
    later(app, created)
    calls.clear()
    third = record(app, "orders/create", dict(order_payload(5408)))
    fourth = record(app, "orders/paid", order_payload(5408))
    assert lane_worker(app).drain().done == 2
    assert calls == [SHOP], "one follow-up for the pair"
    done_with(app, third, None)
    done_with(app, fourth, third)


def test_a_rider_another_workers_transaction_has_locked_is_skipped_not_waited_for(app, counted, monkeypatch):  # noqa: F811
    """PostgreSQL: that transaction may wait for the order rows the first delivery's transaction wrote; waiting for it could deadlock."""
    engine = app.extensions["services"].session_factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write transaction is exclusive: no other transaction holds a row lock")
    payload = order_payload(5409)
    created = record(app, "orders/create", payload)
    paid = record(app, "orders/paid", copy.deepcopy(payload))
    prefetch = registry.PREFETCHES["orders/create"]
    locker = engine.connect()
    release = threading.Timer(3.0, locker.rollback)  # would end a wait on the lock (the test then sees the rider finished with the first)

    def then_locked(ctx):
        reads = prefetch(ctx)
        if ctx.delivery_id == created:  # another worker's write transaction holds the paid row now
            locker.execute(select(WebhookDelivery.id).where(WebhookDelivery.id == paid).with_for_update())
            release.start()
        return reads

    monkeypatch.setitem(registry.PREFETCHES, "orders/create", then_locked)
    try:
        worker = lane_worker(app)
        claimed, _, _ = worker._claim(10)
        claimed, riders = group_alike(claimed)
        report = DrainReport()
        worker._process(created, "orders/create", report, claimed[0], riders[created])
        assert report.done == 1 and riders[created].done == [], "the locked rider was skipped"
        untouched = row(app, paid)
        assert (untouched.status, untouched.attempts, untouched.last_error) == (InboxStatus.PENDING.value, 0, None)
    finally:
        release.cancel()
        locker.rollback()
        locker.close()
    worker.in_hand.discard_all([created, paid])
    assert lane_worker(app).drain().done == 1, "then handled on its own"
    done_with(app, paid, None)


def test_a_hook_that_fails_on_a_payload_leaves_each_delivery_to_be_handled_on_its_own(app, counted, monkeypatch):  # noqa: F811
    def broken(topic, payload):
        raise KeyError("a payload the hook did not expect")

    monkeypatch.setitem(registry.HANDLED_ALIKE, "orders/paid", broken)
    payload = order_payload(5410)
    created = record(app, "orders/create", payload)
    paid = record(app, "orders/paid", copy.deepcopy(payload))
    assert lane_worker(app).drain().done == 2, "the drain went on"
    assert counted["prefetch"] == ["orders/create", "orders/paid"]
    done_with(app, created, None)
    done_with(app, paid, None)


def test_a_signed_body_nested_past_the_recursion_limit_fails_alone_and_the_other_orders_go_on(app, counted):  # noqa: F811
    # json.loads raises RecursionError (not ValueError) on it: grouping must skip the row, not stop every drain of the lane.
    depth = 200_000
    body = b'{"id": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body, shop=SHOP)).status_code == 200
    with app.extensions["services"].session_factory() as session:
        poison = session.scalar(select(WebhookDelivery.id).order_by(WebhookDelivery.id.desc()).limit(1))
    good = record(app, "orders/create", order_payload(5501))
    lane_worker(app).drain()
    assert row(app, good).status == InboxStatus.DONE.value
    assert (row(app, poison).status, row(app, poison).attempts, row(app, poison).last_error) == (InboxStatus.DEAD.value, 1, "PoisonPayload: body is not valid JSON: nested too deeply")
