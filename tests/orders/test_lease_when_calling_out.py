"""orders/* deliveries are leased only when their prefetch calls Shopify (issue 20 part P).

Most of an order's webhooks repeat a snapshot the app already acted on: their prefetch reads
nothing from Shopify, so they are taken in their write transaction like a topic without a
prefetch (no lease written, one fsync'd commit). A delivery whose prefetch does read from
Shopify is leased first, so no other worker reads the same thing meanwhile; a delivery another
worker leased is left to it. Each delivery is still handled exactly once.
"""
from __future__ import annotations

import copy
import datetime as dt
import json

from sqlalchemy import event, select, update

from conftest import webhook_headers
from forwarding_kit import SHOP, app, paid_order_payload  # noqa: F401 - fixtures
from shopify_app.models import InboxStatus, WebhookDelivery
from shopify_app.orders.models import Order
from shopify_app.webhooks.handlers import orders as order_handlers
from shopify_app.webhooks.worker import DrainReport, InboxWorker


def order_payload(number: int) -> dict:
    """A paid order as Shopify sends it on orders/create and, unchanged, on orders/paid (same updated_at)."""
    payload = paid_order_payload(order_number=number)
    payload.update(created_at="2026-12-04T06:00:00+00:00", updated_at="2026-12-04T06:00:00+00:00")
    return payload


def record(app, topic: str, payload: dict) -> int:
    """POST the webhook (recorded, not handled yet); its inbox row's id."""
    body = json.dumps(payload).encode()
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP)).status_code == 200
    with app.extensions["services"].session_factory() as session:
        return session.scalar(select(WebhookDelivery.id).order_by(WebhookDelivery.id.desc()).limit(1))


def row(app, delivery_id: int) -> WebhookDelivery:
    with app.extensions["services"].session_factory() as session:
        return session.get(WebhookDelivery, delivery_id)


def lane_worker(app) -> InboxWorker:
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services)


class Statements:
    def __init__(self, app):
        self.engine = app.extensions["services"].session_factory.kw["bind"]
        self.seen: list[str] = []
        self.committed = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)
        event.remove(self.engine, "commit", self._commit)

    def _commit(self, conn):
        self.committed += 1

    def _seen(self, conn, cursor, statement, *args):
        self.seen.append(" ".join(statement.split()))

    def lease_writes(self) -> list[str]:
        return [s for s in self.seen if s.startswith("UPDATE webhook_inbox SET lease_owner")]

    def commits(self) -> int:
        return self.committed  # read transactions end in a rollback


def shopify_reads(monkeypatch, app) -> list:
    """Each fulfillment-order read the prefetch makes, with the row's lease owner at that moment."""
    seen = []
    original = order_handlers.read_fulfillment_orders

    def read(gateway, order_gid):
        with app.extensions["services"].session_factory() as session:
            seen.append(session.scalar(select(WebhookDelivery.lease_owner).where(WebhookDelivery.topic == "orders/create")))
        return original(gateway, order_gid)

    monkeypatch.setattr(order_handlers, "read_fulfillment_orders", read)
    return seen


def test_an_orders_create_is_leased_before_its_prefetch_reads_from_shopify(app, monkeypatch):  # noqa: F811
    reads = shopify_reads(monkeypatch, app)
    worker = lane_worker(app)
    delivery = record(app, "orders/create", order_payload(5101))
    report = worker.drain()
    assert report.done == 1 and reads == [worker.owner], "leased by this worker while Shopify was read"
    handled = row(app, delivery)
    assert (handled.status, handled.lease_owner, handled.attempts) == (InboxStatus.DONE.value, None, 1)


def forwarded(app, number: int) -> None:
    """The order went out (placing is another part's): its later orders/* read nothing from Shopify."""
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(Order).where(Order.shop_domain == SHOP, Order.shopify_id == str(number)).values(state="forwarded"))


