"""POST /webhooks on SQLite and PostgreSQL: status codes, exactly-once recording, commit before 200."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from conftest import OLD_SECRET, sample, webhook_headers
from shopify_app.models import InboxStatus, WebhookDelivery


def rows(app):
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


@pytest.fixture
def app(app_factory, database_url):
    return app_factory(database_url)


def test_sample_order_stored_once_when_sent_three_times_with_same_webhook_id(app):
    body = sample("orders_create")
    headers = webhook_headers("orders/create", body, webhook_id="wh-1", event_id="ev-1")
    client = app.test_client()
    answers = [client.post("/webhooks", data=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.get_data(as_text=True) for a in answers] == ["new", "replay", "replay"]
    stored = rows(app)
    assert len(stored) == 1
    assert stored[0].delivery_count == 3
    assert stored[0].body == body.decode("utf-8")  # raw body kept byte for byte
    assert stored[0].status == InboxStatus.PENDING.value


def test_same_event_from_two_subscriptions_is_recorded_as_duplicate(app):
    body = sample("orders_create")
    client = app.test_client()
    first = client.post("/webhooks", data=body, headers=webhook_headers("orders/create", body, webhook_id="wh-a", event_id="ev-9"))
    second = client.post("/webhooks", data=body, headers=webhook_headers("orders/create", body, webhook_id="wh-b", event_id="ev-9"))
    assert (first.status_code, second.status_code) == (200, 200)
    a, b = rows(app)
    assert (a.status, b.status) == (InboxStatus.PENDING.value, InboxStatus.DUPLICATE.value)
    assert b.duplicate_of_id == a.id and b.event_id == "ev-9"


def test_forged_webhook_gets_401_and_stores_nothing(app):
    body = sample("orders_create")
    headers = webhook_headers("orders/create", body, secret="not-the-secret")
    assert app.test_client().post("/webhooks", data=body, headers=headers).status_code == 401
    assert rows(app) == []


def test_tampered_body_gets_401(app):
    body = sample("orders_create")
    headers = webhook_headers("orders/create", body)
    tampered = body.replace(b'"total_price"', b'"total_pricE"', 1)
    assert app.test_client().post("/webhooks", data=tampered, headers=headers).status_code == 401


def test_truncated_body_gets_401(app):
    body = sample("orders_create")
    headers = webhook_headers("orders/create", body)
    assert app.test_client().post("/webhooks", data=body[: len(body) // 2], headers=headers).status_code == 401


def test_old_secret_still_accepted_during_rotation(app):
    body = sample("app_uninstalled")
    headers = webhook_headers("app/uninstalled", body, secret=OLD_SECRET)
    assert app.test_client().post("/webhooks", data=body, headers=headers).status_code == 200
    assert len(rows(app)) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_get_405(app, method):
    assert app.test_client().open("/webhooks", method=method).status_code == 405


@pytest.mark.parametrize("missing", ["X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"])
def test_missing_shopify_headers_get_400(app, missing):
    body = sample("orders_create")
    headers = webhook_headers("orders/create", body)
    del headers[missing]
    assert app.test_client().post("/webhooks", data=body, headers=headers).status_code == 400
    assert rows(app) == []


def test_oversized_delivery_gets_413(app_factory, database_url):
    app = app_factory(database_url, webhook_max_bytes=1000)
    body = json.dumps({"padding": "x" * 2000}).encode()
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body))
    assert response.status_code == 413
    assert rows(app) == []


def test_non_json_body_with_valid_hmac_is_recorded(app):
    body = b"this is {not json"
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body))
    assert response.status_code == 200
    assert rows(app)[0].body == "this is {not json"


def test_row_is_committed_before_the_200(app):
    """A separate connection sees the row as soon as the response is out."""
    body = sample("orders_paid")
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/paid", body, webhook_id="wh-c"))
    assert response.status_code == 200
    from sqlalchemy import create_engine

    engine = create_engine(app.extensions["services"].settings.database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.webhook_id == "wh-c")).scalar()
    engine.dispose()
    assert count == 1


def test_concurrent_deliveries_over_http_are_all_committed_before_their_200(app):
    """Group commit (SQLite) and per-request transactions (PG): every 200 has its row."""
    import threading

    import httpx
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks"
    body = sample("orders_create")
    acked: list[str] = []

    def send(worker: int) -> None:
        with httpx.Client() as client:
            for n in range(25):
                webhook_id = f"w{worker}-{n}"
                if client.post(url, content=body, headers=webhook_headers("orders/create", body, webhook_id=webhook_id)).status_code == 200:
                    acked.append(webhook_id)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.shutdown()
    stored = {r.webhook_id for r in rows(app)}
    assert len(acked) == 200 and stored == set(acked)


def test_group_commit_batch_classifies_replays_and_duplicates_inside_one_batch(sqlite_url):
    from shopify_app.db import make_engine
    from shopify_app.webhooks.group_commit import record_batch
    from shopify_app.webhooks.inbox import IncomingWebhook, Recorded

    engine = make_engine(sqlite_url)
    hook = lambda wid, eid: IncomingWebhook(wid, "demo.myshopify.com", "orders/create", "{}", eid)  # noqa: E731
    with engine.begin() as conn:
        record_batch(conn, [hook("old", "e-old")])
    with engine.begin() as conn:
        outcomes = record_batch(conn, [hook("a", "e1"), hook("a", "e1"), hook("b", "e1"), hook("c", "e2"), hook("old", "e-old")])
    assert outcomes == [Recorded.NEW, Recorded.REPLAY, Recorded.DUPLICATE_EVENT, Recorded.NEW, Recorded.REPLAY]
    with engine.connect() as conn:
        stored = conn.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.status, WebhookDelivery.delivery_count).order_by(WebhookDelivery.id)).all()
    engine.dispose()
    assert stored == [("old", "pending", 2), ("a", "pending", 2), ("c", "pending", 1), ("b", "duplicate", 1)]


def test_group_commit_writer_fails_only_the_batch_it_could_not_commit_and_goes_on(sqlite_url):
    """A batch that cannot commit acks nobody in it; the writer's next batch commits on a fresh connection."""
    from shopify_app.db import make_engine
    from shopify_app.webhooks.group_commit import GroupCommitWriter
    from shopify_app.webhooks.inbox import IncomingWebhook, Recorded

    engine = make_engine(sqlite_url)
    writer = GroupCommitWriter(engine)
    assert writer.record(IncomingWebhook("first", "demo.myshopify.com", "orders/create", "{}", "e1")) is Recorded.NEW
    broken = IncomingWebhook("broken", "demo.myshopify.com", "orders/create", None, "e2")  # body is NOT NULL
    with pytest.raises(Exception):
        writer.record(broken)
    assert writer.record(IncomingWebhook("after", "demo.myshopify.com", "orders/create", "{}", "e3")) is Recorded.NEW
    assert writer.record(IncomingWebhook("after", "demo.myshopify.com", "orders/create", "{}", "e3")) is Recorded.REPLAY
    with engine.connect() as conn:
        stored = conn.execute(select(WebhookDelivery.webhook_id).order_by(WebhookDelivery.id)).scalars().all()
    engine.dispose()
    assert stored == ["first", "after"]


