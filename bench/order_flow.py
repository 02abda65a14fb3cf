"""Benchmark: the whole order loop, end to end, at a fixed order rate, clean and with faults.

    sandbox Shopify --orders/create, orders/paid--> app (gunicorn, 1 worker, embedded scheduler)
        --POST /v2/orders + confirmation--> Printful sandbox --ships--> shipment webhooks --> app
        --fulfillmentCreate--> sandbox Shopify (order FULFILLED)

Each phase builds a fresh world (see bench/order_flow_world.py): the two sandboxes in this
process, the app in its own gunicorn process on 127.0.0.1 with a fresh SQLite file. It
places --n orders in the sandbox Shopify at --rate per second (open loop: each order is
placed at its scheduled time whatever the app does), 1-3 lines each of the SKUs mapped to
Printful; the supplier ships every order --ship-delay seconds after it is confirmed. Then
it waits until every order is FULFILLED in the sandbox store (or the drain time is up),
and prints latencies, counts and the targets.

Phases: `clean` (no faults), then `faults`: Shopify sends 10 % of deliveries twice
(duplicate_rate=0.1, same webhook id) and the supplier refuses 20 % of API requests with
a random 500/502/503 without processing them (failure_rate=0.2).

    .venv/bin/python bench/order_flow.py            # defaults, at most about 3 minutes
    .venv/bin/python bench/order_flow.py --quick    # smoke run (40 orders per phase)
    .venv/bin/python bench/order_flow.py --help

Exit status: 0 when the run completed (whatever the figures), 2 when it broke.
"""
from __future__ import annotations

import argparse
import collections
import math
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.order_flow_world import SHOP, SKUS, World, app_db_stats, expected_external_id, now  # noqa: E402

# Issue 20's targets (same run, same machine).
CLEAN_P50 = 1.0  # seconds, orders/paid sent -> supplier has the order, no faults
FAULTS_P50 = 3.0  # ... with 20 % supplier 5xx and 10 % duplicate webhooks
FAULTS_P99 = 30.0
MAX_SILENCE_WHILE_WAITING = 3.0  # seconds without a request to the supplier while orders wait for it
CPU_PER_ORDER_BASELINE_MS = 97.0  # the app's CPU per order on main when issue 20 was filed (clean phase)
CPU_PER_ORDER_TARGET_MS = CPU_PER_ORDER_BASELINE_MS / 2
QUICK_N = 40
PLACERS = 16  # threads placing orders (each place_order waits for both webhooks' answers)


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    duplicate_rate: float
    failure_rate: float
    drain: float  # seconds to wait after the last order was placed

    def describe(self) -> str:
        if not self.duplicate_rate and not self.failure_rate:
            return "no faults"
        return (f"Shopify duplicate_rate={self.duplicate_rate:g} (a delivery sent twice, same webhook id); "
                f"supplier failure_rate={self.failure_rate:g} (random 500/502/503, request not processed)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="orders per phase")
    p.add_argument("--rate", type=float, default=10.0, help="orders placed per second (open loop)")
    p.add_argument("--quick", action="store_true", help=f"smoke run: --n {QUICK_N}, shorter drain times")
    p.add_argument("--phases", default="clean,faults", help="comma-separated: clean, faults")
    p.add_argument("--ship-delay", type=float, default=0.5, help="seconds between the supplier confirming an order and shipping it")
    p.add_argument("--drain", type=float, default=60.0, help="each phase: most seconds to wait, after the last order was placed, for every order to be FULFILLED")
    p.add_argument("--duplicate-rate", type=float, default=0.1, help="faults phase: Shopify duplicate_rate")
    p.add_argument("--failure-rate", type=float, default=0.2, help="faults phase: supplier failure_rate")
    p.add_argument("--threads", type=int, default=8, help="gunicorn threads of the app's single worker")
    p.add_argument("--supplier-rate-limit", type=int, default=6000,
                   help="the Printful sandbox's rate limit, requests per minute (Printful documents 120: at most one order a second)")
    p.add_argument("--seed", type=int, default=1, help="seed for order contents and the Shopify sender's faults")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, app logs)")
    p.add_argument("--tmp", default=None, help="parent directory of the temporary directory")
    args = p.parse_args(argv)
    if args.quick:
        args.n = QUICK_N
        args.drain = min(args.drain, 30.0)
    if args.n < 1 or args.rate <= 0 or args.threads < 1 or args.drain <= 0 or args.ship_delay < 0:
        p.error("--n, --rate, --threads and --drain must be positive, --ship-delay at least 0")
    names = [s.strip() for s in args.phases.split(",") if s.strip()]
    unknown = [s for s in names if s not in ("clean", "faults")]
    if unknown or not names:
        p.error(f"--phases: unknown phase(s) {unknown}; use clean and/or faults")
    specs = {
        "clean": PhaseSpec("clean", 0.0, 0.0, args.drain),
        "faults": PhaseSpec("faults", args.duplicate_rate, args.failure_rate, args.drain),
    }
    args.specs = [specs[s] for s in names]
    return args


