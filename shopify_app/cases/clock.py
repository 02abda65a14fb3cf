"""Each case kind's reaction target (the shop's KPI targets, editable in Settings) and the job that alerts before one is missed."""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..alerts import alert_job_failure, raise_deadline_alert, resolve_alerts
from ..kpis.targets import get_targets
from ..models import utcnow
from .models import Case, CaseKind, CaseStatus

log = logging.getLogger(__name__)

# Which KPI target times each kind (PRODUCT.md: damaged 24 h, out of stock 12 h, delivery problem 24 h, questions 24 h).
TARGET_OF_KIND = {
    CaseKind.DAMAGED.value: "damaged_hours",
    CaseKind.WRONG_ITEM.value: "damaged_hours",
    CaseKind.NOT_ARRIVED.value: "delivery_problem_hours",
    CaseKind.LATE.value: "delivery_problem_hours",
    CaseKind.QUESTION.value: "reply_hours",
    CaseKind.OUT_OF_STOCK.value: "out_of_stock_hours",
}
# The KPI a kind counts in (compute.py): complaints by their reaction target, questions as reply time.
KPI_OF_KIND = {kind: target.removesuffix("_hours") for kind, target in TARGET_OF_KIND.items()}
WARN_BEFORE = dt.timedelta(hours=2)  # the alert comes this long before the target passes
ALERT_KIND = "case_due"


def due_at(session: Session, shop_domain: str, kind: str, opened_at: dt.datetime) -> dt.datetime:
    """When a case of this kind opened then must have its answer: the shop's target for the kind."""
    hours = get_targets(session, shop_domain)[TARGET_OF_KIND[kind]]
    return opened_at + dt.timedelta(hours=hours)


def alert_key(case_id: int) -> str:
    """Dedupe key of a case's clock alert."""
    return f"case_due:{case_id}"


def watch_case_clocks(services, now: dt.datetime | None = None) -> int:
    """The scheduled job: an alert for every open case within WARN_BEFORE of its target (or past it), per shop.

    A damaged return waiting in review has the same reaction clock, kept with the other return clocks (returns/deadlines.py)."""
    now = now or utcnow()
    with services.session_factory() as session:
        shops = session.scalars(select(Case.shop_domain).where(Case.status == CaseStatus.OPEN.value, Case.due_at <= now + WARN_BEFORE).distinct()).all()
    raised = 0
    for shop in shops:  # one shop's failure never stops another's
        try:
            with services.session_factory.begin() as session:
                raised += alert_due_cases(session, shop, now)
        except Exception as exc:  # noqa: BLE001
            alert_job_failure(services.session_factory, "case-clocks", shop, exc)
    return raised


def alert_due_cases(session: Session, shop_domain: str, now: dt.datetime) -> int:
    """Raise (or refresh) the alert of each of the shop's open cases near or past its target; returns how many were new."""
    cases = session.execute(select(Case.id, Case.kind, Case.due_at, Case.order_id).where(
        Case.shop_domain == shop_domain, Case.status == CaseStatus.OPEN.value, Case.due_at <= now + WARN_BEFORE)).all()
    new = 0
    for case_id, kind, due, _order_id in cases:
        topic = kind.replace("_", " ")
        new += raise_deadline_alert(session, shop_domain, ALERT_KIND, alert_key(case_id), passed=due <= now, subject=f"case {case_id}",
                                    passed_message=f"Case {case_id} ({topic}) missed its answer time ({due:%Y-%m-%d %H:%M} UTC): reply to the customer now.",
                                    due_message=f"Case {case_id} ({topic}) must be answered by {due:%Y-%m-%d %H:%M} UTC.")
    return new


def resolve_case_alert(session: Session, case_id: int) -> None:
    """The case got its answer (or was closed): its clock alert goes."""
    resolve_alerts(session, [alert_key(case_id)])