def test_group_commit_stores_every_column_as_a_core_insert_does(sqlite_url, monkeypatch):
    """The writer's batch INSERT runs on the sqlite3 connection itself: its rows must be Core's, byte for byte (timestamps' text included)."""
    import datetime as dt
    import sqlite3

    from shopify_app.db import make_engine
    from shopify_app.webhooks import inbox
    from shopify_app.webhooks.group_commit import record_batch
    from shopify_app.webhooks.inbox import IncomingWebhook, Recorded, record_delivery

    monkeypatch.setattr(inbox, "utcnow", lambda: dt.datetime(2025, 1, 2, 3, 4, 5, 60708, tzinfo=dt.timezone.utc))
    engine = make_engine(sqlite_url)
    hook = lambda wid: IncomingWebhook(wid, "demo.myshopify.com", "orders/create", '{"é": 1}', f"e-{wid}", "2025-01", "2025-01-02T03:04:05Z")  # noqa: E731
    with engine.begin() as conn:
        assert record_delivery(conn, hook("core")) is Recorded.NEW
    with engine.begin() as conn:
        assert record_batch(conn, [hook("batch"), hook("batch2")]) == [Recorded.NEW, Recorded.NEW]
    engine.dispose()
    with sqlite3.connect(sqlite_url.split("///", 1)[-1]) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(row) for row in db.execute("SELECT * FROM webhook_inbox ORDER BY id")]
        types = db.execute("SELECT typeof(received_at), typeof(next_attempt_at), typeof(attempts), typeof(delivery_count) FROM webhook_inbox").fetchall()
    for row in rows:
        del row["id"]
        row["webhook_id"] = row["event_id"] = row["event_key"] = "x"
    assert rows[0] == rows[1] == rows[2] and rows[0]["received_at"] == "2025-01-02 03:04:05.060708"
    assert len(set(types)) == 1


