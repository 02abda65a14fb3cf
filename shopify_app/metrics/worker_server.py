"""/metrics of a procrastinate worker process, on its own port (METRICS_PORT), behind the same token.

Workers in their own containers must not share the web's PROMETHEUS_MULTIPROC_DIR: process
ids repeat across PID namespaces, and two processes writing one `counter_<pid>.db` corrupt
it. So a worker serves its own counters (job runs, supplier calls, GraphQL, breakers) and
Prometheus scrapes it as another target; the database gauges come from the web's /metrics.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from typing import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from .breakers import publish_breaker_states
from .endpoint import authorized, event_metrics

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name; scrapes every 15 s are not news
        pass


def protected(app, token: str | None, sandbox: bool):
    """The WSGI app behind the bearer token (404 without one in real mode, as on the web's /metrics)."""

    def guarded(environ, start_response):
        if token is None and not sandbox:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found"]
        if token is not None and not authorized(token, environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [b"Unauthorized"]
        publish_breaker_states()
        return app(environ, start_response)

    return guarded


def with_readiness(app, ready: Callable[[], tuple[bool, dict]]):
    """GET /readyz answers from `ready()` (200 or 503, JSON, no token: a probe's), every other path goes to `app`."""

    def routed(environ, start_response):
        if environ.get("PATH_INFO") != "/readyz":
            return app(environ, start_response)
        ok, details = ready()
        body = json.dumps({"ok": ok, **details}).encode()
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return routed


def serve_worker_metrics(settings, port: int | None = None, addr: str | None = None,
                         ready: Callable[[], tuple[bool, dict]] | None = None) -> WSGIServer | None:
    """Serve this process's metrics on METRICS_PORT (METRICS_ADDR, default 0.0.0.0: the container's network) in a daemon thread; None when no port is set.

    With `ready`, the port also answers GET /readyz (the worker's order lanes: scheduler/distributed.py).
    """
    if port is None:
        raw = os.environ.get("METRICS_PORT", "").strip()
        if not raw:
            return None
        port = int(raw)
    addr = addr or os.environ.get("METRICS_ADDR", "0.0.0.0")
    try:
        app = protected(make_wsgi_app(event_metrics()), settings.metrics_token, settings.sandbox)
        server = make_server(addr, port, with_readiness(app, ready) if ready is not None else app, WSGIServer, handler_class=_QuietHandler)
    except OSError as exc:  # a taken port must not stop the worker: orders matter more than its figures
        log.error("worker metrics not served: %s:%s: %s (give each worker on one host its own METRICS_PORT)", addr, port, exc.strerror or exc)
        return None
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    log.info("worker metrics on %s:%s/metrics", addr, server.server_port)
    return server
