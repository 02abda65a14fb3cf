"""Tracking imports of email suppliers (reply emails, uploaded files): recorded with their per-row report, then pushed to Shopify.

The parcels go into the supplier's sent log (email_po_log.DatabaseSentLog) first, as the
adapter's get_shipments reads them from there; then each delivery they belong to is
refreshed the way polling refreshes any supplier (events.refresh_shipments): recorded as
supplier shipments and turned into Shopify fulfillments, with no transaction open while
Shopify answers.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from integrations.shopify.errors import ShopifyError
from integrations.suppliers.base import SupplierError
from integrations.suppliers.email_po.tracking_import import OUTCOMES, parse_tracking_file, record_import
from integrations.suppliers.runtime import SupplierRef

from ..db import read_only
from .email_inbox_models import TrackingImportRun
from .email_po_log import DatabaseSentLog
from .events import refresh_shipments
from .models import SupplierOrder

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_REPORTED_ROWS = 5_000  # a bigger file is still imported; its report keeps the first rows and the counts


def sent_log_of(session_factory, shop_domain: str, supplier_id: int) -> DatabaseSentLog:
    """The supplier's sent log, scoped to its shop."""
    return DatabaseSentLog(session_factory, SupplierRef(shop_domain, supplier_id))


def save_run(session, shop_domain: str, supplier_id: int, source: str, reference: str | None, rows: list[dict], message: str = "") -> TrackingImportRun:
    """Store one import's report (call inside the caller's transaction)."""
    counts = {outcome: sum(1 for row in rows if row["outcome"] == outcome) for outcome in OUTCOMES}
    run = TrackingImportRun(shop_domain=shop_domain, supplier_id=supplier_id, source=source, reference=(reference or "")[:255] or None,
                            message=message or None, rows=rows[:MAX_REPORTED_ROWS], **counts)
    session.add(run)
    session.flush()
    return run


def run_json(run: TrackingImportRun, *, with_rows: bool = True) -> dict:
    """An import as the API shows it."""
    out = {
        "id": run.id, "supplier_id": run.supplier_id, "source": run.source, "reference": run.reference, "message": run.message,
        "counts": {outcome: getattr(run, outcome) for outcome in OUTCOMES}, "created_at": run.created_at.isoformat(),
    }
    if with_rows:
        out["rows"] = run.rows or []
    return out


def import_upload(services, shop_domain: str, supplier_id: int, data: bytes, filename: str | None) -> TrackingImportRun:
    """Import an uploaded CSV/XLSX tracking file: record its parcels, save the report, tell Shopify."""
    sent_log = sent_log_of(services.session_factory, shop_domain, supplier_id)
    result = record_import(sent_log, parse_tracking_file(data, sent_log.get))
    rows = [{"source": f"file {filename or 'upload'}", **row.as_json()} for row in result.report]
    with services.session_factory.begin() as session:
        run = save_run(session, shop_domain, supplier_id, "upload", filename, rows)
        session.expunge(run)
    push_imported(services, shop_domain, supplier_id, list(result.shipments))
    return run


def push_imported(services, shop_domain: str, supplier_id: int, po_numbers: list[str]) -> int:
    """Turn the parcels recorded for these POs into Shopify fulfillments; returns the deliveries refreshed.

    A failure is left for the shipment poll (poll-shipments), which refreshes open deliveries again.
    """
    if not po_numbers:
        return 0
    with read_only(services.session_factory)() as session:
        delivery_ids = session.scalars(select(SupplierOrder.id).where(
            SupplierOrder.shop_domain == shop_domain, SupplierOrder.supplier_id == supplier_id,
            SupplierOrder.supplier_order_id.in_(po_numbers))).all()
    for delivery_id in delivery_ids:
        try:
            refresh_shipments(services, delivery_id)
        except (SupplierError, ShopifyError) as exc:
            log.warning("pushing imported tracking of delivery %s failed: %s (the shipment poll retries)", delivery_id, type(exc).__name__)
    return len(delivery_ids)
