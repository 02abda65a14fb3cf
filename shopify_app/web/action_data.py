"""What the Inventory and Settings pages need for their actions besides what they show (issue 18, item 4)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..suppliers.models import Supplier


def upload_targets(session: Session, shop: str) -> dict:
    """Suppliers a stock feed can be uploaded for (every active one), and those that take tracking files (email suppliers)."""
    rows = session.execute(select(Supplier.id, Supplier.name, Supplier.kind).where(Supplier.shop_domain == shop, Supplier.deleted_at.is_(None))
                           .order_by(Supplier.priority, Supplier.name)).all()
    return {"feed_suppliers": [(i, n) for i, n, _ in rows], "tracking_suppliers": [(i, n) for i, n, kind in rows if kind == "email"]}


def settings_extras(targets: dict[str, float]) -> dict:
    """KPI targets in percent and hours with their defaults, the return reasons for per-reason windows, the statutory minimums."""
    from ..kpis.units import human_targets
    from ..returns.legal_profiles import PROFILES
    from ..returns.policy import DEFAULT_REASON_WINDOWS, RETURN_REASONS

    return {
        "kpi_human": human_targets(targets),
        "reasons": [r for r in RETURN_REASONS if r != "UNKNOWN"], "default_reason_windows": DEFAULT_REASON_WINDOWS,
        "legal_profiles": [{"key": p.key, "name": p.name, "withdrawal_days": p.withdrawal_days, "guarantee_days": p.guarantee_days,
                            "complaint_answer_days": p.complaint_answer_days} for p in PROFILES.values()],
    }
