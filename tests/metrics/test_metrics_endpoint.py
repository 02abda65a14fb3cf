"""/metrics is never public by accident: bearer token in constant time, 404 without one in real mode; a scrape survives a lost database."""
from __future__ import annotations

import os

import pytest

from conftest import FERNET_KEY, install_shop, make_settings
from metrics_kit import TOKEN, family_names, samples, value
from shopify_app.config import ConfigError, load_settings
from shopify_app.metrics.endpoint import authorized


def test_real_mode_without_a_token_answers_404(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    response = app.test_client().get("/metrics")
    assert response.status_code == 404
    assert b"dropship_" not in response.data


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"])
def test_a_missing_or_wrong_token_is_401(app_factory, sqlite_url, header):
    app = app_factory(sqlite_url, metrics_token=TOKEN)
    response = app.test_client().get("/metrics", headers={"Authorization": header} if header is not None else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"dropship_" not in response.data


def test_the_right_token_gets_the_prometheus_text_format(app_factory, sqlite_url):
    app = app_factory(sqlite_url, metrics_token=TOKEN)
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    names = family_names(response.get_data(as_text=True))
    assert {"dropship_database_up", "dropship_inbox_rows", "dropship_inbox_dead_letters", "dropship_supplier_orders_due", "dropship_job_interval_seconds"} <= names


def test_sandbox_mode_serves_metrics_without_a_token(sqlite_url):
    from shopify_app.factory import create_app

    app = create_app(load_settings({"SANDBOX": "1", "DATABASE_URL": sqlite_url, "RUN_SCHEDULER": "0"}))
    try:
        assert app.test_client().get("/metrics").status_code == 200
    finally:
        app.extensions["services"].close()


def test_a_token_set_in_sandbox_mode_is_still_required(sqlite_url):
    from shopify_app.factory import create_app

    app = create_app(load_settings({"SANDBOX": "1", "DATABASE_URL": sqlite_url, "RUN_SCHEDULER": "0", "METRICS_TOKEN": TOKEN}))
    try:
        assert app.test_client().get("/metrics").status_code == 401
    finally:
        app.extensions["services"].close()


def test_a_short_token_is_a_configuration_error():
    env = {"SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s", "ENCRYPTION_KEYS": FERNET_KEY}
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        load_settings(env | {"METRICS_TOKEN": "short"})
    assert load_settings(env | {"METRICS_TOKEN": f" {TOKEN} "}).metrics_token == TOKEN
    assert load_settings(env).metrics_token is None


def test_token_comparison_needs_the_bearer_scheme_and_the_exact_token():
    assert authorized(TOKEN, f"Bearer {TOKEN}") and authorized(TOKEN, f"bearer {TOKEN}")
    assert not authorized(TOKEN, TOKEN) and not authorized(None, "Bearer ") and not authorized(TOKEN, "Bearer ")


def test_a_scrape_answers_when_the_database_is_gone(app_factory, tmp_path):
    from shopify_app.migrate import upgrade_to_head

    path = tmp_path / "gone.db"
    upgrade_to_head(f"sqlite:///{path}")
    app = app_factory(f"sqlite:///{path}", metrics_token=TOKEN)
    install_shop(app, "demo.myshopify.com")
    app.extensions["services"].engine.dispose()
    os.remove(path)
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    figures = samples(response.get_data(as_text=True))
    assert value(figures, "dropship_database_up") == 0
    assert ("dropship_inbox_rows", (("status", "pending"),)) not in figures


def test_openmetrics_is_served_when_the_scraper_asks_for_it(app_factory, sqlite_url):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

    app = app_factory(sqlite_url, metrics_token=TOKEN)
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    names = {family.name for family in parse_openmetrics(response.get_data(as_text=True))}  # the strict parser: fails on a bad exposition
    assert "dropship_inbox_dead_letters" in names


def test_the_embedded_clock_and_pumps_are_reported_where_they_run(sqlite_url):
    from shopify_app.factory import create_app

    app = create_app(make_settings(sqlite_url, metrics_token=TOKEN), start_scheduler=True)
    services = app.extensions["services"]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        running = samples(app.test_client().get("/metrics", headers=headers).get_data(as_text=True))
        assert [value(running, "dropship_embedded_scheduler_up", part=p) for p in ("clock", "inbox_pump", "forwarding_pump")] == [1, 1, 1]
        services.scheduler.lanes.pump.stop()
        stopped = samples(app.test_client().get("/metrics", headers=headers).get_data(as_text=True))
        assert value(stopped, "dropship_embedded_scheduler_up", part="inbox_pump") == 0
        assert value(stopped, "dropship_embedded_scheduler_up", part="forwarding_pump") == 1
    finally:
        services.scheduler.shutdown()
        services.close()


def test_no_embedded_scheduler_series_where_none_runs(app_factory, sqlite_url):
    app = app_factory(sqlite_url, metrics_token=TOKEN)  # RUN_SCHEDULER=0: web processes beside workers
    figures = samples(app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True))
    assert not any(name == "dropship_embedded_scheduler_up" for name, _ in figures)
