"""The statutory clocks on returns: the refund deadline and the complaint answer deadline.

Each clock shows in the returns queue (clocks()); the scheduled check (check_deadlines)
raises an alert ALERT_AHEAD before a deadline passes, makes it critical once it has passed,
resolves it when the refund is made or the complaint answered, and lets Poland's silence
accept a complaint nobody answered in time. A refund may wait for the goods where the
profile allows (EU, PL: Directive 2011/83 art. 13(3)): the clock then shows "waiting for goods"
and raises nothing until they arrive. Israel allows no such wait (s. 14E): its clock runs from the request.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from ..alerts import raise_deadline_alert, resolve_alerts
from ..i18n import gettext as _
from ..models import utcnow
from ..suppliers.models import Alert
from .complaints import accept_silent_complaints
from .legal_profiles import profile_for_country
from .models import ComplaintState, ReturnCase
from .outcome_models import OPEN_STATES, ReturnOutcome

ALERT_AHEAD = dt.timedelta(hours=48)
RECEIPT_GRACE = dt.timedelta(days=1)  # after goods received past the refund deadline
DONE_STATUSES = ("declined", "canceled")
CLOCK_KINDS = ("refund_due", "complaint_due")


def refund_due(case: ReturnCase) -> dt.datetime | None:
    """When the refund must be made now: None when no clock runs (done, none due, or lawfully waiting for the goods)."""
    if case.refund_due_at is None or case.refunded_at is not None or case.status in DONE_STATUSES:
        return None
    may_wait = profile_for_country(case.country_code).refund_may_wait_for_goods
    if case.received_at is None:
        return None if may_wait else case.refund_due_at
    if not may_wait:
        return case.refund_due_at  # the deadline counts from the notice alone: late goods move nothing (Israel s. 14E)
    # Goods that came back late leave a working day to inspect and refund them before the alarm.
    return max(case.refund_due_at, case.received_at + RECEIPT_GRACE)


def complaint_due(case: ReturnCase) -> dt.datetime | None:
    """The open complaint's answer deadline (None: answered, or the law sets none)."""
    return case.complaint_due_at if case.complaint_state == ComplaintState.OPEN and case.status == "requested" else None


def _state(due: dt.datetime, now: dt.datetime) -> str:
    return "overdue" if now > due else "due_soon" if now >= due - ALERT_AHEAD else "running"


def clocks(case: ReturnCase, now: dt.datetime | None = None) -> list[dict]:
    """The case's deadlines for the queue: kind, due_at, state (running | due_soon | overdue | waiting_for_goods | done), hours_left."""
    now = now or utcnow()
    out = []
    if case.refund_due_at is not None:
        due = refund_due(case)
        state = ("done" if case.refunded_at or case.status in DONE_STATUSES else "waiting_for_goods") if due is None else _state(due, now)
        shown = due or case.refund_due_at
        out.append({"kind": "refund", "due_at": shown.isoformat(), "state": state,
                    "hours_left": round((shown - now).total_seconds() / 3600, 1) if due else None})
    if case.complaint_due_at is not None:
        due = complaint_due(case)
        out.append({"kind": "complaint_answer", "due_at": case.complaint_due_at.isoformat(), "state": "done" if due is None else _state(due, now),
                    "hours_left": round((due - now).total_seconds() / 3600, 1) if due else None})
    return out


@dataclass
class DeadlineReport:
    accepted_by_law: int = 0
    alerts_raised: int = 0
    alerts_resolved: int = 0


def check_deadlines(services, now: dt.datetime | None = None) -> DeadlineReport:
    """Alert before refund and complaint deadlines pass; resolve what is done; accept silent Polish complaints."""
    now = now or utcnow()
    report = DeadlineReport(accepted_by_law=accept_silent_complaints(services, now))
    horizon = now + ALERT_AHEAD
    with services.session_factory.begin() as session:
        complaints = session.scalars(select(ReturnCase).where(
            ReturnCase.complaint_state == ComplaintState.OPEN, ReturnCase.complaint_due_at <= horizon, ReturnCase.status == "requested"))
        for case in complaints:
            due = case.complaint_due_at.strftime("%Y-%m-%d %H:%M")
            report.alerts_raised += raise_deadline_alert(
                session, case.shop_domain, "complaint_due", f"complaint_due:{case.id}", passed=now > case.complaint_due_at, subject=case.name,
                passed_message=_("Complaint %(name)s: the answer deadline passed on %(due)s UTC.", name=case.name, due=due),
                due_message=_("Complaint %(name)s must be answered by %(due)s UTC.", name=case.name, due=due))
        in_flight = set(session.scalars(select(ReturnOutcome.return_case_id).where(ReturnOutcome.state.in_(OPEN_STATES))))
        refunds = session.scalars(select(ReturnCase).where(
            ReturnCase.refund_due_at.is_not(None), ReturnCase.refunded_at.is_(None), ReturnCase.status.not_in(DONE_STATUSES)))
        for case in refunds:
            due = refund_due(case)
            if due is None or due > horizon or case.id in in_flight:
                continue  # an outcome pending or sent is the refund under way: its own alert covers a failure
            when = due.strftime("%Y-%m-%d %H:%M")
            report.alerts_raised += raise_deadline_alert(
                session, case.shop_domain, "refund_due", f"refund_due:{case.id}", passed=now > due, subject=case.name,
                passed_message=_("Return %(name)s: the legal refund deadline passed on %(due)s UTC.", name=case.name, due=when),
                due_message=_("Return %(name)s must be refunded by %(due)s UTC (legal deadline).", name=case.name, due=when))
        # Resolve clocks that stopped: refunded, answered, declined or cancelled (or waiting for goods again).
        done = []
        for key in session.scalars(select(Alert.dedupe_key).where(Alert.kind.in_(CLOCK_KINDS), Alert.resolved_at.is_(None))):
            kind, _sep, ref = key.partition(":")
            case = session.get(ReturnCase, int(ref)) if ref.isdigit() else None
            if case is None or (refund_due(case) if kind == "refund_due" else complaint_due(case)) is None:
                done.append(key)
        resolve_alerts(session, done)
        report.alerts_resolved = len(done)
    return report
