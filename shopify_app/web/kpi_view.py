"""KPIs as the admin shows them: the last 7 days against their targets (filled in by shopify_app.kpis)."""
from __future__ import annotations

from sqlalchemy.orm import Session


def kpi_targets(session: Session, shop: str) -> dict:
    """The shop's KPI targets (defaults where unset)."""
    try:
        from ..kpis.targets import get_targets
    except ImportError:  # the KPI package is being built
        return {}
    return get_targets(session, shop)


def kpi_cards(session: Session, shop: str) -> list[dict]:
    """One card per KPI: value, target, met or missed."""
    return []


def kpi_export(session: Session, shop: str, bucket: str) -> tuple[list[str], list[list]]:
    """KPI values per period as CSV rows."""
    return (["period", "kpi", "value"], [])
