"""Benchmark: the highest sustained rate of orders carried from `orders/paid` to a placed supplier order.

    sandbox Shopify (many shops) --orders/create, orders/paid--> app --POST /v2/orders + confirmation-->
    Printful sandbox (100-500 ms per request, a per-token rate limit)

For each mode it builds one world (bench/order_flow_world.py: the sandboxes in this
process, the app in its own gunicorn process) with --shops installed shops, each with its
own token, Printful supplier row and SKU mappings. Then it steps the offered order rate up
(open loop, --step-seconds per step): (1 - --burst-share) of the orders spread at random
over all shops, --burst-share of them on one shop (its checkout burst). After each step it
waits up to --drain seconds for every order of the step to reach the supplier. A step
holds when p99 (orders/paid first sent -> order created at the supplier) < 5 s and no
order is lost (not at the supplier after the drain) or duplicated (created twice); the
first step that breaks ends the mode. The mode's figure is the highest holding rate.

Modes: `embedded` (SQLite, one gunicorn worker running the scheduler and pumps) and
`pg1`, `pg2`, `pg4` (PostgreSQL: two web workers, 1/2/4 `cli worker` processes, each
running the order lanes woken by NOTIFY and procrastinate's periodic jobs; a throwaway
PostgreSQL server like the tests').

    .venv/bin/python bench/peak_orders.py                       # every mode, about 10 minutes
    .venv/bin/python bench/peak_orders.py --quick               # smoke run
    .venv/bin/python bench/peak_orders.py --modes embedded --rates 10,25,50

`run(options) -> [(target, figure, met)]` runs it from Python (bench/peak.py calls it).
Exit status: 0 when the run completed (whatever the figures), 2 when it broke.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import pg_statements  # noqa: E402
from bench.order_flow_world import SHOP, SKUS, World, now  # noqa: E402

P99_LIMIT = 5.0  # seconds, orders/paid sent -> order created at the supplier
EMBEDDED_TARGET = 50.0  # orders/s
SCALED_TARGET = 100.0  # orders/s with 4 procrastinate workers
MODES = {"embedded": ("embedded", 1), "pg1": ("procrastinate", 1), "pg2": ("procrastinate", 2), "pg4": ("procrastinate", 4)}
PLACERS = 32  # threads placing orders (each place_order waits for its two webhooks' answers)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--modes", default="embedded,pg1,pg2,pg4", help="comma-separated: " + ", ".join(MODES))
    p.add_argument("--rates", default="10,25,50,75,100,150", help="offered order rates to step through, orders/s")
    p.add_argument("--step-seconds", type=float, default=8.0, help="seconds of orders per step")
    p.add_argument("--drain", type=float, default=15.0, help="after a step: most seconds to wait for its orders to reach the supplier")
    p.add_argument("--shops", type=int, default=20, help="installed shops (bench/peak.py runs 1,000)")
    p.add_argument("--burst-share", type=float, default=0.3, help="share of each step's orders placed on one shop")
    p.add_argument("--burst-plan", default="Plus", choices=("Standard", "Advanced", "Plus", "Enterprise"),
                   help="the burst shop's Shopify plan, its GraphQL cost bucket (Plus: 20,000 points, 1,000 a second; Standard: 2,000, 100): "
                        "every order costs a fulfillment-order read (~11 points for two lines), so a Standard shop carries about 9 orders/s "
                        "whatever the app does; a shop selling 15 orders a second is a Plus shop (the other shops stay Standard)")
    p.add_argument("--latency", default="0.1,0.5", help="supplier latency per request, seconds: min,max (uniform)")
    p.add_argument("--supplier-rate-limit", type=int, default=24000, help="supplier requests per minute per token (the sandbox answers 429 beyond)")
    p.add_argument("--threads", type=int, default=16, help="gunicorn threads per web worker")
    p.add_argument("--forwarding-threads", type=int, default=None,
                   help="FORWARDING_THREADS for the app's processes (supplier calls in flight per process; app default 8)")
    p.add_argument("--calls-per-supplier", type=int, default=None,
                   help="FORWARDING_CALLS_PER_SUPPLIER (calls in flight per supplier and process; app default 4)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--closing-sandboxes", action="store_true",
                   help="serve the sandboxes with werkzeug (a new connection per call, as before session 32) instead of keep-alive as Shopify and Printful do")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after installing the shops before the first step")
    p.add_argument("--quick", action="store_true", help="smoke run: embedded only, rates 5,10, 4 s steps, 3 shops")
    p.add_argument("--statements", action="store_true",
                   help="PostgreSQL modes: preload pg_stat_statements, give web and each worker its own login, and print the "
                        "statements per order carried of every step (web / workers) and a side-by-side table of the modes")
    p.add_argument("--statements-out", default=None, help="with --statements: also write every step's counts (full statement texts) to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--tmp", default=None, help="parent directory of the temporary directory")
    args = p.parse_args(argv)
    return finish_options(args, p.error)


def finish_options(args, error) -> argparse.Namespace:
    if args.quick:
        args.modes, args.rates, args.step_seconds, args.shops, args.drain = "embedded", "5,10", 4.0, 3, 10.0
    args.mode_list = [m.strip() for m in str(args.modes).split(",") if m.strip()]
    if not args.mode_list or any(m not in MODES for m in args.mode_list):
        error(f"--modes: pick from {', '.join(MODES)}")
    args.rate_list = sorted(float(r) for r in str(args.rates).split(",") if r.strip())
    low, _, high = str(args.latency).partition(",")
    args.latency_range = (float(low), float(high or low))
    if not args.rate_list or args.rate_list[0] <= 0 or args.shops < 1 or args.step_seconds <= 0 or not 0 <= args.burst_share < 1:
        error("--rates, --shops and --step-seconds must be positive, --burst-share in [0, 1)")
    return args


# ---------------------------------------------------------------- the world


class InFlight:
    """Supplier requests being served right now, and the most at once since the last reset."""

    def __init__(self):
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1

    def reset_peak(self) -> None:
        with self._lock:
            self.peak = self.now


def jittered_faults(low: float, high: float, seed: int, in_flight: InFlight):
    """The sandbox supplier's faults with a fresh uniform latency per request, counting requests in flight."""
    from sandbox.supplier.faults import SupplierFaults

    rng, lock = random.Random(seed), threading.Lock()

    class JitteredLatency(SupplierFaults):
        # The sandbox's API does `if faults.latency: time.sleep(faults.latency)`: reading the
        # attribute serves the whole wait here (so the requests in flight can be counted) and
        # answers 0, so the sandbox does not wait a second time.
        @property
        def latency(self) -> float:
            with lock:
                wait = rng.uniform(low, high)
            in_flight.enter()
            try:
                time.sleep(wait)
            finally:
                in_flight.leave()
            return 0.0

        @latency.setter
        def latency(self, _value) -> None:  # SupplierFaults.__init__/clear set a steady latency: ours stays
            pass

    return JitteredLatency(seed=seed)


