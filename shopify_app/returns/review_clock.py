"""The damaged-item 24 h clock of a return waiting in review: the merchant is alerted before the reaction target passes.

A damaged return the policy could not decide (auto-decide off, mixed lines, a complaint) waits
for the merchant; PRODUCT.md's reaction target (the shop's `damaged_hours`, 24 h) counts from
the request, as for the store page's damaged-item cases (cases/clock.py, whose job runs this).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..alerts import raise_deadline_alert, resolve_alerts
from ..i18n import gettext as _
from ..kpis.targets import get_targets
from ..suppliers.models import Alert
from .models import Decision, ReturnCase, ReturnLine
from .policy import DAMAGE_REASONS

ALERT_KIND = "return_due"
WAITING = (ReturnCase.decision == Decision.REVIEW, ReturnCase.status == "requested")  # in the merchant's queue, unanswered
_DAMAGED = select(ReturnLine.return_case_id).where(ReturnLine.reason.in_(tuple(DAMAGE_REASONS)))


def alert_key(case_id: int) -> str:
    """Dedupe key of a damaged return's clock alert."""
    return f"return_due:{case_id}"


def shops_to_watch(session: Session) -> list[str]:
    """Shops with a damaged return waiting in review, or a clock alert still open (to resolve it)."""
    waiting = select(ReturnCase.shop_domain).where(*WAITING, ReturnCase.id.in_(_DAMAGED))
    alerted = select(Alert.shop_domain).where(Alert.kind == ALERT_KIND, Alert.resolved_at.is_(None))
    return sorted(set(session.scalars(waiting.distinct())) | set(session.scalars(alerted.distinct())))


def alert_due_damaged_returns(session: Session, shop_domain: str, now: dt.datetime, warn_before: dt.timedelta) -> int:
    """Raise (or refresh) the clock alert of each damaged return near or past its target; resolve the answered ones. Returns how many were new."""
    target = dt.timedelta(hours=get_targets(session, shop_domain)["damaged_hours"])
    waiting = session.execute(select(ReturnCase.id, ReturnCase.name, ReturnCase.return_gid, ReturnCase.requested_at).where(
        ReturnCase.shop_domain == shop_domain, *WAITING, ReturnCase.id.in_(_DAMAGED))).all()
    new, keep = 0, set()
    for case_id, name, gid, requested in waiting:
        due = requested + target
        keep.add(alert_key(case_id))
        if due > now + warn_before:
            continue
        label, when = name or gid, f"{due:%Y-%m-%d %H:%M}"
        new += raise_deadline_alert(session, shop_domain, ALERT_KIND, alert_key(case_id), passed=due <= now, subject=name,
                                    passed_message=_("Damaged-item return %(name)s missed its answer time (%(due)s UTC): approve or decline it now.", name=label, due=when),
                                    due_message=_("Damaged-item return %(name)s must be answered by %(due)s UTC.", name=label, due=when))
    answered = [key for key in session.scalars(select(Alert.dedupe_key).where(Alert.shop_domain == shop_domain, Alert.kind == ALERT_KIND, Alert.resolved_at.is_(None)))
                if key not in keep]
    resolve_alerts(session, answered)  # approved, declined or cancelled since
    return new
