"""Mapping imports: a CSV or XLSX of (sku, supplier, supplier_sku, cost) rows, previewed with every refused row and its reason, then applied.

The same check runs for the preview and for the apply, on the same file (the browser sends it
again), so what was previewed is what is written; nothing is kept on the server in between.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import upsert
from ..i18n import gettext as _
from ..inventory.models import CatalogVariant
from ..suppliers.models import ProductMapping, Supplier
from .files import parse_cost, read_table

PREVIEW_ROWS = 20
MAX_LISTED_REFUSALS = 1000
LOOKUP_CHUNK = 500
APPLY_CHUNK = 500  # rows per write transaction (the SQLite write lock is held for one chunk only)


@dataclass
class ImportCheck:
    """The file's rows split into those that will be written and those refused, with why."""

    rows_total: int = 0
    accepted: list[dict] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)
    refused_count: int = 0

    def refuse(self, row: int, sku: str, reason: str) -> None:
        """Count a refused row (the first MAX_LISTED_REFUSALS are listed)."""
        self.refused_count += 1
        if len(self.refused) < MAX_LISTED_REFUSALS:
            self.refused.append({"row": row, "sku": sku, "reason": reason})

    def as_dict(self, *, preview: bool = True) -> dict:
        """For JSON: counts, the first accepted rows, every refused row (up to the cap)."""
        return {"rows_total": self.rows_total, "accepted": len(self.accepted), "refused": self.refused_count,
                "preview": [{k: v for k, v in r.items() if k != "supplier_id"} for r in self.accepted[:PREVIEW_ROWS]] if preview else [],
                "refused_rows": self.refused}


def check_import(session: Session, shop: str, data: bytes, default_supplier: Supplier | None = None) -> ImportCheck:
    """Check every row; raises files.UnreadableFile when the file or its header cannot be used."""
    table = read_table(data, required=("sku", "supplier_sku"), one_of=() if default_supplier else (("supplier",),))
    suppliers = {s.name.strip().lower(): s for s in session.scalars(select(Supplier).where(Supplier.shop_domain == shop, Supplier.deleted_at.is_(None)))}
    known = _known_skus(session, shop, {values.get("sku", "") for _, values in table.rows})
    check = ImportCheck(rows_total=len(table.rows))
    first_row: dict[tuple[str, int], int] = {}
    for number, values in table.rows:
        sku, supplier_sku = values.get("sku", "").strip(), values.get("supplier_sku", "").strip()
        supplier_name = values.get("supplier", "").strip()
        supplier = suppliers.get(supplier_name.lower()) if supplier_name else default_supplier
        if not sku:
            check.refuse(number, sku, _("the SKU is empty"))
            continue
        if len(sku) > 255 or len(supplier_sku) > 255:
            check.refuse(number, sku[:255], _("a SKU is longer than 255 characters"))
            continue
        if sku not in known:
            check.refuse(number, sku, _("unknown SKU: no variant of this shop has it"))
            continue
        if not supplier_sku:
            check.refuse(number, sku, _("the supplier SKU is empty"))
            continue
        if supplier is None:
            check.refuse(number, sku, _("unknown supplier %(name)s", name=supplier_name) if supplier_name else _("no supplier named"))
            continue
        try:
            cost = parse_cost(values.get("cost", "")) if "cost" in table.columns else None
        except ValueError as exc:
            check.refuse(number, sku, str(exc))
            continue
        key = (sku, supplier.id)
        if key in first_row:
            check.refuse(number, sku, _("duplicate of row %(row)s (same SKU and supplier)", row=first_row[key]))
            continue
        first_row[key] = number
        check.accepted.append({"row": number, "sku": sku, "supplier_id": supplier.id, "supplier": supplier.name, "supplier_sku": supplier_sku,
                               "cost": cost, "cost_given": "cost" in table.columns and cost is not None})
    return check


def _known_skus(session: Session, shop: str, skus: set[str]) -> set[str]:
    wanted = sorted(s.strip() for s in skus if s and s.strip())
    found: set[str] = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start:start + LOOKUP_CHUNK]
        found.update(session.scalars(select(CatalogVariant.sku).where(CatalogVariant.shop_domain == shop, CatalogVariant.sku.in_(chunk))))
    return found


def apply_import(session_factory, shop: str, check: ImportCheck) -> dict:
    """Write the accepted rows in short write transactions of APPLY_CHUNK rows; each re-checks that the rows' suppliers and SKUs are still this shop's.

    The file was parsed and checked before, with no transaction open: on SQLite the write
    lock is held only for one chunk's upserts at a time, so webhook intake is never starved
    by a large import. A row whose supplier was deleted (or SKU left the catalog) meanwhile
    is refused, not written.
    """
    written = created = 0
    for start in range(0, len(check.accepted), APPLY_CHUNK):
        chunk = check.accepted[start:start + APPLY_CHUNK]
        with session_factory.begin() as session:
            live = set(session.scalars(select(Supplier.id).where(Supplier.shop_domain == shop, Supplier.deleted_at.is_(None),
                                                                 Supplier.id.in_({r["supplier_id"] for r in chunk}))))
            known = _known_skus(session, shop, {r["sku"] for r in chunk})
            rows = []
            for r in chunk:
                if r["supplier_id"] in live and r["sku"] in known:
                    rows.append(r)
                else:
                    check.refuse(r["row"], r["sku"], _("the supplier or the SKU was removed during the import"))
            existing = set(session.execute(select(ProductMapping.sku, ProductMapping.supplier_id).where(
                ProductMapping.shop_domain == shop, ProductMapping.sku.in_({r["sku"] for r in rows}))).tuples())
            for cost_given, columns in ((True, ("supplier_sku", "cost")), (False, ("supplier_sku",))):
                batch = [r for r in rows if r["cost_given"] == cost_given]
                if batch:
                    upsert(session, ProductMapping, [{"shop_domain": shop, "sku": r["sku"], "supplier_id": r["supplier_id"], "supplier_sku": r["supplier_sku"],
                                                      "cost": r["cost"], "in_stock": True} for r in batch], ("shop_domain", "sku", "supplier_id"), columns)
            written += len(rows)
            created += sum((r["sku"], r["supplier_id"]) not in existing for r in rows)
    return {"written": written, "created": created, "updated": written - created}
