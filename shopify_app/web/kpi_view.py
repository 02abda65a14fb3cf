"""KPIs as the admin shows them: the last 7 days against their targets, and a table and charts by day, week or month."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ..kpis.charts import bar_chart, line_chart
from ..kpis.compute import kpis
from ..kpis.evaluate import judge_kpis
from ..models import utcnow

BUCKETS = {"day": 30, "week": 12 * 7, "month": 365}  # how far back each view reaches, in days
HOURS_KPIS = ("forward_hours",)


def _display(name: str, value) -> str:
    if value is None:
        return "–"
    if name in HOURS_KPIS:
        return f"{value:g} h"
    return f"{value * 100:.1f} %"


def _target_display(name: str, target: float) -> str:
    if name == "return_rate":
        return f"below {target * 100:g} %"
    if name == "on_time":
        return f"above {target * 100:g} %"
    return f"within {target:g} h"


def kpi_cards(session: Session, shop: str) -> list[dict]:
    """One row per KPI: value over the last 7 days, target, met / missed / no data."""
    return [{"name": name, "label": v["label"], "display": _display(name, v["value"]), "target_display": _target_display(name, v["target"]),
             "status": v["status"]} for name, v in judge_kpis(session, shop).items()]


def kpi_periods(session: Session, shop: str, bucket: str) -> dict:
    """KPIs per day, week or month over the view's reach, with charts (server-side SVG)."""
    bucket = bucket if bucket in BUCKETS else "day"
    end = utcnow() + dt.timedelta(seconds=1)
    data = kpis(session, shop, end - dt.timedelta(days=BUCKETS[bucket]), end, bucket)
    rows = [_period_row(b) for b in data["buckets"]]
    targets = data["targets"]
    charts = [
        bar_chart([(r["period"], r["return_rate"]) for r in rows], targets["return_rate_max"], "Return rate", percent=True, higher_is_better=False),
        bar_chart([(r["period"], r["on_time"]) for r in rows], targets["on_time_min"], "On-time delivery", percent=True, higher_is_better=True),
        line_chart([(r["period"], r["forward_median_hours"]) for r in rows], targets["forward_hours"], "Hours from order to supplier (median)"),
        bar_chart(list(data["overall"]["shipping_days"]["bins"].items()), None, "Shipping time (days, delivered parcels)"),  # the bins in their own order (sorted, "10+" came second)
    ]
    return {"bucket": bucket, "rows": rows, "charts": charts, "overall": _period_row({"key": "all", **data["overall"]}),
            "reasons_by_product": data["returns_all_time"]["reasons_by_product"], "notes": data["notes"]}


def _period_row(b: dict) -> dict:
    margin = b["margin"]
    return {
        "period": b["key"], "units_sold": b["return_rate"]["units_sold"], "units_returned": b["return_rate"]["units_returned"],
        "return_rate": b["return_rate"]["rate"], "on_time": b["on_time"]["rate"], "delivered": b["on_time"]["measured"],
        "forward_median_hours": b["forward_hours"]["median"], "forward_p90_hours": b["forward_hours"]["p90"],
        "revenue": margin["revenue"], "shipping_charged": margin["shipping_charged"], "supplier_cost": margin["supplier_cost"], "refunds": margin["refunds"], "gross_margin": margin["gross_margin"],
        "damaged_in_time": b["complaints"]["damaged"]["share_within"], "out_of_stock_in_time": b["complaints"]["out_of_stock"]["share_within"],
        "delivery_problem_in_time": b["complaints"]["delivery_problem"]["share_within"],
    }


def kpi_export(session: Session, shop: str, bucket: str) -> tuple[list[str], list[list]]:
    """KPI values per period as CSV rows."""
    rows = kpi_periods(session, shop, bucket)["rows"]
    header = list(rows[0]) if rows else ["period"]
    return header, [[r[k] for k in header] for r in rows]
