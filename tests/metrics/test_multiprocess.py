"""Multiprocess mode: separate processes write into one PROMETHEUS_MULTIPROC_DIR and one /metrics scrape aggregates them.

The writers are real processes running the app's own hooks (the job clock's counters, a
watched circuit breaker); the scraper is a third process serving the app's /metrics.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from metrics_kit import TOKEN, samples, value
from prometheus_client import multiprocess

from shopify_app.metrics.multiprocess import prepare_multiprocess_dir

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import os, sys
    from shopify_app.metrics.breakers import watch_breaker
    from shopify_app.metrics.jobs import job_finished
    from shopify_app.metrics.multiprocess import mark_dead_at_exit
    from shopify_app.suppliers.forwarding import CircuitBreaker

    runs, supplier_id, exits_cleanly = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    if exits_cleanly:
        mark_dead_at_exit()  # what `cli worker` does
    for _ in range(runs):
        job_finished("purge-inbox", "done", 0.2)
    breaker = watch_breaker(CircuitBreaker(window=1, open_ratio=1.0, cooldown=3600))
    breaker.failure(supplier_id)  # opens it; the watch publishes the state
    print(os.getpid())
""")

SCRAPER = textwrap.dedent("""
    import sys
    from shopify_app.config import load_settings
    from shopify_app.factory import create_app

    app = create_app(load_settings({"SANDBOX": "1", "DATABASE_URL": sys.argv[1], "RUN_SCHEDULER": "0", "METRICS_TOKEN": sys.argv[2]}))
    response = app.test_client().get("/metrics", headers={"Authorization": "Bearer " + sys.argv[2]})
    assert response.status_code == 200, response.status_code
    sys.stdout.write(response.get_data(as_text=True))
""")


def run(code: str, *args: str, metrics_dir: Path) -> str:
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": str(REPO)}
    env.pop("prometheus_multiproc_dir", None)
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_processes_write_and_one_scrape_aggregates_them(tmp_path, sqlite_url):
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"stale file of a previous run")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    try:
        prepare_multiprocess_dir()  # gunicorn's on_starting: last run's files must not count
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert list(metrics_dir.iterdir()) == []

    clean_pid = int(run(WRITER, "3", "11", "1", metrics_dir=metrics_dir))
    crashed_pid = int(run(WRITER, "4", "22", "0", metrics_dir=metrics_dir))
    assert clean_pid != crashed_pid

    figures = samples(run(SCRAPER, sqlite_url, TOKEN, metrics_dir=metrics_dir))
    assert value(figures, "dropship_job_runs_total", job="purge-inbox", status="done") == 7
    assert value(figures, "dropship_job_duration_seconds_count", job="purge-inbox") == 7
    # The worker that exited through atexit took its live breaker gauge with it; the other's stays until marked dead.
    assert value(figures, "dropship_supplier_breaker_state", supplier_id="22", state="open") == 1
    assert ("dropship_supplier_breaker_state", (("state", "open"), ("supplier_id", "11"))) not in figures
    assert value(figures, "dropship_database_up") == 1  # the database gauges are computed by the scraping process

    multiprocess.mark_process_dead(crashed_pid, str(metrics_dir))  # gunicorn's child_exit
    figures = samples(run(SCRAPER, sqlite_url, TOKEN, metrics_dir=metrics_dir))
    assert ("dropship_supplier_breaker_state", (("state", "open"), ("supplier_id", "22"))) not in figures
    assert value(figures, "dropship_job_runs_total", job="purge-inbox", status="done") == 7  # counters of exited processes still count


def test_a_server_with_several_workers_and_no_metrics_directory_is_told(monkeypatch, caplog):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    prepare_multiprocess_dir(workers=1)
    assert not caplog.records
    prepare_multiprocess_dir(workers=2)
    assert "PROMETHEUS_MULTIPROC_DIR" in caplog.text


def test_a_directory_set_after_prometheus_client_was_imported_is_reported(monkeypatch, tmp_path, caplog):
    # This test process imported prometheus_client without the variable: exactly the mistake.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    prepare_multiprocess_dir(workers=2)
    assert "set after prometheus_client was imported" in caplog.text
