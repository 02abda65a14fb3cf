"""SQL statements (writes among them), ORM flushes and CPU of the `orders/*` handlers per order, in process.

Load-independent figures for issue 20 part H (the `orders/*` handlers and their prefetch): one
order's Shopify webhooks as `bench/order_flow.py` sends them (orders/create of a paid order,
orders/paid with the same snapshot, then orders/updated and orders/fulfilled once the app's
fulfillment went through), delivered to the app on SQLite and drained by the inbox worker. Only
what runs inside the handler and its prefetch is counted (the inbox bookkeeping is part L's).
Shopify's fulfillment-order reads are answered in process (tests/orders/forwarding_kit.py).

    .venv/bin/python bench/order_handlers_sql.py --orders 100
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "orders"))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from conftest import make_settings, webhook_headers  # noqa: E402
from forwarding_kit import SHOP, paid_order_payload, with_primary_location_shopify  # noqa: E402
from shopify_app.factory import create_app  # noqa: E402
from shopify_app.migrate import upgrade_to_head  # noqa: E402
from shopify_app.orders.models import Order  # noqa: E402
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder  # noqa: E402
from shopify_app.webhooks import registry  # noqa: E402
from shopify_app.webhooks.worker import InboxWorker  # noqa: E402

TARGET_STATEMENTS = 22
TARGET_FLUSHES = 0
TOPICS = ("orders/create", "orders/paid", "orders/updated", "orders/fulfilled")
_inside = threading.local()


class Meter:
    """Counts what happens on this thread while a handler or prefetch of ours runs."""

    def __init__(self):
        self.figures: dict[str, Counter] = defaultdict(Counter)
        self.trace = False

    def count(self, what: str, n: float = 1) -> None:
        if getattr(_inside, "topic", None):
            self.figures[_inside.topic][what] += n

    def statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.count("statements")
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.count("writes")
        if self.trace and getattr(_inside, "topic", None):
            print(f"  {_inside.topic:<17} {' '.join(statement.split())[:150]}")

    def wrap(self, topic: str, fn, part: str):
        def measured(ctx):
            _inside.topic = topic
            started = time.process_time()
            try:
                return fn(ctx)
            finally:
                self.figures[topic][f"cpu_ms_{part}"] += (time.process_time() - started) * 1000
                _inside.topic = None
        return measured


def build_app(workdir: Path):
    url = f"sqlite:///{workdir / 'app.db'}"
    upgrade_to_head(url)
    app = create_app(make_settings(url))
    services = app.extensions["services"]
    services.tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Printful", kind="printful", credentials_enc=services.box.encrypt(json.dumps({"token": "t"})),
                            settings={"base_url": "http://127.0.0.1:9", "products": {}, "timeout_seconds": 10})
        session.add(supplier)
        session.flush()
        for sku in ("TSHIRT-BLK-S", "MUG-WHT-11"):
            session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=supplier.id, supplier_sku=sku, cost="4.00"))
    return with_primary_location_shopify(app)


def instrument(app, meter: Meter) -> None:
    engine = app.extensions["services"].session_factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", meter.statement)
    event.listen(Session, "after_flush", lambda session, ctx: meter.count("flushes"))
    registry.load_handlers()
    for topic in TOPICS:
        registry.HANDLERS[topic] = meter.wrap(topic, registry.HANDLERS[topic], "handler")
        registry.PREFETCHES[topic] = meter.wrap(topic, registry.PREFETCHES[topic], "prefetch")


def deliver(app, topic: str, payload: dict) -> None:
    app.extensions["fake_shopify"].remember(payload)
    body = json.dumps(payload).encode()
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP))
    assert response.status_code == 200, response.status_code
    services = app.extensions["services"]
    InboxWorker(services.session_factory, services.settings, services).drain()


def one_order(app, number: int) -> None:
    payload = paid_order_payload(order_number=number)
    created = dt.datetime(2026, 12, 4, 6, 0, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=number)
    payload.update(created_at=created.isoformat(), updated_at=created.isoformat(), fulfillment_status=None)
    deliver(app, "orders/create", payload)
    deliver(app, "orders/paid", payload)
    # The way back (part W) placed and fulfilled it; Shopify then announces the order's new state twice.
    with app.extensions["services"].session_factory.begin() as session:
        order_id = session.scalar(sa.select(Order.id).where(Order.shop_domain == SHOP, Order.shopify_id == str(number)))
        session.execute(update(SupplierOrder).where(SupplierOrder.order_id == order_id).values(state="shipped"))
        session.execute(update(Order).where(Order.id == order_id).values(state="shipped"))
    fulfilled = dict(payload, fulfillment_status="fulfilled", updated_at=(created + dt.timedelta(seconds=5)).isoformat())
    deliver(app, "orders/updated", fulfilled)
    deliver(app, "orders/fulfilled", fulfilled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--trace", action="store_true", help="print the statements of the warm-up order")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp))
        meter = Meter()
        meter.trace = args.trace
        instrument(app, meter)
        one_order(app, 90_000)  # warm-up: statement caches, imports
        meter.trace = False
        meter.figures.clear()
        for n in range(args.orders):
            one_order(app, 100_000 + n)
        with app.extensions["services"].session_factory() as session:
            assert session.scalar(sa.select(sa.func.count(SupplierOrder.id))) == args.orders + 1, "every order routed to its supplier"
        app.extensions["services"].close()
    n = args.orders
    columns = ("statements", "writes", "flushes", "cpu_ms_prefetch", "cpu_ms_handler")
    print(f"orders/* handlers and prefetch, per order ({n} orders, SQLite, in process)")
    print(f"{'topic':<18}" + "".join(f"{c:>17}" for c in columns))
    total = Counter()
    for topic in TOPICS:
        figures = meter.figures[topic]
        total.update(figures)
        print(f"{topic:<18}" + "".join(f"{figures[c] / n:>17.2f}" for c in columns))
    print(f"{'per order':<18}" + "".join(f"{total[c] / n:>17.2f}" for c in columns))
    # Issue 19 part C: a new order, its lines, supplier orders and events written by Core
    # statements (main before it: 28 statements and 3 ORM flushes per order). Session 29: a new
    # order's fulfillment orders and state too (before it: 24 statements, 3 flushes; now 22 and none).
    print("targets")
    for name, figure, target in (("statements per order", total["statements"] / n, TARGET_STATEMENTS), ("ORM flushes per order", total["flushes"] / n, TARGET_FLUSHES)):
        print(f"  {name}: {figure:.2f} <= {target}: {'MET' if figure <= target else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
