"""The inbox lane's own cost and wake-ups (issue 20 part L): what a delivery costs around its handler, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import event, select, update

from conftest import webhook_headers
from shopify_app.models import InboxStatus, Shop, ShopStatus, WebhookDelivery
from shopify_app.suppliers.webhooks import SUPPLIER_EVENT_TOPIC
from shopify_app.webhooks import registry
from shopify_app.webhooks.lanes import WAY_BACK_TOPICS, is_way_back
from shopify_app.webhooks.worker import InboxWorker
from test_inbox_worker import app  # noqa: F401 - the same app: an empty database with SHOP known

SHOP = "demo.myshopify.com"


@pytest.fixture
def lane_topics():
    """Throwaway topics whose handler (and prefetch) the test controls; calls are recorded."""
    calls = {"handled": [], "prefetched": [], "follow_up": None}

    def handler(ctx):
        calls["handled"].append(ctx.payload)
        if calls["follow_up"] is not None:
            ctx.after_commit(calls["follow_up"])

    registry.load_handlers()
    registry.HANDLERS["test/plain"] = handler
    registry.HANDLERS["test/prefetched"] = handler
    registry.PREFETCHES["test/prefetched"] = lambda ctx: calls["prefetched"].append(ctx.payload) or "read"
    yield calls
    registry.HANDLERS.pop("test/plain", None)
    registry.HANDLERS.pop("test/prefetched", None)
    registry.PREFETCHES.pop("test/prefetched", None)


def post(app, topic, payload):
    body = json.dumps(payload).encode()
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP))
    assert response.status_code == 200
    return response


def worker_for(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services, rng=random.Random(1))


class Statements:
    """The SQL the engine runs (BEGIN apart), while recording."""

    def __init__(self, engine):
        self.engine, self.seen, self.begins, self.write_begins = engine, [], 0, 0

    def _record(self, conn, cursor, statement, *args):
        self.seen.append(" ".join(statement.split()))

    def _begin(self, conn):
        # db.py runs SQLite's BEGIN on the DBAPI connection (no statement event): counted here.
        self.begins += 1
        self.write_begins += conn.get_execution_options().get("sqlite_begin", "IMMEDIATE") == "IMMEDIATE"  # SQLite's write transactions

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)
        event.remove(self.engine, "begin", self._begin)


@pytest.mark.parametrize(("topic", "statements", "writes"), [("test/plain", 3, 1), ("test/prefetched", 4, 2)])
def test_a_delivery_costs_three_or_four_statements_around_its_handler_and_its_body_is_read_once(app, lane_topics, topic, statements, writes):
    """Nothing read twice. With a prefetch: a look, the lease (an UPDATE returning the body), one read in the write
    transaction, the finish. Without: a look, then one write transaction that claims (reads the row if still due), handles, finishes."""
    post(app, topic, {"id": 7})
    with Statements(app.extensions["services"].engine) as sql:
        report = worker_for(app).drain(batch_size=10)  # one due: one look, no second look to find nothing
    assert report.done == 1 and lane_topics["handled"] == [{"id": 7}]
    if topic == "test/prefetched":
        assert lane_topics["prefetched"] == [{"id": 7}]
    # The handler and prefetch run no SQL here: everything seen is the lane's own.
    assert len(sql.seen) == statements, sql.seen
    # The claim's RETURNING, or the read in the write. (The look reads the body of topics that lease
    # only when calling out, orders/*, behind a CASE on the topic: not of these.)
    assert sum("body" in statement.lower().replace("then webhook_inbox.body", "") for statement in sql.seen) == 1
    if app.extensions["services"].engine.dialect.name == "sqlite":  # BEGIN is a statement there: count the write transactions
        assert (sql.write_begins, sql.begins) == (writes, writes + 1)  # and the look's read transaction
    with app.extensions["services"].session_factory() as session:
        row = session.scalars(select(WebhookDelivery)).one()
        assert (row.status, row.attempts, row.lease_owner) == (InboxStatus.DONE.value, 1, None)


@pytest.mark.parametrize("topic", ["test/plain", "test/prefetched"])
def test_a_shop_uninstalled_after_the_claim_is_checked_again_in_the_write_transaction(app, lane_topics, topic):
    """The claim read the shop as installed; it uninstalled before the write: the delivery waits, its handler never runs."""
    post(app, topic, {"id": 8})
    worker = worker_for(app)
    [claimed], _, _ = worker._claim(10)
    assert claimed.shop_status == ShopStatus.INSTALLED.value
    assert (json.loads(claimed.body) if topic == "test/prefetched" else claimed.body) == ({"id": 8} if topic == "test/prefetched" else None)
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(Shop).values(status=ShopStatus.UNINSTALLED.value))
    from shopify_app.webhooks.worker import DrainReport

    report = DrainReport()
    worker._process(claimed.id, claimed.topic, report, claimed)
    assert report.waiting == 1 and lane_topics["handled"] == []
    with app.extensions["services"].session_factory() as session:
        assert session.scalars(select(WebhookDelivery.status)).one() == InboxStatus.WAITING.value


def test_a_row_taken_by_another_worker_during_the_follow_up_calls_is_not_finished_by_this_one(app, lane_topics):
    """The follow-up finish is conditional on the lease: the other worker's claim stands."""
    post(app, "test/plain", {"id": 9})
    services = app.extensions["services"]

    def another_worker_takes_the_row():
        with services.session_factory.begin() as session:
            session.execute(update(WebhookDelivery).values(lease_owner="someone-else"))

    lane_topics["follow_up"] = another_worker_takes_the_row
    report = worker_for(app).drain(batch_size=1)
    assert lane_topics["handled"] == [{"id": 9}] and report.done == 0
    with services.session_factory() as session:
        row = session.scalars(select(WebhookDelivery)).one()
        assert (row.status, row.lease_owner, row.attempts) == (InboxStatus.PENDING.value, "someone-else", 0)