def shop_domain(n: int) -> str:
    return SHOP if n == 0 else f"peak-{n:04d}.myshopify.com"


def seed_shops(world: World, count: int, progress) -> dict[str, int]:
    """Shops 1..count-1 next to the world's demo shop: installed, each with its own Printful supplier and mappings."""
    from shopify_app.config import load_settings
    from shopify_app.services import build_services
    from shopify_app.suppliers.models import ProductMapping, Supplier

    suppliers = {SHOP: world.supplier_id}
    settings = load_settings(dict(world.env, BACKFILL_DAYS="0"), run_scheduler=False)
    services = build_services(settings)
    # Every shop's supplier verifies the sandbox store's webhook signatures (see route_supplier_webhooks).
    credentials = services.box.encrypt(json.dumps({"token": world.supplier.token, "webhook_secret_key": world.supplier.webhooks.config.secret_key}))
    products = world.supplier.variant_ids_by_sku()
    try:
        for n in range(1, count):
            shop = shop_domain(n)
            world.shopify.add_shop(shop)
            token = world.shopify.issue_access_token(shop, settings.api_key)
            services.tokens.save(shop, token["access_token"], None, None, None, token.get("scope"))
            with services.session_factory.begin() as session:
                record = Supplier(shop_domain=shop, name="Printful", kind="printful", credentials_enc=credentials,
                                  settings={"base_url": world.supplier.base_url, "products": products})
                session.add(record)
                session.flush()
                for sku in SKUS:
                    session.add(ProductMapping(shop_domain=shop, sku=sku, supplier_id=record.id, supplier_sku=sku, cost="4.00"))
                suppliers[shop] = record.id
            if n % 50 == 0:
                progress(f"  {n}/{count} shops installed")
    finally:
        services.close()
    return suppliers