# ---------------------------------------------------------------- figures


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


@dataclass
class Dist:
    """Latencies of all orders; those that never got there count with a lower bound (censored)."""

    values: list[tuple[float, bool]]  # (seconds, censored)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def reached(self) -> int:
        return sum(1 for _, c in self.values if not c)

    def at(self, p: float) -> tuple[float, bool]:
        ordered = sorted(self.values, key=lambda vc: (vc[1], vc[0]))  # censored ones last: they are at least this slow
        if not ordered:
            return math.nan, False
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def fmt(self, p: float, digits: int = 2) -> str:
        value, censored = self.at(p)
        if isinstance(value, float) and math.isnan(value):
            return "-"
        return f">{value:.0f}" if censored else f"{value:.{digits}f}"

    def max_fmt(self, digits: int = 2) -> str:
        return self.fmt(100, digits)


@dataclass
class PlacedOrder:
    index: int
    scheduled: float
    started: float
    returned: float
    gid: str
    lines: list[dict]
    external_id: str = ""


@dataclass
class PhaseResult:
    spec: PhaseSpec
    orders: list[PlacedOrder]
    started: float
    placing_done: float
    ended: float
    drained: bool
    to_supplier: Dist
    to_supplier_from_create: Dist
    to_fulfilled: Dist
    ship_to_ack: Dist
    ack_to_fulfilled: Dist
    ack_ms: list[float]
    supplier_ack_ms: list[float]
    supplier_wait_ms: list[float]
    lateness: list[float]
    supplier_orders: int
    expected: int
    missing: int
    dup_external_ids: int
    unexpected: int
    conflicts: int
    create_requests: int
    fulfilled: int
    fulfilled_per_s: float
    placed_per_s: float
    shopify_copies: int
    shopify_failed_attempts: int
    supplier_requests: collections.Counter
    supplier_faults: collections.Counter
    supplier_webhooks: collections.Counter
    ship_errors: list[str]
    db: dict
    app_cpu: float
    bench_cpu: float
    negative_to_supplier: int
    app_state_mismatch: int
    silence: tuple[float, float, float]
    silence_waiting: tuple[float, float, float]
    cutoff: float


def place_orders(world: World, n: int, rate: float, rng: random.Random, progress) -> list[PlacedOrder]:
    """Open loop: order i is placed at t0 + i/rate from a small pool of threads."""
    plans = []
    for i in range(n):
        skus = rng.sample(SKUS, rng.randint(1, 3))
        plans.append([{"sku": sku, "quantity": rng.randint(1, 2)} for sku in skus])
    placed: list[PlacedOrder | None] = [None] * n

    def place(i: int, scheduled: float) -> None:
        started = now()
        order = world.shopify.place_order(SHOP, plans[i], email=f"buyer{i}@example.com")
        world.fulfillment_probe.watch(order["id"])
        placed[i] = PlacedOrder(i, scheduled, started, now(), order["id"], plans[i])

    t0 = now() + 0.1
    with ThreadPoolExecutor(max_workers=PLACERS, thread_name_prefix="bench-placer") as pool:
        futures = []
        for i in range(n):
            scheduled = t0 + i / rate
            delay = scheduled - now()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(place, i, scheduled))
            if i and i % max(1, int(rate * 10)) == 0:
                progress(f"  placed {i}/{n}; fulfilled so far {len(world.fulfillment_probe.fulfilled_at)}")
        for f in futures:
            f.result()
    return [p for p in placed if p is not None]


