"""Errors go to a Sentry-compatible DSN (a real HTTP ingest endpoint on loopback), with no secret or personal data in the envelope."""
from __future__ import annotations

import gzip
import http.server
import json
import logging
import threading
import zlib

import pytest

from conftest import API_SECRET

EMAIL = "ola.reported@example.org"
STREET = "742 Evergreen Terrace"
PHONE = "+48601555019"
ACCESS_TOKEN = "shpat_planted0123456789abcdef"
SESSION_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlLXBsYW50ZWQ"
COOKIE = "session=planted-cookie-value-42"


class Ingest:
    """Sentry's envelope endpoint (POST /api/<project>/envelope/), recording decoded bodies."""

    def __init__(self):
        self.envelopes: list[bytes] = []
        self.paths: list[str] = []
        self.received = threading.Event()
        ingest = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli

                    body = brotli.decompress(body)
                ingest.paths.append(self.path)
                ingest.envelopes.append(body)
                ingest.received.set()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": "0"}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def items(self) -> list[tuple[dict, dict]]:
        """(item header, payload) of every JSON item in every envelope."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            json.loads(lines[0])  # the envelope header
            i = 1
            while i + 1 < len(lines):
                header = json.loads(lines[i])
                payload = lines[i + 1]
                if header.get("type") in ("event", "transaction"):
                    found.append((header, json.loads(payload)))
                i += 2
        return found


@pytest.fixture
def ingest():
    server = Ingest()
    yield server
    server.server.shutdown()


@pytest.fixture
def reporting_app(app_factory, sqlite_url, ingest, monkeypatch):
    import sentry_sdk

    monkeypatch.setenv("SENTRY_DSN", f"http://publickey0123@127.0.0.1:{ingest.port}/42")
    app = app_factory(sqlite_url)

    def boom():
        logging.getLogger("shopify_app.test").error("could not reach %s at %s (%s)", EMAIL, STREET, PHONE)
        raise RuntimeError(f"shipping to {EMAIL}, {STREET}, phone {PHONE}, with token {ACCESS_TOKEN}")

    app.add_url_rule("/boom", "boom", boom, methods=["POST"])
    yield app
    sentry_sdk.get_client().close()
    monkeypatch.delenv("SENTRY_DSN")  # sentry_sdk.init() would read it
    # No DSN: later tests report nothing. And no integrations: sentry-sdk patches Thread.start and
    # ThreadPoolExecutor.submit for good, and while a client has its threading integration every
    # later thread of this test process runs inside forked scopes (a worker segfaulted once in
    # ContextVar.set there, with Playwright's greenlets in the same process, session 30).
    sentry_sdk.init(default_integrations=False)
    assert sentry_sdk.get_client().dsn is None
    from sentry_sdk.integrations.threading import ThreadingIntegration
    assert sentry_sdk.get_client().get_integration(ThreadingIntegration) is None


def test_an_unhandled_error_reaches_the_dsn_scrubbed(reporting_app, ingest):
    import sentry_sdk

    response = reporting_app.test_client().post(
        f"/boom?id_token={SESSION_TOKEN}&shop=demo.myshopify.com",
        json={"customer": {"email": EMAIL, "address1": STREET}},
        headers={"Authorization": f"Bearer {SESSION_TOKEN}", "Cookie": COOKIE, "X-Shopify-Access-Token": ACCESS_TOKEN, "X-Shopify-Hmac-Sha256": API_SECRET},
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)
    assert ingest.received.wait(10)
    assert all(path == "/api/42/envelope/" for path in ingest.paths)
    events = [payload for header, payload in ingest.items() if header["type"] == "event"]
    exceptions = [e for e in events if e.get("exception")]
    assert exceptions, events
    assert exceptions[0]["exception"]["values"][-1]["type"] == "RuntimeError"
    assert exceptions[0]["request"]["url"].endswith("/boom") and "query_string" not in exceptions[0]["request"]
    assert exceptions[0]["tags"]["shop"] == "demo.myshopify.com" and exceptions[0]["tags"]["request_id"]
    assert any("[email]" in json.dumps(e) for e in events)  # the messages are there, with the values masked
    raw = b"\n".join(ingest.envelopes).decode(errors="replace")
    for planted in (EMAIL, STREET, PHONE, ACCESS_TOKEN, SESSION_TOKEN, COOKIE, "planted-cookie-value-42", API_SECRET):
        assert planted not in raw, planted


def test_no_dsn_no_reporting(app_factory, sqlite_url, monkeypatch):
    from shopify_app.server.errors import init_error_reporting

    monkeypatch.delenv("SENTRY_DSN", raising=False)
    app = app_factory(sqlite_url)
    assert init_error_reporting(app.extensions["services"].settings) is False
