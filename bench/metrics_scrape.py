"""How much a /metrics scrape costs at 1,000 shops, against an empty database in the same run.

Fills a fresh SQLite database the way a busy production one looks (handled and pending
webhooks, dead letters, two days of job runs for 1,000 shops' token refreshes, supplier
orders, open alerts) and 1,000 shops' GraphQL cost and throttle series, then scrapes
/metrics through the app (Flask test client, so only the app's own work is measured) and
prints latency and size against the baseline of an empty database. Also prints what the
intake hooks add to one webhook.

    .venv/bin/python bench/metrics_scrape.py [--shops 1000] [--handled 200000] [--scrapes 30]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKEN = "bench-metrics-token-0123456789"
FERNET_KEY = "G288qCh8r_PF3al5SKgDBddzlgaVneMTTDALrQCAKns="
TARGET_SCRAPE_P99_SECONDS = 0.5
TARGET_EXPOSITION_BYTES = 2_000_000
TARGET_HOOK_MICROSECONDS = 50.0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--shops", type=int, default=1000, help="installed shops (GraphQL series, per-shop job runs)")
    p.add_argument("--handled", type=int, default=200_000, help="handled webhook rows kept for retention")
    p.add_argument("--pending", type=int, default=2_000, help="pending webhook rows")
    p.add_argument("--supplier-orders", type=int, default=50_000, help="supplier orders (5%% still waiting)")
    p.add_argument("--scrapes", type=int, default=30, help="measured scrapes per phase")
    return p.parse_args(argv)


def build_app(database_url: str):
    from shopify_app.config import load_settings
    from shopify_app.factory import create_app

    env = {"SHOPIFY_API_KEY": "bench-key", "SHOPIFY_API_SECRET": "bench-secret-0123456789abcdef", "ENCRYPTION_KEYS": FERNET_KEY,
           "DATABASE_URL": database_url, "RUN_SCHEDULER": "0", "METRICS_TOKEN": TOKEN}
    return create_app(load_settings(env))


def fill(database_url: str, args) -> dict[str, int]:
    """Bulk rows through a plain engine (SQLite's foreign keys off: the scrape reads states, not relations)."""
    from sqlalchemy import create_engine, insert

    from shopify_app.jobs.models import JobRun
    from shopify_app.models import Shop, WebhookDelivery
    from shopify_app.suppliers.models import Alert, SupplierOrder

    now = dt.datetime.now(dt.timezone.utc)
    shops = [f"shop-{n}.myshopify.com" for n in range(args.shops)]
    counts = {}
    engine = create_engine(database_url)
    with engine.begin() as conn:
        # Installed: the per-shop jobs' lag gauges read every installed shop's claims (session 27b, part D).
        conn.execute(insert(Shop), [dict(domain=shop, status="installed", installed_at=now) for shop in shops])
        counts["installed shops"] = len(shops)
        rows = []
        for n in range(args.handled + args.pending + 50):
            status = "done" if n < args.handled else "pending" if n < args.handled + args.pending else "dead"
            received = now - dt.timedelta(seconds=(args.handled + args.pending - n) * 2)
            rows.append(dict(webhook_id=uuid.uuid4().hex, shop_domain=shops[n % len(shops)], topic="orders/paid", body="{}", received_at=received,
                             next_attempt_at=received, status=status, attempts=0, delivery_count=1))
        conn.execute(insert(WebhookDelivery), rows)
        counts["webhook rows"] = len(rows)
        rows = []
        every = dt.timedelta(minutes=10)
        slots = int(dt.timedelta(days=2) / every)
        for shop in shops:
            for s in range(slots):
                slot = now - every * (s + 1)
                rows.append(dict(job=f"token-refresh:{shop}", slot=slot, owner="bench:1", status="done", started_at=slot, finished_at=slot + dt.timedelta(seconds=1)))
        conn.execute(insert(JobRun), rows)
        counts["job runs"] = len(rows)
        rows = []
        for n in range(args.supplier_orders):
            state = "placed" if n % 20 else ("pending", "unknown", "on_hold", "failed")[n // 20 % 4]
            rows.append(dict(shop_domain=shops[n % len(shops)], order_id=n + 1, supplier_id=1, idempotency_key=uuid.uuid4().hex, state=state,
                             attempts=0, next_attempt_at=now, created_at=now - dt.timedelta(minutes=n % 600)))
        conn.execute(insert(SupplierOrder), rows)
        counts["supplier orders"] = len(rows)
        rows = [dict(shop_domain=shops[n % len(shops)], dedupe_key=f"bench:{n}", kind=("supplier_unreachable", "job_failed", "cancel_refused")[n % 3],
                     severity=("warning", "critical")[n % 2], message="bench", count=1, first_seen=now, last_seen=now) for n in range(args.shops)]
        conn.execute(insert(Alert), rows)
        counts["open alerts"] = len(rows)
    engine.dispose()
    return counts


def graphql_series(shops: int) -> None:
    from shopify_app.metrics.shopify import graphql_cost, graphql_paced, graphql_throttled

    for n in range(shops):
        shop = f"shop-{n}.myshopify.com"
        graphql_cost(shop, {"cost": {"requestedQueryCost": 100, "actualQueryCost": 40}})
        graphql_throttled(shop, "throttled")
        graphql_throttled(shop, "http_429")
        graphql_paced(shop, 0.5)


def scrape_times(app, scrapes: int) -> tuple[list[float], int, int]:
    from prometheus_client.parser import text_string_to_metric_families

    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    client.get("/metrics", headers=headers)  # warm
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        response = client.get("/metrics", headers=headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    text = response.get_data(as_text=True)
    series = sum(len(f.samples) for f in text_string_to_metric_families(text))
    return times, len(response.data), series


def hook_cost(n: int = 20_000) -> tuple[float, float]:
    """Microseconds per webhook for the intake hooks' recording (counter + histogram), and for a bare dict update as the floor."""
    from shopify_app.metrics.instruments import WEBHOOK_INTAKE_SECONDS, WEBHOOKS_RECEIVED

    started = time.perf_counter()
    for _ in range(n):
        WEBHOOK_INTAKE_SECONDS.labels("orders/paid").observe(0.004)
        WEBHOOKS_RECEIVED.labels("orders/paid", "new").inc()
    hooks = (time.perf_counter() - started) / n * 1e6
    floor: dict = {}
    started = time.perf_counter()
    for _ in range(n):
        floor[("orders/paid", "new")] = floor.get(("orders/paid", "new"), 0) + 1
    return hooks, (time.perf_counter() - started) / n * 1e6


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv=None) -> int:
    args = parse_args(argv)
    from shopify_app.migrate import upgrade_to_head

    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{Path(workdir) / 'bench.db'}"
        upgrade_to_head(url)
        app = build_app(url)
        try:
            base_times, base_bytes, base_series = scrape_times(app, args.scrapes)
            load_started = time.perf_counter()
            counts = fill(url, args)
            graphql_series(args.shops)
            load_seconds = time.perf_counter() - load_started
            times, size, series = scrape_times(app, args.scrapes)
        finally:
            app.extensions["services"].close()
    hooks_us, floor_us = hook_cost()
    print(f"metrics scrape bench: SQLite, {os.cpu_count()} CPUs, {args.scrapes} scrapes per phase; loaded in {load_seconds:.1f}s: "
          + ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f", GraphQL series for {args.shops:,} shops")
    print(f"{'phase':<28}{'p50 ms':>10}{'p99 ms':>10}{'bytes':>12}{'series':>10}")
    print(f"{'baseline (empty database)':<28}{statistics.median(base_times) * 1000:>10.1f}{pct(base_times, 0.99) * 1000:>10.1f}{base_bytes:>12,}{base_series:>10,}")
    print(f"{f'{args.shops:,} shops, filled':<28}{statistics.median(times) * 1000:>10.1f}{pct(times, 0.99) * 1000:>10.1f}{size:>12,}{series:>10,}")
    print(f"intake hooks per webhook: {hooks_us:.1f} µs (a bare dict update: {floor_us:.2f} µs)")
    p99 = pct(times, 0.99)
    print("targets:")
    print(f"  scrape p99 at {args.shops:,} shops < {TARGET_SCRAPE_P99_SECONDS * 1000:.0f} ms: {p99 * 1000:.1f} ms  {'MET' if p99 < TARGET_SCRAPE_P99_SECONDS else 'MISSED'}")
    print(f"  exposition < {TARGET_EXPOSITION_BYTES / 1e6:.0f} MB: {size / 1e6:.2f} MB  {'MET' if size < TARGET_EXPOSITION_BYTES else 'MISSED'}")
    print(f"  intake hooks < {TARGET_HOOK_MICROSECONDS:.0f} µs per webhook: {hooks_us:.1f} µs  {'MET' if hooks_us < TARGET_HOOK_MICROSECONDS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
