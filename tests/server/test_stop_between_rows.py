"""Shutdown stops the drains between rows and gives back the leases of rows claimed but not started."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from conftest import webhook_headers
from shopify_app.models import Shop, WebhookDelivery
from shopify_app.server.lifecycle import stop_services
from shopify_app.suppliers.amendments import AmendmentWorker
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.webhooks import registry
from shopify_app.webhooks.worker import DrainReport, InboxWorker

SHOP = "demo.myshopify.com"


@pytest.fixture
def app(app_factory, database_url):
    app = app_factory(database_url)
    with app.extensions["services"].session_factory.begin() as session:
        session.add(Shop(domain=SHOP))
    return app


@pytest.fixture
def stop_topic():
    """A throwaway topic whose handler records each payload's n, then calls state["when_handled"](n) (where a test sends its SIGTERM)."""
    state = {"calls": [], "when_handled": lambda n: None}

    def handler(ctx):
        state["calls"].append(ctx.payload["n"])
        state["when_handled"](ctx.payload["n"])

    registry.load_handlers()
    registry.HANDLERS["test/stop"] = handler
    yield state
    registry.HANDLERS.pop("test/stop", None)


def post_deliveries(app, count: int = 3) -> None:
    """`count` signed deliveries of the throwaway topic, committed to the inbox."""
    client = app.test_client()
    for n in range(count):
        body = f'{{"n": {n}}}'.encode()
        assert client.post("/webhooks", data=body, headers=webhook_headers("test/stop", body, shop=SHOP)).status_code == 200


def deliveries(app) -> list[WebhookDelivery]:
    with app.extensions["services"].session_factory() as session:
        found = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        session.expunge_all()
        return found


def test_inbox_drain_stops_after_the_row_in_hand_and_releases_the_rest(app, stop_topic):
    services = app.extensions["services"]
    worker = InboxWorker(services.session_factory, services.settings, services, rng=random.Random(1))
    stop_topic["when_handled"] = lambda n: worker.stopping.set()  # SIGTERM arrives while the first row is being handled
    post_deliveries(app)
    worker.drain()
    assert stop_topic["calls"] == [0]  # the row in hand finished; the others were not started
    rows = deliveries(app)
    assert [r.status for r in rows] == ["done", "pending", "pending"]
    assert all(r.lease_owner is None and r.lease_until is None for r in rows)  # released, not left to expire
    # The next process takes them at once (a held lease would keep them for LEASE_SECONDS).
    InboxWorker(services.session_factory, services.settings, services, rng=random.Random(2)).drain()
    assert stop_topic["calls"] == [0, 1, 2] and [r.status for r in deliveries(app)] == ["done"] * 3


def test_the_inbox_drain_beats_its_pump_per_row(app, stop_topic):
    """A long pass that keeps handling rows tells /readyz it is busy, not stuck."""
    services = app.extensions["services"]
    worker = InboxWorker(services.session_factory, services.settings, services)
    beats = []
    stop_topic["when_handled"] = lambda n: beats.append(("handled", n))
    worker.beat = lambda: beats.append("beat")
    post_deliveries(app)
    worker.drain()
    assert beats == [("handled", 0), "beat", ("handled", 1), "beat", ("handled", 2), "beat"]


@pytest.mark.parametrize("worker_class", [ForwardingWorker, AmendmentWorker])
def test_a_stopping_supplier_drain_claims_nothing(app, worker_class, monkeypatch):
    services = app.extensions["services"]
    worker = worker_class(services.session_factory, services.box)
    worker.stopping.set()
    monkeypatch.setattr(worker, "_claim", lambda batch_size: pytest.fail("claimed rows while stopping"))
    worker.drain()


def test_stop_services_stops_the_clock_and_every_pump(app_factory, database_url):
    app = app_factory(database_url, run_scheduler=True)
    services = app.extensions["services"]
    scheduler = services.scheduler
    assert scheduler.status()["running"] and scheduler.lanes.pump.alive and scheduler.lanes.forwarding_pump.alive
    stop_services(services)
    assert services.scheduler is None
    assert not scheduler.scheduler.running and not scheduler.lanes.pump.alive and not scheduler.lanes.forwarding_pump.alive
    assert all(w.stopping.is_set() for w in (scheduler.lanes.inbox_worker, scheduler.lanes.forwarding_worker, scheduler.lanes.amendment_worker))


