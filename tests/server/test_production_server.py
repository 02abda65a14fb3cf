"""`make run` in real mode: gunicorn with the embedded scheduler in one worker; SIGTERM loses nothing and processes nothing twice."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import select

from conftest import API_KEY, make_settings, sample_json, webhook_headers
from production_server_kit import ServerProcess, free_port, real_mode_env
from shopify_app.models import WebhookDelivery
from shopify_app.orders.models import Order, OrderEvent

SHOP = "demo.myshopify.com"


@pytest.fixture
def installed_db(sqlite_url, sandbox_shopify):
    """A migrated SQLite database in which the demo shop completed its install against the sandbox Shopify."""
    from shopify_app.services import build_services

    services = build_services(make_settings(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url))
    try:
        services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "read_orders")
    finally:
        services.close()
    return sqlite_url


def start(tmp_path, database_url, sandbox_shopify, name: str, **env) -> ServerProcess:
    port = free_port()
    server = ServerProcess(["run"], real_mode_env(database_url, port, SANDBOX_SHOPIFY_URL=sandbox_shopify.base_url, **env), tmp_path / f"{name}.log", port)
    server.start()
    assert server.wait_http("/healthz").status_code == 200
    return server


def raw_request(body: bytes, headers: dict) -> bytes:
    head = "POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def read_status(sock: socket.socket) -> int | None:
    """Read one whole response on `sock` (headers and Content-Length body); its status, or None when the server closed or reset it without one."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            rest += chunk
    except OSError:
        return None
    return int(head.split(b" ", 2)[1])


def rows(database_url: str, webhook_id: str) -> list[WebhookDelivery]:
    from shopify_app.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            found = session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)).all()
            session.expunge_all()
            return found
    finally:
        engine.dispose()


def order_and_timeline(database_url: str, shopify_id: str) -> tuple[int, list[str]]:
    """How many orders carry this Shopify id, and the kinds of their timeline events."""
    from shopify_app.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            ids = session.scalars(select(Order.id).where(Order.shop_domain == SHOP, Order.shopify_id == shopify_id)).all()
            kinds = session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id.in_(ids)).order_by(OrderEvent.id)).all()
            return len(ids), list(kinds)
    finally:
        engine.dispose()


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("rest_sent", [True, False], ids=["body-completes-in-grace", "client-stalls-past-grace"])
def test_sigterm_mid_delivery_then_restart_processes_it_exactly_once(tmp_path, installed_db, sandbox_shopify, rest_sent):
    payload = sample_json("orders_create")
    body = json.dumps(payload).encode()
    headers = webhook_headers("orders/create", body, shop=SHOP, webhook_id="wh-sigterm", event_id="ev-sigterm")
    request = raw_request(body, headers)
    server = start(tmp_path, installed_db, sandbox_shopify, "first", GRACEFUL_TIMEOUT="3" if not rest_sent else "20")
    try:
        assert "production server listening" in server.output() and "scheduler running here" in server.output()
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        # Keep-alive: a first request proves the worker holds this connection, then the
        # delivery's headers and half its body: the request is in flight in the worker.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_status(sock) == 200
        split = len(request) - len(body) // 2
        sock.sendall(request[:split])
        time.sleep(0.5)  # let the worker start reading it (if it has not, the outcome is "not acknowledged": still checked below)
        server.proc.send_signal(15)
        wait_until(lambda: "Handling signal: term" in server.output(), what="the server to take the SIGTERM")
        if rest_sent:
            sock.sendall(request[split:])
        status = read_status(sock)
        sock.close()
        assert server.proc.wait(timeout=60) == 0, server.output()
    finally:
        server.kill()
    first_output = server.output()
    assert "scheduler and pumps stopped" in first_output, first_output  # at SIGTERM, while requests drained
    acknowledged = status == 200
    stored = rows(installed_db, "wh-sigterm")
    # Rule 1: acknowledged exactly when committed.
    assert len(stored) == (1 if acknowledged else 0), (status, first_output)
    if rest_sent:
        assert acknowledged, first_output  # graceful: the in-flight request finished
    else:
        assert status is None  # the stalled request got no 200: Shopify will retry it
    assert all(row.lease_owner is None for row in stored)  # nothing left claimed by the stopped process

    restarted = start(tmp_path, installed_db, sandbox_shopify, "second")
    try:
        if not acknowledged:
            assert httpx.post(restarted.url + "/webhooks", content=body, headers=headers).status_code == 200  # Shopify's retry
        done = wait_until(lambda: [r for r in rows(installed_db, "wh-sigterm") if r.status == "done"], what="the delivery to be processed")

        # A retry that crossed our acknowledgement: recorded, never run again.
        assert httpx.post(restarted.url + "/webhooks", content=body, headers=headers).status_code == 200
        time.sleep(0.5)
    finally:
        assert restarted.terminate() == 0, restarted.output()
    final = rows(installed_db, "wh-sigterm")
    assert len(final) == 1 and final[0].status == "done" and final[0].attempts == 1, [(r.status, r.attempts, r.last_error) for r in final]
    assert final[0].delivery_count == 2  # the first that reached us (in flight, or Shopify's retry) and the crossing retry
    count, timeline = order_and_timeline(installed_db, payload["admin_graphql_api_id"].rsplit("/", 1)[1])
    assert count == 1 and len(timeline) == 1, timeline  # the handler's effect happened once
    assert done


def test_access_log_has_paths_without_query_strings(tmp_path, installed_db, sandbox_shopify):
    server = start(tmp_path, installed_db, sandbox_shopify, "access", LOG_FORMAT="json")
    try:
        secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXNlc3Npb24.c2lnbmF0dXJl"
        httpx.get(f"{server.url}/healthz?id_token={secret}&shop={SHOP}")
    finally:
        assert server.terminate() == 0
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "gunicorn.access"]
    assert any('"GET /healthz HTTP/1.1" 200' in line["message"] and re.search(r"rid=[0-9a-f]{32}$", line["message"]) for line in access), lines
    assert secret not in server.output() and "id_token" not in server.output()


def test_web_workers_above_one_with_the_embedded_scheduler_is_refused(tmp_path, installed_db, sandbox_shopify):
    from production_server_kit import REPO

    env = real_mode_env(installed_db, free_port(), WEB_WORKERS="2")
    done = subprocess.run([sys.executable, "-m", "shopify_app.cli", "run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4 and "WEB_WORKERS > 1 needs RUN_SCHEDULER=0" in done.stderr