def run_phase(args, spec: PhaseSpec, workdir: Path, progress) -> PhaseResult:
    world = World(workdir / spec.name, threads=args.threads, ship_delay=args.ship_delay, seed=args.seed,
                  supplier_requests_per_minute=args.supplier_rate_limit)
    progress(f"[{spec.name}] starting sandboxes and the app")
    world.start(progress)
    try:
        progress(f"[{spec.name}] app ready on {world.server.url} (pid {world.server.proc.pid}); {spec.describe()}")
        if spec.duplicate_rate:
            world.shopify.webhooks.configure(duplicate_rate=spec.duplicate_rate)
        if spec.failure_rate:
            world.supplier.set_failure_rate(spec.failure_rate)
        app_cpu0, bench_cpu0 = world.server.cpu_seconds(), time.process_time()
        started = now()
        orders = place_orders(world, args.n, args.rate, random.Random(f"{args.seed}-{spec.name}"), progress)
        placing_done = now()
        progress(f"[{spec.name}] {len(orders)} orders placed in {placing_done - started:.1f} s; waiting up to {spec.drain:.0f} s for fulfillment")
        deadline = placing_done + spec.drain
        last_note = now()
        while world.fulfillment_probe.pending() and now() < deadline:
            time.sleep(0.05)
            if now() - last_note >= 10:
                last_note = now()
                progress(f"  {world.fulfillment_probe.pending()} orders not fulfilled yet; "
                         f"supplier has {len(world.supplier_probe.created_at)}/{len(orders)}")
        drained = world.fulfillment_probe.pending() == 0
        ended = now()
        time.sleep(1.0)  # late stragglers (a second create, a late webhook) still get counted
        app_cpu, bench_cpu = world.server.cpu_seconds() - app_cpu0, time.process_time() - bench_cpu0
        result = collect(world, spec, orders, started, placing_done, ended, drained, app_cpu, bench_cpu)
        progress(f"[{spec.name}] {result.fulfilled}/{len(orders)} fulfilled; stopping")
        return result
    except BaseException:
        print(f"--- app log tail ({world.server.log_path if world.server else '?'}) ---", file=sys.stderr)
        if world.server is not None:
            print(world.server.log_tail(40), file=sys.stderr)
        raise
    finally:
        world.stop()


