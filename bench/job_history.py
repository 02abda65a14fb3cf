"""Benchmark: the 5-minute delay and notice jobs beside a year of every shop's history, now and as they read before.

The delay job (orders/delays.detect_delays) and the notice sender (notify/customer_notices) run every
5 minutes for every shop at once. The delay job read every parcel with an ETA ever recorded and, for each
late undelivered one, loaded its order and tried its notice in a savepoint on every run, noticed or not;
the sender read the pending notices and gave back stale claims through the whole notices table. This
seeds one SQLite file with `--parcels` parcels over `--shops` shops (recorded over the past year, most
delivered, some late and already noticed, some cancelled, a few in transit or newly late) and a sent
notice per parcel, then times, as the median of `--repeat` runs each rolled back: the delay job as it
reads now and as it read before (its former code, kept below as the baseline), and the notice queue's two
reads with migration 0051's indexes and, in the same run, after dropping them.

    .venv/bin/python bench/job_history.py                   # 200,000 parcels over 100 shops
    .venv/bin/python bench/job_history.py --parcels 20000
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

NEWLY_LATE = 20  # late parcels not noticed yet: what each run has to find
JOB_TARGET_MS = 1000.0  # a run of the delay job now, at this history (its slot is 5 minutes); its read grows with the parcels in transit, not the history
JOB_RATIO = 10.0  # ... and at least this much faster than before
QUEUE_TARGET_MS = 1.0  # each of the notice queue's reads with 0051's indexes
QUEUE_INDEXES = ("ix_customer_notices_pending", "ix_customer_notices_sending")
PARCEL_INDEX = "ix_supplier_shipments_undelivered"  # 0051: the delay job's parcels in transit


def seed(url: str, parcels: int, shops: int, rng: random.Random) -> None:
    """One order, supplier order, parcel and sent "shipped" notice a parcel; 97 % delivered, 2 % late and noticed, 0.5 % cancelled, 0.5 % in transit."""
    from sqlalchemy import create_engine, text

    from shopify_app.orders.models import CustomerNotice, Order
    from shopify_app.suppliers.models import SupplierOrder, SupplierShipment

    now = dt.datetime.now(dt.timezone.utc)
    orders, deliveries, shipments, notices = [], [], [], []
    for n in range(parcels):
        shop = f"shop-{n % shops}.myshopify.com"
        kind = rng.random() if n >= NEWLY_LATE else 1.0  # the first NEWLY_LATE: late, not noticed
        # 0.5 % in transit: recorded in the last days, their ETA ahead (a late one is noticed within minutes: the 2 %)
        recorded = now - dt.timedelta(days=10 if kind == 1.0 else rng.uniform(0, 5) if kind >= 0.995 else rng.uniform(0, 365))
        eta = (recorded + dt.timedelta(days=7)).date()
        delivered = eta.isoformat() if kind < 0.97 and eta < now.date() else None
        orders.append({"id": n + 1, "shop_domain": shop, "shopify_id": str(n), "name": f"#{n}", "state": "open",
                       "cancelled_at": now if 0.99 <= kind < 0.995 else None})
        deliveries.append({"id": n + 1, "shop_domain": shop, "order_id": n + 1, "supplier_id": 1 + n % shops, "idempotency_key": f"do-{n}", "state": "shipped"})
        shipments.append({"id": n + 1, "supplier_order_id": n + 1, "shipment_id": f"s-{n}", "tracking_number": f"T{n}", "estimated_delivery": eta.isoformat(),
                          "delivered_at": delivered, "state": "fulfilled", "created_at": recorded})
        notices.append({"order_id": n + 1, "shop_domain": shop, "kind": "shipped", "dedupe_key": f"shipped:{n}", "status": "sent", "sent_at": recorded})
        if 0.97 <= kind < 0.99 and delivered is None:
            notices.append({"order_id": n + 1, "shop_domain": shop, "kind": "delay", "dedupe_key": f"delay:{n + 1}", "status": "sent", "sent_at": recorded})
    notices += [{"order_id": n + 1, "shop_domain": "shop-0.myshopify.com", "kind": "shipped", "dedupe_key": f"pending:{n}", "status": "pending", "sent_at": None} for n in range(20)]
    engine = create_engine(url)
    with engine.begin() as conn:  # this raw engine does not enforce foreign keys on SQLite
        for table, rows in ((Order.__table__, orders), (SupplierOrder.__table__, deliveries), (SupplierShipment.__table__, shipments), (CustomerNotice.__table__, notices)):
            conn.execute(table.insert(), rows)
        conn.execute(text("ANALYZE"))
    engine.dispose()


def detect_delays_before(session, now=None) -> int:
    """The delay job as it read before this benchmark's change (git e5c8cae^), kept as the baseline; the notice itself is the job's own (unchanged)."""
    from sqlalchemy import select

    from shopify_app.models import utcnow
    from shopify_app.orders.delays import notice_delay, shipment_time
    from shopify_app.orders.models import Order
    from shopify_app.suppliers.models import SupplierOrder, SupplierShipment

    now = now or utcnow()
    found = 0
    rows = session.execute(
        select(SupplierShipment, SupplierOrder).join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id).where(SupplierShipment.estimated_delivery.is_not(None))
    )
    for shipment, delivery in rows:
        eta = shipment_time(shipment.estimated_delivery)
        if eta is None or eta > now or shipment.delivered_at:
            continue
        order = session.get(Order, delivery.order_id)
        if order.cancelled_at is not None:
            continue
        found += notice_delay(session, order, shipment)
    return found


def time_job(factory, job, repeat: int) -> tuple[float, int]:
    """Median ms of `job(session)` over `repeat` runs, each rolled back (every run finds the same parcels); its answer."""
    times, found = [], None
    for _ in range(repeat):
        with factory() as session:
            t = time.perf_counter()
            found = job(session)
            times.append((time.perf_counter() - t) * 1000)
            session.rollback()
    return statistics.median(times), found


def time_read(factory, repeat: int) -> tuple[float, int]:
    """Median ms of the delay job's read alone (orders/delays._candidates); the parcels it reads (recent, in transit or late)."""
    from shopify_app.models import utcnow
    from shopify_app.orders.delays import _candidates

    times = []
    with factory() as session:
        for _ in range(repeat):
            t = time.perf_counter()
            read = len(session.execute(_candidates(utcnow())).all())
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), read