class SupplierWebhookRoutes:
    """Each order's Printful events to its own shop's supplier URL, as one Printful store per shop would send them.

    The shops share one sandbox store (one token, one webhook configuration); in production each
    merchant's store has its own webhook URL, so every event finds its order. Without this, every other
    shop's event reached the first shop's supplier and was dropped as "an order we do not know": cheaper
    than the real path, so the app's CPU an order was under-counted.
    """

    def __init__(self, app_url: str) -> None:
        self.app_url = app_url
        self.by_external_id: dict[str, str] = {}
        self.unrouted = 0  # order events whose order was not placed by this benchmark's placers (sent to the default URL)

    def add(self, shop: str, order_gid: str, supplier_id: int) -> None:
        """Route the events of this order (placed on `shop`) to that shop's supplier."""
        self.by_external_id[external_id(shop, order_gid, supplier_id)] = f"{self.app_url}/suppliers/{supplier_id}/webhooks"

    def __call__(self, payload) -> str | None:
        data = payload.get("data")
        order = data.get("order") if isinstance(data, dict) else None
        if not isinstance(order, dict):
            return None  # not an order's event (stock): the store's configured URL
        url = self.by_external_id.get(order.get("external_id") or "")
        if url is None:
            self.unrouted += 1
        return url


def external_id(shop: str, order_gid: str, supplier_id: int) -> str:
    """The idempotency key the app sends as external_id (its routing rule)."""
    from shopify_app.orders.routing import idempotency_key

    return idempotency_key(SimpleNamespace(shop_domain=shop, shopify_id=order_gid.rsplit("/", 1)[-1]), supplier_id)


