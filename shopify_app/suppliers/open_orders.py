"""A supplier's open orders, counted for what deactivating or deleting it would do to them."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import DeliveryState, SupplierOrder

# Not yet with the supplier: forwarding fails these with an alert once the supplier is inactive or deleted.
WAITING_STATES = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.ON_HOLD.value)
# With the supplier and not finished: tracking keeps being polled whatever happens to the record.
PLACED_STATES = (DeliveryState.PLACED.value, DeliveryState.PARTIALLY_SHIPPED.value, DeliveryState.CANCEL_REQUESTED.value)


def open_order_counts(session: Session, supplier_id: int) -> dict[str, int]:
    """{waiting: not yet sent to the supplier, placed: with the supplier, not fully shipped}."""
    states = dict(session.execute(select(SupplierOrder.state, func.count()).where(SupplierOrder.supplier_id == supplier_id)
                                  .group_by(SupplierOrder.state)).all())
    return {"waiting": sum(states.get(s, 0) for s in WAITING_STATES), "placed": sum(states.get(s, 0) for s in PLACED_STATES)}
