"""Mapping imports: a CSV or XLSX of (sku, supplier, supplier_sku, cost) rows, previewed with every refused row and its reason, then applied.

The same check runs for the preview and for the apply, on the same file (the browser sends it
again), so what was previewed is what is written; nothing is kept on the server in between.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import upsert
from ..i18n import gettext as _
from ..inventory.models import CatalogVariant
from ..suppliers.models import ProductMapping, Supplier
from .files import parse_cost, read_table

PREVIEW_ROWS = 20
MAX_LISTED_REFUSALS = 1000
LOOKUP_CHUNK = 500
WRITE_CHUNK = 1000


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


def apply_import(session: Session, shop: str, check: ImportCheck) -> dict:
    """Write the accepted rows: a mapping per (SKU, supplier), created or updated; a cost left empty keeps the one stored."""
    before = session.scalar(select(func.count()).select_from(ProductMapping).where(ProductMapping.shop_domain == shop)) or 0
    with_cost = [r for r in check.accepted if r["cost_given"]]
    without_cost = [r for r in check.accepted if not r["cost_given"]]
    for rows, columns in ((with_cost, ("supplier_sku", "cost")), (without_cost, ("supplier_sku",))):
        for start in range(0, len(rows), WRITE_CHUNK):
            upsert(session, ProductMapping, [{"shop_domain": shop, "sku": r["sku"], "supplier_id": r["supplier_id"], "supplier_sku": r["supplier_sku"],
                                              "cost": r["cost"], "in_stock": True} for r in rows[start:start + WRITE_CHUNK]],
                   ("shop_domain", "sku", "supplier_id"), columns)
    after = session.scalar(select(func.count()).select_from(ProductMapping).where(ProductMapping.shop_domain == shop)) or 0
    return {"written": len(check.accepted), "created": after - before, "updated": len(check.accepted) - (after - before)}
