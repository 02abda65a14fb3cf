"""Bulk edits on selected variants: move them to one supplier, set their cost, or remove their mappings."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..inventory.models import CatalogVariant
from ..suppliers.models import ProductMapping, Supplier
from .matching import NotThisShops

LOOKUP_CHUNK = 500


def bulk_edit(session: Session, shop: str, variant_ids: list[int], *, supplier: Supplier | None = None, cost: str | None = None,
              set_cost: bool = False, unmap: bool = False) -> dict:
    """Apply one edit to every selected variant; NotThisShops (nothing changed) when an id is not one of this shop's variants.

    supplier: each variant is then supplied by it alone (its other mappings go; the first one's
    supplier SKU and cost carry over, else the Shopify SKU). set_cost: the cost of the variant's
    mappings (to `supplier` when given). unmap: its mappings are removed.
    """
    wanted = sorted(set(variant_ids))
    variants: dict[int, str | None] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start:start + LOOKUP_CHUNK]
        variants.update(session.execute(select(CatalogVariant.id, CatalogVariant.sku).where(CatalogVariant.shop_domain == shop, CatalogVariant.id.in_(chunk))).tuples().all())
    foreign = [i for i in wanted if i not in variants]
    if foreign:
        raise NotThisShops(foreign)
    skus = sorted({sku for sku in variants.values() if sku})
    result = {"variants": len(wanted), "without_sku": sum(1 for sku in variants.values() if not sku), "created": 0, "changed": 0, "removed": 0}
    mappings: dict[str, list[ProductMapping]] = {}
    for start in range(0, len(skus), LOOKUP_CHUNK):
        for m in session.scalars(select(ProductMapping).where(ProductMapping.shop_domain == shop, ProductMapping.sku.in_(skus[start:start + LOOKUP_CHUNK]))
                                 .order_by(ProductMapping.id)):
            mappings.setdefault(m.sku, []).append(m)
    for sku in skus:
        held = mappings.get(sku, [])
        if unmap:
            for m in held:
                session.delete(m)
            result["removed"] += len(held)
            continue
        if supplier is not None:
            keep = next((m for m in held if m.supplier_id == supplier.id), None) or (held[0] if held else None)
            for m in held:
                if m is not keep:
                    session.delete(m)
                    result["removed"] += 1
            session.flush()  # the deletes go first: the kept row may take a removed row's (sku, supplier) place
            if keep is None:
                keep = ProductMapping(shop_domain=shop, sku=sku, supplier_id=supplier.id, supplier_sku=sku, in_stock=True)
                session.add(keep)
                result["created"] += 1
            elif keep.supplier_id != supplier.id:
                keep.supplier_id = supplier.id
                result["changed"] += 1
            held = [keep]
        if set_cost:
            for m in held:
                if supplier is None or m.supplier_id == supplier.id:
                    m.cost = cost
                    result["changed"] += 1
    session.flush()
    return result

