"""Order timeline events: every step, with who acted."""
from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..models import utcnow
from .models import Order, OrderEvent


def record_event(session: Session, order: Order, kind: str, actor: str, **detail) -> OrderEvent:
    """Append an event to the order's timeline (detail must hold no personal data)."""
    event = OrderEvent(order_id=order.id, kind=kind, actor=actor, detail=detail)
    session.add(event)
    return event


def _connection(target: Session | Connection) -> Connection:
    # A session's own connection: a Core INSERT of a table neither autoflushes nor needs the
    # ORM's execution layer (about 40 us a statement on the paths of every order). Forwarding
    # passes a plain connection (its placing path has no session).
    return target.connection() if isinstance(target, Session) else target


def insert_event(session: Session | Connection, order_id: int, kind: str, actor: str, **detail) -> None:
    """`record_event` as one Core INSERT built once (no unit of work), in a session's or a connection's transaction: for the hot paths."""
    _connection(session).execute(_INSERT_EVENT, {"order_id": order_id, "kind": kind, "actor": actor, "detail": detail, "created_at": utcnow()})


_INSERT_EVENT = insert(OrderEvent.__table__)


def insert_events(session: Session | Connection, order_id: int, kind: str, actor: str, details: list[dict]) -> None:
    """Several events of one kind for an order, one Core INSERT (executemany) built once."""
    if details:
        now = utcnow()
        _connection(session).execute(_INSERT_EVENT, [{"order_id": order_id, "kind": kind, "actor": actor, "detail": detail, "created_at": now} for detail in details])
