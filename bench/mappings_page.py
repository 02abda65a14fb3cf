"""The product mappings table at 100,000 variants: server time of each page against the bare SQL query, same run.

Seeds a migrated database (SQLite by default, or --database-url for PostgreSQL) with one shop
of N variants (default 100,000), 70 % of them mapped across two suppliers, 2 % of those out
of stock and 5 % without a cost, plus a second shop of the same size (every query must keep
to its shop). Then it times GET /api/mappings through the app (session token checked, the
query, the JSON) for: the first page, the "unmapped", "out of stock" and "no cost" filters,
a search by SKU prefix, by barcode and by title words, and a deep page (after the 99,000th
variant); and the HTML page (/mappings) for the first page. The baseline is the bare keyset
query of the first page (`SELECT ... WHERE shop = ? ORDER BY id LIMIT 51`) on the same
connection pool, timed the same way.

    .venv/bin/python bench/mappings_page.py                # about a minute on 2 CPUs
    .venv/bin/python bench/mappings_page.py --variants 20000 --repeat 10
    .venv/bin/python bench/mappings_page.py --postgres     # a throwaway PostgreSQL on a free loopback port
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import insert, select, text  # noqa: E402

TARGET_MS = 300.0
SHOP, OTHER = "bench.myshopify.com", "other.myshopify.com"


def seed(services, shop: str, variants: int) -> None:
    from shopify_app.inventory.models import CatalogVariant
    from shopify_app.suppliers.models import ProductMapping, Supplier

    with services.session_factory.begin() as session:
        suppliers = []
        for name in ("Acme", "Globex"):
            supplier = Supplier(shop_domain=shop, name=name, kind="rest", settings={})
            session.add(supplier)
            session.flush()
            suppliers.append(supplier.id)
    chunk = 5000
    for start in range(0, variants, chunk):
        rows, maps = [], []
        for n in range(start, min(start + chunk, variants)):
            sku = f"SKU-{n:06d}"
            rows.append({"shop_domain": shop, "variant_gid": f"gid://shopify/ProductVariant/{n + 1}", "product_gid": f"gid://shopify/Product/{n // 10 + 1}",
                         "sku": sku, "title": f"Widget {n // 10} - Option {n % 10}", "barcode": f"590{n:010d}",
                         "inventory_item_gid": f"gid://shopify/InventoryItem/{n + 1}", "tracked": True, "inventory_policy": "DENY", "seen_in": "bench"})
            if n % 10 < 7:  # 70 % mapped
                maps.append({"shop_domain": shop, "sku": sku, "supplier_id": suppliers[n % 2], "supplier_sku": f"S-{sku}",
                             "cost": None if n % 20 == 3 else "4.20", "in_stock": n % 50 != 1, "stock": 0 if n % 50 == 1 else 25})
        with services.session_factory.begin() as session:
            session.execute(insert(CatalogVariant), rows)
            session.execute(insert(ProductMapping), maps)
    with services.engine.begin() as conn:
        if services.engine.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE catalog_variants"))
            conn.execute(text("ANALYZE product_mappings"))


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm-up: caches and compiled statements, as in a running server
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL (Debian's package, as the tests use)")
    args = parser.parse_args()
    postgres = None
    if args.postgres:
        from pg_server import start_postgres

        postgres = start_postgres()
        args.database_url = postgres.database_url("postgres")

    from conftest import API_KEY, make_settings
    from sandbox.shopify.server import SandboxShopify
    from shopify_app.factory import create_app
    from shopify_app.inventory.models import CatalogVariant
    from shopify_app.migrate import upgrade_to_head

    workdir = tempfile.TemporaryDirectory(prefix="bench-mappings-")
    url = args.database_url or f"sqlite:///{workdir.name}/app.db"
    upgrade_to_head(url)
    sandbox = SandboxShopify()
    sandbox.start()
    try:
        from conftest import API_SECRET

        sandbox.register_app(API_KEY, API_SECRET, "http://127.0.0.1:9")
        sandbox.add_shop(SHOP, seed=False)
        app = create_app(make_settings(url, sandbox_shopify_url=sandbox.base_url))
        services = app.extensions["services"]
        services.tokens.save(SHOP, "shpat_bench", None, None, None, None)
        began = time.perf_counter()
        seed(services, SHOP, args.variants)
        seed(services, OTHER, args.variants)
        print(f"seeded 2 shops x {args.variants:,} variants on {services.engine.dialect.name} in {time.perf_counter() - began:.1f} s")

        client = app.test_client()
        with services.session_factory() as session:
            deep = session.scalars(select(CatalogVariant.id).where(CatalogVariant.shop_domain == SHOP).order_by(CatalogVariant.id)
                                   .offset(max(0, args.variants - 1000)).limit(1)).one()

        def api(**params):
            def call():
                token = sandbox.mint_session_token(SHOP, API_KEY)
                response = client.get("/api/mappings", query_string=params, headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, response.get_data(as_text=True)[:200]
                assert response.get_json()["rows"] or params.get("q") == "nothing-matches"
            return call

        def html():
            token = sandbox.mint_session_token(SHOP, API_KEY)
            response = client.get(f"/mappings?shop={SHOP}&host=abc&id_token={token}")
            assert response.status_code == 200, response.status_code

        def bare():
            with services.session_factory() as session:
                session.execute(select(CatalogVariant.id, CatalogVariant.sku).where(CatalogVariant.shop_domain == SHOP).order_by(CatalogVariant.id).limit(51)).all()

        cases = [
            ("baseline: bare keyset SQL", bare),
            ("first page (API)", api()),
            ("first page (HTML page)", html),
            ("filter unmapped", api(filter="unmapped")),
            ("filter out of stock", api(filter="out_of_stock")),
            ("filter no cost", api(filter="no_cost")),
            ("filter supplier + unmapped", api(filter="unmapped", supplier="1")),
            ("search SKU prefix", api(q="SKU-0777")),
            ("search barcode", api(q=f"590{args.variants // 2:010d}")),
            ("search title words", api(q=f"Widget {args.variants // 10 - 5} -")),
            ("search, no match (full scan)", api(q="nothing-matches")),
            ("deep page (after 99 %)", api(after=str(deep))),
        ]
        results = []
        print(f"\n{'page':<32}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'x baseline':>12}")
        base = None
        for name, fn in cases:
            times = sorted(timed(fn, args.repeat))
            median, p95 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]
            base = base or median
            results.append((name, median, p95))
            print(f"{name:<32}{median:>11.1f}{p95:>9.1f}{times[-1]:>9.1f}{median / base:>12.1f}")
        print("\ntargets:")
        for name, median, p95 in results[1:]:
            print(f"  {name}: p95 {p95:.1f} ms < {TARGET_MS:.0f} ms {'MET' if p95 < TARGET_MS else 'MISSED'}")
        services.close()
    finally:
        sandbox.stop()
        workdir.cleanup()
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