def test_a_follow_up_delivery_is_finished_once_its_calls_succeeded(app, lane_topics):
    calls = []
    lane_topics["follow_up"] = lambda: calls.append("called")
    post(app, "test/plain", {"id": 10})
    report = worker_for(app).drain(batch_size=1)
    assert report.done == 1 and calls == ["called"]
    with app.extensions["services"].session_factory() as session:
        row = session.scalars(select(WebhookDelivery)).one()
        assert (row.status, row.lease_owner, row.attempts) == (InboxStatus.DONE.value, None, 1)


@pytest.mark.parametrize(("topic", "lane"), [("orders/create", "orders"), ("orders/paid", "orders"), ("app/uninstalled", "orders"),
                                             ("fulfillments/create", "way back"), ("fulfillments/update", "way back")])
def test_a_shopify_webhook_wakes_only_the_lane_that_handles_its_topic(app, topic, lane):
    """The other lane's threads sleep on: no claim query that can find nothing of theirs."""
    services = app.extensions["services"]
    services.inbox_wakeup.wait(0), services.supplier_events_wakeup.wait(0)  # no rings left over
    post(app, topic, {"id": 11, "admin_graphql_api_id": "gid://shopify/Order/11"})
    assert services.inbox_wakeup.is_set() is (lane == "orders")
    assert services.supplier_events_wakeup.is_set() is (lane == "way back")


def test_the_lanes_split_the_topics_the_way_the_embedded_clock_drains_them():
    from scheduler.lanes import WAY_BACK_TOPICS as drained_by_the_way_back  # the lanes the embedded clock and the workers run

    assert drained_by_the_way_back == WAY_BACK_TOPICS
    assert is_way_back(SUPPLIER_EVENT_TOPIC) and not is_way_back("orders/create")


def test_a_row_a_sibling_thread_holds_unleased_is_left_to_it_until_its_hold_runs_out(app, lane_topics):
    """Rows claimed in their write transaction have no lease: the lane's threads share what they hold in memory instead."""
    from shopify_app.webhooks.worker import InHand

    post(app, "test/plain", {"id": 12})
    services = app.extensions["services"]
    shared = InHand(seconds=60)
    first, second = (InboxWorker(services.session_factory, services.settings, services, in_hand=shared) for _ in range(2))
    [held], seen, _ = first._claim(10)
    assert seen == 1 and held.body is None  # not leased in the database
    assert second._claim(10) == ([], 1, 0)  # its sibling holds it: no write transaction to find it handled
    from shopify_app.webhooks.worker import DrainReport

    report = DrainReport()
    first._process(held.id, held.topic, report, held)  # the holder reaches it in its batch
    assert report.done == 1 and lane_topics["handled"] == [{"id": 12}]
    shared.discard(held.id)

    post(app, "test/plain", {"id": 13})
    shared.seconds = 0  # a thread stuck on a row: its hold runs out like a lease
    first._claim(10)
    assert second.drain(batch_size=10).done == 1 and lane_topics["handled"][-1] == {"id": 13}


