"""Importing a shop's orders through the Admin API, through the same sync path as webhooks.

Small imports page through `OrdersForSync` (one order per page: with its 50 lines, their
discounts and taxes an order costs ~690 points of the 1,000 a query may ask for). Large ones
(more than `BULK_THRESHOLD` orders by `ordersCount`) run one bulk operation instead: Shopify
exports every order to a JSONL file at the cost of one mutation, and the file is joined by
`__parentId` (since 2026-01 it is ungrouped: a line may come before its order).

At install (`request_install_backfill`) the shop's orders of the last `BACKFILL_DAYS` (30 by
default) are imported by the `install-backfills` job, outside the request that installed the
shop. Orders older than 60 days need the `read_all_orders` scope: a longer window is cut to 60
days, with an alert, when the shop did not grant it. An order already fulfilled in Shopify is
kept as history (FULFILLED_BEFORE_INSTALL), never routed: a supplier would ship it twice.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import or_, select, update

from integrations.shopify import documents
from integrations.shopify.gateway import updated_at_window

from ..alerts import raise_alert, resolve_alert
from ..config import PROTECTED_ORDER_DAYS as PROTECTED_WINDOW_DAYS, READ_ALL_ORDERS
from ..models import Shop, utcnow
from .graph import order_payload_from_graphql, orders_from_bulk_lines, with_every_line_item
from .models import InstallBackfill, OrderState
from .sync import upsert_order
from .payloads import PayloadError, parse_order

log = logging.getLogger(__name__)

PAGE_SIZE = 1
BULK_THRESHOLD = 250  # more orders than this go through one bulk operation
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3650
BULK_SEARCH_PLACEHOLDER = "\"created_at:>='2000-01-01T00:00:00Z'\""
LEASE = dt.timedelta(minutes=30)
RETRY_AFTER = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 6
ALREADY_FULFILLED = frozenset({"fulfilled", "restocked"})

Progress = Callable[[int, int], None]


@dataclass
class BackfillReport:
    """What a backfill did."""

    total: int = 0
    seen: int = 0
    applied: int = 0
    method: str = "paged"
    skipped: int = 0  # orders Shopify returned that we could not read (dead-letter-like: logged with the reason)


def shopify_search_since(since: dt.datetime, field: str = "updated_at") -> str:
    """Shopify's search syntax for '<field> at or after'."""
    return f"{field}:>='{since.astimezone(dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def bulk_query_text(search: str) -> str:
    """OrdersBulkExport with its search string filled in (a bulk query takes no variables)."""
    text = documents.get_document("OrdersBulkExport")
    if BULK_SEARCH_PLACEHOLDER not in text:
        raise RuntimeError("OrdersBulkExport lost its search placeholder")
    return text.replace(BULK_SEARCH_PLACEHOLDER, json.dumps(search), 1)


def backfill_orders(services, shop_domain: str, since: dt.datetime, progress: Progress | None = None, *, max_attempts: int = 6,
                    field: str = "updated_at", method: str = "auto", bulk_threshold: int = BULK_THRESHOLD, poll_every: float = 1.0) -> BackfillReport:
    """Upsert (and route, if paid) every order whose `field` is at or after `since`; bulk when there are many."""
    gateway = services.gateway(shop_domain, max_attempts=max_attempts)
    query = shopify_search_since(since, field)
    total = gateway.query("OrdersCount", {"query": query})["ordersCount"]["count"]
    use_bulk = method == "bulk" or (method == "auto" and total > bulk_threshold)
    report = BackfillReport(total=total, method="bulk" if use_bulk else "paged")
    if use_bulk:
        from ..inventory.catalog_mirror import run_bulk_export, stream_jsonl

        operation = run_bulk_export(gateway, "OrdersBulkExport", query_text=bulk_query_text(query), poll_every=poll_every)
        nodes = orders_from_bulk_lines(stream_jsonl(services.http_client, operation.get("url")))
    else:
        # Sorted by updatedAt: past Shopify's 25,000-object cap the listing goes on from the last one seen.
        nodes = gateway.paginate("OrdersForSync", {"first": PAGE_SIZE, "query": query}, ("orders",), next_window=updated_at_window)
    for node in nodes:
        if not use_bulk:  # a bulk export has every line already; a page holds the first 50
            node = with_every_line_item(gateway, node)
        _import(services, shop_domain, node, report)
        if progress:
            progress(report.seen, max(report.total, report.seen))
    if progress and report.seen == 0:
        progress(0, 0)
    return report


