"""Returns hold customer notes (personal data); inventory and settings are shop data erased with the shop."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..inventory.models import CatalogVariant, InventoryLevel, InventorySyncRun, StockFeedRun
from ..models import ShopSetting
from ..orders.models import Order
from ..privacy import CustomerDataSource, CustomerRef, customer_data_source, shop_eraser
from .models import ReturnCase, ReturnLine


def _lines_of(session: Session, ref: CustomerRef) -> list[ReturnLine]:
    conditions = []
    if ref.customer_id:
        conditions.append(Order.customer_id == ref.customer_id)
    if ref.email:
        conditions += [Order.email == ref.email, Order.customer_email == ref.email]
    if ref.order_ids:
        conditions.append(Order.shopify_id.in_(ref.order_ids))
    if not conditions:
        return []
    from sqlalchemy import or_

    return list(session.scalars(
        select(ReturnLine).join(ReturnCase).join(Order, Order.id == ReturnCase.order_id).where(ReturnCase.shop_domain == ref.shop_domain, or_(*conditions))))


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
