"""Order timeline events: every step, with who acted."""
from __future__ import annotations

from sqlalchemy.orm import Session

from .models import Order, OrderEvent


def record_event(session: Session, order: Order, kind: str, actor: str, **detail) -> OrderEvent:
    """Append an event to the order's timeline (detail must hold no personal data)."""
    event = OrderEvent(order_id=order.id, kind=kind, actor=actor, detail=detail)
    session.add(event)
    return event