def test_a_pass_that_finds_a_full_batch_rings_a_sibling_thread_to_help(app, lane_topics):
    """Siblings poll rarely: a backlog (a look that filled its batch) rings the lane once per full batch."""
    for n in range(5):
        post(app, "test/plain", {"id": 20 + n})
    worker, rings = worker_for(app), []
    worker.on_backlog = lambda: rings.append("ring")
    report = worker.drain(batch_size=2)
    assert report.done == 5 and rings == ["ring", "ring"]  # looks of 2, 2, then 1


def test_the_embedded_lanes_poll_from_one_thread_and_a_waiting_pump_is_not_silent(app_factory, sqlite_url):
    import time

    from scheduler.embedded import SIBLING_POLL_SECONDS

    app = app_factory(sqlite_url, run_scheduler=True)
    scheduler = app.extensions["services"].scheduler
    assert scheduler.lanes.pump.poll_seconds == scheduler.lanes.supplier_events_pump.poll_seconds == 1.0
    assert {p.poll_seconds for p in (*scheduler.lanes.more_inbox_pumps, *scheduler.lanes.more_way_back_pumps)} == {SIBLING_POLL_SECONDS}
    services = app.extensions["services"]
    assert all(w.on_backlog == services.inbox_wakeup.set for w in scheduler.lanes.orders_lane_workers)
    assert all(w.on_backlog == services.supplier_events_wakeup.set for w in scheduler.lanes.way_back_workers)
    time.sleep(1.5)  # the siblings are waiting out their long poll: idle, not stuck
    assert max(p.silent_seconds for p in scheduler.lanes.more_inbox_pumps) < 1.0


def test_the_gunicorn_worker_tells_the_arbiter_it_lives_at_most_once_a_second(monkeypatch):
    """gthread notified on every event-loop turn (a syscall, several per request); the arbiter only needs it within WORKER_TIMEOUT."""
    from shopify_app.server import worker as worker_module
    from shopify_app.server.worker import GracefulThreadWorker

    class Tmp:
        calls = 0

        def notify(self):
            Tmp.calls += 1

    clock = [100.0]
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock[0])
    worker = GracefulThreadWorker.__new__(GracefulThreadWorker)  # no arbiter, sockets or config needed for this
    worker.tmp = Tmp()
    for _ in range(50):
        worker.notify()
    assert Tmp.calls == 1
    clock[0] += GracefulThreadWorker.NOTIFY_EVERY
    worker.notify()
    assert Tmp.calls == 2 and GracefulThreadWorker.NOTIFY_EVERY * 10 <= 60


@pytest.mark.postgres
def test_on_postgresql_a_row_another_worker_is_handling_is_skipped_not_waited_for(postgres_server, app_factory, lane_topics):
    """Drains side by side (procrastinate workers): one holding a row in its write transaction does not stall the other."""
    import threading

    from conftest import _fresh_postgres_db
    from shopify_app.migrate import upgrade_to_head

    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    app = app_factory(url)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        session.add(Shop(domain=SHOP))
    post(app, "test/plain", {"id": 30})
    post(app, "test/plain", {"id": 31})
    inside, release = threading.Event(), threading.Event()

    def slow_handler(ctx):
        if ctx.payload["id"] == 30:
            inside.set()
            assert release.wait(20)
        lane_topics["handled"].append(ctx.payload)

    registry.HANDLERS["test/plain"] = slow_handler
    first, second = worker_for(app), worker_for(app)  # separate processes' workers: nothing shared in memory
    holder = threading.Thread(target=first.drain, kwargs={"batch_size": 1, "max_batches": 1})
    holder.start()
    try:
        assert inside.wait(20)
        report = second.drain(batch_size=10, max_batches=1)  # sees both; row 30 is locked by the first: skipped at once
        assert report.done == 1 and lane_topics["handled"] == [{"id": 31}]
    finally:
        release.set()
        holder.join(20)
    assert sorted(p["id"] for p in lane_topics["handled"]) == [30, 31]
