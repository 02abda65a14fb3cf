"""Under a real gunicorn with two worker processes, any worker's /metrics counts every worker's webhooks, also after one is replaced."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from conftest import API_KEY, API_SECRET, FERNET_KEY, install_shop, make_settings, webhook_headers
from metrics_kit import TOKEN, samples, value

REPO = Path(__file__).resolve().parents[2]
SHOP = "demo.myshopify.com"
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def start_gunicorn(env: dict) -> tuple[subprocess.Popen, str, Path]:
    log = Path(env["PROMETHEUS_MULTIPROC_DIR"]).parent / "gunicorn.log"
    out = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(Path(__file__).with_name("gunicorn_metrics_conf.py")), "-b", "127.0.0.1:0", "shopify_app.factory:create_app()"],
        cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text())
        if found and log.read_text().count("Booting worker") >= 2:
            url = f"http://127.0.0.1:{found.group(1)}"
            try:
                if httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).status_code == 200:
                    return process, url, log
            except httpx.TransportError:
                pass
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    process.kill()
    raise AssertionError("gunicorn did not start: " + log.read_text())


def worker_pids(log: Path) -> set[int]:
    return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log.read_text())}


def written_by(metrics_dir: Path) -> set[int]:
    """Pids of the processes that wrote counter or histogram files."""
    return {int(m.group(1)) for m in (re.match(r"(?:counter|histogram)_(\d+)\.db", p.name) for p in metrics_dir.iterdir()) if m}


def scrape(url: str) -> dict:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200
    return samples(response.text)


def test_two_gunicorn_workers_report_one_total(tmp_path, sqlite_url, app_factory):
    install_shop(app_factory(sqlite_url), SHOP)  # the shop is installed in the database gunicorn serves
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier run")
    env = os.environ | {
        "SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET, "ENCRYPTION_KEYS": FERNET_KEY, "DATABASE_URL": sqlite_url,
        "RUN_SCHEDULER": "0", "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": str(REPO),
        "EGRESS_ALLOW": make_settings(sqlite_url).egress_allow[0],
    }
    process, url, log = start_gunicorn(env)
    try:
        assert not (metrics_dir / "counter_1.db").exists()  # on_starting emptied the directory

        def deliver(n: int) -> int:
            body = json.dumps({"id": 1000 + n}).encode()
            with httpx.Client(timeout=30) as client:  # a connection per delivery: the arbiter's workers share them out
                return client.post(f"{url}/webhooks", content=body, headers=webhook_headers("orders/paid", body, shop=SHOP)).status_code

        pids = worker_pids(log)
        sent = 0
        # Which worker accepts a connection is up to the kernel: on a busy machine one worker can take a
        # whole round. Deliver in rounds of 8 concurrent connections until both workers wrote their own files.
        with ThreadPoolExecutor(8) as pool:
            for _ in range(50):
                assert set(pool.map(deliver, range(sent, sent + 8))) == {200}
                sent += 8
                if len(written_by(metrics_dir) & pids) == 2:
                    break
        assert len(written_by(metrics_dir) & pids) == 2, (written_by(metrics_dir), pids)  # both workers took deliveries
        for _ in range(6):  # whichever worker answers, the total is the same
            assert value(scrape(url), "dropship_webhooks_received_total", topic="orders/paid", outcome="new") == sent

        os.kill(min(pids), signal.SIGKILL)  # a worker dies; the arbiter replaces it (child_exit marks it dead)
        deadline = time.monotonic() + 30
        while len(worker_pids(log)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(worker_pids(log)) == 3, log.read_text()
        for _ in range(6):
            assert value(scrape(url), "dropship_webhooks_received_total", topic="orders/paid", outcome="new") == sent
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