@pytest.mark.parametrize("batches_after_own", [0, 2])
def test_group_commit_sender_writes_its_own_delivery_then_what_queued_or_a_waiting_sender_takes_over(sqlite_url, monkeypatch, batches_after_own):
    """No writer thread: the sender that finds nobody writing writes, and what queued meanwhile is written by it (within its
    BATCHES_AFTER_OWN) or, once it stopped, by one of the waiting senders."""
    import threading

    from shopify_app.db import make_engine
    from shopify_app.webhooks import group_commit
    from shopify_app.webhooks.group_commit import GroupCommitWriter
    from shopify_app.webhooks.inbox import IncomingWebhook, Recorded

    monkeypatch.setattr(group_commit, "BATCHES_AFTER_OWN", batches_after_own)
    engine = make_engine(sqlite_url)
    writer = GroupCommitWriter(engine)
    batches, first_batch_started, finish_first_batch = _first_batch_held(writer)
    outcomes = {}

    def send(name):
        outcomes[name] = writer.record(IncomingWebhook(name, "demo.myshopify.com", "orders/create", "{}", f"e-{name}"))

    senders = {name: threading.Thread(target=send, args=(name,), name=name) for name in ("a", "b", "c")}
    senders["a"].start()
    assert first_batch_started.wait(10)
    senders["b"].start()
    senders["c"].start()
    _wait_until_queued(writer, 2)
    finish_first_batch.set()
    for sender in senders.values():
        sender.join(10)
    with engine.connect() as conn:
        stored = set(conn.execute(select(WebhookDelivery.webhook_id)).scalars())
    engine.dispose()
    assert outcomes == {"a": Recorded.NEW, "b": Recorded.NEW, "c": Recorded.NEW} and stored == {"a", "b", "c"}
    assert batches[0] == ("a", ["a"])  # the first sender wrote its own delivery, in its own thread
    assert len(batches) == 2 and batches[1][1] == ["b", "c"]  # then the two queued meanwhile, in one batch
    assert batches[1][0] in (("a",) if batches_after_own else ("b", "c"))  # by the first sender, or by one that waited


def test_group_commit_waiting_senders_take_over_as_soon_as_the_writer_stops(sqlite_url, monkeypatch):
    """The writer stops right after its own batch while two deliveries wait: their senders are woken by its stop
    (a Condition), not by a poll: with a poll slower than their own timeout they would give up unrecorded."""
    import threading

    from shopify_app.db import make_engine
    from shopify_app.webhooks import group_commit
    from shopify_app.webhooks.group_commit import GroupCommitWriter
    from shopify_app.webhooks.inbox import IncomingWebhook, Recorded

    monkeypatch.setattr(group_commit, "BATCHES_AFTER_OWN", 0)
    monkeypatch.setattr(group_commit, "HAND_OVER_SECONDS", 60.0, raising=False)  # the old poll's period: longer than the senders wait
    engine = make_engine(sqlite_url)
    writer = GroupCommitWriter(engine)
    batches, first_batch_started, finish_first_batch = _first_batch_held(writer)
    outcomes = {}

    def send(name, timeout):
        try:
            outcomes[name] = writer.record(IncomingWebhook(name, "demo.myshopify.com", "orders/create", "{}", f"e-{name}"), timeout=timeout)
        except TimeoutError:
            outcomes[name] = "timed out"

    senders = {"a": threading.Thread(target=send, args=("a", 10))}
    senders["a"].start()
    assert first_batch_started.wait(10)
    for name in ("b", "c"):
        senders[name] = threading.Thread(target=send, args=(name, 3))
        senders[name].start()
    _wait_until_queued(writer, 2)
    finish_first_batch.set()
    for sender in senders.values():
        sender.join(15)
    engine.dispose()
    assert outcomes == {"a": Recorded.NEW, "b": Recorded.NEW, "c": Recorded.NEW}
    assert [ids for _, ids in batches] == [["a"], ["b", "c"]]


def _first_batch_held(writer):
    """(the batches the writer writes as (thread, webhook ids), set when its first batch starts, set to let that batch go on)."""
    import threading

    batches, first_batch_started, finish_first_batch = [], threading.Event(), threading.Event()
    write = writer._write

    def observed_write(batch):
        batches.append((threading.current_thread().name, [hook.webhook_id for hook, _ in batch]))
        if len(batches) == 1:
            first_batch_started.set()
            finish_first_batch.wait(10)
        write(batch)

    writer._write = observed_write
    return batches, first_batch_started, finish_first_batch


def _wait_until_queued(writer, n: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while writer._queue.qsize() < n and time.monotonic() < deadline:
        time.sleep(0.001)
