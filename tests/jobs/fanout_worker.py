"""A real procrastinate worker process for tests/jobs/test_procrastinate_fanout.py: the app's worker, with one recording per-shop job.

Run as: python tests/jobs/fanout_worker.py DATABASE_URL LOG_PATH. Each unit run appends
"<job>|<shop>|<slot>|<pid>" to LOG_PATH (O_APPEND: lines from both processes never mix).
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest's settings

from conftest import make_settings  # noqa: E402

import scheduler.embedded as embedded  # noqa: E402
from shopify_app.jobs.fanout import ShopJob  # noqa: E402

UNIT_SECONDS = 0.3  # long enough that one worker cannot take every unit before the other gets one


def main(database_url: str, log_path: str) -> None:
    def record(services, shop: str) -> None:
        time.sleep(UNIT_SECONDS)
        with open(log_path, "a") as log:
            log.write(f"recorded|{shop}|{os.getpid()}\n")

    embedded.SHOP_JOBS = (ShopJob("recorded", dt.timedelta(minutes=15), record, first_run_now=True),)  # every shop at once: the test does not wait for slots
    embedded.PERIODIC_JOBS = ()  # only the per-shop fan-out is under test

    from scheduler.distributed import run_worker
    from shopify_app.services import build_services

    services = build_services(make_settings(database_url))
    with open(log_path, "a") as log:
        log.write(f"ready|{os.getpid()}\n")
    run_worker(services, concurrency=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