def test_each_orders_lane_thread_claims_under_its_own_lease_owner(app, stop_topic, monkeypatch):
    """A row whose lease ran out in one lane thread's batch and was re-claimed by a sibling is handled by the sibling only."""
    import datetime as dt

    from sqlalchemy import update

    from scheduler.embedded import ORDERS_LANE_THREADS, EmbeddedScheduler
    from shopify_app.webhooks import registry

    # Leases are taken for topics with a prefetch (network reads outside the write transaction);
    # the others are claimed in their write transaction (tests/app/test_inbox_lane.py).
    monkeypatch.setitem(registry.PREFETCHES, "test/stop", lambda ctx: None)

    scheduler = EmbeddedScheduler(app.extensions["services"])  # not started: no pump runs
    try:
        workers = scheduler.lanes.orders_lane_workers
        assert len(workers) == ORDERS_LANE_THREADS and len({w.owner for w in workers}) == ORDERS_LANE_THREADS
        post_deliveries(app, count=1)
        first, _, _ = workers[0]._claim(10)  # thread A's batch; A is still busy with earlier rows...
        with app.extensions["services"].session_factory.begin() as session:  # ...when the lease runs out
            session.execute(update(WebhookDelivery).values(lease_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
        assert workers[1]._claim(10)[0] == first  # thread B takes it
        workers[1]._process(first[0][0], "test/stop", DrainReport())
        workers[0]._process(first[0][0], "test/stop", DrainReport())  # A reaches it in its batch: no longer A's
        assert stop_topic["calls"] == [0]
    finally:
        scheduler.shutdown()
    assert all(w.stopping.is_set() for w in workers)


def test_the_way_back_runs_on_threads_of_its_own_so_one_slow_delivery_does_not_hold_the_others(app, monkeypatch):
    """Issue 20: one way-back thread left fulfillments queued behind each slow supplier or Shopify call."""
    import threading

    from scheduler.embedded import WAY_BACK_THREADS, EmbeddedScheduler

    assert WAY_BACK_THREADS >= 2
    entered, release, handled = threading.Event(), threading.Event(), []

    def slow_then_fast(ctx):
        n = ctx.payload["n"]

        def call_out():  # after the commit, as the way back's supplier and Shopify calls run
            if n == 0:
                entered.set()
                release.wait(30)  # an answer that takes its time
            handled.append(n)

        ctx.after_commit(call_out)

    registry.load_handlers()
    monkeypatch.setitem(registry.HANDLERS, "fulfillments/update", slow_then_fast)
    monkeypatch.delitem(registry.PREFETCHES, "fulfillments/update", raising=False)
    client = app.test_client()
    for n in range(2):
        body = f'{{"n": {n}}}'.encode()
        assert client.post("/webhooks", data=body, headers=webhook_headers("fulfillments/update", body, shop=SHOP)).status_code == 200
    scheduler = EmbeddedScheduler(app.extensions["services"])  # not started: the test runs the lane's drains
    try:
        workers = scheduler.lanes.way_back_workers
        assert len({w.owner for w in workers}) == WAY_BACK_THREADS  # each thread its own lease owner
        slow = threading.Thread(target=scheduler.lanes.drain_supplier_events, args=(workers[0],))
        monkeypatch.setattr("shopify_app.webhooks.worker.InboxWorker._claim", _one_row_claims(InboxWorker._claim))
        slow.start()
        assert entered.wait(10)
        scheduler.lanes.drain_supplier_events(workers[1])  # the other thread, while the first one waits
        assert handled == [1]
        release.set()
        slow.join(30)
        assert sorted(handled) == [0, 1]
    finally:
        release.set()
        scheduler.shutdown()


def _one_row_claims(real):
    """A lane thread's claim that takes one row at a time (so the first thread's batch is the slow row alone)."""
    def claim(self, batch_size):
        return real(self, 1)
    return claim
