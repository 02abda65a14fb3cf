"""The "deny" out-of-stock policy: variants a supplier with that policy feeds stop selling past zero.

Shopify keeps selling a variant at 0 when its inventoryPolicy is CONTINUE. Setting DENY
once is enough (Shopify then blocks checkout at 0 itself), so only variants our mirror
does not already show as DENY are updated, one productVariantsBulkUpdate per product.
"""
from __future__ import annotations

from itertools import groupby

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import sessionmaker

from ..suppliers.models import ProductMapping, Supplier
from .models import CatalogVariant
from .terms import inventory_terms


def enforce_deny_policy(session_factory: sessionmaker, gateway, shop_domain: str) -> int:
    """Set inventoryPolicy DENY on every variant fed by a "deny" supplier; how many variants changed."""
    with session_factory() as session:
        deny = [s.id for s in session.scalars(select(Supplier).where(Supplier.shop_domain == shop_domain, Supplier.active.is_(True), Supplier.deleted_at.is_(None)))
                if inventory_terms(s.inventory_terms).out_of_stock_policy == "deny"]
        if not deny:
            return 0
        rows = session.execute(
            select(CatalogVariant.product_gid, CatalogVariant.variant_gid)
            .join(ProductMapping, and_(ProductMapping.shop_domain == CatalogVariant.shop_domain, ProductMapping.sku == CatalogVariant.sku))
            .where(CatalogVariant.shop_domain == shop_domain, ProductMapping.supplier_id.in_(deny), CatalogVariant.product_gid.is_not(None),
                   or_(CatalogVariant.inventory_policy.is_(None), CatalogVariant.inventory_policy != "DENY"))
            .distinct().order_by(CatalogVariant.product_gid)
        ).all()
    changed = 0
    for product_gid, group in groupby(rows, key=lambda row: row[0]):
        variant_gids = [variant for _, variant in group]
        gateway.mutate("ProductVariantsSetInventoryPolicy", {"productId": product_gid, "variants": [{"id": gid, "inventoryPolicy": "DENY"} for gid in variant_gids]},
                       "productVariantsBulkUpdate")
        with session_factory.begin() as session:
            session.execute(update(CatalogVariant).where(CatalogVariant.shop_domain == shop_domain, CatalogVariant.variant_gid.in_(variant_gids)).values(inventory_policy="DENY"))
        changed += len(variant_gids)
    return changed
