"""The customer's order page (the app proxy, the app's most visited page): server time and SQL statements per view, against the bare lookup query, same run.

Seeds a migrated SQLite database with one shop of N orders (default 20,000), each forwarded to a
supplier with one shipped parcel and Shopify's delivery status, plus a second shop of the same
size (every query must keep to its shop). Then, through the app in-process (signature checked,
token verified, queries, template, Liquid escaping), it times:
  - GET /proxy/order?t=...  (the order page from a view token),
  - POST /proxy/lookup      (number + email: two rate-limit counter writes, the lookup, the page),
  - GET /proxy              (the lookup form),
and counts the SQL statements each one runs. The baseline is the bare indexed lookup
(`SELECT ... FROM orders WHERE shop_domain = ? AND name IN (?, ?)`) on the same engine.

    .venv/bin/python bench/proxy_page.py               # about a minute on 2 CPUs
    .venv/bin/python bench/proxy_page.py --orders 5000 --repeat 50
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

from sqlalchemy import event, insert, select, text  # noqa: E402

SHOP, OTHER = "bench.myshopify.com", "other.myshopify.com"
TARGET_PAGE_MS = 50.0  # p50 of the order page on a loaded 2-core machine
TARGET_STATEMENTS = 8  # SQL queries per order page view (BEGIN not counted)


def seed(services, shop: str, orders: int) -> None:
    """Orders with a supplier order, one parcel and Shopify's delivery row each (bulk inserts)."""
    from shopify_app.deliveries.models import FulfillmentDelivery
    from shopify_app.orders.models import Order, OrderLine
    from shopify_app.suppliers.models import Supplier, SupplierOrder, SupplierShipment

    now = dt.datetime.now(dt.timezone.utc)
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=shop, name="Bench supplier", kind="rest")
        session.add(supplier)
        session.flush()
        base = session.scalar(select(text("coalesce(max(id), 0)")).select_from(Order.__table__)) or 0
        session.execute(insert(Order), [{"id": base + n, "shop_domain": shop, "shopify_id": str(base + n), "name": f"#{1000 + n}", "email": f"c{n}@example.com",
                                         "currency": "PLN", "total_price": "99.00", "state": "shipped", "created_at": now, "updated_at": now} for n in range(1, orders + 1)])
        session.execute(insert(OrderLine), [{"order_id": base + n, "shopify_line_id": str(n), "sku": "MUG", "title": "Mug", "quantity": 1, "price": "99.00"}
                                            for n in range(1, orders + 1)])
        session.execute(insert(SupplierOrder), [{"id": base + n, "shop_domain": shop, "order_id": base + n, "supplier_id": supplier.id, "idempotency_key": f"{shop}-{n}",
                                                 "state": "shipped", "placed_at": now, "next_attempt_at": now} for n in range(1, orders + 1)])
        session.execute(insert(SupplierShipment), [{"supplier_order_id": base + n, "shipment_id": "s", "carrier": "DPD", "tracking_number": f"DPD{n}",
                                                    "tracking_url": f"https://tracking.example/DPD{n}", "estimated_delivery": "2026-12-20", "state": "fulfilled",
                                                    "shopify_fulfillment_id": f"gid://shopify/Fulfillment/{base + n}", "lines": [], "created_at": now, "updated_at": now}
                                                   for n in range(1, orders + 1)])
        session.execute(insert(FulfillmentDelivery), [{"shop_domain": shop, "fulfillment_gid": f"gid://shopify/Fulfillment/{base + n}", "order_id": base + n,
                                                       "shipment_status": "in_transit", "in_transit_at": now, "events_seen": 0, "created_at": now, "updated_at": now}
                                                      for n in range(1, orders + 1)])


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--trace", action="store_true", help="print the SQL statements of one order page view")
    args = parser.parse_args()

    from conftest import install_shop, make_settings
    from proxy.proxy_kit import signed_query
    from shopify_app.factory import create_app
    from shopify_app.migrate import upgrade_to_head
    from shopify_app.proxy.lookup import view_token
    from shopify_app.proxy import lookup as lookup_module

    lookup_module.MAX_PER_IP = lookup_module.MAX_PER_ORDER = 10**9  # the bench measures the page, not the limit
    folder = tempfile.mkdtemp(prefix="proxy-bench-")
    url = f"sqlite:///{folder}/app.db"
    upgrade_to_head(url)
    app = create_app(make_settings(url))
    services = app.extensions["services"]
    install_shop(app, SHOP, OTHER)
    seed(services, SHOP, args.orders)
    seed(services, OTHER, args.orders)
    client = app.test_client()
    middle = args.orders // 2
    with services.session_factory() as session:
        from shopify_app.orders.models import Order

        order_id = session.scalar(select(Order.id).where(Order.shop_domain == SHOP, Order.name == f"#{1000 + middle}"))
    token = view_token(services.settings.api_secret, SHOP, order_id)

    statements = {"n": 0, "trace": False}

    def count(conn, cursor, statement, *rest):
        statements["n"] += not statement.startswith("BEGIN")  # the queries, not the transaction brackets
        if statements["trace"]:
            print("  SQL:", " ".join(statement.split())[:160])

    event.listen(services.engine, "before_cursor_execute", count)
    if args.trace:
        statements["trace"] = True
        client.get(f"/proxy/order?{signed_query(SHOP, t=token)}")
        statements["trace"] = False

    def counted(fn):
        statements["n"] = 0
        response = fn()
        assert response.status_code == 200, response.status_code
        return statements["n"]

    page = lambda: client.get(f"/proxy/order?{signed_query(SHOP, t=token)}")  # noqa: E731
    lookup = lambda: client.post(f"/proxy/lookup?{signed_query(SHOP)}", data={"order": str(1000 + middle), "email": f"c{middle}@example.com"})  # noqa: E731
    form = lambda: client.get(f"/proxy?{signed_query(SHOP)}")  # noqa: E731
    assert f"DPD{middle}" in page().get_data(as_text=True)

    def bare():
        with services.engine.connect() as conn:
            conn.execute(text("SELECT id, email FROM orders WHERE shop_domain = :s AND name IN (:a, :b)"), {"s": SHOP, "a": f"#{1000 + middle}", "b": str(1000 + middle)}).all()

    rows = []
    for name, fn in (("bare lookup query (baseline)", bare), ("GET /proxy (form)", form), ("GET /proxy/order (order page)", page), ("POST /proxy/lookup", lookup)):
        count = counted(fn) if name != "bare lookup query (baseline)" else 1
        times = timed(fn, args.repeat)
        rows.append((name, statistics.median(times), sorted(times)[int(0.95 * len(times)) - 1], count))
    load = os.getloadavg()
    print(f"orders per shop: {args.orders:,} (2 shops); repeat {args.repeat}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'view':34} {'p50 ms':>8} {'p95 ms':>8} {'SQL statements':>15} {'x baseline p50':>15}")
    for name, p50, p95, count in rows:
        print(f"{name:34} {p50:8.2f} {p95:8.2f} {count:15d} {p50 / rows[0][1]:15.1f}")
    page_row = rows[2]
    print("targets")
    print(f"  order page p50 {page_row[1]:.1f} ms < {TARGET_PAGE_MS:.0f} ms: {'MET' if page_row[1] < TARGET_PAGE_MS else 'MISSED'}")
    print(f"  order page SQL statements {page_row[3]} <= {TARGET_STATEMENTS}: {'MET' if page_row[3] <= TARGET_STATEMENTS else 'MISSED'}")


if __name__ == "__main__":
    main()
