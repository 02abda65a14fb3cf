"""Supplier catalogs: what each supplier sells (SKU, barcode, title, cost, stock), from a catalog file or its stock feeds.

Auto-matching (matching.py) reads these rows: a supplier SKU equal to a Shopify SKU, or a
barcode equal to a variant's, is a proposed mapping.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrations.suppliers.base import StockLevel

from ..bounds import stock_column_holds
from ..db import upsert
from ..i18n import gettext as _
from ..models import utcnow
from ..suppliers.models import Supplier
from .files import parse_cost, parse_stock, read_table
from .imports import ImportCheck
from .models import SupplierCatalogItem

WRITE_CHUNK = 1000


def check_catalog_file(data: bytes) -> tuple[ImportCheck, list[dict]]:
    """The catalog file's rows: (the check with refused rows, the items to store); raises files.UnreadableFile."""
    table = read_table(data, required=("supplier_sku",))
    check = ImportCheck(rows_total=len(table.rows))
    items: dict[str, dict] = {}
    for number, values in table.rows:
        sku = values.get("supplier_sku", "").strip()
        if not sku or len(sku) > 255:
            check.refuse(number, sku[:255], _("the supplier SKU is empty or longer than 255 characters"))
            continue
        if sku in items:
            check.refuse(number, sku, _("duplicate of row %(row)s (same supplier SKU)", row=items[sku]["row"]))
            continue
        try:
            cost, stock = parse_cost(values.get("cost", "")), parse_stock(values.get("stock", ""))
        except ValueError as exc:
            check.refuse(number, sku, str(exc))
            continue
        barcode = values.get("barcode", "").strip()
        if len(barcode) > 64:
            check.refuse(number, sku, _("the barcode is longer than 64 characters"))
            continue
        items[sku] = {"row": number, "supplier_sku": sku, "barcode": barcode or None, "title": values.get("title", "").strip()[:255] or None,
                      "cost": cost, "stock": stock}
        check.accepted.append(items[sku])
    return check, list(items.values())


def store_catalog(session: Session, supplier: Supplier, items: Iterable[dict]) -> int:
    """Upsert the items into the supplier's catalog; how many rows the supplier's catalog now has."""
    now = utcnow()
    rows = [{"shop_domain": supplier.shop_domain, "supplier_id": supplier.id, "supplier_sku": i["supplier_sku"], "barcode": i.get("barcode"),
             "title": i.get("title"), "cost": i.get("cost"), "stock": i.get("stock"), "seen_at": now} for i in items]
    for start in range(0, len(rows), WRITE_CHUNK):
        upsert(session, SupplierCatalogItem, rows[start:start + WRITE_CHUNK], ("supplier_id", "supplier_sku"), ("barcode", "title", "cost", "stock", "seen_at"))
    return session.scalar(select(func.count()).select_from(SupplierCatalogItem).where(SupplierCatalogItem.supplier_id == supplier.id)) or 0


def record_feed_items(session: Session, supplier: Supplier, levels: Iterable[StockLevel]) -> None:
    """A stock feed lists what the supplier sells: its SKUs and counts join the catalog (barcode, title and cost kept)."""
    now = utcnow()
    # A count no column holds (refused by apply_feed for its SKU) is an unknown count here.
    rows = [{"shop_domain": supplier.shop_domain, "supplier_id": supplier.id, "supplier_sku": lv.supplier_sku[:255],
             "stock": lv.available if stock_column_holds(lv.available) else None, "seen_at": now}
            for lv in levels if lv.supplier_sku]
    for start in range(0, len(rows), WRITE_CHUNK):
        upsert(session, SupplierCatalogItem, rows[start:start + WRITE_CHUNK], ("supplier_id", "supplier_sku"), ("stock", "seen_at"))
