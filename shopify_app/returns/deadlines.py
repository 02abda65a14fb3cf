"""The clocks on returns: the statutory refund and complaint answer deadlines, and the damaged-item reaction time.

Each clock shows in the returns queue (clocks()); the scheduled check (check_deadlines)
raises an alert ALERT_AHEAD before a statutory deadline passes (REACTION_AHEAD before the
damaged-item target), makes it critical once it has passed, resolves it when the refund is
made, the complaint answered or the damaged return decided (or withdrawn), and lets Poland's
silence accept a complaint nobody answered in time. A damaged return the policy could not
decide (auto-decide off, mixed lines) waits for the merchant: PRODUCT.md's reaction target
(the shop's `damaged_hours`, 24 h) counts from the request, as for the store page's cases. A refund may wait for the goods where the
profile allows (EU, PL: Directive 2011/83 art. 13(3)): the clock then shows "waiting for goods"
and raises nothing until they arrive. Israel allows no such wait (s. 14E): its clock runs from the request.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from ..alerts import raise_deadline_alert, resolve_alerts
from ..cases.clock import WARN_BEFORE
from ..i18n import gettext as _
from ..kpis.targets import DEFAULT_TARGETS, get_targets
from ..models import utcnow
from ..suppliers.models import Alert
from .complaints import accept_silent_complaints
from .legal_profiles import profile_for_country
from .models import CaseKind, ComplaintState, Decision, ReturnCase, ReturnLine
from .outcome_models import OPEN_STATES, ReturnOutcome
from .policy import DAMAGE_REASONS

ALERT_AHEAD = dt.timedelta(hours=48)
REACTION_AHEAD = WARN_BEFORE  # a reaction target warns as the store page's cases do (cases/clock.py)
RECEIPT_GRACE = dt.timedelta(days=1)  # after goods received past the refund deadline
DONE_STATUSES = ("declined", "canceled")
CLOCK_KINDS = ("refund_due", "complaint_due", "return_due")
IN_REVIEW = (ReturnCase.decision == Decision.REVIEW, ReturnCase.status == "requested")  # in the merchant's queue, unanswered
_DAMAGED = select(ReturnLine.return_case_id).where(ReturnLine.reason.in_(tuple(DAMAGE_REASONS)))


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


def awaits_damaged_answer(case: ReturnCase) -> bool:
    """A return with a damaged line waiting in the merchant's review: its reaction clock runs."""
    return case.decision == Decision.REVIEW and case.status == "requested" and any(line.reason in DAMAGE_REASONS for line in case.lines)


def damaged_target(session: Session | None, shop_domain: str) -> dt.timedelta:
    """The shop's damaged-item reaction target (the default when no session can read it), read once per session and shop.

    The returns queue lists every case's clocks: one targets read per shop, not one per damaged return.
    """
    if session is None:
        return dt.timedelta(hours=DEFAULT_TARGETS["damaged_hours"])
    read = session.info.setdefault("damaged_targets", {})
    if shop_domain not in read:
        read[shop_domain] = dt.timedelta(hours=get_targets(session, shop_domain)["damaged_hours"])
    return read[shop_domain]


def return_due(case: ReturnCase, target: dt.timedelta) -> dt.datetime | None:
    """When the damaged return waiting in review must be answered (None: answered, withdrawn or not damaged)."""
    return case.requested_at + target if awaits_damaged_answer(case) else None


def _state(due: dt.datetime, now: dt.datetime, ahead: dt.timedelta = ALERT_AHEAD) -> str:
    return "overdue" if now > due else "due_soon" if now >= due - ahead else "running"


def clocks(case: ReturnCase, now: dt.datetime | None = None) -> list[dict]:
    """The case's deadlines for the queue: kind (refund | complaint_answer | damaged_answer), due_at, state
    (running | due_soon | overdue | waiting_for_goods | done), hours_left."""
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
    if awaits_damaged_answer(case) and case.kind != CaseKind.COMPLAINT:  # a complaint shows its answer deadline (its alert still warns at the target)
        due = return_due(case, damaged_target(object_session(case), case.shop_domain))
        out.append({"kind": "damaged_answer", "due_at": due.isoformat(), "state": _state(due, now, REACTION_AHEAD),
                    "hours_left": round((due - now).total_seconds() / 3600, 1)})
    return out


def _alert_damaged_returns(session: Session, now: dt.datetime) -> int:
    """Raise (or refresh) the clock alert of each damaged return in review near or past its target; returns how many were new."""
    raised = 0
    for case in session.scalars(select(ReturnCase).where(*IN_REVIEW, ReturnCase.id.in_(_DAMAGED)).options(selectinload(ReturnCase.lines))):
        due = return_due(case, damaged_target(session, case.shop_domain))
        if due is None or due > now + REACTION_AHEAD:
            continue
        label, when = case.name or case.return_gid, f"{due:%Y-%m-%d %H:%M}"
        raised += raise_deadline_alert(
            session, case.shop_domain, "return_due", f"return_due:{case.id}", passed=due <= now, subject=case.name,
            passed_message=_("Damaged-item return %(name)s missed its answer time (%(due)s UTC): approve or decline it now.", name=label, due=when),
            due_message=_("Damaged-item return %(name)s must be answered by %(due)s UTC.", name=label, due=when))
    return raised


# Whether a clock alert's case still runs that clock (else the alert is resolved).
_STILL_RUNNING = {
    "refund_due": lambda case: refund_due(case) is not None,
    "complaint_due": lambda case: complaint_due(case) is not None,
    "return_due": awaits_damaged_answer,
}


@dataclass
class DeadlineReport:
    accepted_by_law: int = 0
    alerts_raised: int = 0  # statutory deadlines: refunds and complaint answers
    reaction_alerts_raised: int = 0  # damaged returns' reaction target (a service promise, not the law)
    alerts_resolved: int = 0


def check_deadlines(services, now: dt.datetime | None = None) -> DeadlineReport:
    """Alert before refund, complaint and damaged-return deadlines pass; resolve what is done; accept silent Polish complaints."""
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
        report.reaction_alerts_raised = _alert_damaged_returns(session, now)
        # Resolve clocks that stopped: refunded, answered, declined or cancelled (or waiting for goods again).
        done = []
        for key in session.scalars(select(Alert.dedupe_key).where(Alert.kind.in_(CLOCK_KINDS), Alert.resolved_at.is_(None))):
            kind, _sep, ref = key.partition(":")
            case = session.get(ReturnCase, int(ref)) if ref.isdigit() else None
            if case is None or not _STILL_RUNNING.get(kind, lambda _case: False)(case):
                done.append(key)
        resolve_alerts(session, done)
        report.alerts_resolved = len(done)
    return report
