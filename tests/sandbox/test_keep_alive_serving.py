"""The benchmarks' sandboxes keep connections alive (as Shopify and Printful do); the tests' keep werkzeug's one per request."""
from __future__ import annotations

import httpx
import pytest

from sandbox import serving


def _ports_of_two_calls(monkeypatch, keep_alive: bool) -> list[str]:
    monkeypatch.setattr(serving, "KEEP_ALIVE", keep_alive)
    ports: list[str] = []

    def app(environ, start_response):
        ports.append(environ["REMOTE_PORT"])
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    server = serving.BackgroundServer()
    base = server.start(app)
    try:
        with httpx.Client(base_url=base) as client:
            answers = [client.post("/v2/orders", content=b'{"n": %d}' % n) for n in (1, 2)]
    finally:
        server.stop()
    assert [a.content for a in answers] == [b'{"n": 1}', b'{"n": 2}']
    return ports


@pytest.mark.parametrize("keep_alive, connections", [(True, 1), (False, 2)])
def test_two_calls_use_one_connection_only_when_the_sandbox_keeps_it_alive(monkeypatch, keep_alive, connections):
    assert len(set(_ports_of_two_calls(monkeypatch, keep_alive))) == connections