# ---------------------------------------------------------------- measuring


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return math.nan
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def cpu_seconds(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def database_bytes(world: World) -> int:
    """The app database's size on disk (SQLite file + WAL; PostgreSQL: pg_database_size)."""
    if world.engine == "procrastinate":
        import psycopg

        from scheduler.distributed import conninfo

        with psycopg.connect(conninfo(world.database_url)) as conn:
            return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    import sqlite3

    # The logical size (pages in use, WAL included): the WAL file itself only shrinks at checkpoints.
    conn = sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()


def scalar(world: World, sql: str):
    """One value from the app's database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(world.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def inbox_backlog(world: World) -> int:
    """Shopify deliveries not yet processed (pending or retrying) in the app's inbox."""
    return scalar(world, "SELECT count(*) FROM webhook_inbox WHERE status IN ('pending', 'retry')")


def stage_times(world: World, since: dt.datetime) -> dict[str, tuple[float, float]]:
    """Where an order's time went, from the app's own timestamps: (p50, p99) seconds per stage.

    inbox: an orders/paid delivery from stored to handled (waiting for a lane thread, then
    routed); queued: a supplier order from created to its first placing attempt (waiting for a
    forwarding thread or a wake-up); supplier: from that attempt to placed (the create and
    confirm calls, with their recording).
    """
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from shopify_app.models import WebhookDelivery
    from shopify_app.suppliers.models import DeliveryAttempt, SupplierOrder

    engine = create_engine(world.database_url)
    try:
        with Session(engine) as session:
            inbox = session.execute(select(WebhookDelivery.received_at, WebhookDelivery.processed_at).where(
                WebhookDelivery.topic == "orders/paid", WebhookDelivery.received_at >= since, WebhookDelivery.processed_at.is_not(None))).all()
            first_try = (select(DeliveryAttempt.supplier_order_id, func.min(DeliveryAttempt.started_at).label("started"))
                         .where(DeliveryAttempt.action == "place").group_by(DeliveryAttempt.supplier_order_id).subquery())
            placed = session.execute(select(SupplierOrder.created_at, first_try.c.started, SupplierOrder.placed_at)
                                     .join(first_try, first_try.c.supplier_order_id == SupplierOrder.id)
                                     .where(SupplierOrder.created_at >= since, SupplierOrder.placed_at.is_not(None))).all()
    finally:
        engine.dispose()

    def spread(values: list[float]) -> tuple[float, float]:
        return percentile(values, 50), percentile(values, 99)

    return {"inbox": spread([(done - got).total_seconds() for got, done in inbox]),
            "queued": spread([(started - created).total_seconds() for created, started, _ in placed]),
            "supplier": spread([(done - started).total_seconds() for _, started, done in placed])}


def database_transactions(world: World) -> int | None:
    """PostgreSQL: transactions committed or rolled back in the app's database so far (None on SQLite)."""
    if not world.database_url.startswith("postgresql"):
        return None
    return scalar(world, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")


@dataclass
class Step:
    mode: str
    rate: float
    placed: int = 0
    carried: int = 0
    lost: int = 0
    duplicated: int = 0
    p50: float = math.nan
    p99: float = math.nan
    achieved: float = math.nan  # orders created at the supplier per second, first paid -> last created
    lateness_p99: float = math.nan  # the placer's own lateness (a late generator makes the figures suspect)
    machine_cpu: float = math.nan  # share of all CPUs busy during the step (everything on the box)
    app_cpu: float = math.nan  # CPUs used by the app's processes (web + workers)
    refused_429: int = 0
    inbox_backlog: int = 0
    supplier_in_flight_peak: int = 0  # most supplier requests served at once during the step
    app_cpu_seconds: float = 0.0  # CPU time of the app's processes over the step and its drain
    bench_cpu_seconds: float = 0.0  # this process's CPU (load generator + sandboxes) over the same time
    stages: dict = field(default_factory=dict)  # stage -> (p50, p99) seconds, from the app's timestamps (stage_times)
    transactions: int | None = None  # PostgreSQL: transactions in the app's database over the step and its drain (a load-independent figure)
    statements: object = None  # --statements: bench.pg_statements.StatementCounts over the step and its drain
    burst_bucket_low: float = math.nan  # the burst shop's Shopify cost bucket at its lowest during the step, points

    @property
    def cpu_ms_per_order(self) -> float:
        """The app's CPU per order carried (forward path: webhooks in, routed, placed at the supplier)."""
        return self.app_cpu_seconds / self.carried * 1000 if self.carried else math.nan

    @property
    def orders_per_cpu_second(self) -> float:
        """Orders carried per second of the app's CPU: what one whole core would carry."""
        return self.carried / self.app_cpu_seconds if self.app_cpu_seconds else math.nan

    @property
    def holds(self) -> bool:
        return self.placed > 0 and self.lost == 0 and self.duplicated == 0 and self.p99 < P99_LIMIT


@dataclass
class ModeResult:
    mode: str
    workers: int
    steps: list[Step] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)
    db_bytes_per_1000: float = math.nan
    mean_latency: float = 0.3  # seconds per supplier request (the middle of --latency)
    error: str | None = None

    @property
    def best(self) -> Step | None:
        held = [s for s in self.steps if s.holds]
        return max(held, key=lambda s: s.rate) if held else None


def app_pids(world: World) -> dict[str, int]:
    pids = {"web master": world.server.proc.pid}
    for n, pid in enumerate(world.server.worker_pids()):
        pids[f"web worker {n}"] = pid
    for n, proc in enumerate(world.worker_procs):
        pids[f"procrastinate worker {n}"] = proc.pid
    return pids


def run_step(world: World, mode: str, rate: float, args, suppliers: dict[str, int], rng: random.Random, progress) -> Step:
    """Place orders at `rate` for step_seconds (open loop), wait for them at the supplier, and measure."""
    shops = list(suppliers)
    burst_shop = shops[-1]
    n = max(1, int(rate * args.step_seconds))
    plans = []
    for _ in range(n):
        shop = burst_shop if rng.random() < args.burst_share else rng.choice(shops)
        lines = [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in rng.sample(SKUS, rng.randint(1, 3))]
        plans.append((shop, lines))
    placed: list[tuple[str, str, float, float] | None] = [None] * n  # (shop, gid, scheduled, started)
    pids = list(app_pids(world).values())
    cpu0 = sum(cpu_seconds(p) for p in pids)
    bench0 = time.process_time()
    statements = getattr(world, "statements_db", None)  # (port, database) with --statements
    if statements:
        pg_statements.reset(*statements)
    xacts0 = database_transactions(world)
    busy0, total0 = machine_busy()
    refused0 = world.supplier.rate_limiter.refused
    world.in_flight.reset_peak()
    started = now()
    started_wall = dt.datetime.now(dt.timezone.utc)

    def place(i: int, scheduled: float) -> None:
        shop, lines = plans[i]
        t = now()
        order = world.shopify.place_order(shop, lines, email=f"buyer{i}@example.com")
        world.supplier_routes.add(shop, order["id"], suppliers[shop])
        placed[i] = (shop, order["id"], scheduled, t)

    bucket = BucketWatch(world.shopify.store.shop(burst_shop).bucket)
    t0 = now() + 0.05
    with bucket, ThreadPoolExecutor(max_workers=PLACERS, thread_name_prefix="peak-placer") as pool:
        futures = []
        for i in range(n):
            scheduled = t0 + i / rate
            delay = scheduled - now()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(place, i, scheduled))
        for f in futures:
            f.result()
        orders = [p for p in placed if p is not None]
        keys = {external_id(shop, gid, suppliers[shop]): gid for shop, gid, _, _ in orders}
        created = world.supplier_probe.created_at
        deadline = now() + args.drain
        while now() < deadline and any(k not in created for k in keys):
            time.sleep(0.1)
    ended = now()
    busy1, total1 = machine_busy()
    cpu1 = sum(cpu_seconds(p) for p in list(app_pids(world).values()))
    bench1 = time.process_time()
    xacts1 = database_transactions(world)
    counts = pg_statements.collect(*statements) if statements else None
    paid_sent = world.webhooks.first_sent("orders/paid")
    latencies = [created[k] - paid_sent[gid] for k, gid in keys.items() if k in created and gid in paid_sent]
    created_times = [created[k] for k in keys if k in created]
    first_paid = min((paid_sent[g] for g in keys.values() if g in paid_sent), default=started)
    step = Step(mode, rate, placed=len(orders), statements=counts)
    if xacts0 is not None and xacts1 is not None:
        step.transactions = xacts1 - xacts0
    step.carried = len(created_times)
    step.lost = len(keys) - step.carried
    step.duplicated = sum(1 for k in keys if world.supplier.orders_created(k) > 1)
    step.p50, step.p99 = percentile(latencies, 50), percentile(latencies, 99)
    if step.lost:
        step.p99 = max(step.p99 if not math.isnan(step.p99) else 0.0, ended - started)  # censored: at least this long
    span = (max(created_times) - first_paid) if created_times else math.nan
    step.achieved = step.carried / span if span and span > 0 else math.nan
    step.lateness_p99 = percentile([(st - sc) * 1000 for _, _, sc, st in orders], 99)
    step.machine_cpu = (busy1 - busy0) / max(1, total1 - total0)
    step.app_cpu = (cpu1 - cpu0) / max(1e-9, ended - started)
    step.app_cpu_seconds, step.bench_cpu_seconds = cpu1 - cpu0, bench1 - bench0
    step.refused_429 = world.supplier.rate_limiter.refused - refused0
    step.inbox_backlog = inbox_backlog(world)
    step.supplier_in_flight_peak = world.in_flight.peak
    step.stages = stage_times(world, started_wall)
    step.burst_bucket_low = bucket.low
    progress(f"  [{mode}] {rate:g}/s: placed {step.placed}, carried {step.carried}, lost {step.lost}, dup {step.duplicated}, "
             f"p50 {step.p50:.2f} s, p99 {step.p99:.2f} s, machine CPU {step.machine_cpu * 100:.0f} %, app CPUs {step.app_cpu:.2f}, "
             f"supplier calls in flight at most {step.supplier_in_flight_peak}, 429s {step.refused_429}, inbox backlog {step.inbox_backlog}, "
             f"app CPU {step.cpu_ms_per_order:.0f} ms/order, burst shop's Shopify bucket low {step.burst_bucket_low:,.0f} points; stages p50/p99 s: "
             + ", ".join(f"{name} {p50:.2f}/{p99:.2f}" for name, (p50, p99) in step.stages.items()))
    if world.supplier_routes.unrouted:
        progress(f"  [{mode}] {world.supplier_routes.unrouted} supplier order event(s) so far for orders the placers did not place (sent to the first shop's supplier)")
    if counts is not None:
        xacts = f"{step.transactions / step.carried:.1f}" if step.transactions is not None and step.carried else "n/a"
        progress(f"  [{mode}] {rate:g}/s statements (pg_stat_statements; DB transactions per order, pg_stat_database: {xacts}):\n"
                 + "\n".join(pg_statements.step_lines(counts, step.carried)))
    return step


