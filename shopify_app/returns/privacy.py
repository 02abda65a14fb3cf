"""Returns hold customer notes (personal data); inventory and settings are shop data erased with the shop."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..inventory.models import CatalogVariant, InventoryLevel, InventorySyncRun, StockFeedRun
from ..models import ShopSetting
from ..orders.privacy import customer_orders
from ..privacy import CustomerDataSource, CustomerRef, customer_data_source, shop_eraser
from .models import ReturnCase, ReturnLine


def _lines_of(session: Session, ref: CustomerRef) -> list[ReturnLine]:
    order_ids = [order.id for order in customer_orders(session, ref)]
    if not order_ids:
        return []
    return list(session.scalars(select(ReturnLine).join(ReturnCase).where(ReturnCase.shop_domain == ref.shop_domain, ReturnCase.order_id.in_(order_ids))))


def _export(session: Session, ref: CustomerRef) -> list[dict]:
    return [{"return": line.case.name or line.case.return_gid, "sku": line.sku, "quantity": line.quantity, "reason": line.reason,
             "reason_note": line.reason_note, "customer_note": line.customer_note, "status": line.case.status} for line in _lines_of(session, ref)]


def _redact(session: Session, ref: CustomerRef) -> int:
    lines = _lines_of(session, ref)
    for line in lines:
        line.customer_note = line.reason_note = None
    return len(lines)


customer_data_source(CustomerDataSource("returns", _export, _redact))


@shop_eraser("returns_inventory_settings")
def _erase(session: Session, shop_domain: str, keep_delivery_id: int | None) -> int:
    count = 0
    case_ids = select(ReturnCase.id).where(ReturnCase.shop_domain == shop_domain)
    count += session.execute(delete(ReturnLine).where(ReturnLine.return_case_id.in_(case_ids))).rowcount
    for model in (ReturnCase, CatalogVariant, InventoryLevel, InventorySyncRun, StockFeedRun, ShopSetting):
        count += session.execute(delete(model).where(model.shop_domain == shop_domain)).rowcount
    return count
