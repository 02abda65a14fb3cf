"""Shared set-up for inventory tests: a database, a supplier with mapped SKUs."""
from __future__ import annotations

from sqlalchemy import select

from shopify_app.db import make_engine, make_session_factory
from shopify_app.suppliers.models import ProductMapping, Supplier

SHOP = "demo.myshopify.com"


def session_factory_for(database_url: str):
    """A session factory on a migrated database."""
    return make_session_factory(make_engine(database_url))


def add_supplier(session_factory, skus, *, name="Acme", terms=None, location_gid=None, kind="rest") -> int:
    """A supplier whose SKUs map one to one to the shop's (same text), with no stock figure yet."""
    with session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name=name, kind=kind, settings={}, inventory_terms=terms or {}, location_gid=location_gid)
        session.add(supplier)
        session.flush()
        for sku in skus:
            session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=supplier.id, supplier_sku=sku))
        return supplier.id


def stock_of(session_factory, supplier_id: int) -> dict[str, tuple]:
    """{supplier_sku: (stock, in_stock)} as recorded."""
    with session_factory() as session:
        rows = session.execute(select(ProductMapping.supplier_sku, ProductMapping.stock, ProductMapping.in_stock).where(ProductMapping.supplier_id == supplier_id))
        return {sku: (stock, in_stock) for sku, stock, in_stock in rows}
