"""Raising alerts for the merchant: once per dedupe key, counted when seen again, told again when it comes back or grows worse."""
from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import utcnow
from .suppliers.models import Alert

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")  # lowest first


def severity_rank(severity: str) -> int:
    """Order of severities; an unknown one counts as a warning rather than being dropped."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else SEVERITIES.index("warning")


def raise_alert(session: Session, shop_domain: str, kind: str, dedupe_key: str, message: str, *, severity: str = "warning", subject: str | None = None) -> bool:
    """Open an alert, or count another sighting of an open one (taking its current severity and message); True when it is new."""
    now = utcnow()
    seen = session.execute(select(Alert.id, Alert.severity).where(Alert.dedupe_key == dedupe_key, Alert.resolved_at.is_(None))).first()
    if seen is not None:
        # The severity read is the condition of the write: of two workers raising the same escalation
        # at once, only one sees its UPDATE change the severity, so it is counted (and told) once.
        changed = session.execute(update(Alert).where(Alert.id == seen.id, Alert.severity == seen.severity)
                                  .values(count=Alert.count + 1, last_seen=now, severity=severity, message=message)).rowcount
        if not changed:
            session.execute(update(Alert).where(Alert.id == seen.id).values(count=Alert.count + 1, last_seen=now, message=message))
        elif severity_rank(severity) > severity_rank(seen.severity):
            # Grown worse (a case due in 2 hours is now late): a new occurrence, so the channels
            # that were told the warning are told again, and a channel that only takes the
            # higher severity hears it for the first time.
            _count_reopen(session, seen.id)
        return False
    try:
        with session.begin_nested():
            session.add(Alert(shop_domain=shop_domain, dedupe_key=dedupe_key, kind=kind, severity=severity, subject=subject, message=message, first_seen=now, last_seen=now))
    except IntegrityError:
        # A resolved alert with this key exists: the problem is back, reopen it, and count
        # the reopening: the alert channels notify once per occurrence.
        session.execute(update(Alert).where(Alert.dedupe_key == dedupe_key).values(resolved_at=None, count=Alert.count + 1, last_seen=now, message=message, severity=severity))
        _count_reopen(session, session.scalar(select(Alert.id).where(Alert.dedupe_key == dedupe_key)))
    log.warning("alert %s for shop=%s: %s", kind, shop_domain, subject or "")
    return True


def raise_deadline_alert(session: Session, shop_domain: str, kind: str, dedupe_key: str, *, passed: bool, passed_message: str,
                         due_message: str, subject: str | None) -> bool:
    """A deadline's alert: a warning while it is still ahead, critical once it has passed (told again then); True when new."""
    return raise_alert(session, shop_domain, kind, dedupe_key, passed_message if passed else due_message,
                       severity="critical" if passed else "warning", subject=subject)


def _count_reopen(session: Session, alert_id: int) -> None:
    from .notify.models import AlertReopenCount

    if not session.execute(update(AlertReopenCount).where(AlertReopenCount.alert_id == alert_id).values(reopens=AlertReopenCount.reopens + 1)).rowcount:
        session.add(AlertReopenCount(alert_id=alert_id, reopens=1))
        session.flush()


def resolve_alert(session: Session, dedupe_key: str) -> None:
    """Close an alert whose problem went away."""
    resolve_alerts(session, [dedupe_key])


def resolve_alerts(session: Session, dedupe_keys: list[str]) -> None:
    """Close the open alerts of these keys (their problems went away)."""
    if not dedupe_keys:
        return
    # Nearly always none is open: a plain read is far cheaper than an ORM bulk UPDATE (which
    # also reconciles the session's objects), and routing resolves on every order webhook.
    open_ids = session.scalars(select(Alert.id).where(Alert.dedupe_key.in_(dedupe_keys), Alert.resolved_at.is_(None))).all()
    if open_ids:
        session.execute(update(Alert).where(Alert.id.in_(open_ids)).values(resolved_at=utcnow()))


def open_alerts(session: Session, shop_domain: str) -> list[Alert]:
    """The shop's unresolved alerts, newest first."""
    return list(session.scalars(select(Alert).where(Alert.shop_domain == shop_domain, Alert.resolved_at.is_(None)).order_by(Alert.id.desc())))


def job_failure_key(job: str, shop_domain: str, unit: str = "") -> str:
    """Dedupe key of a periodic job's failure for one shop (and unit: a supplier, a check)."""
    return f"job_failed:{job}:{shop_domain}:{unit}"


def alert_job_failure(session_factory, job: str, shop_domain: str, exc: BaseException, unit: str = "", subject: str | None = None) -> None:
    """Record that a periodic job failed for this shop (the job goes on with the others); never raises.

    The message names the error's type only: its text may quote a remote body or a value.
    """
    log.warning("job %s failed for shop=%s %s: %s", job, shop_domain, unit, type(exc).__name__)
    try:
        with session_factory.begin() as session:
            raise_alert(session, shop_domain, "job_failed", job_failure_key(job, shop_domain, unit),
                        f"The {job} job failed{' for ' + subject if subject else ''} ({type(exc).__name__}); it will try again on its next run.",
                        subject=subject)
    except Exception:  # noqa: BLE001 - recording must not stop the job for the other shops
        log.exception("could not record the %s failure for shop=%s", job, shop_domain)
