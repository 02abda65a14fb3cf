"""Return analytics: rates per product and per supplier, reasons, days from delivery to request, by week and month.

Rates count units: returned units (in returns not declined or cancelled) over units sold
(lines of orders not cancelled), by week and month too. Periods are by the day the return was
requested, and the order's (Shopify's time, else ours) for units sold. Each
returned unit is also one of three kinds, so a merchant sees which products are defective
rather than unwanted: an exchange (the customer chose another item), a complaint (a defect,
mismatch or wrong item, or a case opened as a complaint), else a withdrawal.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..orders.models import Order, OrderLine
from ..suppliers.models import Supplier, SupplierOrder, SupplierOrderLine
from .legal_profiles import CONFORMITY_REASONS
from .models import CaseKind, ReturnCase, ReturnLine

COUNTED_STATUSES = ("requested", "open", "closed")
KINDS = ("withdrawal", "complaint", "exchange")


def kind_of(case: ReturnCase, line: ReturnLine) -> str:
    """withdrawal, complaint (defect) or exchange, for one returned line."""
    if case.outcome == "exchange":
        return "exchange"
    if case.kind == CaseKind.COMPLAINT or line.reason in CONFORMITY_REASONS:
        return "complaint"
    return "withdrawal"


def _kinds(counter: Counter) -> dict[str, int]:
    return {kind: counter.get(kind, 0) for kind in KINDS}


def _rate(returned: int, sold: int) -> float | None:
    return round(returned / sold, 4) if sold else None


def return_analytics(session: Session, shop_domain: str) -> dict:
    """Everything the admin's returns page and KPIs need, computed from our records."""
    sold_by_sku: Counter = Counter()
    sold_by_supplier: Counter = Counter()
    orders_by_month: Counter = Counter()
    supplier_of_line: dict[int, int] = dict(session.execute(
        select(SupplierOrderLine.order_line_id, SupplierOrder.supplier_id).join(SupplierOrder).where(SupplierOrder.shop_domain == shop_domain)).all())
    for line_id, sku, quantity, created in session.execute(
        select(OrderLine.id, OrderLine.sku, OrderLine.quantity, func.coalesce(Order.shopify_created_at, Order.created_at)).join(Order)
        .where(Order.shop_domain == shop_domain, Order.cancelled_at.is_(None))
    ):
        sold_by_sku[sku or "(no SKU)"] += quantity
        if line_id in supplier_of_line:
            sold_by_supplier[supplier_of_line[line_id]] += quantity
        if created:
            orders_by_month[created.strftime("%Y-%m")] += quantity

    returned_by_sku: Counter = Counter()
    returned_by_supplier: Counter = Counter()
    reasons: Counter = Counter()
    reasons_by_sku: dict[str, Counter] = defaultdict(Counter)
    kinds: Counter = Counter()
    kinds_by_sku: dict[str, Counter] = defaultdict(Counter)
    kinds_by_supplier: dict[int, Counter] = defaultdict(Counter)
    by_week: Counter = Counter()
    by_month: Counter = Counter()
    days_to_request: list[float] = []
    cases = session.scalars(select(ReturnCase).where(ReturnCase.shop_domain == shop_domain, ReturnCase.status.in_(COUNTED_STATUSES)))
    for case in cases:
        year, week, _ = case.requested_at.isocalendar()
        if case.delivered_at:
            days_to_request.append((case.requested_at - case.delivered_at).total_seconds() / 86400)
        for line in session.scalars(select(ReturnLine).where(ReturnLine.return_case_id == case.id)):
            by_week[f"{year}-W{week:02d}"] += line.quantity  # units, like units sold: a rate from them is a rate
            by_month[case.requested_at.strftime("%Y-%m")] += line.quantity
            sku = line.sku or "(no SKU)"
            returned_by_sku[sku] += line.quantity
            reasons[line.reason] += line.quantity
            reasons_by_sku[sku][line.reason] += line.quantity
            kind = kind_of(case, line)
            kinds[kind] += line.quantity
            kinds_by_sku[sku][kind] += line.quantity
            if line.supplier_id:
                returned_by_supplier[line.supplier_id] += line.quantity
                kinds_by_supplier[line.supplier_id][kind] += line.quantity
    names = dict(session.execute(select(Supplier.id, Supplier.name).where(Supplier.shop_domain == shop_domain)).all())
    total_sold, total_returned = sum(sold_by_sku.values()), sum(returned_by_sku.values())
    return {
        "store": {"units_sold": total_sold, "units_returned": total_returned, "return_rate": _rate(total_returned, total_sold),
                  "kinds": _kinds(kinds), "defect_rate": _rate(kinds["complaint"], total_sold)},
        "by_product": sorted(
            ({"sku": sku, "units_sold": sold_by_sku.get(sku, 0), "units_returned": n, "return_rate": _rate(n, sold_by_sku.get(sku, 0)),
              "reasons": dict(reasons_by_sku[sku].most_common()), "kinds": _kinds(kinds_by_sku[sku]),
              "defect_rate": _rate(kinds_by_sku[sku]["complaint"], sold_by_sku.get(sku, 0))} for sku, n in returned_by_sku.items()),
            key=lambda row: (-(row["return_rate"] or 0), row["sku"])),
        "by_supplier": [{"supplier_id": sid, "name": names.get(sid), "units_sold": sold_by_supplier.get(sid, 0), "units_returned": n,
                         "return_rate": _rate(n, sold_by_supplier.get(sid, 0)), "kinds": _kinds(kinds_by_supplier[sid]),
                         "defect_rate": _rate(kinds_by_supplier[sid]["complaint"], sold_by_supplier.get(sid, 0))}
                        for sid, n in sorted(returned_by_supplier.items())],
        "reasons": dict(reasons.most_common()),
        "days_from_delivery_to_request": {
            "count": len(days_to_request),
            "mean": round(statistics.fmean(days_to_request), 2) if days_to_request else None,
            "median": round(statistics.median(days_to_request), 2) if days_to_request else None,
            "max": round(max(days_to_request), 2) if days_to_request else None,
        },
        "by_week": dict(sorted(by_week.items())),  # units returned
        "by_month": {month: {"units_returned": by_month.get(month, 0), "units_sold": orders_by_month.get(month, 0),
                             "return_rate": _rate(by_month.get(month, 0), orders_by_month.get(month, 0))}
                     for month in sorted(set(by_month) | set(orders_by_month))},
    }
