"""Benchmark: lookups by a parent row or a foreign id beside a long history, with the indexes of migrations 0049 and 0050 and without them.

Neither SQLite nor PostgreSQL indexes a foreign key by itself. These lookups had no index leading
with their column, so each read the whole table and grew with the history: a placement's lines and
their mapped costs (every order, `forwarding_sql.LINES_TO_SEND`), a supplier event's delivery by the
supplier's order id or our key (every event, `suppliers/events._FIND_DELIVERY_ROW`), a supplier's
mappings (a stock feed, from every shop's), an order's return cases (routing's exchange lines, the
customer's order page, the reconciliation), a line's returns (a return's intake), a supplier's RMA event's
return (0050, found by tests/db/test_no_history_scans.py). This seeds one
SQLite file with `--orders` orders' worth of deliveries, supplier order lines, return cases and
lines, and `--mappings` mappings over `--suppliers` shops' suppliers, then times each lookup
(median of `--repeat` runs over random keys) with the indexes, and, as the baseline in the same
run, on the same file after dropping them.

    .venv/bin/python bench/history_lookups.py                     # 200,000 orders, 100,000 mappings
    .venv/bin/python bench/history_lookups.py --orders 20000 --mappings 10000
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

SHOP = "big.myshopify.com"
TARGET_MS = 1.0  # a lookup of a few rows by its parent, at this history, with the indexes
FEED = "a supplier's mappings (a stock feed)"
FEED_RATIO = 2.0  # that one returns its supplier's mappings (1,000 at the defaults): at least this much faster than reading every shop's
INDEXES = {  # migrations 0049 and 0050: name -> (table, columns)
    "ix_supplier_order_lines_supplier_order": ("supplier_order_lines", "supplier_order_id"),
    "ix_return_cases_order": ("return_cases", "order_id"),
    "ix_return_lines_order_line": ("return_lines", "order_line_id"),
    "ix_product_mappings_supplier_sku": ("product_mappings", "supplier_id, supplier_sku"),
    "ix_supplier_orders_supplier_order": ("supplier_orders", "supplier_order_id, supplier_id"),
    "ix_return_cases_supplier_rma": ("return_cases", "supplier_id, rma_number"),  # 0050
}


def seed(url: str, orders: int, mappings: int, suppliers: int) -> None:
    """A delivery and two supplier order lines an order, a return case for one order in ten with a line, `mappings` mappings over `suppliers` suppliers."""
    from sqlalchemy import create_engine, text

    from shopify_app.returns.models import ReturnCase, ReturnLine
    from shopify_app.suppliers.models import ProductMapping, SupplierOrder, SupplierOrderLine

    engine = create_engine(url)
    with engine.begin() as conn:  # no parent rows: this raw engine does not enforce foreign keys on SQLite
        conn.execute(SupplierOrderLine.__table__.insert(), [{"supplier_order_id": n // 2, "order_line_id": n, "supplier_sku": f"SKU-{(n % (mappings // suppliers)) * suppliers + 1}",
                                                             "quantity": 1} for n in range(2 * orders)])
        conn.execute(SupplierOrder.__table__.insert(), [{"shop_domain": SHOP, "order_id": n, "supplier_id": 1, "idempotency_key": f"do-{n}",
                                                         "supplier_order_id": str(10_000_000 + n), "state": "placed"} for n in range(orders)])
        conn.execute(ProductMapping.__table__.insert(), [{"shop_domain": SHOP if n % suppliers == 1 else f"shop-{n % suppliers}.myshopify.com", "sku": f"SKU-{n}",
                                                          "supplier_id": n % suppliers, "supplier_sku": f"SKU-{n}", "cost": "4.00"} for n in range(mappings)])
        conn.execute(ReturnCase.__table__.insert(), [{"shop_domain": SHOP, "return_gid": f"gid://shopify/Return/{n}", "order_id": 10 * n,
                                                      "supplier_id": 1, "rma_number": f"RMA-{n}"} for n in range(orders // 10)])
        conn.execute(ReturnLine.__table__.insert(), [{"return_case_id": n, "return_line_item_gid": f"gid://shopify/ReturnLineItem/{n}", "order_line_id": 20 * n,
                                                      "quantity": 1} for n in range(orders // 10)])
        conn.execute(text("ANALYZE"))
    engine.dispose()


def lookups(orders: int, suppliers: int):
    """(name, statement, parameters for a random key) of each lookup, as the app runs them."""
    from sqlalchemy import bindparam, select

    from shopify_app.returns.models import ReturnCase, ReturnLine
    from shopify_app.suppliers.events import _FIND_DELIVERY_ROW
    from shopify_app.suppliers.forwarding_sql import LINES_TO_SEND
    from shopify_app.suppliers.models import ProductMapping

    return [
        ("a placement's lines and mapped costs (LINES_TO_SEND)", LINES_TO_SEND, lambda rng: {"delivery": rng.randrange(orders), "shop": SHOP, "supplier": 1}),
        ("a supplier event's delivery (its order id or our key)", _FIND_DELIVERY_ROW[(True, True)],
         lambda rng: {"supplier": 1, "order": str(10_000_000 + rng.randrange(orders)), "key": f"do-{rng.randrange(orders)}"}),
        ("a supplier's mappings (a stock feed)", select(ProductMapping.id, ProductMapping.supplier_sku, ProductMapping.stock, ProductMapping.in_stock)
         .where(ProductMapping.supplier_id == bindparam("supplier")), lambda rng: {"supplier": rng.randrange(suppliers)}),
        ("an order's return cases", select(ReturnCase.id).where(ReturnCase.order_id == bindparam("order")), lambda rng: {"order": 10 * rng.randrange(orders // 10)}),
        ("a line's returns", select(ReturnLine.id).where(ReturnLine.order_line_id == bindparam("line")), lambda rng: {"line": 20 * rng.randrange(orders // 10)}),
        ("a supplier's RMA event's return (0050)", select(ReturnCase.id).where(ReturnCase.supplier_id == bindparam("supplier"), ReturnCase.rma_number == bindparam("rma")),
         lambda rng: {"supplier": 1, "rma": f"RMA-{rng.randrange(orders // 10)}"}),
    ]


def time_lookups(url: str, orders: int, suppliers: int, repeat: int, seed_value: int) -> dict[str, float]:
    """Median ms of each lookup over `repeat` random keys (same keys for both runs: same seed)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    rng = random.Random(seed_value)
    out = {}
    with engine.connect() as conn:
        for name, statement, params in lookups(orders, suppliers):
            conn.execute(statement, params(rng)).all()  # compiled and cached first
            times = []
            for _ in range(repeat):
                values = params(rng)
                t = time.perf_counter()
                conn.execute(statement, values).all()
                times.append((time.perf_counter() - t) * 1000)
            out[name] = statistics.median(times)
    engine.dispose()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=200_000)
    p.add_argument("--mappings", type=int, default=100_000)
    p.add_argument("--suppliers", type=int, default=100, help="suppliers (one per shop) the mappings are spread over")
    p.add_argument("--repeat", type=int, default=50)
    args = p.parse_args(argv)
    from sqlalchemy import create_engine, text

    from shopify_app.migrate import upgrade_to_head

    with tempfile.TemporaryDirectory(prefix="history-lookups-") as tmp:
        url = f"sqlite:///{tmp}/history.db"
        upgrade_to_head(url)
        t = time.perf_counter()
        seed(url, args.orders, args.mappings, args.suppliers)
        print(f"seeded {args.orders:,} deliveries, {2 * args.orders:,} supplier order lines, {args.orders // 10:,} return cases and lines, "
              f"{args.mappings:,} mappings over {args.suppliers} shops' suppliers in {time.perf_counter() - t:.1f} s")
        indexed = time_lookups(url, args.orders, args.suppliers, args.repeat, 1)
        engine = create_engine(url)
        with engine.begin() as conn:
            for name in INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
            conn.execute(text("ANALYZE"))
        engine.dispose()
        baseline = time_lookups(url, args.orders, args.suppliers, args.repeat, 1)
    print(f"\n{'lookup':58} {'without (baseline)':>24} {'with':>10} {'ratio':>8}")
    for name in indexed:
        print(f"{name:58} {baseline[name]:21.3f} ms {indexed[name]:7.3f} ms {baseline[name] / max(indexed[name], 1e-6):7.0f}x")
    print("\ntargets:")
    met_all = True
    for name, ms in indexed.items():
        if name == FEED:
            ratio = baseline[name] / max(ms, 1e-6)
            met = ratio >= FEED_RATIO
            print(f"  {name} >= {FEED_RATIO:g}x faster than reading every shop's mappings: {ratio:.1f}x {'MET' if met else 'MISSED'}")
        else:
            met = ms < TARGET_MS
            print(f"  {name} < {TARGET_MS:g} ms at {args.orders:,} orders: {ms:.3f} ms {'MET' if met else 'MISSED'}")
        met_all &= met
    return 0 if met_all else 1


if __name__ == "__main__":
    sys.exit(main())
