"""Scaled-out workers run the order lanes, woken by PostgreSQL NOTIFY from the web (real PostgreSQL, real threads)."""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

import psycopg
import pytest
from sqlalchemy import event, select

from conftest import _fresh_postgres_db, make_settings, sample, webhook_headers
from orders.forwarding_kit import SHOP, add_printful_supplier, deliver, deliveries, paid_order_payload, supplier_sandbox, with_primary_location_shopify  # noqa: F401 - a fixture
from scheduler.distributed import WorkerLanes, build_app, conninfo, ensure_schema
from shopify_app.jobs.lane_notices import CHANNEL
from shopify_app.migrate import upgrade_to_head
from shopify_app.models import WebhookDelivery
from shopify_app.services import build_services
from shopify_app.webhooks.worker import DrainReport

pytestmark = pytest.mark.postgres

LONG_POLL = 120.0  # seconds: far beyond every wait here, so only a wake-up can have made a lane look
WAIT = 30.0


@pytest.fixture
def scaled_out(postgres_server, app_factory):
    """A web process (JOB_ENGINE=procrastinate) and a factory of worker processes' services, on one fresh PostgreSQL."""
    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    web = app_factory(url, job_engine="procrastinate")
    started: list[tuple[WorkerLanes, object]] = []

    def worker(poll_seconds: float = LONG_POLL) -> WorkerLanes:
        services = build_services(make_settings(url))
        lanes = WorkerLanes(services, poll_seconds=poll_seconds, process=uuid.uuid4().hex)  # each a worker process of its own
        lanes.start()
        started.append((lanes, services))
        assert lanes.listener.listening.wait(WAIT)
        return lanes

    yield web, worker, url
    for lanes, services in started:
        lanes.stop()
        services.close()


def post(web, topic: str = "orders/create", webhook_id: str | None = None, body: bytes | None = None) -> None:
    body = body if body is not None else sample("orders_create")
    assert web.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, webhook_id=webhook_id)).status_code == 200


def statuses(web) -> list[str]:
    with web.extensions["services"].session_factory() as session:
        return [row.status for row in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]


