"""The floor for the webhook benchmark: the least a durable webhook endpoint can do.

`POST /webhooks` checks Shopify's HMAC (stdlib `hmac.compare_digest`), inserts one row
(webhook id + body) into SQLite with the app's durability settings (WAL,
synchronous=FULL, BEGIN IMMEDIATE, busy_timeout), commits, and only then answers 200.
No SDK, no ORM, no logging. It is served by the same gunicorn configuration as the app,
so the difference between the two is what the app does beyond this.

Run under gunicorn: `gunicorn 'bench.floor_app:create_app()'` with FLOOR_DATABASE_PATH
and SHOPIFY_API_SECRET set; the schema is created by `init_db(path)` beforehand.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
import threading

from flask import Flask, Response, request

TABLE = "webhook_inbox"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY,
    webhook_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
)
"""
MAX_BYTES = 1_048_576


def connect(path: str) -> sqlite3.Connection:
    """A connection with the app's durability settings; transactions are explicit."""
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def init_db(path: str) -> None:
    """Create the floor's one table (called once, before the workers start)."""
    conn = connect(path)
    try:
        conn.execute(SCHEMA)
    finally:
        conn.close()


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def create_app(database_path: str | None = None, secret: str | None = None) -> Flask:
    """The floor app; one SQLite connection per server thread."""
    path = database_path or os.environ["FLOOR_DATABASE_PATH"]
    key = (secret or os.environ["SHOPIFY_API_SECRET"]).encode()
    local = threading.local()
    app = Flask(__name__)

    def conn() -> sqlite3.Connection:
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = connect(path)
        return c

    @app.post("/webhooks")
    def receive_webhook() -> Response:
        raw = request.stream.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            return _plain(413, "Payload too large")
        given = request.headers.get("X-Shopify-Hmac-Sha256", "").encode()
        expected = base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest())
        if not hmac.compare_digest(given, expected):
            return _plain(401, "Unauthorized")
        webhook_id = request.headers.get("X-Shopify-Webhook-Id")
        if not webhook_id:
            return _plain(400, "Missing X-Shopify-Webhook-Id")
        db = conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                f"INSERT INTO {TABLE} (webhook_id, body) VALUES (?, ?) ON CONFLICT (webhook_id) DO NOTHING",
                (webhook_id, raw.decode("utf-8", errors="replace")),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return _plain(200, "ok")

    @app.get("/healthz")
    def healthz() -> Response:
        conn().execute("SELECT 1").fetchone()
        return _plain(200, "ok")

    return app