def test_a_repeated_snapshot_reads_nothing_from_shopify_and_writes_no_lease(app, monkeypatch):  # noqa: F811
    payload = order_payload(5102)
    record(app, "orders/create", payload)
    assert lane_worker(app).drain().done == 1
    forwarded(app, 5102)
    reads = shopify_reads(monkeypatch, app)
    delivery = record(app, "orders/updated", copy.deepcopy(payload))
    with Statements(app) as statements:
        report = lane_worker(app).drain()
    assert report.done == 1 and reads == []
    assert statements.lease_writes() == [], "no lease: taken in its write transaction"
    assert statements.commits() == 1, "one write transaction for the whole delivery"
    handled = row(app, delivery)
    assert (handled.status, handled.lease_owner, handled.attempts) == (InboxStatus.DONE.value, None, 1)
    with app.extensions["services"].session_factory() as session:
        assert session.scalar(select(Order.state).where(Order.shopify_id == "5102")) == "forwarded"


def test_a_delivery_another_worker_leased_is_left_to_it_and_shopify_is_not_read_twice(app, monkeypatch):  # noqa: F811
    reads = shopify_reads(monkeypatch, app)
    delivery = record(app, "orders/create", order_payload(5103))
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)
    with app.extensions["services"].session_factory.begin() as session:  # another process claimed it first
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery).values(lease_owner="other-worker", lease_until=until))
    report = DrainReport()
    lane_worker(app)._process(delivery, "orders/create", report)
    assert report.handled == 0 and report.errors == [] and reads == []
    untouched = row(app, delivery)
    assert (untouched.status, untouched.lease_owner, untouched.attempts, untouched.last_error) == (InboxStatus.PENDING.value, "other-worker", 0, None)


def test_a_repeated_snapshot_another_worker_holds_is_not_handled_twice(app):  # noqa: F811
    payload = order_payload(5104)
    record(app, "orders/create", payload)
    assert lane_worker(app).drain().done == 1
    forwarded(app, 5104)
    delivery = record(app, "orders/updated", copy.deepcopy(payload))
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery).values(lease_owner="other-worker", lease_until=until))
    report = DrainReport()
    lane_worker(app)._process(delivery, "orders/updated", report)
    assert report.handled == 0
    untouched = row(app, delivery)
    assert (untouched.status, untouched.lease_owner, untouched.attempts) == (InboxStatus.PENDING.value, "other-worker", 0)


def test_an_unleased_row_is_prefetched_from_what_the_look_read_and_its_row_is_not_read_again(app, monkeypatch):  # noqa: F811
    reads = shopify_reads(monkeypatch, app)
    delivery = record(app, "orders/create", order_payload(5105))
    worker = lane_worker(app)
    won, _, _ = worker._claim(10)
    assert [c.id for c in won] == [delivery] and won[0].body is None, "not leased by the claim"
    with Statements(app) as statements:
        report = DrainReport()
        worker._process(delivery, "orders/create", report, won[0])
    assert report.done == 1 and reads == [worker.owner], "leased before Shopify was read, as before"
    assert not any(s.startswith("SELECT webhook_inbox.id, webhook_inbox.topic") for s in statements.seen), "the body came with the look"
    assert row(app, delivery).status == InboxStatus.DONE.value


def test_a_row_another_worker_took_after_the_look_is_left_to_it(app, monkeypatch):  # noqa: F811
    reads = shopify_reads(monkeypatch, app)
    delivery = record(app, "orders/create", order_payload(5106))
    worker = lane_worker(app)
    won, _, _ = worker._claim(10)
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)
    with app.extensions["services"].session_factory.begin() as session:  # another process leased it after this worker's look
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery).values(lease_owner="other-worker", lease_until=until))
    report = DrainReport()
    worker._process(delivery, "orders/create", report, won[0])
    assert report.handled == 0 and report.errors == [] and reads == [], "its lease before calling out failed: Shopify not read"
    untouched = row(app, delivery)
    assert (untouched.status, untouched.lease_owner, untouched.attempts) == (InboxStatus.PENDING.value, "other-worker", 0)
