"""A repeated orders/* snapshot is finished by one conditional UPDATE, without a write transaction of its handler (session 32 part O).

Its prefetch already read the stored order (state and digests) and found that the handler
would write nothing (the same snapshot, or a stale one). The worker then finishes the delivery
with one UPDATE whose WHERE carries what the write transaction would have checked: the row
still due and nobody's (or still leased by this worker), and its shop installed. What changes
between the prefetch and that UPDATE takes the write transaction's way.
"""
from __future__ import annotations

import copy
import datetime as dt

import pytest
from sqlalchemy import update

from forwarding_kit import SHOP, app  # noqa: F401 - fixtures
from shopify_app.models import InboxStatus, Shop, WebhookDelivery
from shopify_app.orders.models import Order
from shopify_app.webhooks import registry
from shopify_app.webhooks.worker import DrainReport
from test_lease_on_claim import process_worker
from test_lease_when_calling_out import Statements, forwarded, lane_worker, order_payload, record, row


def created_and_sent(app, number: int) -> dict:
    """A paid order stored by its orders/create and sent to its supplier since: what its repeated snapshots find."""
    payload = order_payload(number)
    record(app, "orders/create", payload)
    assert lane_worker(app).drain().done == 1
    forwarded(app, number)
    return payload


def stored_order(app, number: int) -> tuple:
    with app.extensions["services"].session_factory() as session:
        order = session.query(Order).filter_by(shop_domain=SHOP, shopify_id=str(number)).one()
        return order.state, order.shopify_updated_at, order.routing_digest, order.details_digest, order.updated_at


def after_prefetch(monkeypatch, topic: str, meanwhile) -> None:
    """Run `meanwhile(app)` right after the topic's prefetch returned (between the prefetch and the write)."""
    prefetch = registry.prefetch_for(topic)

    def then(ctx):
        reads = prefetch(ctx)
        meanwhile()
        return reads

    monkeypatch.setitem(registry.PREFETCHES, topic, then)


def test_an_orders_paid_repeating_what_the_order_holds_is_finished_by_one_update(app):  # noqa: F811
    payload = created_and_sent(app, 5301)
    before = stored_order(app, 5301)
    delivery = record(app, "orders/paid", copy.deepcopy(payload))
    with Statements(app) as statements:
        report = lane_worker(app).drain()
    assert report.done == 1
    writes = [s for s in statements.seen if s.split(None, 1)[0] in ("INSERT", "UPDATE", "DELETE")]
    assert len(writes) == 1 and writes[0].startswith("UPDATE webhook_inbox SET status"), writes
    assert statements.commits() == 1
    assert not any("webhook_inbox.lease_owner, shops.status" in s for s in statements.seen), "no write transaction re-reads the row for the handler"
    handled = row(app, delivery)
    assert (handled.status, handled.lease_owner, handled.lease_until, handled.attempts) == (InboxStatus.DONE.value, None, None, 1)
    assert handled.processed_at is not None
    assert stored_order(app, 5301) == before


def test_a_stale_snapshot_is_settled_without_touching_the_order(app):  # noqa: F811
    payload = created_and_sent(app, 5302)
    newer = dict(copy.deepcopy(payload), updated_at="2026-12-04T06:00:09+00:00", email="new@example.com")
    record(app, "orders/updated", newer)
    assert lane_worker(app).drain().done == 1
    before = stored_order(app, 5302)
    delivery = record(app, "orders/updated", dict(copy.deepcopy(payload), email="old@example.com"))  # older than what is stored
    with Statements(app) as statements:
        assert lane_worker(app).drain().done == 1
    assert [s for s in statements.seen if s.startswith(("UPDATE orders", "INSERT"))] == []
    assert row(app, delivery).status == InboxStatus.DONE.value
    assert stored_order(app, 5302) == before


def test_a_changed_snapshot_is_not_settled_by_the_prefetch(app):  # noqa: F811
    payload = created_and_sent(app, 5303)
    record(app, "orders/updated", dict(copy.deepcopy(payload), updated_at="2026-12-04T06:00:09+00:00", email="new@example.com"))
    assert lane_worker(app).drain().done == 1
    with app.extensions["services"].session_factory() as session:
        assert session.query(Order.email).filter_by(shopify_id="5303").scalar() == "new@example.com"


def test_a_shop_uninstalled_between_the_prefetch_and_the_settling_update_parks_the_delivery(app, monkeypatch):  # noqa: F811
    payload = created_and_sent(app, 5304)

    def uninstall():
        with app.extensions["services"].session_factory.begin() as session:
            session.execute(update(Shop).where(Shop.domain == SHOP).values(status="uninstalled"))

    after_prefetch(monkeypatch, "orders/paid", uninstall)
    delivery = record(app, "orders/paid", copy.deepcopy(payload))
    report = lane_worker(app).drain()
    assert (report.done, report.waiting) == (0, 1)
    assert row(app, delivery).status == InboxStatus.WAITING.value


@pytest.mark.parametrize("lease_on_claim", [False, True], ids=["embedded", "scaled-out"])
def test_a_delivery_another_worker_took_between_the_prefetch_and_the_settling_update_is_left_to_it(app, monkeypatch, lease_on_claim):  # noqa: F811
    payload = created_and_sent(app, 5305)
    delivery = record(app, "orders/paid", copy.deepcopy(payload))
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)

    def taken():
        with app.extensions["services"].session_factory.begin() as session:  # (its lease ran out and) another worker has it now
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery).values(lease_owner="other-worker", lease_until=until))

    after_prefetch(monkeypatch, "orders/paid", taken)
    worker = process_worker(app, lease_on_claim=lease_on_claim)
    won, _, _ = worker._claim(10)
    report = DrainReport()
    worker._process(delivery, "orders/paid", report, won[0])
    assert report.handled == 0 and report.errors == []
    untouched = row(app, delivery)
    assert (untouched.status, untouched.lease_owner, untouched.attempts) == (InboxStatus.PENDING.value, "other-worker", 0)
