"""Phase one of a sync: work out what every managed level should show, from supplier stock and open orders.

Reads mapping x catalog rows as one stream ordered by (location, item), so the levels fed
by several suppliers arrive together and memory stays flat however big the catalog is;
writes only the levels whose figures changed, a thousand at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..suppliers.models import DeliveryState, ProductMapping, Supplier, SupplierOrder, SupplierOrderLine
from .availability import desired_quantity, supply_of
from .models import CatalogVariant, InventoryLevel
from .terms import inventory_terms

WRITE_CHUNK = 1000
# Supplier orders that no longer take stock from the supplier.
CLOSED_DELIVERY_STATES = (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value)
NOT_STOCKED_MESSAGE = "Shopify does not stock this item at the supplier's location"


@dataclass
class PlanStats:
    """What a plan pass did."""

    levels_seen: int = 0
    levels_changed: int = 0
    levels_added: int = 0
    levels_released: int = 0  # no longer fed by any supplier: we stop managing them


def pending_units(session: Session, shop_domain: str) -> dict[int, int]:
    """Units per mapping ordered with its supplier after the supplier's last stock figure (or not placed yet)."""
    rows = session.execute(
        select(ProductMapping.id, func.sum(SupplierOrderLine.quantity))
        .join(SupplierOrder, SupplierOrder.supplier_id == ProductMapping.supplier_id)
        .join(SupplierOrderLine, and_(SupplierOrderLine.supplier_order_id == SupplierOrder.id, SupplierOrderLine.supplier_sku == ProductMapping.supplier_sku))
        .where(
            ProductMapping.shop_domain == shop_domain,
            SupplierOrder.shop_domain == shop_domain,
            SupplierOrder.state.not_in(CLOSED_DELIVERY_STATES),
            or_(SupplierOrder.placed_at.is_(None), ProductMapping.stock_as_of.is_(None), SupplierOrder.placed_at > ProductMapping.stock_as_of),
        )
        .group_by(ProductMapping.id)
    )
    return {mapping_id: int(units or 0) for mapping_id, units in rows}


def _managed_rows(shop_domain: str):
    level = InventoryLevel
    return (
        select(
            Supplier.location_gid, CatalogVariant.inventory_item_gid, CatalogVariant.sku, ProductMapping.id,
            ProductMapping.stock, ProductMapping.in_stock, ProductMapping.stock_as_of, ProductMapping.safety_buffer,
            Supplier.inventory_terms, level.id, level.desired, level.supply, level.sku,
        )
        .join(Supplier, Supplier.id == ProductMapping.supplier_id)
        .join(CatalogVariant, and_(CatalogVariant.shop_domain == ProductMapping.shop_domain, CatalogVariant.sku == ProductMapping.sku))
        .outerjoin(level, and_(level.shop_domain == ProductMapping.shop_domain, level.inventory_item_gid == CatalogVariant.inventory_item_gid, level.location_gid == Supplier.location_gid))
        .where(
            ProductMapping.shop_domain == shop_domain,
            Supplier.active.is_(True), Supplier.deleted_at.is_(None), Supplier.location_gid.is_not(None),
            CatalogVariant.tracked.is_(True),
        )
        .order_by(Supplier.location_gid, CatalogVariant.inventory_item_gid)
    )


def plan_levels(session_factory: sessionmaker, read_session_factory: sessionmaker, shop_domain: str) -> PlanStats:
    """Recompute `desired` (and `supply`) of every level a supplier feeds; release the ones none feeds."""
    stats = PlanStats()
    with read_session_factory() as reader:
        pending = pending_units(reader, shop_domain)
        updates: list[dict] = []
        inserts: list[InventoryLevel] = []
        stream = reader.execute(_managed_rows(shop_domain).execution_options(yield_per=WRITE_CHUNK))
        terms_cache: dict[str, object] = {}
        for (location_gid, item_gid), group in groupby(stream, key=lambda r: (r[0], r[1])):
            group = list(group)
            parts = []
            for row in group:
                terms_key = repr(sorted((row[8] or {}).items()))
                terms = terms_cache.get(terms_key) or terms_cache.setdefault(terms_key, inventory_terms(row[8]))
                if row[6] is None:
                    continue  # no stock figure from this supplier yet: it has no say
                buffer = terms.safety_buffer if row[7] is None else row[7]
                parts.append((supply_of(row[4], row[5], buffer, terms.in_stock_quantity), pending.get(row[3], 0)))
            stats.levels_seen += 1
            if not parts:
                continue
            supply, desired = sum(p[0] for p in parts), desired_quantity(parts)
            level_id, old_desired, old_supply, old_sku, sku = group[0][9], group[0][10], group[0][11], group[0][12], group[0][2]
            if level_id is None:
                inserts.append(InventoryLevel(shop_domain=shop_domain, inventory_item_gid=item_gid, location_gid=location_gid, sku=sku,
                                              stocked=False, desired=desired, supply=supply, last_error=NOT_STOCKED_MESSAGE))
                stats.levels_added += 1
            elif (old_desired, old_supply, old_sku) != (desired, supply, sku):
                updates.append({"id": level_id, "desired": desired, "supply": supply, "sku": sku})
                stats.levels_changed += 1
            if len(updates) >= WRITE_CHUNK or len(inserts) >= WRITE_CHUNK:
                _write(session_factory, updates, inserts)
                updates, inserts = [], []
        _write(session_factory, updates, inserts)
    stats.levels_released = _release_unfed(session_factory, shop_domain)
    return stats


def _write(session_factory: sessionmaker, updates: list[dict], inserts: list[InventoryLevel]) -> None:
    if not updates and not inserts:
        return
    with session_factory.begin() as session:
        if updates:
            session.execute(update(InventoryLevel), updates)
        session.add_all(inserts)


def _release_unfed(session_factory: sessionmaker, shop_domain: str) -> int:
    """Levels no active supplier feeds any more go back to the merchant (desired = NULL)."""
    level = InventoryLevel
    # Nested EXISTS fix the probe order for every planner (SQLite has no statistics to choose
    # well): the level's item -> its variants (indexed) -> their mappings (indexed by shop +
    # SKU) -> the supplier (primary key). A handful of index lookups per level, no scans.
    supplier_here = select(1).where(
        Supplier.id == ProductMapping.supplier_id, Supplier.location_gid == level.location_gid,
        Supplier.active.is_(True), Supplier.deleted_at.is_(None),
    ).correlate(ProductMapping, level)  # the level two queries out: auto-correlation reaches only the enclosing one, so it joined every level
    mapped = select(1).where(
        ProductMapping.shop_domain == CatalogVariant.shop_domain, ProductMapping.sku == CatalogVariant.sku,
        ProductMapping.stock_as_of.is_not(None), exists(supplier_here),
    )
    fed = select(1).where(
        CatalogVariant.shop_domain == level.shop_domain, CatalogVariant.inventory_item_gid == level.inventory_item_gid,
        CatalogVariant.tracked.is_(True), exists(mapped),
    )
    with session_factory.begin() as session:
        return session.execute(
            update(level).where(level.shop_domain == shop_domain, level.desired.is_not(None), ~exists(fed))
            .values(desired=None, supply=None).execution_options(synchronize_session=False)
        ).rowcount