def collect(world: World, spec: PhaseSpec, orders: list[PlacedOrder], started: float, placing_done: float,
            ended: float, drained: bool, app_cpu: float, bench_cpu: float) -> PhaseResult:
    probe, sp, fp = world.webhooks, world.supplier_probe, world.fulfillment_probe
    cutoff = now()  # events up to here count (the drain's end plus a settle second); the rest is censored here
    paid_sent, create_sent = probe.first_sent("orders/paid"), probe.first_sent("orders/create")
    for o in orders:
        o.external_id = expected_external_id(o.gid, world.supplier_id)

    def dist(pairs):  # (start, end or None) -> Dist, unfinished ones censored at `cutoff`
        return Dist([(end - start, False) if end is not None else (cutoff - start, True) for start, end in pairs if start is not None])

    to_supplier = dist((paid_sent.get(o.gid), sp.created_at.get(o.external_id)) for o in orders)
    to_supplier_c = dist((create_sent.get(o.gid), sp.created_at.get(o.external_id)) for o in orders)
    to_fulfilled = dist((paid_sent.get(o.gid), fp.fulfilled_at.get(o.gid)) for o in orders)
    sent = sp.sent_webhooks()
    shipment_acked = {}
    for h in sent:
        if h.event_type == "shipment_sent" and h.external_id and h.status == 200:
            shipment_acked.setdefault(h.external_id, h.answered)
    ship_to_ack = dist((sp.shipped_at.get(o.external_id), shipment_acked.get(o.external_id)) for o in orders)
    ack_to_f = dist((shipment_acked.get(o.external_id), fp.fulfilled_at.get(o.gid)) for o in orders)
    supplier_ack_ms = sorted((h.answered - h.started) * 1000 for h in sent)
    supplier_wait_ms = sorted((h.started - h.queued) * 1000 for h in sent)
    negative = sum(1 for v, c in to_supplier.values if not c and v < 0)

    expected = {o.external_id for o in orders}
    supplier_orders = world.supplier.orders.all()
    keys = {o.external_id for o in supplier_orders if o.external_id is not None}
    created = {k: world.supplier.orders_created(k) for k in keys}
    no_external = sum(1 for o in supplier_orders if o.external_id is None)
    missing = sum(1 for k in expected if created.get(k, 0) == 0)
    dup = sum(1 for k, c in created.items() if k is not None and c > 1)
    # The demo shop starts with two orders of its own (seed_demo_shop); the install backfill forwards them too.
    seeded = {expected_external_id(o["id"], world.supplier_id) for o in world.shopify.store.require_shop(SHOP).all("Order")} - expected
    unexpected = sum(1 for k in created if k is not None and k not in expected and k not in seeded) + no_external

    attempts = probe.snapshot()
    ack_ms = [(a.answered - a.sent) * 1000 for a in attempts if a.answered is not None and a.topic in ("orders/create", "orders/paid")]
    sender_log = list(world.shopify.webhooks.log)
    copies = sum(1 for a in sender_log if a.duplicate)
    failed_attempts = sum(1 for a in sender_log if not a.ok)
    fulfilled = sum(1 for o in orders if o.gid in fp.fulfilled_at)
    fulfilled_times = [fp.fulfilled_at[o.gid] for o in orders if o.gid in fp.fulfilled_at]
    first_paid = min((paid_sent[o.gid] for o in orders if o.gid in paid_sent), default=started)
    span = (max(fulfilled_times) - first_paid) if fulfilled_times else math.nan
    place_span = orders[-1].started - orders[0].started if len(orders) > 1 else math.nan
    supplier_webhooks = collections.Counter()
    for d in list(world.supplier.webhooks.deliveries):
        supplier_webhooks[f"{d.event_type} -> {d.status if d.status is not None else d.error}"] += 1
    db = app_db_stats(world.db_path)
    request_times = [e[0] for e in list(world.supplier.received)]
    gap = longest_silence(request_times, started, cutoff, missing > 0)
    waiting = [(paid_sent[o.gid], sp.created_at.get(o.external_id, cutoff)) for o in orders if o.gid in paid_sent]
    gap_waiting = longest_silence_while_waiting(request_times, waiting, started, cutoff)
    # Deliveries the app still calls "placed" (or earlier) although Shopify shows the order fulfilled.
    by_key = db.get("delivery_by_key", {})
    mismatch = sum(1 for o in orders if o.gid in fp.fulfilled_at and by_key.get(o.external_id) not in ("shipped",))
    return PhaseResult(
        spec=spec, orders=orders, started=started, placing_done=placing_done, ended=ended, drained=drained,
        to_supplier=to_supplier, to_supplier_from_create=to_supplier_c, to_fulfilled=to_fulfilled,
        ship_to_ack=ship_to_ack, ack_to_fulfilled=ack_to_f, ack_ms=sorted(ack_ms),
        supplier_ack_ms=supplier_ack_ms, supplier_wait_ms=supplier_wait_ms,
        lateness=sorted((o.started - o.scheduled) * 1000 for o in orders),
        supplier_orders=len(supplier_orders), expected=len(expected), missing=missing,
        dup_external_ids=dup, unexpected=unexpected, conflicts=sum(sp.conflicts.values()),
        create_requests=sp.create_requests(), fulfilled=fulfilled,
        fulfilled_per_s=fulfilled / span if span and span > 0 else math.nan,
        placed_per_s=(len(orders) - 1) / place_span if place_span and place_span > 0 else math.nan,
        shopify_copies=copies, shopify_failed_attempts=failed_attempts,
        supplier_requests=sp.requests_by_route(), supplier_faults=sp.faults_by_route(),
        supplier_webhooks=supplier_webhooks, ship_errors=list(sp.ship_errors), db=db,
        app_cpu=app_cpu, bench_cpu=bench_cpu, negative_to_supplier=negative, app_state_mismatch=mismatch,
        silence=gap, silence_waiting=gap_waiting, cutoff=cutoff,
    )


