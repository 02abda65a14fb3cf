"""Benchmark: how fast and how promptly the app acknowledges Shopify webhooks, against a floor.

Starts two gunicorn servers with the same configuration on 127.0.0.1:
  app   - shopify_app.factory:create_app() (SDK HMAC check, inbox INSERT, COMMIT, 200)
  floor - bench.floor_app:create_app()     (stdlib HMAC check, one INSERT, COMMIT, 200)
each on its own fresh SQLite file with the same durability (WAL, synchronous=FULL,
BEGIN IMMEDIATE), sends Shopify's sample orders/create delivery to both in two phases
(a fixed rate, open loop; then full speed, closed loop), checks every acknowledged
delivery is in the database, and prints a table plus the ratios against the targets.

    .venv/bin/python bench/webhook_intake.py            # defaults, well under 3 minutes
    .venv/bin/python bench/webhook_intake.py --quick    # smoke run
    .venv/bin/python bench/webhook_intake.py --help

Exit status: 0 when the run completed (whatever the figures), 2 when it broke; with
--strict, 1 when a target was missed or an acknowledged delivery was lost.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import datetime as dt
import hashlib
import hmac
import math
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.floor_app import init_db  # noqa: E402
from bench.loadgen import Delivery, PhaseRun, build_request, closed_loop, open_loop  # noqa: E402
from bench.servers import HOST, GunicornConfig, Server, free_port  # noqa: E402

SAMPLE = REPO.parent / "shared" / "shopify" / "webhook-samples-2025-01" / "orders_create.json"
TOPIC = "orders/create"
SHOP = "bench-shop.myshopify.com"
API_VERSION = "2025-01"
TARGET_RATIO = 0.75  # app throughput / floor throughput at full speed (issue 19)
TARGET_P99_MS = 100.0  # app p99 ack latency at the fixed rate, from the scheduled send time
QUICK_N = 300
# Variables of the app that must not leak in from the caller's shell.
APP_ENV = (
    "SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET_OLD", "ENCRYPTION_KEYS", "DATABASE_URL",
    "RUN_SCHEDULER", "APP_URL", "PORT", "SANDBOX_SHOPIFY_URL", "WEBHOOK_MAX_BYTES", "GUNICORN_CMD_ARGS",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=3000, help="deliveries per phase and target")
    p.add_argument("--rate", type=float, default=300.0, help="fixed-rate phase: deliveries per second (open loop)")
    p.add_argument("--concurrency", type=int, default=16, help="full-speed phase: concurrent connections (closed loop)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (both targets)")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    p.add_argument("--keep-alive", type=int, default=5, help="gunicorn keep-alive seconds")
    p.add_argument("--max-conns", type=int, default=64, help="fixed-rate phase: most connections the client may open")
    p.add_argument("--warmup", type=int, default=200, help="unmeasured deliveries per target before the phases")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw", help="HTTP client of the load generator")
    p.add_argument("--quick", action="store_true", help=f"smoke run: --n {QUICK_N}, --warmup 50")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed or a delivery lost")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, server logs)")
    p.add_argument("--tmp", default=None, help="parent directory of the temporary directory (its disk is the one fsync hits)")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.warmup = QUICK_N, min(args.warmup, 50)
    if args.n < 1 or args.rate <= 0 or args.concurrency < 1 or args.workers < 1 or args.threads < 1:
        p.error("--n, --rate, --concurrency, --workers and --threads must be positive")
    return args


# ---------------------------------------------------------------- deliveries


def sign(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def make_deliveries(n: int, body: bytes, secret: str, port: int) -> list[Delivery]:
    """n deliveries of the same body, each with its own webhook id and event id (prepared before timing)."""
    signature = sign(body, secret)
    triggered = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    out = []
    for _ in range(n):
        webhook_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": TOPIC,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": triggered,
        }
        out.append(Delivery(webhook_id, tuple(headers.items()), body, build_request(HOST, port, "/webhooks", headers, body)))
    return out


# ---------------------------------------------------------------- figures


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def summary_ms(values: list[float]) -> dict[str, float]:
    s = sorted(v * 1000 for v in values)
    return {"p50": percentile(s, 50), "p90": percentile(s, 90), "p99": percentile(s, 99), "max": s[-1] if s else math.nan}


@dataclass
class PhaseStats:
    target: str
    phase: str
    sent: int
    ok: int
    failed: int
    persisted: int
    lost: int
    throughput: float
    wall: float
    latency: dict[str, float]  # from the scheduled time (open loop) / from the send (closed loop)
    latency_send: dict[str, float]
    lateness: dict[str, float]  # generator: started - scheduled
    server_cpu: float
    client_cpu: float
    connections: int | None
    failures: collections.Counter = field(default_factory=collections.Counter)


def db_webhook_ids(path: Path) -> set[str]:
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        return {row[0] for row in conn.execute("SELECT webhook_id FROM webhook_inbox")}
    finally:
        conn.close()


def db_count(path: Path) -> int:
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM webhook_inbox").fetchone()[0]
    finally:
        conn.close()


def phase_stats(target: str, phase: str, run: PhaseRun, deliveries: list[Delivery], db_path: Path,
                server_cpu: float, client_cpu: float) -> PhaseStats:
    stored = db_webhook_ids(db_path)
    ok = [r for r in run.results if r.status == 200]
    failures = collections.Counter(
        r.error if r.error else f"HTTP {r.status}" for r in run.results if r.status != 200
    )
    persisted = sum(1 for d in deliveries if d.webhook_id in stored)
    lost = sum(1 for r in ok if deliveries[r.index].webhook_id not in stored)
    wall = run.wall_end - run.wall_start
    return PhaseStats(
        target=target, phase=phase, sent=len(run.results), ok=len(ok), failed=len(run.results) - len(ok),
        persisted=persisted, lost=lost, throughput=len(ok) / wall if wall > 0 else math.nan, wall=wall,
        latency=summary_ms([r.done - r.scheduled for r in ok]),
        latency_send=summary_ms([r.done - r.sent for r in ok]),
        lateness=summary_ms([r.started - r.scheduled for r in run.results]),
        server_cpu=server_cpu, client_cpu=client_cpu, connections=run.connections, failures=failures,
    )


# ---------------------------------------------------------------- the run


@dataclass
class Target:
    name: str
    server: Server
    db_path: Path


async def measure(target: Target, phase: str, deliveries: list[Delivery], driver) -> PhaseStats:
    cpu0, client0 = target.server.cpu_seconds(), time.process_time()
    run = await driver(deliveries)
    server_cpu, client_cpu = target.server.cpu_seconds() - cpu0, time.process_time() - client0
    return phase_stats(target.name, phase, run, deliveries, target.db_path, server_cpu, client_cpu)


async def run_phases(args, targets: list[Target], body: bytes, secret: str, progress) -> tuple[list[PhaseStats], dict[str, int]]:
    """Warm up every target, then each phase on each target in turn (interleaved, so drift hits both)."""
    warm_ok = {}
    for t in targets:
        warm_ok[t.name] = 0
        if args.warmup:
            progress(f"warm-up {t.name}: {args.warmup} deliveries")
            warm = await closed_loop(args.client, HOST, t.server.port, make_deliveries(args.warmup, body, secret, t.server.port), args.concurrency)
            warm_ok[t.name] = sum(1 for r in warm.results if r.status == 200)
    stats = []
    rate_label = f"{args.rate:g}/s"
    for t in targets:
        progress(f"{t.name}: {args.n} deliveries at {rate_label}, open loop")
        deliveries = make_deliveries(args.n, body, secret, t.server.port)
        stats.append(await measure(t, rate_label, deliveries,
                                   lambda d, t=t: open_loop(args.client, HOST, t.server.port, d, args.rate, args.max_conns)))
        await asyncio.sleep(0.5)
    for t in targets:
        progress(f"{t.name}: {args.n} deliveries at full speed, {args.concurrency} connections")
        deliveries = make_deliveries(args.n, body, secret, t.server.port)
        stats.append(await measure(t, "full", deliveries,
                                   lambda d, t=t: closed_loop(args.client, HOST, t.server.port, d, args.concurrency)))
        await asyncio.sleep(0.5)
    return stats, warm_ok


def fs_type(path: Path) -> str:
    """Filesystem type of the mount holding path (where SQLite's fsync lands)."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            if str(path).startswith(mount.rstrip("/") + "/") or str(path) == mount or mount == "/":
                if len(mount) >= len(best):
                    best, kind = mount, parts[2]
    except OSError:
        pass
    return kind


def fmt(v: float, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def report(args, cfg: GunicornConfig, stats: list[PhaseStats], workdir: Path, body: bytes,
           final_rows: dict[str, tuple[int, int]], warm_failures: int, elapsed: float) -> bool:
    """Print everything; True when every target is met and nothing acknowledged was lost."""
    rate_label = f"{args.rate:g}/s"
    client = "raw asyncio HTTP/1.1 (bench/loadgen.py)" if args.client == "raw" else "httpx.AsyncClient"
    print()
    print("=== Webhook intake benchmark: POST /webhooks, app vs floor ===")
    print(f"payload   Shopify sample orders/create, {len(body):,} bytes raw, same body each time; unique")
    print(f"          X-Shopify-Webhook-Id and X-Shopify-Event-Id per delivery, HMAC-SHA256 signed")
    print(f"server    gunicorn {cfg.describe()}")
    print(f"          on {HOST}, same configuration for both targets; {os.cpu_count()} CPUs shared with the load generator")
    print(f"database  one fresh SQLite file per target in {workdir} ({fs_type(workdir)}):")
    print(f"          WAL, synchronous=FULL (fsync per commit), BEGIN IMMEDIATE, busy_timeout 10 s")
    print(f"app       shopify_app.factory:create_app() with RUN_SCHEDULER=0: the inbox worker is OFF,")
    print(f"          so this is intake only and nothing else competes for SQLite's single write lock")
    print(f"floor     bench.floor_app:create_app(): stdlib HMAC check + one INSERT + COMMIT, nothing else")
    print(f"client    {client}, keep-alive connections")
    print(f"phases    {rate_label}: open loop, {args.n} deliveries started at scheduled times whatever the")
    print(f"                 server does (up to {args.max_conns} connections); latency = ack time - scheduled time")
    print(f"          full:  closed loop, {args.n} deliveries over {args.concurrency} connections; latency = ack - send")
    print(f"          warm-up: {args.warmup} deliveries per target first, not in the figures"
          + (f" ({warm_failures} of them not 200!)" if warm_failures else ""))
    print()
    head = f"{'target':<7}{'phase':<8}{'sent':>6}{'200':>7}{'non-200':>9}{'persisted':>11}{'lost':>6}{'acked/s':>9}" \
           f"{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"
    print(head + "   ack latency, ms")
    print("-" * len(head))
    for s in stats:
        lat = s.latency
        print(f"{s.target:<7}{s.phase:<8}{s.sent:>6}{s.ok:>7}{s.failed:>9}{f'{s.persisted}/{s.sent}':>11}{s.lost:>6}"
              f"{fmt(s.throughput):>9}{fmt(lat['p50']):>8}{fmt(lat['p90']):>8}{fmt(lat['p99']):>8}{fmt(lat['max']):>8}")
    for s in stats:
        for reason, count in s.failures.most_common(5):
            print(f"  {s.target} {s.phase} non-200: {count} x {reason}")
    print()
    print(f"At {rate_label}, the same deliveries timed from the actual send (after getting a connection) instead of the")
    print("scheduled time. This is what a closed-loop client reports; it hides time spent queued behind")
    print("slow answers (coordinated omission), so the table above uses the scheduled time.")
    print(f"{'target':<7}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}   generator lateness p99/max ms   connections")
    for s in stats:
        if s.phase == rate_label:
            ls = s.latency_send
            print(f"{s.target:<7}{fmt(ls['p50']):>8}{fmt(ls['p90']):>8}{fmt(ls['p99']):>8}{fmt(ls['max']):>8}"
                  f"   {fmt(s.lateness['p99']):>8} / {fmt(s.lateness['max']):<8}             {s.connections if s.connections is not None else '?'}")
    print()
    print("CPU per acknowledged delivery (gunicorn master + workers; load generator)")
    print(f"{'target':<7}{'phase':<8}{'server ms':>10}{'server CPUs':>13}{'client ms':>11}{'wall s':>8}")
    for s in stats:
        per = s.ok or 1
        print(f"{s.target:<7}{s.phase:<8}{fmt(s.server_cpu / per * 1000, 2):>10}{fmt(s.server_cpu / s.wall if s.wall else math.nan, 2):>13}"
              f"{fmt(s.client_cpu / per * 1000, 2):>11}{fmt(s.wall, 2):>8}")
    print()
    print("Rows after the servers stopped (SELECT count(*) FROM webhook_inbox; warm-up included):")
    for name, (rows, expected) in final_rows.items():
        print(f"  {name:<6} {rows} rows, {expected} deliveries acknowledged" + ("" if rows >= expected else "  <-- MISSING ROWS"))
    print()

    by = {(s.target, s.phase): s for s in stats}
    app_full, floor_full, app_rate = by[("app", "full")], by[("floor", "full")], by[("app", rate_label)]
    ratio = app_full.throughput / floor_full.throughput if floor_full.throughput else math.nan
    ratio_ok = ratio >= TARGET_RATIO
    p99 = app_rate.latency["p99"]
    p99_ok = (not math.isnan(p99)) and p99 < TARGET_P99_MS and app_rate.ok == app_rate.sent
    lost = sum(s.lost for s in stats) + sum(max(0, exp - rows) for rows, exp in final_rows.values())
    print("Targets")
    print(f"  app / floor throughput at full speed: {fmt(app_full.throughput)} / {fmt(floor_full.throughput)} = "
          f"{fmt(ratio * 100)} %   (target >= {TARGET_RATIO * 100:.0f} %)   {verdict(ratio_ok)}")
    note = "" if app_rate.ok == app_rate.sent else f", but only {app_rate.ok}/{app_rate.sent} got 200"
    print(f"  app p99 ack latency at {rate_label}, from the scheduled time: {fmt(p99)} ms   "
          f"(target < {TARGET_P99_MS:.0f} ms{note})   {verdict(p99_ok)}")
    print(f"  acknowledged but not persisted: {lost}   (must be 0)   {verdict(lost == 0)}")
    print(f"(run took {elapsed:.0f} s)")
    return ratio_ok and p99_ok and lost == 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    from cryptography.fernet import Fernet

    from shopify_app.migrate import upgrade_to_head

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    body = SAMPLE.read_bytes()
    cfg = GunicornConfig(workers=args.workers, threads=args.threads, keep_alive=args.keep_alive)
    workdir = Path(tempfile.mkdtemp(prefix="bench-webhooks-", dir=args.tmp))
    secret = "bench-secret-" + secrets.token_hex(16)
    base_env = {k: v for k, v in os.environ.items() if k not in APP_ENV}
    base_env["PYTHONDONTWRITEBYTECODE"] = "1"

    app_db, floor_db = workdir / "app.db", workdir / "floor.db"
    app_port, floor_port = free_port(), free_port()
    app_url = f"sqlite:///{app_db}"
    app_env = dict(
        base_env, SHOPIFY_API_KEY="bench-client-id", SHOPIFY_API_SECRET=secret,
        ENCRYPTION_KEYS=Fernet.generate_key().decode(), DATABASE_URL=app_url, RUN_SCHEDULER="0",
        APP_URL=f"http://{HOST}:{app_port}", PORT=str(app_port),
    )
    floor_env = dict(base_env, SHOPIFY_API_SECRET=secret, FLOOR_DATABASE_PATH=str(floor_db))
    targets = [
        Target("floor", Server("floor", "bench.floor_app:create_app()", floor_env, cfg, workdir / "floor.log", port=floor_port), floor_db),
        Target("app", Server("app", "shopify_app.factory:create_app()", app_env, cfg, workdir / "app.log", port=app_port), app_db),
    ]
    progress(f"workdir {workdir}; migrating the app database, creating the floor table")
    upgrade_to_head(app_url)
    init_db(str(floor_db))
    try:
        for t in targets:
            t.server.start()
        for t in targets:
            t.server.wait_ready()
            progress(f"{t.name} ready on {t.server.url} (pid {t.server.proc.pid})")
        stats, warm_ok = asyncio.run(run_phases(args, targets, body, secret, progress))
    except BaseException as exc:
        for t in targets:
            t.server.stop()
        if isinstance(exc, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
        else:
            traceback.print_exc()
            for t in targets:
                print(f"--- {t.name} log tail ({t.server.log_path}) ---\n{t.server.log_tail()}", file=sys.stderr)
        print(f"benchmark run broke; files kept in {workdir}", file=sys.stderr)
        return 2
    for t in targets:
        t.server.stop()
    progress("servers stopped")
    final_rows = {
        t.name: (db_count(t.db_path), warm_ok[t.name] + sum(s.ok for s in stats if s.target == t.name)) for t in targets
    }
    warm_failures = sum(args.warmup - n for n in warm_ok.values())
    ok = report(args, cfg, stats, workdir, body, final_rows, warm_failures, time.monotonic() - started)
    if args.keep:
        print(f"kept {workdir} (databases, server logs)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