def _import(services, shop_domain: str, node: dict, report: BackfillReport) -> None:
    from ..fulfillment.sync import fulfillment_orders_if_forwardable
    from ..webhooks.handlers.orders import sync_snapshot

    report.seen += 1
    try:
        snapshot = parse_order(order_payload_from_graphql(node))
    except PayloadError as exc:  # one unreadable order must not stop the others
        report.skipped += 1
        log.warning("backfill shop=%s: order %s not imported: %s", shop_domain, node.get("id"), exc)
        return
    fulfillment_orders = None
    if not (snapshot.fulfillment_status in ALREADY_FULFILLED and snapshot.cancelled_at is None):
        # Routing follows Shopify's assignment: read a paid order's fulfillment orders first (no transaction open).
        fulfillment_orders = fulfillment_orders_if_forwardable(services.gateway(shop_domain), snapshot)
    with services.session_factory.begin() as session:
        if snapshot.fulfillment_status in ALREADY_FULFILLED and snapshot.cancelled_at is None:
            # Fulfilled in Shopify before we knew it: kept as history, never sent to a supplier
            # (routing it would ship the customer's order a second time).
            order, applied = upsert_order(session, shop_domain, snapshot)
            if applied and order.state == OrderState.RECEIVED.value:
                order.state = OrderState.FULFILLED_BEFORE_INSTALL.value
            report.applied += applied
            return
        report.applied += sync_snapshot(session, services, shop_domain, snapshot, fulfillment_orders=fulfillment_orders) is not None


def text_progress_bar(stream=None, width: int = 40) -> Progress:
    """A progress bar on the terminal (tqdm), fed with (done, total)."""
    from tqdm import tqdm

    bar = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="order", file=stream or sys.stderr, ncols=80, ascii=True, mininterval=0.2)
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.refresh()
            bar.close()

    return show


# --- at install -------------------------------------------------------------------------------


def window_days(settings) -> int:
    """BACKFILL_DAYS, bounded to 0..MAX_WINDOW_DAYS (0: no backfill at install)."""
    value = getattr(settings, "backfill_days", DEFAULT_WINDOW_DAYS)
    return max(0, min(MAX_WINDOW_DAYS, int(value)))


def request_install_backfill(session, shop_domain: str, days: int, now: dt.datetime | None = None) -> InstallBackfill | None:
    """Arm the shop's install backfill for the last `days` days (re-armed on a reinstall); None when days is 0."""
    if days <= 0:
        return None
    now = now or utcnow()
    row = session.scalar(select(InstallBackfill).where(InstallBackfill.shop_domain == shop_domain))
    if row is None:
        row = InstallBackfill(shop_domain=shop_domain)
        session.add(row)
    row.status, row.window_days, row.since = "pending", days, now - dt.timedelta(days=days)
    row.method = row.total = row.last_error = row.finished_at = row.lease_until = None
    row.seen = row.applied = row.attempts = 0
    row.next_attempt_at = row.requested_at = now
    session.flush()
    return row


