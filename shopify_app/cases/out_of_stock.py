"""An out-of-stock line opens a case and queues one out_of_stock notice offering the shop's choice (wait, substitute, refund)."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..orders.models import CustomerNotice, Order
from .models import CaseKind
from .service import open_case_once


def open_out_of_stock_case(session: Session, order: Order, cause_key: str, sku: str | None = None) -> None:
    """Once per cause (an alert's dedupe key): a case on the clock and the customer told, with the merchant's configured choice."""
    what = f"SKU {sku}" if sku else "a line of the order"
    case = open_case_once(session, order, CaseKind.OUT_OF_STOCK.value, f"The supplier cannot ship {what} (out of stock).", f"oos:{cause_key}")
    if case is None or order.cancelled_at is not None:
        return
    try:
        with session.begin_nested():
            session.add(CustomerNotice(order_id=order.id, shop_domain=order.shop_domain, kind="out_of_stock", dedupe_key=f"out_of_stock:{case.id}"))
    except IntegrityError:
        pass  # queued already
