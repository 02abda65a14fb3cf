"""The inbox worker on SQLite and PostgreSQL: handlers run once, failures retry, poison dead-letters."""
from __future__ import annotations

import datetime as dt
import json
import random
import threading

import pytest
from sqlalchemy import select, update

from conftest import sample, webhook_headers
from shopify_app.models import InboxStatus, Shop, WebhookDelivery
from shopify_app.webhooks import registry
from shopify_app.webhooks.worker import InboxWorker, retry_dead_letter, retry_delay


@pytest.fixture
def app(app_factory, database_url):
    app = app_factory(database_url)
    with app.extensions["services"].session_factory.begin() as session:
        session.add(Shop(domain="demo.myshopify.com"))
    return app


@pytest.fixture
def test_topic():
    """A throwaway topic whose handler the test controls."""
    calls = []
    behaviour = {"fail_times": 0}

    def handler(ctx):
        calls.append(ctx.payload)
        if behaviour["fail_times"] > 0:
            behaviour["fail_times"] -= 1
            raise RuntimeError("supplier down")

    registry.load_handlers()
    registry.HANDLERS["test/topic"] = handler
    yield calls, behaviour
    registry.HANDLERS.pop("test/topic", None)


def post(app, topic, body, **kw):
    return app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, **kw))


def worker_for(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services, rng=random.Random(1))


def statuses(app):
    with app.extensions["services"].session_factory() as session:
        return [r.status for r in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]


def make_due(app):
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(WebhookDelivery).values(next_attempt_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))


def test_handler_runs_once_for_replays_and_duplicate_events(app, test_topic):
    calls, _ = test_topic
    body = json.dumps({"n": 1}).encode()
    for _ in range(3):
        post(app, "test/topic", body, webhook_id="w1", event_id="e1")
    post(app, "test/topic", body, webhook_id="w2", event_id="e1")
    report = worker_for(app).drain()
    assert report.done == 1 and calls == [{"n": 1}]
    assert statuses(app) == ["done", "duplicate"]
    assert worker_for(app).drain().handled == 0


def test_failing_handler_is_retried_with_backoff_then_succeeds(app, test_topic):
    calls, behaviour = test_topic
    behaviour["fail_times"] = 2
    post(app, "test/topic", b'{"n": 2}')
    worker = worker_for(app)
    assert worker.drain().retried == 1
    assert worker.drain().handled == 0  # backoff: not due yet
    with app.extensions["services"].session_factory() as session:
        row = session.scalars(select(WebhookDelivery)).one()
        assert row.next_attempt_at > dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        assert "supplier down" in row.last_error
    make_due(app)
    assert worker.drain().retried == 1
    make_due(app)
    assert worker.drain().done == 1
    assert len(calls) == 3 and statuses(app) == ["done"]


def test_handler_failing_every_time_is_dead_lettered_after_n_attempts_and_retryable(app_factory, database_url, test_topic):
    app = app_factory(database_url, webhook_max_attempts=3)
    with app.extensions["services"].session_factory.begin() as session:
        session.add(Shop(domain="demo.myshopify.com"))
    _, behaviour = test_topic
    behaviour["fail_times"] = 99
    post(app, "test/topic", b'{"n": 3}')
    worker = worker_for(app)
    for _ in range(3):
        make_due(app)
        worker.drain()
    with app.extensions["services"].session_factory() as session:
        row = session.scalars(select(WebhookDelivery)).one()
        assert (row.status, row.attempts) == ("dead", 3)
        assert "RuntimeError: supplier down" in row.last_error
    behaviour["fail_times"] = 0
    with app.extensions["services"].session_factory.begin() as session:
        assert retry_dead_letter(session, row.id, "other.myshopify.com") is False
        assert retry_dead_letter(session, row.id, "demo.myshopify.com") is True
    assert worker.drain().done == 1


def test_malformed_json_with_valid_hmac_is_dead_lettered_without_retry(app, test_topic):
    calls, _ = test_topic
    post(app, "test/topic", b'{"order": ')
    report = worker_for(app).drain()
    assert report.dead == 1 and calls == []
    with app.extensions["services"].session_factory() as session:
        row = session.scalars(select(WebhookDelivery)).one()
    assert row.status == "dead" and row.attempts == 1 and "not valid JSON" in row.last_error
    assert row.body == '{"order": '  # kept for inspection