def longest_silence(times: list[float], start: float, end: float, open_ended: bool) -> tuple[float, float, float]:
    """(seconds, from, to): the longest stretch without a request to the supplier, relative to `start`.

    Counted from the first request; when orders were still not at the supplier at `end`,
    the stretch from the last request to `end` counts too.
    """
    ts = sorted(t for t in times if start <= t <= end)
    if not ts:
        return (end - start, 0.0, end - start) if open_ended else (0.0, 0.0, 0.0)
    points = ts + ([end] if open_ended else [])
    best = max(((b - a), a, b) for a, b in zip(points, points[1:])) if len(points) > 1 else (0.0, ts[0], ts[0])
    return best[0], best[1] - start, best[2] - start


def longest_silence_while_waiting(times: list[float], waiting: list[tuple[float, float]], start: float, end: float) -> tuple[float, float, float]:
    """(seconds, from, to) relative to `start`: the longest stretch with no request to the supplier while
    some order was waiting for it (from its orders/paid being sent until the supplier created it)."""
    spans = []
    for a, b in sorted((max(a, start), min(b, end)) for a, b in waiting if b > a):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    ts = sorted(t for t in times if start <= t <= end)
    best = (0.0, 0.0, 0.0)
    for a, b in spans:
        inside = [t for t in ts if a < t < b]
        points = [a] + inside + [b]
        for x, y in zip(points, points[1:]):
            if y - x > best[0]:
                best = (y - x, x - start, y - start)
    return best


# ---------------------------------------------------------------- report