def run_install_backfills(services, *, poll_every: float = 1.0, bulk_threshold: int = BULK_THRESHOLD) -> int:
    """Work every due install backfill, one shop at a time (a failure is retried later, and alerted after the last try)."""
    done = 0
    while (claimed := _claim(services)) is not None:
        backfill_id, shop_domain = claimed
        try:
            since, days = _allowed_window(services, backfill_id, shop_domain)
            report = backfill_orders(services, shop_domain, since, _row_progress(services, backfill_id), field="created_at",
                                     bulk_threshold=bulk_threshold, poll_every=poll_every)
        except Exception as exc:  # noqa: BLE001 - recorded on the row and retried; one shop never stops the others
            _failed(services, backfill_id, shop_domain, exc)
            continue
        with services.session_factory.begin() as session:
            row = session.get(InstallBackfill, backfill_id)
            row.status, row.method, row.total, row.seen, row.applied = "done", report.method, report.total, report.seen, report.applied
            row.finished_at, row.lease_until, row.last_error = utcnow(), None, None
            resolve_alert(session, f"install_backfill_failed:{shop_domain}")
        log.info("install backfill shop=%s: %d orders (%s) over %d days", shop_domain, report.seen, report.method, days)
        done += 1
    return done


def _row_progress(services, backfill_id: int, every: int = 50) -> Progress:
    """Progress written to the backfill's row every `every` orders (and its lease renewed), so it can be watched."""

    def record(done: int, total: int) -> None:
        if done % every and done != total:
            return
        with services.session_factory.begin() as session:
            session.execute(update(InstallBackfill).where(InstallBackfill.id == backfill_id)
                            .values(seen=done, total=total, lease_until=utcnow() + LEASE))

    return record


def _claim(services) -> tuple[int, str] | None:
    now = utcnow()
    due = (InstallBackfill.status.in_(("pending", "running")), InstallBackfill.next_attempt_at <= now,
           or_(InstallBackfill.lease_until.is_(None), InstallBackfill.lease_until < now))
    with services.session_factory.begin() as session:
        for backfill_id, shop_domain in session.execute(select(InstallBackfill.id, InstallBackfill.shop_domain).where(*due).order_by(InstallBackfill.id)).all():
            # The conditional UPDATE is the claim (two workers never run one shop's backfill twice).
            claimed = session.execute(update(InstallBackfill).where(InstallBackfill.id == backfill_id, *due)
                                      .values(status="running", lease_until=now + LEASE, attempts=InstallBackfill.attempts + 1)).rowcount
            if claimed == 1:
                return backfill_id, shop_domain
    return None


def _allowed_window(services, backfill_id: int, shop_domain: str) -> tuple[dt.datetime, int]:
    """The row's window, cut to 60 days (with an alert) when the shop did not grant read_all_orders."""
    with services.session_factory.begin() as session:
        row = session.get(InstallBackfill, backfill_id)
        granted = set((session.scalar(select(Shop.scopes).where(Shop.domain == shop_domain)) or "").split(","))
        if row.window_days <= PROTECTED_WINDOW_DAYS or READ_ALL_ORDERS in granted:
            return row.since, row.window_days
        raise_alert(session, shop_domain, "backfill_window_cut", f"backfill_window_cut:{shop_domain}",
                    f"Orders older than {PROTECTED_WINDOW_DAYS} days need the read_all_orders scope, which this shop did not grant: "
                    f"the install backfill covers {PROTECTED_WINDOW_DAYS} days instead of {row.window_days}.", severity="warning")
        return row.requested_at - dt.timedelta(days=PROTECTED_WINDOW_DAYS), PROTECTED_WINDOW_DAYS


def _failed(services, backfill_id: int, shop_domain: str, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    log.warning("install backfill shop=%s failed: %s", shop_domain, type(exc).__name__)
    with services.session_factory.begin() as session:
        row = session.get(InstallBackfill, backfill_id)
        row.last_error, row.lease_until = error, None
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            raise_alert(session, shop_domain, "install_backfill_failed", f"install_backfill_failed:{shop_domain}",
                        f"The import of the last {row.window_days} days of orders failed ({type(exc).__name__}); "
                        "run `python -m shopify_app.cli backfill` or reinstall to retry.", severity="critical")
        else:
            row.status = "pending"
            row.next_attempt_at = utcnow() + RETRY_AFTER * row.attempts
