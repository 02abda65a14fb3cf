"""Polling EDI partners: read their folder, pass 855/856/997 news on as supplier events and 846 stock to the inventory plan, alert on outages and missing 997s.

A partner whose folder cannot be reached is tried again with a growing pause (1, 2, 4 ...
up to 60 minutes) and alerted after three failures in a row, and at once when its SFTP
server shows another host key: the file channel's poll state and alerts
(`file_channel.record_folder_poll`), since an EDI partner's folder is a file supplier's folder.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from integrations.suppliers.base import SupplierError, TransientSupplierError
from integrations.suppliers.edi_x12.adapter import EdiX12Adapter, PollRun
from integrations.suppliers.edi_x12.documents import LINE_REJECTED

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..db import read_only
from ..i18n import gettext as _
from ..models import utcnow
from .edi_models import EdiDocument
from .events import apply_event
from .file_channel import due_folder_suppliers, record_folder_poll, unreachable_alert_key
from .forwarding import adapter_from_record
from .models import Alert, Supplier

log = logging.getLogger(__name__)

POLL_MINUTES = 0  # a reachable partner is read at every run of the job (every minute)
MAX_PAUSE = dt.timedelta(minutes=60)


def outage_key(supplier_id: int) -> str:
    """Dedupe key of a partner's unreachable-folder alert (the file channel's)."""
    return unreachable_alert_key(supplier_id)


def poll_edi_partners(services, now: dt.datetime | None = None) -> int:
    """Poll every active EDI partner of installed shops that is due; returns partners polled."""
    now = now or utcnow()
    with read_only(services.session_factory)() as session:
        suppliers = due_folder_suppliers(session, "edi_x12", now)
    for supplier_id, shop_domain in suppliers:
        error = presented = None
        try:
            poll_partner(services, supplier_id)
        except SupplierError as exc:  # the folder, or settings that no longer build an adapter: an outage for the merchant
            error, presented = str(exc), getattr(exc, "host_key_presented", None)
        except Exception as exc:  # noqa: BLE001 - one shop's broken partner must not stop the others
            alert_job_failure(services.session_factory, "edi-partners", shop_domain, exc, unit=f"supplier:{supplier_id}")
            continue
        if error is not None:
            log.warning("EDI poll failed supplier=%s error=%s", supplier_id, error[:200])
        with services.session_factory() as session:
            name = session.get(Supplier, supplier_id).name
        record_folder_poll(services, supplier_id, shop_domain, name, POLL_MINUTES, error, presented, now=now, max_backoff=MAX_PAUSE)
    return len(suppliers)


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
        failed = TransientSupplierError(run.error)
        failed.host_key_presented = run.host_key_presented
        raise failed
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