def time_queue(factory, repeat: int) -> dict[str, float]:
    """Median ms of the sender's two reads: the pending notices, the stale claims given back (rolled back)."""
    from sqlalchemy import select

    from shopify_app.notify.customer_notices import release_stale_claims
    from shopify_app.orders.models import CustomerNotice

    pending, stale = [], []
    for _ in range(repeat):
        with factory() as session:
            t = time.perf_counter()
            session.scalars(select(CustomerNotice.id).where(CustomerNotice.status == "pending").order_by(CustomerNotice.id)).all()
            pending.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        release_stale_claims(factory)  # nothing is being sent: it changes no row
        stale.append((time.perf_counter() - t) * 1000)
    return {"the pending notices": statistics.median(pending), "stale claims given back": statistics.median(stale)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parcels", type=int, default=200_000)
    p.add_argument("--shops", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    from sqlalchemy import text

    from shopify_app.db import make_engine, make_session_factory
    from shopify_app.migrate import upgrade_to_head
    from shopify_app.orders.delays import detect_delays

    logging.disable(logging.WARNING)  # each late parcel's alert is logged: thousands of lines for the baseline
    with tempfile.TemporaryDirectory(prefix="job-history-") as tmp:
        url = f"sqlite:///{tmp}/history.db"
        upgrade_to_head(url)
        t = time.perf_counter()
        seed(url, args.parcels, args.shops, random.Random(1))
        print(f"seeded {args.parcels:,} parcels over {args.shops} shops (a year), a sent notice each, {NEWLY_LATE} newly late, in {time.perf_counter() - t:.1f} s")
        engine = make_engine(url)  # the app's engine: its SQLite transactions (a SAVEPOINT inside BEGIN, rolled back with it)
        factory = make_session_factory(engine)
        now_ms, now_found = time_job(factory, detect_delays, args.repeat)
        read_ms, read_rows = time_read(factory, args.repeat * 10)
        before_ms, before_found = time_job(factory, detect_delays_before, 1)  # one run: it takes a while
        queue = time_queue(factory, args.repeat * 10)
        with engine.begin() as conn:
            for name in QUEUE_INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
            conn.execute(text("ANALYZE"))
        queue_before = time_queue(factory, args.repeat * 10)
        engine.dispose()
    print(f"\n{'a run of':40} {'before (baseline)':>20} {'now':>12} {'ratio':>8}")
    print(f"{'the delay job (late parcels found)':40} {before_ms:13.1f} ms ({before_found}) {now_ms:6.1f} ms ({now_found}) {before_ms / max(now_ms, 1e-6):7.0f}x")
    print(f"{'  of which its read of candidates':40} {'':>20} {read_ms:9.3f} ms ({read_rows:,} parcels in transit or late, of {args.parcels:,})")
    for name in queue:
        print(f"{'notice queue: ' + name:40} {queue_before[name]:16.3f} ms {queue[name]:9.3f} ms {queue_before[name] / max(queue[name], 1e-6):7.0f}x")
    print("\ntargets:")
    checks = [(f"the delay job at {args.parcels:,} parcels finds the same late parcels", f"{now_found} of {before_found}", now_found == before_found == NEWLY_LATE),
              (f"the delay job's run at {args.parcels:,} parcels < {JOB_TARGET_MS:g} ms", f"{now_ms:.1f} ms", now_ms < JOB_TARGET_MS),
              (f"the delay job >= {JOB_RATIO:g}x faster than before", f"{before_ms / max(now_ms, 1e-6):.0f}x", before_ms / max(now_ms, 1e-6) >= JOB_RATIO)]
    checks += [(f"notice queue: {name} < {QUEUE_TARGET_MS:g} ms", f"{ms:.3f} ms", ms < QUEUE_TARGET_MS) for name, ms in queue.items()]
    for name, figure, met in checks:
        print(f"  {name}: {figure} {'MET' if met else 'MISSED'}")
    return 0 if all(met for _, _, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