def run_mode(mode: str, args, workdir: Path, postgres, progress) -> ModeResult:
    engine, workers = MODES[mode]
    result = ModeResult(mode, workers, mean_latency=sum(args.latency_range) / 2)
    database_url = None
    if engine == "procrastinate":
        database_name = f"peak_{mode}_{os.getpid()}"
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database_name}"')
        database_url = postgres.database_url(database_name)
        if args.statements:
            pg_statements.prepare(postgres.port, database_name, workers)
    # The app's processes inherit this process's environment (World keeps only its own variables apart).
    # BACKFILL_DAYS=0: the shops are installed long before the sale, so no install backfill
    # (a Shopify bulk export per shop) competes with the orders being measured.
    sizing = {"FORWARDING_THREADS": args.forwarding_threads, "FORWARDING_CALLS_PER_SUPPLIER": args.calls_per_supplier, "BACKFILL_DAYS": 0}
    for name, value in sizing.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(value)
    world = World(workdir / mode, threads=args.threads, ship_delay=3600.0, seed=args.seed, workers=workers,
                  never_ship_skus=SKUS, database_url=database_url, engine=engine,
                  supplier_requests_per_minute=args.supplier_rate_limit, keep_alive=not args.closing_sandboxes,
                  role_database_url=(lambda role: pg_statements.role_url(database_url, role)) if args.statements and database_url else None)
    if args.statements and database_url:
        world.statements_db = (postgres.port, database_name)
    progress(f"[{mode}] starting sandboxes and the app ({engine}, {workers} worker process(es))")
    world.start(progress)
    try:
        # Realistic supplier: 100-500 ms per request; the per-request OpenAPI validation is the
        # sandbox's own CPU (in this process), not the app's, so it is off here.
        world.in_flight = InFlight()
        world.supplier.faults = jittered_faults(*args.latency_range, args.seed, world.in_flight)
        world.supplier.validate_requests = False
        progress(f"[{mode}] seeding {args.shops} shops")
        suppliers = seed_shops(world, args.shops, progress)
        world.shopify.set_plan(list(suppliers)[-1], args.burst_plan)  # the burst shop (run_step)
        world.supplier_routes = world.supplier.webhooks.route = SupplierWebhookRoutes(world.env["APP_URL"])
        time.sleep(args.settle)  # the new shops' install work (catalog mirror, supplier webhooks) settles
        db0, orders_before = database_bytes(world), 0
        rng = random.Random(f"{args.seed}-{mode}")
        for rate in args.rate_list:
            step = run_step(world, mode, rate, args, suppliers, rng, progress)
            result.steps.append(step)
            orders_before += step.placed
            if not step.holds:
                break
        result.rss_mb = {name: rss_mb(pid) for name, pid in app_pids(world).items()}
        result.db_bytes_per_1000 = (database_bytes(world) - db0) / max(1, orders_before) * 1000
    except Exception as exc:  # noqa: BLE001 - one mode breaking must not lose the others' figures
        traceback.print_exc()
        result.error = f"{type(exc).__name__}: {exc}"
        if world.server is not None:
            print(world.server.log_tail(30), file=sys.stderr)
    finally:
        world.stop()
    return result


