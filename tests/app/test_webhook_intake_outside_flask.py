"""POST /webhooks runs outside Flask (WebhookIntakeMiddleware): the same guarantees, without Flask's per-request work."""
from __future__ import annotations

import json
import logging
import threading

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from conftest import API_SECRET, sample, webhook_headers
from shopify_app.models import InboxStatus, WebhookDelivery
from shopify_app.server.logs import ContextFilter


def stored(app):
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def received(topic: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("dropship_webhooks_received_total", {"topic": topic, "outcome": outcome}) or 0.0


@pytest.fixture
def app(app_factory, sqlite_url):
    return app_factory(sqlite_url)


@pytest.fixture
def flask_hooks(app):
    """Every time Flask's per-request machinery ran (a before_request hook of the app)."""
    ran = []
    app.before_request(lambda: ran.append(1))
    return ran


def test_a_delivery_is_committed_and_acknowledged_without_flask_per_request_work(app, flask_hooks):
    body = sample("orders_create")
    client = app.test_client()
    first = client.post("/webhooks", data=body, headers=webhook_headers("orders/create", body, webhook_id="wh-1", event_id="ev-1"))
    assert (first.status_code, first.get_data(as_text=True), first.mimetype) == (200, "new", "text/plain")
    assert flask_hooks == []  # the fast path answered
    rows = stored(app)
    assert [(r.webhook_id, r.topic, r.shop_domain, r.status, r.api_version) for r in rows] == [
        ("wh-1", "orders/create", "demo.myshopify.com", InboxStatus.PENDING.value, "2026-10")]
    assert rows[0].body == body.decode("utf-8")  # byte for byte
    # The same delivery again is a replay (stored once); a changed payload under a new id is new.
    again = client.post("/webhooks", data=body, headers=webhook_headers("orders/create", body, webhook_id="wh-1", event_id="ev-1"))
    changed = body.replace(b'"total_price"', b'"total_pricE"', 1)
    other = client.post("/webhooks", data=changed, headers=webhook_headers("orders/updated", changed, webhook_id="wh-2", event_id="ev-2"))
    assert [again.get_data(as_text=True), other.get_data(as_text=True)] == ["replay", "new"]
    assert [r.delivery_count for r in stored(app)] == [2, 1]
    # Every other method still goes through Flask (405 from the view).
    assert client.get("/webhooks").status_code == 405 and flask_hooks == [1]


@pytest.mark.parametrize("case", ["forged", "tampered", "no_hmac", "missing_header", "too_large"])
def test_what_the_flask_view_refused_the_fast_path_refuses_and_stores_nothing(app, flask_hooks, case):
    body = sample("orders_create")
    headers = webhook_headers("orders/create", body, secret="not-the-secret" if case == "forged" else API_SECRET)
    if case == "tampered":
        body = body.replace(b'"total_price"', b'"total_pricE"', 1)
    if case == "no_hmac":
        del headers["X-Shopify-Hmac-Sha256"]
    if case == "missing_header":
        del headers["X-Shopify-Webhook-Id"]
    if case == "too_large":
        body = b"{" + b" " * app.extensions["services"].settings.webhook_max_bytes + b"}"
        headers = webhook_headers("orders/create", body)
    unverified = received("unverified", "401")
    answer = app.test_client().post("/webhooks", data=body, headers=headers)
    expected = {"forged": 401, "tampered": 401, "no_hmac": 400, "missing_header": 400, "too_large": 413}[case]
    assert answer.status_code == expected
    assert answer.status == Response(status=expected).status  # the status line as the Flask view wrote it
    assert stored(app) == [] and flask_hooks == []
    if expected == 401:
        assert received("unverified", "401") == unverified + 1


def test_the_request_id_is_echoed_and_the_log_lines_carry_it_with_shop_and_topic(app):
    captured: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = captured.append
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("shopify_app.webhooks.intake")
    logger.addHandler(handler)
    try:
        body = sample("orders_create")
        client = app.test_client()
        forged = client.post("/webhooks", data=body, headers={**webhook_headers("orders/create", body, secret="wrong"), "X-Request-Id": "req-12345678"})
        made_up = client.post("/webhooks", data=body, headers={**webhook_headers("orders/create", body), "X-Request-Id": "bad id; drop table"})
    finally:
        logger.removeHandler(handler)
    assert forged.status_code == 401 and forged.headers["X-Request-Id"] == "req-12345678"
    assert made_up.status_code == 200 and len(made_up.headers["X-Request-Id"]) == 32 and made_up.headers["X-Request-Id"] != "bad id; drop table"
    rejected = [r for r in captured if "invalid_hmac" in r.getMessage()]
    assert [(r.request_id, r.shop, r.topic) for r in rejected] == [("req-12345678", "demo.myshopify.com", "orders/create")]


def test_outcomes_are_counted_by_topic_as_the_flask_hooks_counted_them(app):
    body = sample("orders_create")
    headers = webhook_headers("orders/paid", body)
    before = (received("orders/paid", "new"), received("orders/paid", "replay"))
    client = app.test_client()
    client.post("/webhooks", data=body, headers=headers)
    client.post("/webhooks", data=body, headers=headers)
    assert (received("orders/paid", "new"), received("orders/paid", "replay")) == (before[0] + 1, before[1] + 1)


def test_a_failing_commit_is_a_500_that_acknowledges_nothing(app, monkeypatch):
    def broken(hook):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(app.extensions["services"], "record_webhook", broken)
    body = sample("orders_create")
    answer = app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body))
    assert answer.status_code == 500 and answer.get_data(as_text=True) != "new"
    assert answer.status == Response(status=500).status


@pytest.fixture
def served(app):
    """The app on a real HTTP server on 127.0.0.1 (werkzeug's: a raw socket stream, chunked bodies decoded)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_on_a_real_server_bodies_with_a_length_chunked_bodies_and_kept_alive_connections_are_read_exactly(app, served):
    body = sample("orders_create")
    with httpx.Client(timeout=10) as client:
        sized = client.post(f"{served}/webhooks", content=body, headers=webhook_headers("orders/create", body, webhook_id="wh-sized"))
        # The same connection again: the first body was read to its length, not beyond.
        kept = client.post(f"{served}/webhooks", content=body, headers=webhook_headers("orders/create", body, webhook_id="wh-kept"))
        chunked = client.post(f"{served}/webhooks", content=iter([body[:1000], body[1000:]]), headers=webhook_headers("orders/create", body, webhook_id="wh-chunked"))
        too_large = client.post(f"{served}/webhooks", content=b"x" * (app.extensions["services"].settings.webhook_max_bytes + 1),
                                headers=webhook_headers("orders/create", b"x"))
    assert [a.status_code for a in (sized, kept, too_large)] == [200, 200, 413]
    # werkzeug's server hands a chunked body over terminated (decoded) or, without that, the
    # Flask view decides as before: either way it is never half-read or acknowledged unstored.
    assert chunked.status_code in (200, 401)
    ids = {r.webhook_id: r.body for r in stored(app)}
    assert ids.get("wh-sized") == body.decode() and ids.get("wh-kept") == body.decode()
    if chunked.status_code == 200:
        assert ids["wh-chunked"] == body.decode()
    assert json.loads(ids["wh-sized"])["id"] == json.loads(body)["id"]
