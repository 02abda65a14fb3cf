"""KPIs as the admin shows them: the last 7 days against their targets, and a table and charts by day, week or month."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ..kpis.charts import bar_chart, line_chart
from ..kpis.snapshots import kpis_from_snapshots
from ..kpis.evaluate import judge_kpis
from ..i18n import gettext as _, lazy_gettext as _l
from ..models import utcnow
from .admin_strings import KPI_LABELS, label
from .page_format import hours, percent

BUCKETS = {"day": 30, "week": 12 * 7, "month": 365}  # how far back each view reaches, in days
HOURS_KPIS = ("forward_hours",)
# What the dashboard tells the merchant about the figures (the API's `notes` say the same for developers).
DASHBOARD_NOTES = (
    _l("Days are UTC days, weeks run Monday to Sunday, months are calendar months."),
    _l("Shipping costs are counted in the supplier's cost; shipping charged to customers is added to the margin."),
    _l("Revenue is net of discounts and of tax where prices include it; tips are left out."),
    _l("Refunds made without a return are not subtracted from the margin."),
)


def _display(name: str, value) -> str:
    if value is None:
        return "–"
    if name in HOURS_KPIS:
        return hours(value)
    return percent(value)


def _target_display(name: str, target: float) -> str:
    # Targets in human units: a share as a percentage, a duration in hours.
    if name == "return_rate":
        return _("below %(target)s", target=percent(target, 0) if float(target * 100).is_integer() else percent(target))
    if name == "on_time":
        return _("above %(target)s", target=percent(target, 0) if float(target * 100).is_integer() else percent(target))
    return _("within %(target)s", target=hours(target))


def kpi_cards(session: Session, shop: str) -> list[dict]:
    """One row per KPI: value over the last 7 days, target, met / missed / no data (labels in the merchant's language)."""
    return [{"name": name, "label": label(name, KPI_LABELS) if name in KPI_LABELS else v["label"], "display": _display(name, v["value"]),
             "target_display": _target_display(name, v["target"]), "status": v["status"]} for name, v in judge_kpis(session, shop).items()]


def kpi_periods(session: Session, shop: str, bucket: str) -> dict:
    """KPIs per day, week or month over the view's reach, with charts (server-side SVG)."""
    bucket = bucket if bucket in BUCKETS else "day"
    end = utcnow() + dt.timedelta(seconds=1)
    # Whole UTC days: the closed ones come from their snapshots, only today is summarised from records.
    start = (end - dt.timedelta(days=BUCKETS[bucket])).replace(hour=0, minute=0, second=0, microsecond=0)
    data = kpis_from_snapshots(session, shop, start, end, bucket)
    rows = [_period_row(b) for b in data["buckets"]]
    targets = data["targets"]
    charts = [
        bar_chart([(r["period"], r["return_rate"]) for r in rows], targets["return_rate_max"], _("Return rate"), percent=True, higher_is_better=False),
        bar_chart([(r["period"], r["on_time"]) for r in rows], targets["on_time_min"], _("On-time delivery"), percent=True, higher_is_better=True),
        line_chart([(r["period"], r["forward_p90_hours"]) for r in rows], targets["forward_hours"], _("Hours from order to supplier (9 orders in 10 within)")),  # as judged
        bar_chart(list(data["overall"]["shipping_days"]["bins"].items()), None, _("Shipping time (days, delivered parcels)")),  # the bins in their own order (sorted, "10+" came second)
    ]
    return {"bucket": bucket, "rows": rows, "charts": charts, "overall": _period_row({"key": "all", **data["overall"]}),
            "reasons_by_product": data["returns_all_time"]["reasons_by_product"], "notes": [str(n) for n in DASHBOARD_NOTES],
            "satisfaction": data["satisfaction"]}


def _period_row(b: dict) -> dict:
    margin = b["margin"]
    return {
        "period": b["key"], "units_sold": b["return_rate"]["units_sold"], "units_returned": b["return_rate"]["units_returned"],
        "return_rate": b["return_rate"]["rate"], "on_time": b["on_time"]["rate"], "delivered": b["on_time"]["measured"],
        "forward_median_hours": b["forward_hours"]["median"], "forward_p90_hours": b["forward_hours"]["p90"],
        "revenue": margin["revenue"], "shipping_charged": margin["shipping_charged"], "supplier_cost": margin["supplier_cost"], "refunds": margin["refunds"], "gross_margin": margin["gross_margin"],
        "damaged_in_time": b["complaints"]["damaged"]["share_within"], "out_of_stock_in_time": b["complaints"]["out_of_stock"]["share_within"],
        "delivery_problem_in_time": b["complaints"]["delivery_problem"]["share_within"], "reply_in_time": b["complaints"]["reply"]["share_within"],
        "satisfaction": b["satisfaction"]["rate"], "review_conversion": b["satisfaction"]["review_conversion"],
    }


def kpi_export(session: Session, shop: str, bucket: str) -> tuple[list[str], list[list]]:
    """KPI values per period as CSV rows."""
    rows = kpi_periods(session, shop, bucket)["rows"]
    header = list(rows[0]) if rows else ["period"]
    return header, [[r[k] for k in header] for r in rows]