# ---------------------------------------------------------------- report


# What the app's fulfillment-order read (FulfillmentOrdersForOrder) asks of a shop's bucket before it
# runs (its requested cost: 279 points; the actual cost, about 11, is charged after): below this the
# app's pacing waits for the bucket to refill, so orders of that shop queue.
SHOPIFY_READ_ASKS = 300


class BucketWatch:
    """The lowest a shop's sandbox cost bucket fell while the context was open (sampled every 50 ms)."""

    def __init__(self, bucket) -> None:
        self.bucket = bucket
        self.low = math.inf
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peak-bucket-watch", daemon=True)

    def __enter__(self) -> "BucketWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.low = min(self.low, self.bucket.status()["currentlyAvailable"])
            self._stop.wait(0.05)


def bottleneck(result: ModeResult) -> str:
    """The first bottleneck, read from the step that broke (or the last one) and its figures."""
    if not result.steps:
        return "no figures"
    step = next((s for s in result.steps if not s.holds), result.steps[-1])
    if step.refused_429:
        return f"supplier rate limit ({step.refused_429} requests answered 429 at {step.rate:g}/s)"
    if not step.holds and step.burst_bucket_low < SHOPIFY_READ_ASKS:
        return (f"Shopify's rate limit on the burst shop (its cost bucket fell to {step.burst_bucket_low:,.0f} points, below the "
                f"{SHOPIFY_READ_ASKS} a fulfillment-order read asks: the app waited for it to refill; --burst-plan)")
    if step.lateness_p99 > 1000:
        return f"load generator (placing orders ran {step.lateness_p99:.0f} ms late at p99: the box, not the app, is saturated)"
    # The app's CPU need at this rate (its own CPU per order, measured in the step) against the
    # CPU its processes got: on a busy box the app is starved before any of its own limits.
    needed = step.rate * step.cpu_ms_per_order / 1000 if not math.isnan(step.cpu_ms_per_order) else math.nan
    if not step.holds and step.machine_cpu >= 0.85 and needed > 1.1 * step.app_cpu:
        return (f"CPU: at {step.rate:g}/s the app needs {needed:.2f} CPUs ({step.cpu_ms_per_order:.0f} ms per order) and its processes "
                f"got {step.app_cpu:.2f}, with all cores {step.machine_cpu * 100:.0f} % busy")
    # Where the orders waited, from the app's own timestamps: an orders lane that lags behind while the
    # forwarding queue stays short is the limit, whatever the forwarding pool's peak says.
    inbox_p99 = step.stages.get("inbox", (math.nan, math.nan))[1]
    queued_p99 = step.stages.get("queued", (math.nan, math.nan))[1]
    if not step.holds and inbox_p99 > 1.0 and inbox_p99 > 2 * queued_p99:
        return (f"orders lane (inbox): orders/paid waited up to {inbox_p99:.1f} s (p99) for a lane thread while the forwarding queue "
                f"stayed at {queued_p99:.2f} s; app CPUs {step.app_cpu:.2f} (one process's Python runs one thread at a time), "
                f"machine {step.machine_cpu * 100:.0f} % busy at {step.rate:g}/s")
    from scheduler.forwarding_capacity import forwarding_capacity

    threads, per_supplier = forwarding_capacity()
    # Each order is two supplier calls (create + confirmation) at the mean latency: the calls in
    # flight bound the orders per second the app can carry, whatever the CPU does; it is the
    # limit only when the calls in flight reached the processes' threads.
    capacity = step.supplier_in_flight_peak / (2 * result.mean_latency) if result.mean_latency else math.inf
    if not step.holds and step.rate >= 0.9 * capacity and step.supplier_in_flight_peak >= 0.9 * threads * result.workers:
        return (f"forwarding pool: at most {step.supplier_in_flight_peak} supplier calls in flight at {step.rate:g}/s "
                f"(FORWARDING_THREADS={threads} per process, FORWARDING_CALLS_PER_SUPPLIER={per_supplier}); at "
                f"{result.mean_latency * 1000:.0f} ms a call and 2 calls an order that carries at most {capacity:.1f} orders/s")
    if not step.holds and step.inbox_backlog > step.rate:
        return (f"inbox drain: {step.inbox_backlog} deliveries still waiting after the step at {step.rate:g}/s "
                f"(app CPUs {step.app_cpu:.2f}, machine {step.machine_cpu * 100:.0f} % busy)")
    if step.holds:
        return f"none reached: the highest offered rate ({step.rate:g}/s) held"
    if step.machine_cpu >= 0.85:
        return f"CPU (all cores {step.machine_cpu * 100:.0f} % busy at {step.rate:g}/s; the app's processes used {step.app_cpu:.2f} CPUs)"
    if result.mode == "embedded":
        return (f"database write lock (SQLite's single writer: CPU only {step.machine_cpu * 100:.0f} % busy, "
                f"{step.inbox_backlog} deliveries waiting in the inbox at {step.rate:g}/s)")
    return (f"worker pool (CPU {step.machine_cpu * 100:.0f} % busy, no 429s, {step.inbox_backlog} deliveries waiting "
            f"at {step.rate:g}/s: {result.workers} worker(s) x their concurrency cannot keep more supplier calls in flight)")