def wait_for(predicate, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def settle(lanes: WorkerLanes) -> None:
    """Let the start-up ring (every lane once, when the listener first listens) run its passes."""
    assert wait_for(lambda: not lanes.lanes.services.inbox_wakeup.is_set() and lanes.lanes.pump.silent_seconds == 0.0)
    time.sleep(0.3)


def test_a_webhook_committed_by_the_web_is_handled_by_a_worker_woken_by_notify(scaled_out) -> None:
    web, worker, url = scaled_out
    ensure_schema(url)  # procrastinate's tables exist (the workers' periodic jobs): the hot path leaves them alone
    lanes = worker()
    settle(lanes)
    heard_before = lanes.listener.heard["orders"]
    transactions: list[str] = []
    web_engine = web.extensions["services"].engine
    listen = lambda conn: transactions.append("begin")  # noqa: E731
    event.listen(web_engine, "begin", listen)
    try:
        post(web)
    finally:
        event.remove(web_engine, "begin", listen)
    # The lane looked because of the NOTIFY, not its poll (two minutes away): the shop is not
    # installed, so the handled order waits for its install.
    assert wait_for(lambda: statuses(web) == ["waiting"]), statuses(web)
    assert lanes.listener.heard["orders"] == heard_before + 1
    assert lanes.listener.heard["way-back"] == 0
    assert transactions == ["begin"]  # the wake-up went in the delivery's own transaction: none of its own
    with web.extensions["services"].engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE 'drain-%' AND status = 'todo'")).scalar() == 0  # no job per wake-up


def test_a_wake_up_is_sent_only_when_its_row_commits(scaled_out) -> None:
    """A NOTIFY queued in a transaction that rolls back is never delivered (PostgreSQL sends it on commit)."""
    web, _, url = scaled_out
    from shopify_app.jobs.lane_notices import notify_in

    with psycopg.connect(conninfo(url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        engine = web.extensions["services"].engine
        with engine.connect() as conn:
            notify_in(conn, "orders")
            conn.rollback()
        assert list(listener.notifies(timeout=0.5)) == []
        with engine.begin() as conn:
            notify_in(conn, "forwarding")
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["forwarding"]


def test_no_wake_up_is_lost_when_the_listener_connection_is_killed(scaled_out, caplog) -> None:
    web, worker, url = scaled_out
    caplog.set_level(logging.INFO, logger="scheduler.lane_listener")
    lanes = worker()
    settle(lanes)
    listener = lanes.listener
    with psycopg.connect(conninfo(url), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,)).fetchone()[0]
    post(web, webhook_id="while-down")  # its NOTIFY may reach nobody: the listener is gone
    assert wait_for(lambda: listener.reconnects == 1 and listener.listening.is_set())
    assert wait_for(lambda: statuses(web) == ["waiting"]), statuses(web)  # the reconnection rang every lane; the poll is two minutes away
    assert "lane listener lost its connection" in caplog.text and "lane listener reconnected" in caplog.text
    heard = listener.heard["orders"]
    post(web, webhook_id="after-reconnect")
    assert wait_for(lambda: statuses(web) == ["waiting", "waiting"]), statuses(web)
    assert listener.heard["orders"] == heard + 1  # listening again


def test_shutdown_gives_back_the_leases_of_rows_claimed_but_not_started(scaled_out, monkeypatch) -> None:
    """SIGTERM while a worker's lane handles its first row: the row finishes, the rest of its batch is released for the next worker."""
    from shopify_app.models import Shop
    from shopify_app.webhooks import registry

    web, _, url = scaled_out
    with web.extensions["services"].session_factory.begin() as session:
        session.add(Shop(domain="demo.myshopify.com"))
    services = build_services(make_settings(url))
    lanes = WorkerLanes(services, poll_seconds=LONG_POLL)  # not started: the test runs the lane's pass
    handled: list[int] = []

    def handler(ctx):
        handled.append(ctx.payload["n"])
        lanes.request_stop()  # what the worker's SIGTERM handler does

    registry.load_handlers()
    monkeypatch.setitem(registry.HANDLERS, "test/stop", handler)
    monkeypatch.setitem(registry.PREFETCHES, "test/stop", lambda ctx: None)  # claimed with leases (network reads first)
    try:
        for n in range(3):
            body = f'{{"n": {n}}}'.encode()
            post(web, topic="test/stop", body=body, webhook_id=f"stop-{n}")
        lanes.lanes.drain_orders_lane()
        assert handled == [0]
        with web.extensions["services"].session_factory() as session:
            rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
            assert [r.status for r in rows] == ["done", "pending", "pending"]
            assert all(r.lease_owner is None and r.lease_until is None for r in rows)
    finally:
        lanes.stop()
        services.close()


def test_an_old_releases_drain_inbox_job_rings_the_workers_lanes(scaled_out) -> None:
    """During a rolling deploy an older web release still defers `drain-inbox`: the job rings this worker's lanes."""
    from scheduler.lanes import OrderLanes

    web, _, url = scaled_out
    ensure_schema(url)
    web.extensions["services"].notify_workers = False  # an older web: no NOTIFY
    post(web)
    services = build_services(make_settings(url))
    lanes = OrderLanes(services, poll_seconds=LONG_POLL)  # no listener: only the job can wake them
    app = build_app(services)
    lanes.start()
    try:
        with app.open():
            time.sleep(0.3)
            assert statuses(web) == ["pending"]
            app.tasks["drain-inbox"].configure(queueing_lock="drain-inbox").defer()  # what the old web's wake() did
            app.run_worker(queues=["work"], wait=False, install_signal_handlers=False)
        assert wait_for(lambda: statuses(web) == ["waiting"]), statuses(web)
    finally:
        lanes.stop()
        services.close()


def test_a_workers_own_wake_ups_ring_its_lanes_without_a_notify(scaled_out) -> None:
    """An order routed inside a worker wakes that worker's forwarding pump directly: no NOTIFY, no job."""
    _, _, url = scaled_out
    services = build_services(make_settings(url))  # as `cli worker` builds them
    try:
        with psycopg.connect(conninfo(url), autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            services.wake_forwarding()  # what the orders handler does after routing
            services.wake_inbox_worker()
            assert services.forwarding_wakeup.is_set() and services.inbox_wakeup.is_set() and services.supplier_events_wakeup.is_set()
            assert list(listener.notifies(timeout=0.5)) == []
    finally:
        services.close()


def test_a_worker_is_ready_while_its_lanes_and_listener_run(scaled_out) -> None:
    from scheduler.distributed import worker_readiness

    _, worker, _ = scaled_out
    lanes = worker()
    services = lanes.lanes.services
    assert worker_readiness(services)[0] is False  # not recorded as this process's lanes yet
    services.worker_lanes = lanes
    ok, details = worker_readiness(services)
    assert ok and details["listening"] and details["inbox_pump"] and details["forwarding_pump"], details
    lanes.stop()
    ok, details = worker_readiness(services)
    assert not ok and "not running" in details["reason"]


def test_two_workers_never_place_an_order_twice(scaled_out, supplier_sandbox) -> None:
    """Orders routed on the web wait for forwarding; two workers' forwarding lanes race for them: each is placed once."""
    web, worker, _ = scaled_out
    supplier_sandbox.reset()
    web.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    with_primary_location_shopify(web)
    add_printful_supplier(web, supplier_sandbox, timeout=15)
    for number in range(1001, 1009):
        deliver(web, "orders/paid", paid_order_payload(order_number=number))  # routed here; forwarding is the workers'
    assert len(deliveries(web)) == 8 and {d.state for d in deliveries(web)} != {"placed"}
    worker(), worker()  # both listen, both are rung at once (rows committed before they started)
    assert wait_for(lambda: {d.state for d in deliveries(web)} == {"placed"}, timeout=60), [d.state for d in deliveries(web)]
    assert [supplier_sandbox.orders_created(d.idempotency_key) for d in deliveries(web)] == [1] * 8


def test_a_delivery_one_workers_claim_won_is_not_claimed_by_another_worker(scaled_out) -> None:
    """Every worker process's lanes lease what their claim wins (part T): another process's claim finds nothing to read or try."""
    web, _, url = scaled_out
    post(web)  # an orders/create: otherwise taken unleased in its write transaction
    services = [build_services(make_settings(url)) for _ in range(2)]
    first, second = (WorkerLanes(s, poll_seconds=LONG_POLL, process=uuid.uuid4().hex) for s in services)  # not started: the test runs the claims
    try:
        won, seen, _ = first.lanes.orders_lane_workers[0]._claim(10)
        assert seen == 1 and len(won) == 1 and won[0].body is not None
        assert second.lanes.orders_lane_workers[0]._claim(10) == ([], 0, 0)
        with web.extensions["services"].session_factory() as session:
            assert session.scalar(select(WebhookDelivery.lease_owner)) == first.lanes.orders_lane_workers[0].owner
    finally:
        for lanes, s in zip((first, second), services):
            lanes.stop()
            s.close()


def order_body(n: int) -> bytes:
    """The sample orders/create of another order."""
    return sample("orders_create").replace(b"820982911946154508", str(820982911946154600 + n).encode())


def listening_workers(url: str) -> int:
    """How many lane listeners of this database a NOTIFY may pick (their connections' application_name)."""
    from shopify_app.jobs.lane_notices import LISTENER_NAME

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s AND datname = current_database()",
                            (LISTENER_NAME + ":%",)).fetchone()[0]


def test_each_notification_wakes_one_live_worker_and_no_row_waits_for_the_poll(scaled_out) -> None:
    """Two workers, polls two minutes away: every webhook is handled at once, and each NOTIFY was heard by one worker, not both."""
    web, worker, url = scaled_out
    workers = [worker(), worker()]
    for lanes in workers:
        settle(lanes)
    assert wait_for(lambda: listening_workers(url) == 2)
    for n in range(6):
        post(web, webhook_id=f"one-{n}", body=order_body(n))  # six orders (one order's rows may go to the worker holding it)
    assert wait_for(lambda: statuses(web) == ["waiting"] * 6), statuses(web)
    assert sum(lanes.listener.heard["orders"] for lanes in workers) == 6  # one worker per NOTIFY (both, 12, on one shared channel)

    workers[0].stop()  # a worker gone: its listener is never picked again
    assert wait_for(lambda: listening_workers(url) == 1)
    heard = workers[1].listener.heard["orders"]
    for n in range(3):
        post(web, webhook_id=f"left-{n}", body=order_body(10 + n))
    assert wait_for(lambda: statuses(web) == ["waiting"] * 9), statuses(web)
    assert workers[1].listener.heard["orders"] == heard + 3


def test_a_row_whose_chosen_worker_is_dead_is_handled_by_another_workers_poll(scaled_out) -> None:
    """The NOTIFY picks a listener whose process no longer handles anything (hung or dying): another worker's lane poll finds the row."""
    from scheduler.lanes import OrderLanes
    from shopify_app.jobs.lane_notices import LISTENER_NAME, process_channel

    web, _, url = scaled_out
    gone = uuid.uuid4().hex
    with psycopg.connect(conninfo(url), autocommit=True, application_name=f"{LISTENER_NAME}:{gone}") as dead:  # the only listener: always picked
        dead.execute(f"LISTEN {process_channel(gone)}")
        services = build_services(make_settings(url))
        polling = OrderLanes(services, poll_seconds=0.5)  # a worker whose listener is down: only its poll finds rows
        polling.start()
        try:
            post(web)
            assert [n.payload for n in dead.notifies(timeout=5, stop_after=1)] == ["orders"]  # the wake-up went to the dead worker
            assert wait_for(lambda: statuses(web) == ["waiting"]), statuses(web)
        finally:
            polling.stop()
            services.close()


def test_a_stopping_worker_is_no_longer_picked_and_passes_on_what_still_reaches_it(scaled_out) -> None:
    """SIGTERM: the worker's listener stops being picked before its lanes finish their rows; a wake-up that still reaches it goes to a live worker."""
    from shopify_app.jobs.lane_notices import process_channel

    web, worker, url = scaled_out
    stopping, live = worker(), worker()
    for lanes in (stopping, live):
        settle(lanes)
    assert wait_for(lambda: listening_workers(url) == 2)
    stopping.request_stop()  # what the worker's SIGTERM handler does: its lanes take nothing new from now on
    assert stopping.listener.left.wait(WAIT)
    assert listening_workers(url) == 1  # still connected, but not a listener a NOTIFY may pick
    heard = live.listener.heard["orders"]
    for n in range(6):
        post(web, webhook_id=f"after-stop-{n}", body=order_body(n))
    assert wait_for(lambda: statuses(web) == ["waiting"] * 6), statuses(web)  # at once: none waited for a poll (two minutes)
    assert stopping.listener.heard["orders"] == 0 and live.listener.heard["orders"] == heard + 6
    assert stopping.listener.passed_on["orders"] == 0  # no NOTIFY picked it

    # A NOTIFY that picked the stopping worker just before it left reaches it after: passed on to the live one.
    with psycopg.connect(conninfo(url), autocommit=True) as web_connection:
        web_connection.execute("SELECT pg_notify(%s, 'orders')", (process_channel(stopping.listener.process),))
    assert wait_for(lambda: live.listener.heard["orders"] == heard + 7)
    assert stopping.listener.passed_on["orders"] == 1
    assert stopping.listener.listening.is_set()  # until the worker's stop() (its lanes finished): then it closes


@pytest.fixture
def two_workers(scaled_out):
    """The web and two worker processes, their lanes not started (the tests run the claims); each one's claims by its first orders-lane thread.

    Their lane listeners run: a process's order holds count only while its listener is connected.
    """
    web, _, url = scaled_out
    services = [build_services(make_settings(url)) for _ in range(2)]
    workers = [WorkerLanes(s, poll_seconds=LONG_POLL, process=uuid.uuid4().hex) for s in services]
    for lanes in workers:
        lanes.listener.start()
        assert lanes.listener.listening.wait(WAIT)
    assert wait_for(lambda: listening_workers(url) == 2)
    yield web, url, [lanes.lanes.orders_lane_workers[0] for lanes in workers], [lanes.listener for lanes in workers]
    for lanes, s in zip(workers, services):
        lanes.stop()
        s.close()


def inbox(web) -> list[tuple[str, str, str | None]]:
    with web.extensions["services"].session_factory() as session:
        return [(r.topic, r.status, r.lease_owner) for r in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]


def test_two_workers_never_handle_one_orders_rows_at_once(two_workers) -> None:
    """An order's orders/paid arrives while another worker process handles its orders/create: it is left to that process, which is told."""
    from shopify_app.jobs.lane_notices import process_channel

    web, url, (first, second), _ = two_workers
    post(web, "orders/create", webhook_id="create")
    held, seen, _ = first._claim(1)
    assert [c.topic for c in held] == ["orders/create"] and seen == 1  # the first worker handles the order now
    post(web, "orders/paid", webhook_id="paid")  # the same order (same body)
    post(web, "orders/create", webhook_id="other", body=order_body(1))
    holder = first.owner.split(":")[0]
    with psycopg.connect(conninfo(url), autocommit=True) as listener:
        listener.execute(f"LISTEN {process_channel(holder)}")
        taken, seen, given_back = second._claim(10)
        assert (seen, given_back) == (1, 1) and [c.topic for c in taken] == ["orders/create"] and taken[0].id != held[0].id  # another order's row only
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["orders"]  # the holder's lane is told
    assert inbox(web)[1] == ("orders/paid", "pending", None)  # given back, not leased by the second worker

    # The holder's own lane may take it (the process serialises an order's rows itself).
    mine, _, _ = first._claim(10)
    assert [c.topic for c in mine] == ["orders/paid"]


def test_a_held_orders_row_is_taken_once_the_holder_finishes_or_its_lease_expires(two_workers) -> None:
    from sqlalchemy import update

    from shopify_app.models import utcnow

    web, _, (first, second), _ = two_workers
    post(web, "orders/create", webhook_id="create")
    held, _, _ = first._claim(1)
    post(web, "orders/paid", webhook_id="paid")
    assert second._claim(10)[0] == []  # held by the first worker
    first._process(held[0].id, held[0].topic, DrainReport(), held[0])  # the holder finishes (the shop is not installed: it waits)
    assert inbox(web)[0][1] == "waiting"
    taken, _, _ = second._claim(10)
    assert [c.topic for c in taken] == ["orders/paid"]

    post(web, "orders/updated", webhook_id="updated")
    with web.extensions["services"].session_factory.begin() as session:  # the second worker dies with orders/paid in hand: its lease runs out
        session.execute(update(WebhookDelivery).where(WebhookDelivery.webhook_id == "paid").values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    taken, _, _ = first._claim(10)
    assert sorted(c.topic for c in taken) == ["orders/paid", "orders/updated"]  # the dead worker's hold is over


def test_rows_given_back_to_a_holder_neither_spin_another_processs_drain_nor_keep_it_from_other_orders(two_workers) -> None:
    """A burst of one held order's webhooks at the head of the queue: another process's drain gives them back once and handles the other orders' rows behind them."""
    web, url, (first, second), (first_listener, second_listener) = two_workers
    post(web, "orders/create", webhook_id="create")
    first._claim(1)  # the first process holds the order
    for n in range(5):
        post(web, "orders/updated", webhook_id=f"updated-{n}")  # the same order, edited five times
    for n in range(3):
        post(web, "orders/create", webhook_id=f"other-{n}", body=order_body(1 + n))  # other orders, behind them
    # Each intake's NOTIFY reaches one of the two listeners: counted only once all nine have arrived, so the
    # holder's count below moves by the claim's "told" alone (a late intake notice made it flaky).
    assert wait_for(lambda: first_listener.heard["orders"] + second_listener.heard["orders"] == 9)
    heard = first_listener.heard["orders"]
    looks, rings = [], []
    claim = second._claim
    second._claim = lambda batch: looks.append(claim(batch)) or looks[-1]
    second.on_backlog = lambda: rings.append(1)

    report = second.drain(batch_size=5, max_batches=100)
    assert [(look.seen, look.given_back) for look in looks] == [(0, 5), (3, 0)]  # a batch given back, then the rows behind it
    assert report.waiting == 3 and rings == []  # the other orders handled (their shop is not installed: they wait); no backlog rung
    assert [status for _, status, _ in inbox(web)] == ["pending"] * 6 + ["waiting"] * 3
    assert wait_for(lambda: first_listener.heard["orders"] == heard + 1)  # the holder was told once

    looks.clear()
    assert second.drain(batch_size=5, max_batches=100).handled == 0
    assert looks == [([], 0, 0)]  # the held order's rows are not looked at again while it is held
    mine, _, given_back = first._claim(10)
    assert len(mine) == 5 and given_back == 0  # the holder's own lane takes them


@pytest.mark.parametrize("end", ["dies", "begins to stop"])
def test_a_holder_whose_lane_listener_is_gone_or_leaving_holds_nothing(two_workers, end) -> None:
    """A holder process counts only while its lane listener is connected and not leaving: then its order's rows are another process's at once.

    A process that begins to stop takes nothing new (its drains stop between rows): a row given back to it would wait for its exit.
    """
    web, url, (first, second), (first_listener, _) = two_workers
    post(web, "orders/create", webhook_id="create")
    first._claim(1)
    post(web, "orders/paid", webhook_id="paid")
    assert second._claim(10)[:2] == ([], 0)  # held: the first process's listener is connected

    if end == "dies":
        first_listener.stop()  # (its lease on orders/create is still running)
    else:
        first_listener.leave()  # SIGTERM: its lane finishes orders/create
        assert first_listener.left.wait(WAIT)
    assert wait_for(lambda: listening_workers(url) == 1)
    taken, _, given_back = second._claim(10)
    assert [c.topic for c in taken] == ["orders/paid"] and given_back == 0
