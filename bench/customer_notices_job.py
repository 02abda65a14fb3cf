"""The customer-notices job over a long history: one pass's time with a small and a large history, same run.

The job reads only what changed recently (orders and parcels of the last 3 days, carrier
statuses of the last 3 days, deliveries due a follow-up, recent answers) through indexes, so its
cost should follow the recent activity, not the shop's history. This seeds a migrated SQLite
database with the same recent activity (R orders from the last day, each routed, shipped and
delivered) on top of H old orders (delivered months ago, already notified), once with a small
H and once with a large H, and times a pass of `queue_due_notices` that has nothing new to queue
(the steady state: every recent notice already queued) on each. The ratio large/small is the
figure; the targets block says whether the pass stays flat.

    .venv/bin/python bench/customer_notices_job.py                 # about a minute on 2 CPUs
    .venv/bin/python bench/customer_notices_job.py --small 1000 --large 50000 --recent 200
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import insert  # noqa: E402

SHOP = "bench.myshopify.com"
MAX_RATIO = 2.0  # a pass over 20x the history may cost at most twice as much


def seed(services, history: int, recent: int) -> None:
    """`history` old delivered orders and `recent` orders of the last day, each with a parcel and a delivered fulfillment."""
    from shopify_app.deliveries.models import FulfillmentDelivery
    from shopify_app.models import utcnow
    from shopify_app.orders.models import Order
    from shopify_app.suppliers.models import Supplier, SupplierOrder, SupplierShipment

    now = utcnow()
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Bench", kind="rest", settings={"sla_hours": 48})
        session.add(supplier)
        session.flush()
        supplier_id = supplier.id
    batch = 5000
    for first in range(0, history + recent, batch):
        numbers = range(first, min(first + batch, history + recent))
        with services.session_factory.begin() as session:
            rows = []
            for n in numbers:
                old = n < history
                created = now - (dt.timedelta(days=120 + n % 200) if old else dt.timedelta(hours=1 + n % 20))
                rows.append({"shop_domain": SHOP, "shopify_id": str(n + 1), "name": f"#{n + 1}", "email": f"c{n}@example.com", "state": "shipped",
                             "created_at": created, "updated_at": created, "customer_locale": "pl"})
            session.execute(insert(Order), rows)
            ids = [o for o in session.execute(Order.__table__.select().with_only_columns(Order.id, Order.created_at)
                                              .where(Order.shopify_id.in_([str(n + 1) for n in numbers])))]
            session.execute(insert(SupplierOrder), [{"shop_domain": SHOP, "order_id": oid, "supplier_id": supplier_id, "idempotency_key": f"k{oid}",
                                                     "state": "shipped", "created_at": created, "updated_at": created} for oid, created in ids])
            delivery_ids = dict(session.execute(SupplierOrder.__table__.select().with_only_columns(SupplierOrder.order_id, SupplierOrder.id)
                                                .where(SupplierOrder.order_id.in_([oid for oid, _ in ids]))).all())
            session.execute(insert(SupplierShipment), [{"supplier_order_id": delivery_ids[oid], "shipment_id": f"s{oid}", "carrier": "DHL", "tracking_number": f"T{oid}",
                                                        "estimated_delivery": (created + dt.timedelta(days=3)).date().isoformat(), "state": "fulfilled",
                                                        "shopify_fulfillment_id": f"gid://shopify/Fulfillment/{oid}", "lines": [],
                                                        "created_at": created, "updated_at": created} for oid, created in ids])
            session.execute(insert(FulfillmentDelivery), [{"shop_domain": SHOP, "fulfillment_gid": f"gid://shopify/Fulfillment/{oid}", "order_id": oid,
                                                           "fulfillment_status": "success", "shipment_status": "delivered", "events_seen": 0,
                                                           "status_at": created + dt.timedelta(minutes=30), "delivered_at": created + dt.timedelta(minutes=30),
                                                           "estimated_delivery_at": created + dt.timedelta(days=2),
                                                           "created_at": created, "updated_at": created} for oid, created in ids])


def timed_pass(services, repeat: int) -> tuple[float, int]:
    """Median ms of a pass that queues nothing new (after a first pass queued what was due), and what the first pass queued."""
    from shopify_app.notify.lifecycle_notices import queue_due_notices

    with services.session_factory.begin() as session:
        queued = queue_due_notices(session)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with services.session_factory.begin() as session:
            assert queue_due_notices(session) == 0  # idempotent: nothing is queued twice
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), queued


def world(directory: str, history: int, recent: int):
    from conftest import make_settings
    from shopify_app.factory import create_app
    from shopify_app.migrate import upgrade_to_head

    url = f"sqlite:///{directory}/notices-{history}.db"
    upgrade_to_head(url)
    app = create_app(make_settings(url), start_scheduler=False)
    services = app.extensions["services"]
    services.tokens.save(SHOP, "shpat_bench", None, None, None, None)  # an installed shop
    seed(services, history, recent)
    return services


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000, help="old orders in the small history")
    parser.add_argument("--large", type=int, default=20000, help="old orders in the large history")
    parser.add_argument("--recent", type=int, default=100, help="orders of the last day (the same in both)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="notices-bench-") as directory:
        results = {}
        for history in (args.small, args.large):
            services = world(directory, history, args.recent)
            results[history] = timed_pass(services, args.repeat)
            print(f"history {history:>7} old orders + {args.recent} recent: first pass queued {results[history][1]}, "
                  f"steady pass median {results[history][0]:.1f} ms over {args.repeat}")
    ratio = results[args.large][0] / results[args.small][0]
    same_queued = results[args.large][1] == results[args.small][1]
    print(f"ratio large/small: {ratio:.2f} ({args.large // max(args.small, 1)}x the history)")
    print("targets")
    print(f"  steady pass over {args.large} vs {args.small} old orders <= {MAX_RATIO:.1f}x: {ratio:.2f}x {'MET' if ratio <= MAX_RATIO else 'MISSED'}")
    print(f"  old history queues nothing (same notices queued with both histories): {'MET' if same_queued else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
