"""GET /metrics: the Prometheus text format, for a scraper holding METRICS_TOKEN.

Protection is a bearer token rather than a separate port: the app already has one listener
behind the TLS-terminating proxy, a token works the same under gunicorn, compose and a
PaaS, and Prometheus sends it with `authorization: {credentials_file: ...}`. Without a
token in real mode the endpoint answers 404 (never public by accident); sandbox mode,
which only listens on the developer's machine, serves it without one.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from .breakers import publish_breaker_states
from .multiprocess import multiprocess_dir
from .scheduler import EmbeddedSchedulerCollector
from .state import DatabaseStateCollector

blueprint = Blueprint("metrics", __name__)


class ScrapeView:
    """The collectors one scrape reads (prometheus_client only needs `collect()`)."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        """Every family of every collector, in order."""
        for collector in self.collectors:
            yield from collector.collect()


def event_metrics():
    """Counters and histograms: every process's files in multiprocess mode, else this process's registry."""
    if multiprocess_dir() is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def authorized(token: str | None, header: str | None) -> bool:
    """True when the Authorization header carries the token (compared in constant time)."""
    scheme, _, presented = (header or "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


@blueprint.get("/metrics")
def metrics() -> Response:
    """The app's metrics; 401 without the right bearer token, 404 in real mode when no METRICS_TOKEN is set."""
    services = current_app.extensions["services"]
    token = services.settings.metrics_token
    if token is None and not services.settings.sandbox:
        return Response("Not found", status=404, mimetype="text/plain")
    if token is not None and not authorized(token, request.headers.get("Authorization")):
        return Response("Unauthorized", status=401, mimetype="text/plain", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    publish_breaker_states()
    state = DatabaseStateCollector(services.read_session_factory or services.session_factory, services)
    # The format Prometheus asks for in Accept (text 0.0.4 by default, OpenMetrics when offered).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(ScrapeView(event_metrics(), state, EmbeddedSchedulerCollector(services)))
    return Response(body, status=200, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
