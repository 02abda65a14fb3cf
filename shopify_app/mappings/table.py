"""The mappings table: a shop's variants with their suppliers, supplier SKUs, costs and stock, a page at a time.

Pages are keyset pages on the variant id (`after`/`before` an id), never OFFSET: a deep page
costs what the first one does, at 100,000 variants too. Filters are EXISTS probes on the
mappings' unique (shop, sku, supplier) index; search matches a SKU prefix, the barcode, or
words of the title.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from sqlalchemy import and_, exists, not_, or_, select
from sqlalchemy.orm import Session

from ..bounds import id_from_text
from ..inventory.models import CatalogVariant
from ..suppliers.models import ProductMapping, Supplier

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
FILTERS = ("unmapped", "out_of_stock", "no_cost")
EXPORT_CHUNK = 1000


@dataclass(frozen=True)
class TableQuery:
    """What the merchant asked for: search text, a filter, a supplier, and where the page starts."""

    q: str = ""
    filter: str = ""
    supplier_id: int | None = None
    after: int | None = None  # the page after this variant id
    before: int | None = None  # the page before this variant id
    limit: int = PAGE_SIZE


@dataclass
class TablePage:
    """One page of rows, and the ids that open the pages around it (None: there is none)."""

    rows: list[dict] = field(default_factory=list)
    next_after: int | None = None
    prev_before: int | None = None


def _mapping_of_variant(shop: str):
    return and_(ProductMapping.shop_domain == shop, ProductMapping.sku == CatalogVariant.sku)


def variant_conditions(shop: str, query: TableQuery) -> list:
    """WHERE conditions of the variants the query selects (shop first: every index starts with it)."""
    conditions = [CatalogVariant.shop_domain == shop]
    mapped = _mapping_of_variant(shop)
    if query.supplier_id is not None:
        mapped = and_(mapped, ProductMapping.supplier_id == query.supplier_id)
        if query.filter != "unmapped":
            conditions.append(exists().where(mapped))
    if query.filter == "unmapped":
        conditions.append(not_(exists().where(mapped)))
    elif query.filter == "out_of_stock":
        conditions.append(exists().where(mapped, or_(ProductMapping.in_stock.is_(False), ProductMapping.stock <= 0)))
    elif query.filter == "no_cost":
        conditions.append(exists().where(mapped, or_(ProductMapping.cost.is_(None), ProductMapping.cost == "")))
    text = query.q.strip()
    if text:
        # LIKE wildcards the merchant typed are matched literally.
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(or_(CatalogVariant.sku.like(f"{escaped}%", escape="\\"), CatalogVariant.barcode == text,
                              CatalogVariant.title.ilike(f"%{escaped}%", escape="\\")))
    return conditions


def table_page(session: Session, shop: str, query: TableQuery) -> TablePage:
    """The page of variants the query selects, each with its mappings."""
    limit = max(1, min(query.limit, MAX_PAGE_SIZE))
    conditions = variant_conditions(shop, query)
    statement = select(CatalogVariant.id, CatalogVariant.variant_gid, CatalogVariant.sku, CatalogVariant.title, CatalogVariant.barcode)
    backwards = query.before is not None and query.after is None
    if backwards:
        statement = statement.where(*conditions, CatalogVariant.id < query.before).order_by(CatalogVariant.id.desc())
    else:
        statement = statement.where(*conditions, *([CatalogVariant.id > query.after] if query.after is not None else [])).order_by(CatalogVariant.id)
    found = session.execute(statement.limit(limit + 1)).all()
    more = len(found) > limit
    found = found[:limit]
    if backwards:
        found.reverse()
    page = TablePage(rows=_with_mappings(session, shop, found))
    if found:
        # Going forward, "more" says whether a next page exists; going back, whether a previous one does.
        has_next = (not backwards and more) or (backwards and query.before is not None)
        has_prev = (backwards and more) or (not backwards and query.after is not None)
        page.next_after = found[-1].id if has_next else None
        page.prev_before = found[0].id if has_prev else None
    return page


def _with_mappings(session: Session, shop: str, variants) -> list[dict]:
    skus = sorted({v.sku for v in variants if v.sku})
    by_sku: dict[str, list[dict]] = {}
    if skus:
        rows = session.execute(
            select(ProductMapping.id, ProductMapping.sku, ProductMapping.supplier_id, Supplier.name, ProductMapping.supplier_sku, ProductMapping.cost,
                   ProductMapping.stock, ProductMapping.in_stock)
            .join(Supplier, Supplier.id == ProductMapping.supplier_id)
            .where(ProductMapping.shop_domain == shop, ProductMapping.sku.in_(skus))
            .order_by(Supplier.priority, Supplier.name))
        for m in rows:
            by_sku.setdefault(m.sku, []).append({"id": m.id, "supplier_id": m.supplier_id, "supplier": m.name, "supplier_sku": m.supplier_sku,
                                                 "cost": m.cost, "stock": m.stock, "in_stock": m.in_stock})
    return [{"id": v.id, "variant_gid": v.variant_gid, "sku": v.sku, "title": v.title, "barcode": v.barcode, "mappings": by_sku.get(v.sku, []) if v.sku else []}
            for v in variants]


def iter_rows(session: Session, shop: str, query: TableQuery) -> Iterator[dict]:
    """Every row the query selects, in id order, read in keyset chunks (for the CSV export)."""
    after = None
    while True:
        page = table_page(session, shop, TableQuery(q=query.q, filter=query.filter, supplier_id=query.supplier_id, after=after, limit=EXPORT_CHUNK))
        yield from page.rows
        if page.next_after is None:
            return
        after = page.next_after


def parse_query(args, *, limit: int = PAGE_SIZE) -> TableQuery:
    """A TableQuery from request arguments; unknown filters and ids that are not numbers are ignored."""
    def number(name: str) -> int | None:
        return value if (value := id_from_text(args.get(name))) else None

    wanted = (args.get("filter") or "").strip()
    size = number("limit")
    return TableQuery(q=(args.get("q") or "").strip()[:255], filter=wanted if wanted in FILTERS else "", supplier_id=number("supplier"),
                      after=number("after"), before=number("before"), limit=min(size, MAX_PAGE_SIZE) if size else limit)
