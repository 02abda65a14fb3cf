"""The daily KPI check: the last 7 days (7 whole UTC days and today so far) against the shop's targets, one alert per missed KPI.

A KPI without data in the period (no parcel delivered, nothing sold...) is neither missed nor
met: its alert, if one is open, stays as it is until data says otherwise.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..models import Shop, ShopStatus, utcnow
from .snapshots import summary_from_snapshots
from .targets import get_targets

log = logging.getLogger(__name__)

PERIOD = dt.timedelta(days=7)
ALERT_KIND = "kpi_missed"
MISSED, MET, NO_DATA = "missed", "met", "no_data"


def alert_key(shop_domain: str, name: str) -> str:
    """Dedupe key of a KPI's alert."""
    return f"kpi:{shop_domain}:{name}"


def judge_kpis(session: Session, shop_domain: str, now: dt.datetime | None = None) -> dict[str, dict]:
    """The trailing 7 days against the targets, per KPI: label, value, target, status, message (no side effects)."""
    now = now or utcnow()
    # Whole UTC days (7 before today, and today so far): closed days come from their snapshots.
    start = (now - PERIOD).astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    overall = summary_from_snapshots(session, shop_domain, start, now, now=now)
    targets = get_targets(session, shop_domain)
    return {name: judge(overall, targets) for name, judge in JUDGES.items()}


def check_kpis(session: Session, shop_domain: str, now: dt.datetime | None = None) -> dict[str, dict]:
    """Compare the trailing 7 days with the targets; alert each missed KPI, resolve those back on target."""
    results = {}
    for name, verdict in judge_kpis(session, shop_domain, now).items():
        key = alert_key(shop_domain, name)
        if verdict["status"] == MISSED:
            verdict["new_alert"] = raise_alert(session, shop_domain, ALERT_KIND, key, verdict["message"], severity="warning", subject=verdict["label"])
        elif verdict["status"] == MET:
            resolve_alert(session, key)
        results[name] = verdict
    return results


def check_installed_shops(services, now: dt.datetime | None = None) -> dict[str, dict]:
    """The scheduled job: check_kpis for every installed shop, each in its own transaction."""
    with services.session_factory() as session:
        shops = session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)).all()
    found = {}
    for shop in shops:
        try:
            found[shop] = check_shop_kpis(services, shop, now)
        except Exception as exc:  # one shop's broken data must not stop the others
            alert_job_failure(services.session_factory, "kpi-check", shop, exc)
            found[shop] = {"error": type(exc).__name__}
    return found


def check_shop_kpis(services, shop_domain: str, now: dt.datetime | None = None) -> dict[str, dict]:
    """The per-shop unit of the daily check: check_kpis in a transaction of its own."""
    with services.session_factory.begin() as session:
        return check_kpis(session, shop_domain, now)


def _verdict(label: str, value, target: float, missed: bool | None, message: str) -> dict:
    status = NO_DATA if missed is None else MISSED if missed else MET
    return {"label": label, "status": status, "value": value, "target": target, "message": message}


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f} %"


def _return_rate(overall: dict, targets: dict) -> dict:
    rate, limit = overall["return_rate"]["rate"], targets["return_rate_max"]
    # "Below 10 %" is strict: exactly 10 % misses (a limit of 0 asks for no returns at all).
    return _verdict("Return rate", rate, limit, None if rate is None else rate >= limit if limit > 0 else rate > 0,
                    f"Return rate {_percent(rate or 0)} over the last 7 days (target: below {_percent(limit)}).")


def _on_time(overall: dict, targets: dict) -> dict:
    rate, floor = overall["on_time"]["rate"], targets["on_time_min"]
    # "Above 95 %" is strict: exactly 95 % misses (a floor of 100 % asks for every parcel on time).
    return _verdict("On-time delivery", rate, floor, None if rate is None else rate <= floor if floor < 1 else rate < 1,
                    f"On-time delivery {_percent(rate or 0)} over the last 7 days (target: above {_percent(floor)}).")


FORWARD_SHARE = 0.9  # the target holds for 9 orders in 10: the rest (e.g. waiting for a bank transfer) may take longer


def _forward(overall: dict, targets: dict) -> dict:
    stats, limit = overall["forward_hours"], targets["forward_hours"]
    # Judged per order, not on the median (half the orders could take days unseen): 90 % within the target, i.e. p90 <= target.
    p90, share = stats["p90"], stats.get("share_within")
    return _verdict("Order to supplier", p90, limit, None if p90 is None else p90 > limit,
                    f"{_percent(share or 0)} of orders reached the supplier within {limit:g} h over the last 7 days; 90 % took up to {p90} h "
                    f"(target: {_percent(FORWARD_SHARE)} within {limit:g} h).")


def _complaint(kind: str, label: str) -> Callable[[dict, dict], dict]:
    def judge(overall: dict, targets: dict) -> dict:
        seen, limit = overall["complaints"][kind], targets[f"{kind}_hours"]
        decided = seen["within"] + seen["missed"]
        # Every complaint must get its reaction in time: one late is a miss.
        return _verdict(label, seen["share_within"], limit, None if not decided else seen["missed"] > 0,
                        f"{label}: {seen['missed']} of {decided} complaint(s) over the last 7 days got no reaction within {limit:g} h.")
    return judge


JUDGES: dict[str, Callable[[dict, dict], dict]] = {
    "return_rate": _return_rate,
    "on_time": _on_time,
    "forward_hours": _forward,
    "damaged_reaction": _complaint("damaged", "Damaged item complaints"),
    "out_of_stock_reaction": _complaint("out_of_stock", "Out-of-stock complaints"),
    "delivery_problem_reaction": _complaint("delivery_problem", "Delivery problem complaints"),
    "reply_time": _complaint("reply", "Replies to customer questions"),  # issue 17 part P: from the store page's cases
}
