"""Real HTTP end to end: the sandbox Shopify sends signed sample webhooks to the running app,
and `python -m shopify_app.cli run` in sandbox mode serves /healthz and the app home."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET, REPO, sample_json
from sandbox.shopify.webhooks import WebhookDelivery as Outgoing
from shopify_app.models import WebhookDelivery

SHOP = "demo.myshopify.com"


@pytest.fixture
def served_app(sandboxed_app):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield sandboxed_app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def inbox(app):
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_sample_order_over_http_stored_once_for_retries_and_duplicate_subscriptions(served_app, sandbox_shopify):
    app, url = served_app
    sandbox_shopify.register_app(API_KEY, API_SECRET, url, webhook_topics=["orders/create"])
    payload = sample_json("orders_create")
    # Shopify retrying one delivery: the same webhook id three times.
    retry = Outgoing("orders/create", SHOP, f"{url}/webhooks", API_SECRET, json.dumps(payload).encode(), event_id="ev-1", webhook_id="wh-1")
    statuses = [sandbox_shopify.webhooks.send(retry).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    attempts = sandbox_shopify.webhooks.attempts(webhook_id="wh-1")
    assert len(inbox(app)) == 1
    # Every attempt that reached us is counted on the one row (a network hiccup makes
    # the sender try again, exactly as Shopify would).
    assert inbox(app)[0].delivery_count == len(attempts) >= 3, [(a.status, a.error) for a in attempts]
    # One event, two subscriptions (app-level and a shop-level one made through GraphQL).
    gateway = app.extensions["services"]
    gateway.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "read_orders")
    gateway.gateway(SHOP).mutate(
        "WebhookSubscriptionCreate",
        {"topic": "ORDERS_CREATE", "webhookSubscription": {"callbackUrl": f"{url}/webhooks?subscription=shop", "format": "JSON"}},
    )
    deliveries = sandbox_shopify.emit(SHOP, "orders/create", payload)
    assert len(deliveries) == 2 and len({d.event_id for d in deliveries}) == 1
    rows = inbox(app)
    assert len(rows) == 3
    assert sorted(r.status for r in rows[1:]) == ["duplicate", "pending"]


def test_forged_delivery_over_http_gets_401(served_app, sandbox_shopify):
    app, url = served_app
    forged = Outgoing("orders/create", SHOP, f"{url}/webhooks", "wrong-secret-0123456789abcdef012345", b'{"id": 1}')
    assert sandbox_shopify.webhooks.send(forged).status_code == 401
    assert inbox(app) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_in_sandbox_mode_serves_health_and_app_home(tmp_path):
    from shopify_app.devserver import DEMO_ORDERS

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPIFY_")}
    env.update(SANDBOX="1", PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path}/run.db", SANDBOX_SHOPIFY_PORT=str(free_port()), SANDBOX_SUPPLIER_PORT=str(free_port()), PYTHONUNBUFFERED="1",
               SANDBOX_SFTP_PORT=str(free_port()), SANDBOX_SFTP_ROOT=str(tmp_path / "sftp"))
    env.pop("ENCRYPTION_KEYS", None)
    subprocess.run([sys.executable, "-m", "shopify_app.cli", "db-upgrade"], cwd=REPO, env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "shopify_app.cli", "run"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = ""
        deadline = time.time() + 90  # waits, not a speed check: a loaded 2-core CI box starts the sandboxes slowly
        while "Sandbox EDI partner" not in output and time.time() < deadline:  # the last lines of the banner
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            output += line
        match = re.search(r"Open the app as the merchant: (\S+)", output)
        assert match, output
        assert re.search(r"Sandbox file supplier: sftp://demo-shop@127\.0\.0\.1:\d+ .*host key SHA256:", output), output  # issue 15
        assert re.search(r"Sandbox EDI partner .*: sftp://demo-edi@127\.0\.0\.1:\d+ ", output), output  # issue 15: EDI on the same server
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health["sandbox"] is True
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"]["ok"] is True, ready.text
        assert health["scheduler"]["running"] is True and health["scheduler"]["inbox_pump"] is True
        # every global periodic job and the per-shop dispatcher tick (the demo shop's units are found by
        # it), plus the one-off dispatch its install asked for until that has run
        from scheduler.embedded import PERIODIC_JOBS

        assert health["scheduler"]["jobs"] in (len(PERIODIC_JOBS) + 1, len(PERIODIC_JOBS) + 2)
        home = httpx.get(match.group(1), follow_redirects=True)
        assert home.status_code == 200 and "Dropship Ops" in home.text
        assert home.headers["Content-Security-Policy"].endswith(f"frame-ancestors https://{SHOP} https://admin.shopify.com;")
        assert "SHOPIFY_API_SECRET=" in output  # dev credentials printed
        # The full loop in sandbox mode: a demo checkout reaches the supplier and comes back shipped.
        shopify_base = re.search(r"Sandbox Shopify:\s+(\S+)", output).group(1)
        placed = httpx.post(f"{shopify_base}/admin/sandbox/orders?shop={SHOP}", json={"lines": [{"sku": "TEE-S", "quantity": 1}]})
        assert placed.status_code == 201, placed.text
        token_url = f"{shopify_base}/admin/session-token?shop={SHOP}&client_id=sandbox-client-id"
        state, deadline = None, time.time() + 90
        while state != "shipped" and time.time() < deadline:
            token = httpx.get(token_url).json()["token"]
            orders = httpx.get(f"http://127.0.0.1:{port}/api/orders", headers={"Authorization": f"Bearer {token}"}).json()["orders"]
            state = orders[0]["state"] if orders else None
            time.sleep(0.5)
        assert state == "shipped", orders
        assert len(orders) == DEMO_ORDERS + 1  # the demo checkouts placed at start-up came through too
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)  # generous: on a loaded machine the stop takes more than 10 s
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave the server behind
            proc.wait()
            raise


def test_dev_server_access_log_never_shows_session_tokens(capsys):
    import io
    import logging

    from shopify_app.devserver import PathOnlyRequestHandler

    handler = PathOnlyRequestHandler.__new__(PathOnlyRequestHandler)
    handler.path, handler.command = "/?shop=demo.myshopify.com&id_token=eyJhbGciOi.secret.sig", "GET"
    handler.client_address = ("127.0.0.1", 5)
    stream = io.StringIO()
    log_handler = logging.StreamHandler(stream)
    logging.getLogger("werkzeug").addHandler(log_handler)
    try:
        handler.log_request(200, 10)
    finally:
        logging.getLogger("werkzeug").removeHandler(log_handler)
    written = stream.getvalue() + capsys.readouterr().err
    assert '"GET /" 200' in written and "id_token" not in written and "secret" not in written
