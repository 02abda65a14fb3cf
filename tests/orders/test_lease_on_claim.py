"""Scaled-out workers lease every delivery their claim wins (issue 19, session 28 part T).

Every worker process is woken by the same NOTIFY and looks at the same inbox rows. A row
taken in its write transaction (no lease) stayed visible to the other processes until that
commit, so each of them read it, ran its prefetch and tried to take it: with 4 workers the
inbox bookkeeping grew from 22 to 45 transactions per order (bench/peak_orders.py
--statements). With `lease_on_claim` the claim that wins a row leases it and the other
processes' claims skip it; each delivery is still handled exactly once.
"""
from __future__ import annotations

import copy
import json

from sqlalchemy import select

from forwarding_kit import SHOP, app  # noqa: F401 - fixtures
from shopify_app.models import InboxStatus, WebhookDelivery
from shopify_app.webhooks.worker import DrainReport, InboxWorker
from test_lease_when_calling_out import Statements, forwarded, lane_worker, order_payload, record, row


def process_worker(app, lease_on_claim: bool = True) -> InboxWorker:
    """One worker process's lane thread: its own lease owner and its own in-hand set (another process shares neither)."""
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services, lease_on_claim=lease_on_claim)


def handle(worker: InboxWorker, claimed) -> DrainReport:
    """Handle what the worker's claim won, as its drain does after the claim."""
    report = DrainReport()
    for one in claimed:
        worker._process(one.id, one.topic, report, one)
    return report


def repeated_snapshot(app, number: int) -> int:
    """An orders/updated repeating what routing acted on: its prefetch reads nothing (otherwise taken in its write, unleased)."""
    payload = order_payload(number)
    record(app, "orders/create", payload)
    assert lane_worker(app).drain().done == 1
    forwarded(app, number)
    return record(app, "orders/updated", copy.deepcopy(payload))


def test_a_claim_leases_an_order_webhook_so_another_processs_claim_skips_it(app):  # noqa: F811
    delivery = repeated_snapshot(app, 5201)
    first, second = process_worker(app), process_worker(app)
    won, seen, _ = first._claim(10)
    assert seen == 1 and [c.id for c in won] == [delivery] and won[0].body is not None
    assert row(app, delivery).lease_owner == first.owner, "leased by the claim that won it"
    assert second._claim(10) == ([], 0, 0), "another process's claim neither sees nor takes it"
    with Statements(app) as statements:
        assert second.drain().handled == 0
    assert not any(s.startswith(("UPDATE webhook_inbox", "SELECT orders")) for s in statements.seen), "no prefetch, no take tried"
    assert handle(first, won).done == 1
    handled = row(app, delivery)
    assert (handled.status, handled.lease_owner, handled.attempts) == (InboxStatus.DONE.value, None, 1)


def test_a_topic_without_a_prefetch_leased_by_the_claim_is_handled_once_in_one_write(app):  # noqa: F811
    with app.extensions["services"].session_factory.begin() as session:
        session.add(WebhookDelivery(webhook_id="lease-on-claim-1", shop_domain=SHOP, topic="products/delete", body=json.dumps({"id": 9_900_001})))
    with app.extensions["services"].session_factory() as session:
        delivery = session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == "lease-on-claim-1"))
    first, second = process_worker(app), process_worker(app)
    won, _, _ = first._claim(10)
    assert [c.id for c in won] == [delivery] and row(app, delivery).lease_owner == first.owner
    assert second._claim(10) == ([], 0, 0)
    with Statements(app) as statements:
        report = handle(first, won)
    assert report.done == 1 and statements.commits() == 1, "handled and finished in one write transaction"
    handled = row(app, delivery)
    assert (handled.status, handled.lease_owner, handled.attempts) == (InboxStatus.DONE.value, None, 1)


def test_a_leased_row_whose_lease_another_worker_took_over_is_left_to_it(app):  # noqa: F811
    delivery = repeated_snapshot(app, 5202)
    first, second = process_worker(app), process_worker(app)
    won, _, _ = first._claim(10)
    with app.extensions["services"].session_factory.begin() as session:  # the lease ran out and another worker took the row
        session.get(WebhookDelivery, delivery).lease_owner = second.owner
    report = DrainReport()
    first._process(delivery, "orders/updated", report, won[0])
    assert report.handled == 0
    untouched = row(app, delivery)
    assert (untouched.status, untouched.lease_owner, untouched.attempts) == (InboxStatus.PENDING.value, second.owner, 0)


def test_the_embedded_lanes_still_take_a_repeated_snapshot_unleased(app):  # noqa: F811
    delivery = repeated_snapshot(app, 5203)
    won, _, _ = process_worker(app, lease_on_claim=False)._claim(10)
    assert [c.id for c in won] == [delivery] and won[0].body is None and row(app, delivery).lease_owner is None
