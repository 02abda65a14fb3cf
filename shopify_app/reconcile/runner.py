"""Run the checks for a shop: record each desync, repair what is safe, alert the rest, close what went away."""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..models import utcnow
from .checks import CHECKS, Finding
from .models import Desync, ReconcileRun

log = logging.getLogger(__name__)


def alert_key(shop: str, kind: str, ref: str) -> str:
    """Dedupe key of a desync's alert."""
    return f"desync:{shop}:{kind}:{ref}"


def run_reconciliation(services, shop: str, *, only: tuple[str, ...] | None = None, now: dt.datetime | None = None) -> ReconcileRun:
    """One pass of every check (or `only` those) over a shop; the run's report says checked/found/repaired/open per check."""
    now = now or utcnow()
    report: dict[str, dict] = {}
    for name, check in CHECKS.items():
        if only and name not in only:
            continue
        entry = report.setdefault(name, {"checked": 0, "found": 0, "repaired": 0, "open": 0})
        try:
            result = check(services, shop, now)
        except Exception as exc:  # one broken check must not stop the others
            entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            alert_job_failure(services.session_factory, "reconcile", shop, exc, unit=name, subject=f"check {name}")
            continue
        entry["checked"], entry["found"] = result.checked, len(result.findings)
        seen: dict[str, set[str]] = {}
        for finding in result.findings:
            seen.setdefault(finding.kind, set()).add(finding.ref)
            repaired = _settle(services, shop, finding, now)
            entry["repaired" if repaired else "open"] += 1
        if result.finish is not None:
            try:
                result.finish()
            except Exception as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
        _close_gone(services, shop, name, seen, now)
    with services.session_factory.begin() as session:
        run = ReconcileRun(shop_domain=shop, report=report, started_at=now, finished_at=utcnow())
        session.add(run)
        session.flush()
        session.expunge(run)
    return run


def _settle(services, shop: str, finding: Finding, now: dt.datetime) -> bool:
    """Record the finding, try its repair; True when repaired."""
    note, error = None, None
    if finding.repair is not None:
        try:
            note = finding.repair()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
    repaired = finding.repair is not None and error is None
    with services.session_factory.begin() as session:
        desync = session.scalar(select(Desync).where(Desync.shop_domain == shop, Desync.kind == finding.kind, Desync.ref == finding.ref))
        if desync is None:
            desync = Desync(shop_domain=shop, kind=finding.kind, ref=finding.ref, first_seen=now, times_seen=0)
            try:
                with session.begin_nested():
                    session.add(desync)
            except IntegrityError:
                desync = session.scalar(select(Desync).where(Desync.shop_domain == shop, Desync.kind == finding.kind, Desync.ref == finding.ref))
        desync.subject, desync.severity, desync.evidence = finding.subject, finding.severity, finding.evidence
        desync.times_seen, desync.last_seen = (desync.times_seen or 0) + 1, now
        key = alert_key(shop, finding.kind, finding.ref)
        if repaired:
            desync.status, desync.repair_note, desync.closed_at = "repaired", note, now
            resolve_alert(session, key)
        else:
            desync.status, desync.repair_note, desync.closed_at = "open", error, None
            if finding.severity != "info":
                raise_alert(session, shop, f"desync_{finding.kind}", key,
                            f"{finding.kind.replace('_', ' ').capitalize()}: {finding.subject or finding.ref}" + (f" (repair failed: {error})" if error else ""),
                            severity=finding.severity, subject=finding.subject)
    return repaired


def _close_gone(services, shop: str, check: str, seen: dict[str, set[str]], now: dt.datetime) -> None:
    """Open desyncs of this check's kinds that were not found again are resolved."""
    kinds = KINDS_OF.get(check, (check,))
    with services.session_factory.begin() as session:
        for desync in session.scalars(select(Desync).where(Desync.shop_domain == shop, Desync.kind.in_(kinds), Desync.status == "open")):
            if desync.ref not in seen.get(desync.kind, set()):
                desync.status, desync.closed_at = "resolved", now
                resolve_alert(session, alert_key(shop, desync.kind, desync.ref))


# Checks whose findings carry other kind names than the check's own.
KINDS_OF = {
    "returns_stalled": ("return_not_restocked", "return_never_received"),
    "webhook_health": ("dead_letters",),
    "order_catchup": ("orders_caught_up",),
    "webhook_subscriptions": ("webhook_subscription_missing", "webhook_subscription_obsolete"),
    "refunds_without_return": ("refund_without_return",),
}


def reconcile_installed_shops(services) -> list[ReconcileRun]:
    """The scheduled job: one pass per installed shop."""
    from ..models import Shop, ShopStatus

    with services.session_factory() as session:
        shops = session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)).all()
    runs = []
    for shop in shops:
        try:
            runs.append(run_reconciliation(services, shop))
        except Exception as exc:  # noqa: BLE001 - one shop's failure must not stop the others
            alert_job_failure(services.session_factory, "reconcile", shop, exc)
    return runs