def fmt(v: float, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def report(args, results: list[PhaseResult], workdir: Path, elapsed: float) -> None:
    w = print
    w()
    w("=== Order flow benchmark: sandbox Shopify -> app -> Printful sandbox -> Shopify fulfillment ===")
    w(f"app        gunicorn --workers 1 --worker-class gthread --threads {args.threads} shopify_app.factory:create_app()")
    w("           RUN_SCHEDULER=1: the inbox pump and the forwarding pump run in that worker (1 s poll, woken on new work)")
    w(f"           fresh SQLite file per phase (WAL, synchronous=FULL) under {workdir}")
    w(f"sandboxes  sandbox Shopify + Printful sandbox + this driver share one process; {os.cpu_count()} CPUs shared with the app")
    w(f"orders     {args.n} per phase, placed at {args.rate:g}/s (open loop, {PLACERS} placer threads), 1-3 lines of")
    w(f"           {', '.join(SKUS)} (qty 1-2), all mapped to Printful; seed {args.seed}")
    w(f"supplier   ships each order in one parcel {args.ship_delay:g} s after it is confirmed; its webhooks go back to the app;")
    w(f"           rate limit {args.supplier_rate_limit} requests/min (Printful documents 120/min, one order a second)")
    for r in results:
        w(f"phase      {r.spec.name}: {r.spec.describe()}; waits up to {r.spec.drain:.0f} s after the last order")
    w()
    w("Latency, seconds. Nearest-rank percentiles over ALL placed orders; an order that never got there counts")
    w("as '>T' (T = how long it was watched), so a '>' percentile means at least that.")
    head = f"{'phase':<8}{'measure':<42}{'reached':>9}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"
    w(head)
    w("-" * len(head))
    for r in results:
        rows = [
            ("orders/paid sent -> supplier create (*)", r.to_supplier),
            ("orders/create sent -> supplier create", r.to_supplier_from_create),
            ("orders/paid sent -> Shopify FULFILLED (*)", r.to_fulfilled),
            ("supplier ships -> app acks shipment_sent", r.ship_to_ack),
            ("app acks shipment_sent -> FULFILLED", r.ack_to_fulfilled),
        ]
        for label, d in rows:
            w(f"{r.spec.name:<8}{label:<42}{f'{d.reached}/{d.n}':>9}{d.fmt(50):>8}{d.fmt(90):>8}{d.fmt(99):>8}{d.max_fmt():>8}")
    w("(*) the figures asked for. Sent = when the sandbox wrote the first HTTP attempt of that delivery; supplier")
    w("    create = when the Printful sandbox created the order (its order-book listener); FULFILLED = when the")
    w(f"    sandbox store first showed displayFulfillmentStatus FULFILLED (polled every 10 ms). Fulfillment includes")
    w(f"    the supplier's {args.ship_delay:g} s ship delay. The last two rows split the way back: the Printful")
    w("    sandbox sends its webhooks one at a time, in order, so a slow acknowledgement delays every later event.")
    w()
    head = (f"{'phase':<8}{'placed':>7}{'placed/s':>10}{'fulfilled':>11}{'fulfilled/s':>13}{'supplier orders':>17}"
            f"{'duplicates':>12}{'absent':>8}{'unexpected':>12}{'409 resends':>13}")
    w(head)
    w("-" * len(head))
    for r in results:
        w(f"{r.spec.name:<8}{len(r.orders):>7}{fmt(r.placed_per_s, 2):>10}{f'{r.fulfilled}/{len(r.orders)}':>11}"
          f"{fmt(r.fulfilled_per_s, 2):>13}{f'{r.supplier_orders}/{r.expected}':>17}{r.dup_external_ids:>12}"
          f"{r.missing:>8}{r.unexpected:>12}{r.conflicts:>13}")
    w("placed/s: orders placed per second of the placing window. fulfilled/s: fulfilled orders / (last FULFILLED -")
    w("first orders/paid sent). supplier orders: orders at the Printful sandbox / Shopify orders placed (one")
    w("supplier each). duplicates: external_ids created more than once; unexpected: supplier orders whose")
    w("external_id is no Shopify order's idempotency key (a second order under another key would show here).")
    w("absent: Shopify orders with no supplier order when the phase ended (still queued in the app: see details).")
    w("409 resends: creates the app sent for an external_id the supplier already had (refused, not duplicated).")
    for r in results:
        busy = r.app_cpu / max(1e-9, r.cutoff - r.started)
        if (r.fulfilled_per_s < 0.9 * r.placed_per_s or not r.drained) and busy >= 0.5:
            w(f"{r.spec.name}: the app completed {fmt(r.fulfilled_per_s, 2)} orders/s against {fmt(r.placed_per_s, 2)}/s offered, busy on "
              f"{busy:.2f} CPUs: it is saturated,")
            w(f"  so its latencies are mostly time spent queued behind earlier orders.")
        elif not r.drained:
            w(f"{r.spec.name}: orders were left over while the app was mostly idle ({busy:.2f} CPUs): it was waiting, see details.")
    for r in results:
        w()
        w(f"--- {r.spec.name}: details ---")
        lat = r.lateness
        w(f"  placing: generator lateness p99/max {fmt(percentile(lat, 99))}/{fmt(lat[-1] if lat else math.nan)} ms; "
          f"Shopify webhook ack (orders/create+paid) p50/p99/max {fmt(percentile(r.ack_ms, 50))}/"
          f"{fmt(percentile(r.ack_ms, 99))}/{fmt(r.ack_ms[-1] if r.ack_ms else math.nan)} ms")
        w(f"  Shopify sender: {r.shopify_copies} duplicate copies sent, {r.shopify_failed_attempts} attempts not answered 2xx")
        if r.supplier_ack_ms:
            w(f"  Printful webhooks to the app: ack p50/p99/max {fmt(percentile(r.supplier_ack_ms, 50))}/{fmt(percentile(r.supplier_ack_ms, 99))}/"
              f"{fmt(r.supplier_ack_ms[-1])} ms; queued behind earlier ones p50/p99/max {fmt(percentile(r.supplier_wait_ms, 50), 0)}/"
              f"{fmt(percentile(r.supplier_wait_ms, 99), 0)}/{fmt(r.supplier_wait_ms[-1], 0)} ms")
        if r.negative_to_supplier:
            w(f"  {r.negative_to_supplier} orders reached the supplier before their orders/paid was sent "
              "(the app forwards on orders/create, whose payload is already paid)")
        w(f"  supplier requests: " + ", ".join(f"{k} {v}" for k, v in sorted(r.supplier_requests.items())))
        if r.supplier_faults:
            w(f"  supplier faults served: " + ", ".join(f"{k} x{v}" for k, v in sorted(r.supplier_faults.items())))
        w(f"  supplier webhooks to the app: " + ", ".join(f"{k} x{v}" for k, v in sorted(r.supplier_webhooks.items())))
        db = r.db
        w(f"  app supplier_orders by state: {fmt_counts(db['deliveries'])}; per Shopify order: "
          + ", ".join(f"{n} row(s) x{c}" for n, c in sorted(db["deliveries_per_order"].items())))
        w(f"  app delivery_attempts: {fmt_counts(db['attempts'])}")
        w(f"  app inbox: {fmt_counts(db['inbox'])}; rows that needed >1 attempt: {db['inbox_retried']}")
        w(f"  app inbox redeliveries folded into an existing row: {fmt_counts(db['inbox_redeliveries']) or 'none'}"
          f" (Shopify duplicate copies sent: {r.shopify_copies})")
        folded = db["inbox_redeliveries"].get("supplier/event", 0)
        if folded:
            w(f"  !! {folded} supplier events were folded as redeliveries, but the Printful sandbox sends every event once:")
            w(f"     distinct events whose derived event id collided (type:store:order:shipment:occurred_at, whole seconds),")
            w(f"     e.g. an order's two order_updated events in the same second; the later one is never applied")
        w(f"  app shipments: {fmt_counts(db['shipments'])}; alerts: {fmt_counts(db['alerts']) or 'none'}")
        w("  " + breaker_summary(db, r.started))
        retries = db["retries_per_order"]
        backoff = sorted(b / 1000 for b, _ in db["waits_ms"])
        breaker = sorted(k / 1000 for _, k in db["waits_ms"])
        w(f"  retries per order: p50/p90/max {percentile(retries, 50) if retries else 0}/{percentile(retries, 90) if retries else 0}/"
          f"{retries[-1] if retries else 0}, {sum(1 for n in retries if n)} orders retried; time orders waited: backoff total {sum(backoff):.1f} s "
          f"(p90 {fmt(percentile(backoff, 90), 2)} s), breaker total {sum(breaker):.1f} s (p90 {fmt(percentile(breaker, 90), 2)} s)")
        sec, a, b = r.silence_waiting
        w(f"  longest stretch without a request to the supplier while an order waited for it: {sec:.1f} s (+{a:.1f} s to +{b:.1f} s)")
        sec, a, b = r.silence
        if sec >= 5:
            w(f"  longest stretch without any request from the app to the supplier: {sec:.1f} s (+{a:.1f} s to +{b:.1f} s"
              f" into the phase){' while orders were waiting' if r.missing else ''}")
        if r.app_state_mismatch:
            w(f"  !! {r.app_state_mismatch} orders FULFILLED in Shopify whose supplier_orders row is not 'shipped'")
        if r.ship_errors:
            w(f"  supplier could not ship {len(r.ship_errors)}: {r.ship_errors[:3]}")
        if not r.drained:
            inbox_pending = sum(n for k, n in db["inbox"].items() if k.endswith(" pending"))
            waiting = sum(n for k, n in db["deliveries"].items() if k in ("pending", "unknown"))
            w(f"  NOT DRAINED: {len(r.orders) - r.fulfilled} orders still not FULFILLED {r.spec.drain:.0f} s after the last was placed;")
            w(f"  still queued in the app (not lost): inbox rows pending {inbox_pending}, supplier orders pending/unknown {waiting}")
        wall = r.cutoff - r.started
        w(f"  CPU: app {r.app_cpu:.1f} s ({r.app_cpu / wall:.2f} CPUs, {r.app_cpu / max(1, len(r.orders)) * 1000:.0f} ms/order); "
          f"sandboxes+driver {r.bench_cpu:.1f} s ({r.bench_cpu / wall:.2f} CPUs); phase wall {wall:.1f} s")
    w()
    w("Targets (issue 20)")
    for r in results:
        for label, figure, ok in phase_targets(r):
            w(f"  {r.spec.name:<7} {label:<58} {figure:>14}   {'MET' if ok else 'MISSED'}")
    for r in results:
        if r.fulfilled != len(r.orders) or r.missing:
            w(f"  note: {r.spec.name}: {r.fulfilled}/{len(r.orders)} fulfilled, {r.missing} never reached the supplier within the drain time")
    w(f"(run took {elapsed:.0f} s)")


def breaker_summary(db: dict, started: float) -> str:
    """The supplier's breaker over the phase, from the app's supplier_breaker_events."""
    events = db["breaker_events"]
    if not events:
        return "circuit breaker: closed throughout (no state change)"
    import datetime as dt

    t0 = dt.datetime.fromtimestamp(started - time.monotonic() + time.time(), dt.timezone.utc).replace(tzinfo=None)
    def rel(at: str) -> float:
        return (dt.datetime.fromisoformat(str(at)[:26].replace("T", " ")).replace(tzinfo=None) - t0).total_seconds()
    steps = ", ".join(f"+{rel(at):.1f}s {new}" for at, _old, new, _why in events[:12])
    opened = sum(1 for _, _, new, _ in events if new == "open")
    return f"circuit breaker over time: {steps}{' ...' if len(events) > 12 else ''} ({opened} opening(s), {len(events)} changes)"


def phase_targets(r: PhaseResult) -> list[tuple[str, str, bool]]:
    """(target, this run's figure, met) for the phase."""
    def below(p: float, limit: float) -> bool:
        value, censored = r.to_supplier.at(p)
        return not censored and not math.isnan(value) and value < limit

    dups = r.dup_external_ids + r.unexpected
    cpu_ms = r.app_cpu / max(1, len(r.orders)) * 1000
    if r.spec.name == "clean":
        return [
            (f"p50 orders/paid -> supplier < {CLEAN_P50:g} s", f"{r.to_supplier.fmt(50)} s", below(50, CLEAN_P50)),
            (f"app CPU per order <= {CPU_PER_ORDER_TARGET_MS:.1f} ms (half of {CPU_PER_ORDER_BASELINE_MS:g})", f"{cpu_ms:.0f} ms", cpu_ms <= CPU_PER_ORDER_TARGET_MS),
            ("duplicates = 0", str(dups), dups == 0),
        ]
    return [
        (f"p50 orders/paid -> supplier < {FAULTS_P50:g} s", f"{r.to_supplier.fmt(50)} s", below(50, FAULTS_P50)),
        (f"p99 orders/paid -> supplier < {FAULTS_P99:g} s", f"{r.to_supplier.fmt(99)} s", below(99, FAULTS_P99)),
        ("all orders fulfilled within the drain time", f"{r.fulfilled}/{len(r.orders)}", r.fulfilled == len(r.orders)),
        ("duplicates = 0", str(dups), dups == 0),
        (f"no stretch > {MAX_SILENCE_WHILE_WAITING:g} s without a supplier request while orders wait",
         f"{r.silence_waiting[0]:.1f} s", r.silence_waiting[0] <= MAX_SILENCE_WHILE_WAITING),
    ]


def fmt_counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {msg}", file=sys.stderr, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="bench-order-flow-", dir=args.tmp))
    results = []
    try:
        for spec in args.specs:
            results.append(run_phase(args, spec, workdir, progress))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
        else:
            traceback.print_exc()
        print(f"benchmark run broke; files kept in {workdir}", file=sys.stderr)
        return 2
    report(args, results, workdir, time.monotonic() - began)
    if args.keep:
        print(f"kept {workdir} (databases, app logs)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