def targets(results: dict[str, ModeResult]) -> list[tuple[str, str, bool]]:
    out = []

    def best(mode: str) -> float:
        r = results.get(mode)
        return r.best.rate if r is not None and r.best is not None else 0.0

    if "embedded" in results:
        out.append(("embedded: orders/s sustained, p99 < 5 s, 0 lost or duplicated", f"{best('embedded'):g} orders/s (target >= {EMBEDDED_TARGET:g})", best("embedded") >= EMBEDDED_TARGET))
    if "pg4" in results:
        out.append(("scaled out, 4 workers: orders/s sustained, p99 < 5 s", f"{best('pg4'):g} orders/s (target >= {SCALED_TARGET:g})", best("pg4") >= SCALED_TARGET))
    if "pg4" in results and "pg1" in results:
        # Carried orders/s at the highest offered rate both ran: a ratio even when neither held.
        one = {s.rate: s.achieved for s in results["pg1"].steps}
        four = {s.rate: s.achieved for s in results["pg4"].steps}
        common = sorted(set(one) & set(four))
        ratio = four[common[-1]] / one[common[-1]] if common and one[common[-1]] else math.nan
        at = f" at {common[-1]:g}/s offered" if common else ""
        out.append(("scaled out: carried orders/s, 4 workers / 1 worker", f"{ratio:.2f}{at} (I/O-bound suppliers: above 1)", not math.isnan(ratio) and ratio > 1.0))
    lost = sum(s.lost for r in results.values() for s in r.steps if s.holds or s is r.steps[-1])
    dups = sum(s.duplicated for r in results.values() for s in r.steps)
    out.append(("orders duplicated at the supplier (every step)", str(dups), dups == 0))
    out.append(("runs that broke", str(sum(1 for r in results.values() if r.error)) + "", not any(r.error for r in results.values())))
    del lost
    return out


