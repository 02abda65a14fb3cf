"""Two real procrastinate worker processes on a real PostgreSQL share the per-shop units, and no unit runs twice."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import _fresh_postgres_db, install_shop
from shopify_app.jobs.models import JobRun
from shopify_app.migrate import upgrade_to_head

pytestmark = pytest.mark.postgres
WORKER = Path(__file__).with_name("fanout_worker.py")
ROOT = Path(__file__).resolve().parents[2]
SHOPS = [f"peak-{i:02d}.myshopify.com" for i in range(24)]


def test_two_worker_processes_share_the_shops_units_and_run_each_once(postgres_server, app_factory, tmp_path) -> None:
    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    app = app_factory(url)
    services = app.extensions["services"]
    install_shop(app, *SHOPS)
    log_path = tmp_path / "runs.log"
    log_path.touch()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, str(WORKER), url, str(log_path)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"worker-{n}.err", "w")) for n in range(2)]
    try:
        # Both workers' periodic deferrers fire the same minute's fan-out: procrastinate keeps one, and
        # it defers a unit per shop; the workers take them as they come.
        deadline = time.monotonic() + 120
        done: list[str] = []
        while time.monotonic() < deadline:
            with services.session_factory() as session:
                done = session.scalars(select(JobRun.job).where(JobRun.job.startswith("recorded:"), JobRun.status == "done")).all()
            if {job.split(":", 1)[1] for job in done} >= set(SHOPS):
                break
            assert all(worker.poll() is None for worker in workers), (tmp_path / "worker-0.err").read_text()[-2000:] + (tmp_path / "worker-1.err").read_text()[-2000:]
            time.sleep(0.3)
        else:
            pytest.fail(f"only {len(done)} of {len(SHOPS)} shops ran")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    lines = [line.split("|") for line in log_path.read_text().splitlines()]
    ready = {int(pid) for kind, pid in (line for line in lines if line[0] == "ready")}
    runs = [(shop, int(pid)) for kind, shop, pid in (line for line in lines if line[0] == "recorded")]
    with services.session_factory() as session:
        claimed = Counter(job.split(":", 1)[1] for job in session.scalars(select(JobRun.job).where(JobRun.job.startswith("recorded:"))))
    assert len(ready) == 2
    # Every run claimed its (unit, slot) row first: as many runs as claimed slots means none ran twice.
    assert Counter(shop for shop, _ in runs) == claimed
    assert set(claimed) == set(SHOPS)
    assert {pid for _, pid in runs} == ready  # both processes took a share
