"""The Alembic baseline builds exactly the models' schema, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from shopify_app.db import make_engine
from shopify_app.all_models import Base


def test_migrated_schema_matches_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_runs_in_wal_with_full_sync(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()


def test_upgrading_a_database_that_holds_orders_and_suppliers_keeps_them(tmp_path):
    """0002 -> head on a database in use: new columns are added without rebuilding referenced tables."""
    from alembic import command

    from shopify_app.migrate import alembic_config, upgrade_to_head

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO suppliers (id, shop_domain, name, kind, settings, priority, fulfillment_model, active, created_at) "
                          "VALUES (1, 's.myshopify.com', 'Acme', 'rest', '{}', 100, 'merchant_managed', 1, '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO product_mappings (id, shop_domain, sku, supplier_id, supplier_sku, in_stock) VALUES (1, 's.myshopify.com', 'A', 1, 'A', 1)"))
    engine.dispose()
    upgrade_to_head(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name, inventory_terms, return_terms FROM suppliers")).one() == ("Acme", "{}", "{}")
        assert conn.execute(text("SELECT sku, stock_as_of, safety_buffer FROM product_mappings")).one() == ("A", None, None)
    engine.dispose()
