"""A procrastinate worker's own /metrics port: its counters, behind the same token rules as the web's."""
from __future__ import annotations

import datetime as dt

import httpx
import pytest

from conftest import make_settings
from metrics_kit import TOKEN, samples, value
from shopify_app.jobs.claims import run_claimed
from shopify_app.metrics.worker_server import serve_worker_metrics


@pytest.fixture
def served(sqlite_url):
    servers = []

    def serve(**overrides):
        server = serve_worker_metrics(make_settings(sqlite_url, **overrides), port=0, addr="127.0.0.1")
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/metrics"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_no_port_no_server(sqlite_url, monkeypatch):
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert serve_worker_metrics(make_settings(sqlite_url, metrics_token=TOKEN)) is None


def test_the_worker_port_serves_its_job_counters_to_the_token_holder(served, sqlite_url):
    from shopify_app.db import make_engine, make_session_factory

    url = served(metrics_token=TOKEN)
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    before = samples(httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).text)
    engine = make_engine(sqlite_url)
    try:
        run_claimed(make_session_factory(engine), "reconcile", dt.timedelta(minutes=15), lambda: None)
    finally:
        engine.dispose()
    after = samples(httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).text)
    assert value(after, "dropship_job_runs_total", job="reconcile", status="done") == value(before, "dropship_job_runs_total", job="reconcile", status="done") + 1
    assert not any(name == "dropship_database_up" for name, _ in after)  # database gauges come from the web's /metrics only


def test_the_worker_port_is_404_without_a_token_in_real_mode(served):
    assert httpx.get(served()).status_code == 404


def test_the_worker_port_answers_readyz_from_its_lanes_without_a_token(sqlite_url):
    """Session 28: a worker's /readyz is its order lanes' health (a probe has no token); /metrics stays behind it."""
    state = {"ready": (False, {"reason": "the order lanes have not started"})}
    server = serve_worker_metrics(make_settings(sqlite_url, metrics_token=TOKEN), port=0, addr="127.0.0.1", ready=lambda: state["ready"])
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        answer = httpx.get(base + "/readyz")
        assert answer.status_code == 503 and answer.json() == {"ok": False, "reason": "the order lanes have not started"}
        state["ready"] = (True, {"inbox_pump": True, "forwarding_pump": True, "listener": True, "listening": True})
        answer = httpx.get(base + "/readyz")
        assert answer.status_code == 200 and answer.json()["ok"] is True and answer.json()["listening"] is True
        assert httpx.get(base + "/metrics").status_code == 401
    finally:
        server.shutdown()
        server.server_close()
