"""Chaos run: orders through a hostile world, then reconciliation; nothing lost, nothing placed twice.

    sandbox Shopify --webhooks (10 % duplicated, 20 % dropped, reordered)--> app (gunicorn, 2 worker
    processes, each with its embedded clock and pumps: the job_runs claims keep one clock)
        --> Printful sandbox (30 % of requests refused with 5xx, some answered after the timeout)

During the run one app worker is killed with SIGKILL (gunicorn starts another), one SKU's
orders are acknowledged by the supplier and never shipped, and some orders are cancelled
in Shopify right after checkout, racing their forwarding. Then the faults stop and
reconciliation passes run (in this process, on the app's database, as the scheduled job
would, with the clock moved past every in-flight window and the supplier's SLA), the
pumps get time to forward what they found, and the run prints:

  orders in Shopify, orders known to us, supplier orders placed, duplicates placed,
  orders lost (paid, not cancelled, never placed with the supplier), desyncs
  found / repaired / open (with an alert), wall time.

Target: 0 lost, 0 duplicates, every desync repaired or open with an alert.

    .venv/bin/python bench/chaos.py                          # 1,000 orders, embedded on SQLite
    .venv/bin/python bench/chaos.py --engine procrastinate   # 1,000 orders, PostgreSQL + 2 procrastinate workers
    .venv/bin/python bench/chaos.py --n 150                  # smoke run

With `--engine procrastinate` the run starts a throwaway PostgreSQL server (Debian's
package, as the tests do), the app's gunicorn only takes requests and defers drains, and
two `python -m shopify_app.cli worker` processes run the inbox, the supplier deliveries
and the periodic jobs; one of those workers is the one killed with SIGKILL (no restart:
the survivor must finish the work).
Exit status: 0 when the run completed (whatever the figures), 2 when it broke.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.order_flow_world import SHOP, SKUS, World, now  # noqa: E402

NEVER_SHIP_SKU = "BTL-500"
PLACERS = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=1000, help="orders")
    p.add_argument("--rate", type=float, default=20.0, help="orders per second")
    p.add_argument("--duplicate-rate", type=float, default=0.1)
    p.add_argument("--drop-rate", type=float, default=0.2)
    p.add_argument("--reorder-window", type=int, default=4)
    p.add_argument("--supplier-failure-rate", type=float, default=0.3)
    p.add_argument("--cancel-rate", type=float, default=0.03, help="orders cancelled right after checkout")
    p.add_argument("--drain", type=float, default=60.0, help="seconds to let the app work after the last order")
    p.add_argument("--passes", type=int, default=3, help="reconciliation passes")
    p.add_argument("--settle", type=float, default=180.0, help="seconds to wait for in-flight deliveries (a killed worker's leases last 120 s)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--engine", choices=("embedded", "procrastinate"), default="embedded",
                   help="embedded: SQLite, clocks and pumps in the gunicorn workers; procrastinate: PostgreSQL and worker processes")
    return p.parse_args(argv)


def place_orders(world: World, args, progress) -> tuple[list[str], list[str]]:
    """Checkouts at `rate`; some cancelled at once; one worker killed halfway. (order gids, cancelled gids)."""
    rng = random.Random(args.seed)
    gids: list[str | None] = [None] * args.n
    cancelled: list[str] = []
    killed = False

    def place(i: int) -> None:
        lines = [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in rng.sample(SKUS, rng.randint(1, 2))]
        order = world.shopify.place_order(SHOP, lines, email=f"chaos{i}@example.com")
        gids[i] = order["id"]
        if rng.random() < args.cancel_rate:
            world.shopify.store.cancel_order(SHOP, order["id"], reason="CUSTOMER", refund=True, restock=True)
            world.shopify.deliver_pending()
            cancelled.append(order["id"])

    t0 = now()
    with ThreadPoolExecutor(max_workers=PLACERS, thread_name_prefix="chaos-placer") as pool:
        futures = []
        for i in range(args.n):
            delay = t0 + i / args.rate - now()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(place, i))
            if not killed and i >= args.n // 2:
                if world.engine == "procrastinate":
                    victims = [proc.pid for proc in world.worker_procs if proc.poll() is None]
                else:
                    victims = world.server.worker_pids()
                if victims:
                    os.kill(victims[0], signal.SIGKILL)
                    progress(f"  SIGKILL to app worker {victims[0]} after {i} orders")
                killed = True
        for future in futures:
            future.result()
    return [g for g in gids if g], cancelled


def _unsettled(engine) -> int:
    """Deliveries still on their way (pending, unknown, or a cancellation to pass on)."""
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM supplier_orders WHERE state IN ('pending', 'unknown', 'cancel_requested')").scalar()


def supplier_orders(world: World) -> collections.Counter:
    """Orders the supplier holds, per external_id (ours: the delivery's idempotency key)."""
    return collections.Counter(order.external_id for order in world.supplier.orders.all())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM (timeout, Ctrl-C from a wrapper) must still stop the app's gunicorn below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    progress = lambda message: print(message, flush=True)  # noqa: E731
    workdir = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    postgres = None
    database_url = None
    if args.engine == "procrastinate":
        from tests.pg_server import start_postgres

        postgres = start_postgres()
        database_url = postgres.database_url("postgres")
        progress(f"PostgreSQL on port {postgres.port}")
    world = World(workdir, threads=8, ship_delay=1.0, seed=args.seed, workers=2, never_ship_skus=(NEVER_SHIP_SKU,),
                  database_url=database_url, engine=args.engine)
    began = now()
    db = None
    try:
        world.start(progress)
        from sqlalchemy import create_engine

        db = create_engine(world.database_url)
        world.shopify.webhooks.configure(duplicate_rate=args.duplicate_rate, drop_rate=args.drop_rate, reorder_window=args.reorder_window)
        world.supplier.set_failure_rate(args.supplier_failure_rate)
        progress(f"placing {args.n} orders at {args.rate:g}/s with faults")
        gids, cancelled = place_orders(world, args, progress)
        world.shopify.webhooks.configure(duplicate_rate=0.0, drop_rate=0.0, reorder_window=0)
        world.shopify.webhooks.flush()  # what the reorder window still holds
        progress(f"{len(gids)} placed ({len(cancelled)} cancelled at once); letting the app work for {args.drain:.0f} s")
        time.sleep(args.drain)
        world.supplier.set_failure_rate(0.0)

        from shopify_app.config import load_settings
        from shopify_app.reconcile.runner import run_reconciliation
        from shopify_app.services import build_services

        services = build_services(load_settings(world.env, run_scheduler=False))
        if args.engine == "procrastinate":
            from scheduler.distributed import attach

            attach(services)  # repairs wake the workers, as the scheduled job's would
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=100)  # past in-flight windows and the 72 h SLA
        for n in range(args.passes):
            run = run_reconciliation(services, SHOP, now=later)
            progress(f"reconciliation pass {n + 1}: " + ", ".join(f"{k} {v['found']}/{v['repaired']}/{v['open']}" for k, v in run.report.items() if v.get("found")))
            time.sleep(15)  # the app's pumps forward and cancel what the pass repaired
        # A killed worker's claims on deliveries run out after their lease: wait for the pumps to settle.
        deadline = now() + args.settle
        while now() < deadline and _unsettled(db):
            time.sleep(2)
        run = run_reconciliation(services, SHOP, now=later)
        progress("final reconciliation pass: " + ", ".join(f"{k} {v['found']}/{v['repaired']}/{v['open']}" for k, v in run.report.items() if v.get("found")))
        time.sleep(10)
        services.close()

        with db.connect() as conn:
            q = conn.exec_driver_sql
            known = {row[0] for row in q("SELECT shopify_id FROM orders")}
            keys = dict(q("SELECT o.shopify_id, so.idempotency_key FROM supplier_orders so JOIN orders o ON o.id = so.order_id").all())
            desyncs = dict(q("SELECT status, count(*) FROM desyncs GROUP BY status").all())
            open_without_alert = q(
                "SELECT count(*) FROM desyncs d WHERE d.status = 'open' AND d.severity != 'info' AND NOT EXISTS "
                "(SELECT 1 FROM alerts a WHERE a.dedupe_key = 'desync:' || d.shop_domain || ':' || d.kind || ':' || d.ref AND a.resolved_at IS NULL)").scalar()
            kinds = q("SELECT kind, status, count(*) FROM desyncs GROUP BY kind, status ORDER BY kind").all()
            stuck_keys = [row[0] for row in q(
                "SELECT so.idempotency_key FROM desyncs d JOIN supplier_orders so ON d.ref = 'delivery:' || CAST(so.id AS VARCHAR(20)) "
                "WHERE d.kind = 'stuck_at_supplier' AND d.status = 'open'")]
        at_supplier = supplier_orders(world)
        numbers = [g.rsplit("/", 1)[-1] for g in gids]
        cancelled_numbers = {g.rsplit("/", 1)[-1] for g in cancelled}
        lost = [n for n in numbers if n not in cancelled_numbers and (n not in known or at_supplier.get(keys.get(n), 0) == 0)]
        duplicates = sum(count - 1 for count in at_supplier.values() if count > 1)
        wall = now() - began
        if args.engine == "procrastinate":
            print("\nchaos run, scaled out (PostgreSQL, gunicorn web + 2 procrastinate workers, one killed)")
        else:
            print("\nchaos run, embedded mode (SQLite, 2 gunicorn workers, one killed)")
        in_shopify = len(world.shopify.store.require_shop(SHOP).all("Order"))
        print(f"  orders in Shopify        {in_shopify}  ({len(gids)} placed by the run, {len(cancelled)} of them cancelled right after checkout; the rest seeded)")
        print(f"  orders known to us       {len(known)}")
        print(f"  supplier orders placed   {len(at_supplier)}")
        print(f"  duplicates placed        {duplicates}")
        print(f"  lost (paid, not cancelled, never at the supplier)  {len(lost)}")
        print(f"  desyncs                  found {sum(desyncs.values())}, repaired {desyncs.get('repaired', 0)}, open {desyncs.get('open', 0)}, resolved {desyncs.get('resolved', 0)}; open without an alert: {open_without_alert}")
        for kind, status, count in kinds:
            print(f"      {kind:<32} {status:<9} {count}")
        shipped_meanwhile = sum(1 for key in stuck_keys if key in world.supplier_probe.shipped_at)
        print(f"  open stuck_at_supplier   {len(stuck_keys)}: {len(stuck_keys) - shipped_meanwhile} the supplier never shipped (the SKU it sits on), "
              f"{shipped_meanwhile} shipped but their tracking had not reached us when the run ended")
        print(f"  wall time                {wall:.0f} s")
        met = not lost and not duplicates and not open_without_alert
        print(f"\ntarget (0 lost, 0 duplicates, every desync repaired or alerted): {'MET' if met else 'MISSED'}")
        if lost:
            print(f"  lost orders: {lost[:10]}")
        return 0
    except Exception:
        import traceback

        traceback.print_exc()
        return 2
    finally:
        if db is not None:
            db.dispose()
        world.stop()
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