def test_unknown_topic_is_recorded_acked_and_ignored(app):
    body = b'{"x": 1}'
    assert post(app, "unheard/of", body).status_code == 200
    assert worker_for(app).drain().ignored == 1
    assert statuses(app) == ["ignored"]


def test_unknown_shop_is_recorded_and_waits_for_its_install_for_normal_topics(app, test_topic):
    calls, _ = test_topic
    assert post(app, "test/topic", b"{}", shop="stranger.myshopify.com").status_code == 200
    assert worker_for(app).drain().waiting == 1 and calls == []
    assert statuses(app) == ["waiting"]


def test_two_workers_racing_process_each_row_once(app, test_topic):
    calls, _ = test_topic
    for n in range(40):
        post(app, "test/topic", json.dumps({"n": n}).encode())
    workers = [worker_for(app), worker_for(app)]
    threads = [threading.Thread(target=w.drain, kwargs={"batch_size": 5}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c["n"] for c in calls) == list(range(40))
    assert statuses(app) == ["done"] * 40


def test_retry_delay_grows_and_is_capped():
    rng = random.Random(0)
    assert all(0 <= retry_delay(1, rng) <= 4 for _ in range(50))
    assert max(retry_delay(20, rng) for _ in range(200)) <= 3600
    assert max(retry_delay(8, rng) for _ in range(200)) > 100


def test_prefetch_and_after_commit_calls_run_with_no_write_transaction_and_a_failed_call_retries_the_delivery(app):
    """Rule 6 in the inbox: network reads go in prefetch, calls after writing in after_commit; neither holds the write lock."""
    from shopify_app.write_transactions import holds_write_transaction

    seen = {"prefetch": [], "handler": [], "call": []}
    failures = {"left": 1}

    def prefetch(ctx):
        seen["prefetch"].append(holds_write_transaction())
        return {"fetched": ctx.payload["n"]}

    def call():
        seen["call"].append(holds_write_transaction())
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("supplier down")

    def handler(ctx):
        seen["handler"].append((holds_write_transaction(), ctx.prefetched))
        ctx.after_commit(call)

    registry.load_handlers()
    registry.HANDLERS["test/phases"], registry.PREFETCHES["test/phases"] = handler, prefetch
    try:
        post(app, "test/phases", json.dumps({"n": 7}).encode())
        first = worker_for(app).drain()
        assert (first.retried, statuses(app)) == (1, [InboxStatus.PENDING.value])  # the failed call retries the whole delivery
        make_due(app)
        assert worker_for(app).drain().done == 1 and statuses(app) == [InboxStatus.DONE.value]
    finally:
        registry.HANDLERS.pop("test/phases", None)
        registry.PREFETCHES.pop("test/phases", None)
    assert seen["prefetch"] == [False, False] and seen["call"] == [False, False]
    on_sqlite = app.extensions["services"].settings.is_sqlite
    assert seen["handler"] == [(on_sqlite, {"fetched": 7})] * 2  # the handler itself runs in the write transaction


def test_a_pass_that_found_less_than_a_batch_does_not_look_again_just_to_find_nothing(app, test_topic, monkeypatch):
    """Issue 20 (CPU per order): every pump wake-up ended with one more claim query that found nothing."""
    calls, _ = test_topic
    for n in range(3):
        assert post(app, "test/topic", json.dumps({"n": n}).encode(), webhook_id=f"w-{n}").status_code == 200
    w = worker_for(app)
    looks = []
    real = w._claim
    monkeypatch.setattr(w, "_claim", lambda batch_size: looks.append(batch_size) or real(batch_size))
    assert w.drain(batch_size=10).done == 3
    assert looks == [10]  # one look: three were due, fewer than a batch
    assert w.drain(batch_size=2).done == 0 and looks == [10, 2]  # an idle pass: one look
    for n in range(3, 8):
        post(app, "test/topic", json.dumps({"n": n}).encode(), webhook_id=f"w-{n}")
    looks.clear()
    assert w.drain(batch_size=2).done == 5
    assert looks == [2, 2, 2]  # full batches, then the last one with 1: no fourth look
    assert sorted(c["n"] for c in calls) == list(range(8))
