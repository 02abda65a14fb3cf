"""Automatic matching: variants without a mapping to a supplier, matched to its catalog by SKU or barcode, as proposals.

Nothing is mapped until the merchant accepts: a barcode match between two different
products (a reused GTIN, a typo) would otherwise route real orders to the wrong item. A
rejected proposal is kept, so running the match again does not bring it back.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, not_, select, update
from sqlalchemy.orm import Session

from ..inventory.models import CatalogVariant
from ..models import utcnow
from ..suppliers.models import ProductMapping, Supplier
from .models import MappingProposal, ProposalStatus, SupplierCatalogItem

WRITE_CHUNK = 1000
MAX_LISTED = 500


def insert_ignoring(session: Session, table, rows: list[dict], keys: list[str]) -> int:
    """INSERT rows, skipping those whose `keys` exist already (SQLite and PostgreSQL); how many were new."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    added = 0
    for start in range(0, len(rows), WRITE_CHUNK):
        # RETURNING counts what was inserted: an executemany's rowcount is -1 on psycopg.
        statement = insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c.id)
        added += len(session.execute(statement, rows[start:start + WRITE_CHUNK]).all())
    return added


def find_matches(session: Session, shop: str, supplier: Supplier) -> dict:
    """Propose a mapping for every variant the supplier's catalog lists by SKU, else by barcode; counts of new proposals."""
    now = utcnow()
    unmapped = not_(exists().where(ProductMapping.shop_domain == shop, ProductMapping.sku == CatalogVariant.sku, ProductMapping.supplier_id == supplier.id))
    not_proposed = not_(exists().where(MappingProposal.shop_domain == shop, MappingProposal.supplier_id == supplier.id, MappingProposal.sku == CatalogVariant.sku))
    base = (CatalogVariant.shop_domain == shop, CatalogVariant.sku.is_not(None), CatalogVariant.sku != "", unmapped, not_proposed)
    counts = {}
    seen: set[str] = set()
    for matched_by, on in (("sku", SupplierCatalogItem.supplier_sku == CatalogVariant.sku),
                           ("barcode", and_(SupplierCatalogItem.barcode == CatalogVariant.barcode, CatalogVariant.barcode.is_not(None)))):
        found = session.execute(
            select(CatalogVariant.variant_gid, CatalogVariant.sku, SupplierCatalogItem.supplier_sku, SupplierCatalogItem.cost)
            .join(SupplierCatalogItem, and_(SupplierCatalogItem.supplier_id == supplier.id, on))
            .where(*base).order_by(CatalogVariant.id)).all()
        rows = []
        for variant_gid, sku, supplier_sku, cost in found:
            if sku in seen:
                continue  # one proposal per SKU: a SKU match wins over a barcode match, the first barcode match over the next
            seen.add(sku)
            rows.append({"shop_domain": shop, "supplier_id": supplier.id, "variant_gid": variant_gid, "sku": sku, "supplier_sku": supplier_sku,
                         "matched_by": matched_by, "cost": cost, "status": ProposalStatus.PENDING, "created_at": now})
        counts[matched_by] = insert_ignoring(session, MappingProposal.__table__, rows, ["shop_domain", "supplier_id", "sku"])
    return {"by_sku": counts["sku"], "by_barcode": counts["barcode"]}


def pending_proposals(session: Session, shop: str, *, supplier_id: int | None = None, after: int | None = None, limit: int = 100) -> list[dict]:
    """Proposals waiting for the merchant, oldest first (keyset on id), with the variant's title."""
    conditions = [MappingProposal.shop_domain == shop, MappingProposal.status == ProposalStatus.PENDING]
    if supplier_id is not None:
        conditions.append(MappingProposal.supplier_id == supplier_id)
    if after is not None:
        conditions.append(MappingProposal.id > after)
    rows = session.execute(
        select(MappingProposal, Supplier.name, CatalogVariant.title, CatalogVariant.barcode)
        .join(Supplier, Supplier.id == MappingProposal.supplier_id)
        .outerjoin(CatalogVariant, and_(CatalogVariant.shop_domain == shop, CatalogVariant.variant_gid == MappingProposal.variant_gid))
        .where(*conditions).order_by(MappingProposal.id).limit(min(limit, MAX_LISTED))).all()
    return [{"id": p.id, "supplier_id": p.supplier_id, "supplier": name, "sku": p.sku, "title": title, "barcode": barcode, "supplier_sku": p.supplier_sku,
             "matched_by": p.matched_by, "cost": p.cost} for p, name, title, barcode in rows]


def count_pending(session: Session, shop: str) -> int:
    """How many proposals wait for the merchant."""
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(MappingProposal).where(MappingProposal.shop_domain == shop, MappingProposal.status == ProposalStatus.PENDING)) or 0


class NotThisShops(LookupError):
    """Some ids name nothing of this shop's (another shop's, or none at all)."""

    def __init__(self, ids: list[int]):
        super().__init__(ids)
        self.ids = ids


def decide_proposals(session: Session, shop: str, action: str, ids: list[int] | None) -> dict:
    """Accept (map) or reject proposals: the listed ids, or every pending one when ids is None. NotThisShops names foreign ids."""
    conditions = [MappingProposal.shop_domain == shop, MappingProposal.status == ProposalStatus.PENDING]
    if ids is not None:
        wanted = sorted(set(ids))
        mine = set(session.scalars(select(MappingProposal.id).where(MappingProposal.shop_domain == shop, MappingProposal.id.in_(wanted))))
        foreign = [i for i in wanted if i not in mine]
        if foreign:
            raise NotThisShops(foreign)
        conditions.append(MappingProposal.id.in_(wanted))
    proposals = list(session.scalars(select(MappingProposal).where(*conditions).order_by(MappingProposal.id)))
    now = utcnow()
    mapped = 0
    if action == "accept":
        rows = [{"shop_domain": shop, "sku": p.sku, "supplier_id": p.supplier_id, "supplier_sku": p.supplier_sku, "cost": p.cost, "in_stock": True} for p in proposals]
        # A mapping the merchant made meanwhile wins: only new (sku, supplier) pairs are written.
        mapped = insert_ignoring(session, ProductMapping.__table__, rows, ["shop_domain", "sku", "supplier_id"])
    status = ProposalStatus.ACCEPTED if action == "accept" else ProposalStatus.REJECTED
    for start in range(0, len(proposals), WRITE_CHUNK):
        chunk = [p.id for p in proposals[start:start + WRITE_CHUNK]]
        session.execute(update(MappingProposal).where(MappingProposal.id.in_(chunk)).values(status=status, decided_at=now).execution_options(synchronize_session=False))
    return {"decided": len(proposals), "mapped": mapped}
