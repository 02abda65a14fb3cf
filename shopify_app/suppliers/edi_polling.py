"""Polling EDI partners: read their folder, pass 855/856/997 news on as supplier events and 846 stock to the inventory plan, alert on outages and missing 997s.

A partner whose folder cannot be reached is tried again with a growing pause (1, 2, 4 ...
up to 60 minutes) and alerted after three failures in a row, like any supplier outage; the
alert closes on the next good poll.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import select

from integrations.suppliers.base import SupplierError, TransientSupplierError
from integrations.suppliers.edi_x12.adapter import EdiX12Adapter, PollRun
from integrations.suppliers.edi_x12.documents import LINE_REJECTED

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..i18n import gettext as _
from ..models import Shop, ShopStatus, utcnow
from .edi_models import EdiDocument
from .events import apply_event
from .forwarding import adapter_from_record
from .models import Alert, Supplier

log = logging.getLogger(__name__)

ALERT_AFTER_FAILURES = 3
MAX_PAUSE = dt.timedelta(minutes=60)
_backoff: dict[int, tuple[int, dt.datetime]] = {}  # supplier id -> (failures in a row, not before)
_backoff_lock = threading.Lock()


def outage_key(supplier_id: int) -> str:
    """Dedupe key of a partner's unreachable-folder alert."""
    return f"edi_unreachable:{supplier_id}"


def poll_edi_partners(services, now: dt.datetime | None = None) -> int:
    """Poll every active EDI partner of installed shops that is due; returns partners polled."""
    now = now or utcnow()
    with services.session_factory() as session:
        suppliers = list(session.execute(
            select(Supplier.id, Supplier.shop_domain).join(Shop, Shop.domain == Supplier.shop_domain)
            .where(Supplier.kind == "edi_x12", Supplier.active.is_(True), Supplier.deleted_at.is_(None), Shop.status == ShopStatus.INSTALLED.value)
            .order_by(Supplier.id)))
    polled = 0
    for supplier_id, shop_domain in suppliers:
        with _backoff_lock:
            failures, not_before = _backoff.get(supplier_id, (0, now))
        if now < not_before:
            continue
        polled += 1
        try:
            poll_partner(services, supplier_id)
        except SupplierError as exc:
            failures += 1
            with _backoff_lock:
                _backoff[supplier_id] = (failures, now + min(dt.timedelta(minutes=2 ** (failures - 1)), MAX_PAUSE))
            log.warning("EDI poll failed supplier=%s failures=%s error=%s", supplier_id, failures, type(exc).__name__)
            if failures >= ALERT_AFTER_FAILURES:
                with services.session_factory.begin() as session:
                    raise_alert(session, shop_domain, "supplier_unreachable", outage_key(supplier_id),
                                _("The EDI partner's folder could not be read %(n)s times in a row: %(reason)s", n=failures, reason=str(exc)[:300]), severity="error")
            continue
        with _backoff_lock:
            _backoff.pop(supplier_id, None)
        if failures:
            with services.session_factory.begin() as session:
                resolve_alert(session, outage_key(supplier_id))
    return polled


def poll_partner(services, supplier_id: int) -> PollRun:
    """One poll of one partner (no transaction held while the folder is read)."""
    from ..inventory.feeds import apply_feed

    with services.session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        adapter = adapter_from_record(supplier, services.box)
        shop_domain = supplier.shop_domain
    if not isinstance(getattr(adapter, "wrapped_adapter", adapter), EdiX12Adapter):
        raise TypeError("not an EDI partner")
    run = adapter.poll_inbound()
    overdue = adapter.awaiting_acknowledgement()
    after_commit: list = []
    failed: list[tuple[str, BaseException]] = []
    # The EDI store has already committed these interchanges as applied: a duplicate is never
    # read again, so each part is applied in a savepoint of its own and one failure costs only itself.
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        if run.stock:
            _isolated(session, failed, "846 stock", lambda: apply_feed(session, supplier, run.stock, source="edi_846", full=False))  # a delta
        for event in run.events:  # 855 answers, 997 rejections and 856 parcels, as any supplier's events
            _isolated(session, failed, f"event {event.kind.value} {event.supplier_order_id or ''}".strip(),
                      lambda event=event: apply_event(session, supplier, event, services, after_commit.append, adapter))
        for po_number, line_ref in run.rejected_lines:
            _alert_rejected_line(session, shop_domain, supplier_id, po_number, line_ref)
        # A poll whose app-side work was lost after the store committed (a crash, a failed commit)
        # left the 855's rejections only in the stored 850s: alert from there too, once per line.
        for po_number, line_ref in rejected_lines_on_record(session, supplier_id):
            if session.scalar(select(Alert.id).where(Alert.shop_domain == shop_domain, Alert.dedupe_key == rejected_line_key(supplier_id, po_number, line_ref)).limit(1)) is None:
                _alert_rejected_line(session, shop_domain, supplier_id, po_number, line_ref)
        for po_number in overdue:
            raise_alert(session, shop_domain, "supplier_unreachable", f"edi_997_overdue:{supplier_id}:{po_number}",
                        _("PO %(po)s went to the EDI partner but no 997 acknowledged it within the agreed window.", po=po_number))
        for po_number in run.acknowledged:
            resolve_alert(session, f"edi_997_overdue:{supplier_id}:{po_number}")
    for call in after_commit:  # tell Shopify about the parcels, with no transaction open
        call()
    for what, exc in failed:  # after the commit: each alert is a write of its own
        alert_job_failure(services.session_factory, "edi-partners", shop_domain, exc, unit=f"supplier:{supplier_id}:{what}", subject=what)
    if run.error:
        raise TransientSupplierError(run.error)
    return run


RECHECK_REJECTIONS = dt.timedelta(days=14)  # how far back stored 850s are checked for rejected lines with no alert


def rejected_line_key(supplier_id: int, po_number: str, line_ref: str) -> str:
    """Dedupe key of the alert for one line an 855 rejected."""
    return f"edi_line_rejected:{supplier_id}:{po_number}:{line_ref}"


def _alert_rejected_line(session, shop_domain: str, supplier_id: int, po_number: str, line_ref: str) -> None:
    raise_alert(session, shop_domain, "supplier_failed", rejected_line_key(supplier_id, po_number, line_ref),
                _("The EDI partner rejected line %(line)s of PO %(po)s (855): source it elsewhere or refund it.", line=line_ref, po=po_number))


def rejected_lines_on_record(session, supplier_id: int, now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """(PO number, line ref) of every line a recent stored 850 has as rejected by the partner's 855."""
    since = (now or utcnow()) - RECHECK_REJECTIONS
    rows = session.execute(select(EdiDocument.reference, EdiDocument.state).where(
        EdiDocument.supplier_id == supplier_id, EdiDocument.kind == "850", EdiDocument.created_at >= since))
    return [(reference, ref) for reference, state in rows
            for ref, status in ((state or {}).get("line_status") or {}).items() if status in LINE_REJECTED]


def _isolated(session, failed: list, what: str, apply) -> None:
    """Run one part of a poll's work in a savepoint; a failure is rolled back alone and reported."""
    try:
        with session.begin_nested():
            apply()
    except Exception as exc:  # noqa: BLE001 - reported after the commit; the other parts stand
        log.exception("EDI poll: %s could not be applied", what)
        failed.append((what, exc))
