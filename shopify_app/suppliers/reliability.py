"""How a supplier has been behaving: its breaker over time, retries per order, time waited for the breaker vs backoff."""
from __future__ import annotations

import datetime as dt
import statistics

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import utcnow
from ..orders.models import Order
from .models import BreakerEvent, SupplierOrder

RECENT_ORDERS = 200  # the figures cover the supplier's latest orders
TIMELINE = 50  # breaker changes shown
WORST = 10  # orders that waited longest, listed


def reliability(session: Session, shop: str, supplier_id: int, now: dt.datetime | None = None) -> dict:
    """The supplier's breaker state and changes, and retry/wait figures over its latest orders (one shop's rows only)."""
    now = now or utcnow()
    events = session.scalars(
        select(BreakerEvent).where(BreakerEvent.shop_domain == shop, BreakerEvent.supplier_id == supplier_id)
        .order_by(BreakerEvent.at.desc(), BreakerEvent.id.desc()).limit(TIMELINE)
    ).all()
    rows = session.execute(
        select(SupplierOrder.id, SupplierOrder.state, SupplierOrder.attempts, SupplierOrder.backoff_wait_ms, SupplierOrder.breaker_wait_ms, Order.name, Order.id)
        .join(Order, Order.id == SupplierOrder.order_id)
        .where(SupplierOrder.shop_domain == shop, SupplierOrder.supplier_id == supplier_id)
        .order_by(SupplierOrder.id.desc()).limit(RECENT_ORDERS)
    ).all()
    retries = sorted(max(0, r.attempts - 1) for r in rows)
    backoff = [(r.backoff_wait_ms or 0) / 1000 for r in rows]
    breaker = [(r.breaker_wait_ms or 0) / 1000 for r in rows]
    worst = sorted(rows, key=lambda r: (r.backoff_wait_ms or 0) + (r.breaker_wait_ms or 0), reverse=True)[:WORST]
    return {
        "breaker": {
            "state": events[0].state if events else "closed",
            "since": events[0].at.isoformat() if events else None,
            "opened_last_24h": sum(1 for e in events if e.state == "open" and e.at >= now - dt.timedelta(hours=24)),
            "changes": [{"at": e.at.isoformat(), "from": e.old_state, "to": e.state, "reason": e.reason} for e in events],
        },
        "orders": {
            "count": len(rows),
            "retried": sum(1 for n in retries if n),
            "retries_p50": _percentile(retries, 50),
            "retries_p90": _percentile(retries, 90),
            "retries_max": retries[-1] if retries else 0,
            "backoff_wait_seconds": round(sum(backoff), 1),
            "breaker_wait_seconds": round(sum(breaker), 1),
            "mean_backoff_wait_seconds": round(statistics.fmean(backoff), 2) if rows else 0.0,
            "mean_breaker_wait_seconds": round(statistics.fmean(breaker), 2) if rows else 0.0,
        },
        "waited_longest": [
            {"order_id": r[6], "order": r.name, "state": r.state, "retries": max(0, r.attempts - 1),
             "backoff_wait_seconds": round((r.backoff_wait_ms or 0) / 1000, 1), "breaker_wait_seconds": round((r.breaker_wait_ms or 0) / 1000, 1)}
            for r in worst if (r.backoff_wait_ms or 0) + (r.breaker_wait_ms or 0) > 0
        ],
    }


def _percentile(ordered: list[int], p: int) -> int:
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, max(0, -(-p * len(ordered) // 100) - 1))]