def report(args, results: dict[str, ModeResult], elapsed: float, load: str) -> list[tuple[str, str, bool]]:
    print()
    print(f"peak order throughput: orders/paid sent -> order created at the supplier; {args.shops} shops, "
          f"{args.burst_share * 100:.0f} % of orders on one shop (Shopify plan {args.burst_plan}); supplier {args.latency_range[0] * 1000:.0f}-{args.latency_range[1] * 1000:.0f} ms "
          f"per request, {args.supplier_rate_limit}/min per token; steps of {args.step_seconds:g} s, drain {args.drain:g} s; "
          f"sandboxes {'werkzeug, a new connection per call' if args.closing_sandboxes else 'keep-alive (cheroot), as Shopify and Printful'}")
    from scheduler.forwarding_capacity import forwarding_capacity

    threads, per_supplier = forwarding_capacity()
    print(f"machine: {os.cpu_count()} CPUs; load before the run: {load}; app forwarding: {threads} threads per process, "
          f"{per_supplier} calls per supplier (FORWARDING_THREADS, FORWARDING_CALLS_PER_SUPPLIER); procrastinate worker: 4 job slots")
    print()
    print("mode      offered/s  placed  carried  lost  dup  achieved/s   p50 s   p99 s  gen p99 ms  CPU busy  app CPUs  429s  inbox  in flight  holds")
    for r in results.values():
        for s in r.steps:
            print(f"{r.mode:<9} {s.rate:>9g} {s.placed:>7} {s.carried:>8} {s.lost:>5} {s.duplicated:>4} {s.achieved:>11.1f} "
                  f"{s.p50:>7.2f} {s.p99:>7.2f} {s.lateness_p99:>11.0f} {s.machine_cpu * 100:>8.0f}% {s.app_cpu:>9.2f} {s.refused_429:>5} {s.inbox_backlog:>6} {s.supplier_in_flight_peak:>10}  {'yes' if s.holds else 'NO'}")
        if r.error:
            print(f"{r.mode:<9} broke: {r.error}")
    print()
    print("mode      highest holding rate   memory per process (RSS MB)                          DB growth per 1,000 orders   first bottleneck")
    for r in results.values():
        best = f"{r.best.rate:g}/s" if r.best else "none"
        mem = ", ".join(f"{k} {v:.0f}" for k, v in r.rss_mb.items())
        print(f"{r.mode:<9} {best:<22} {mem:<52} {r.db_bytes_per_1000 / 1e6:>8.2f} MB                  {bottleneck(r)}")
    print()
    print("What the cores can carry at all (app CPU per order carried on the forward path, from the highest step each mode ran):")
    print("mode      app CPU ms/order  orders per app CPU-s  bench's own CPU ms/order  orders/s if the app had all {0} cores".format(os.cpu_count()))
    for r in results.values():
        s = next((s for s in reversed(r.steps) if s.carried), None)
        if s is None:
            continue
        bench_ms = s.bench_cpu_seconds / s.carried * 1000
        xacts = f"   DB transactions per order: {s.transactions / s.carried:.1f}" if s.transactions is not None else ""
        print(f"{r.mode:<9} {s.cpu_ms_per_order:>16.1f} {s.orders_per_cpu_second:>21.1f} {bench_ms:>25.1f} {os.cpu_count() * s.orders_per_cpu_second:>38.1f}{xacts}")
    print("(the sandboxes and the load generator share the same cores: with both, a step of N orders/s needs "
          "N x (app + bench ms/order) / 1000 cores)")
    out = targets(results)
    if getattr(args, "statements_out", None):
        Path(args.statements_out).write_text(json.dumps(
            [{"mode": r.mode, "rate": st.rate, "carried": st.carried, "transactions": st.transactions,
              "calls": st.statements.calls, "per_role": st.statements.per_worker}
             for r in results.values() for st in r.steps if st.statements is not None], indent=1))
    compared = {r.mode: (r.steps[0].statements, r.steps[0].carried) for r in results.values() if r.steps and r.steps[0].statements is not None}
    if len(compared) > 1:
        print()
        print("PostgreSQL statements per order carried, each mode's first step (pg_stat_statements, web / workers):")
        for line in pg_statements.comparison_lines(compared):
            print(line)
    print()
    print("Targets")
    for name, figure, met in out:
        print(f"  {name}: {figure}   {'MET' if met else 'MISSED'}")
    print(f"(run took {elapsed:.0f} s)")
    return out


def run(options=None) -> list[tuple[str, str, bool]]:
    """Run the benchmark with `options` (an argparse.Namespace, a dict of option names, or None for defaults); print the report; return the targets."""
    if options is None or isinstance(options, dict):
        args = parse_args([])
        for key, value in (options or {}).items():
            setattr(args, key.replace("-", "_"), value)
        args = finish_options(args, lambda msg: (_ for _ in ()).throw(ValueError(msg)))
    else:
        args = options
    started = time.monotonic()
    load = Path("/proc/loadavg").read_text().split()[:3]
    workdir = Path(tempfile.mkdtemp(prefix="peak-orders-", dir=args.tmp))

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    import logging

    logging.basicConfig(level=logging.WARNING)
    postgres = None
    results: dict[str, ModeResult] = {}
    try:
        if any(MODES[m][0] == "procrastinate" for m in args.mode_list):
            from tests.pg_server import start_postgres

            postgres = start_postgres(pg_statements.SERVER_SETTINGS if args.statements else None)
            progress(f"PostgreSQL on port {postgres.port}")
        for mode in args.mode_list:
            results[mode] = run_mode(mode, args, workdir, postgres, progress)
    finally:
        if postgres is not None:
            postgres.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(args, results, time.monotonic() - started, " ".join(load))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return 2
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "peak-orders"
    sys.exit(main())
