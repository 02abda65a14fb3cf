"""Supplier stock feeds into our records: pulled, pushed by webhook or imported from a file.

Every feed becomes a StockFeedRun (source, rows refused, SKUs changed). A feed is either a
full snapshot of the supplier's catalog (a pull, a file: SKUs it leaves out are out of
stock) or a delta (a webhook: only what it lists). A feed that would take more than the
supplier's guard share of its SKUs out of stock is held until the merchant confirms it:
one broken export must not empty half the store.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import String, bindparam, cast, exists, literal, select, update
from sqlalchemy.orm import Session

from integrations.suppliers.base import StockLevel, SupplierError
from integrations.suppliers.email_po.csv_rows import RowError

from ..alerts import raise_alert, resolve_alert
from ..bounds import MAX_STOCK, stock_column_holds
from ..db import read_only
from ..models import utcnow
from ..suppliers.models import Alert, ProductMapping, Supplier
from .models import FeedStatus, StockFeedRun
from .terms import inventory_terms

log = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 200  # a run keeps this many refused rows (the count is exact)
GOOD_STATUSES = (FeedStatus.APPLIED, FeedStatus.CONFIRMED)


@dataclass(frozen=True)
class _Change:
    mapping_ids: tuple[int, ...]
    stock: int | None
    in_stock: bool


def _in_stock(stock: int | None, in_stock: bool) -> bool:
    return in_stock and (stock is None or stock > 0)


def apply_feed(
    session: Session,
    supplier: Supplier,
    levels: Iterable[StockLevel],
    *,
    source: str,
    full: bool,
    refused: Iterable[RowError] = (),
    as_of: dt.datetime | None = None,
    confirmed: bool = False,
) -> StockFeedRun:
    """Record a feed and, unless the guard holds it, update every mapped SKU it covers."""
    as_of = as_of or utcnow()
    levels = list(levels)
    errors = [{"row": e.row, "error": e.message} for e in refused]
    mappings: dict[str, list[tuple[int, int | None, bool]]] = {}
    for mapping_id, supplier_sku, stock, in_stock in session.execute(
        select(ProductMapping.id, ProductMapping.supplier_sku, ProductMapping.stock, ProductMapping.in_stock).where(ProductMapping.supplier_id == supplier.id)
    ):
        mappings.setdefault(supplier_sku, []).append((mapping_id, stock, in_stock))

    changes: list[_Change] = []
    changed = dropped = 0
    listed: set[str] = set()
    for level in levels:
        known = mappings.get(level.supplier_sku)
        if known is None:
            errors.append({"row": None, "sku": level.supplier_sku, "error": "unknown SKU: no product is mapped to it for this supplier"})
            continue
        if level.available is not None and not stock_column_holds(level.available):
            errors.append({"row": None, "sku": level.supplier_sku, "error": f"available is not a stock count from 0 to {MAX_STOCK}"})
            listed.add(level.supplier_sku)  # listed, so a snapshot does not zero it either: it keeps its stock
            continue
        listed.add(level.supplier_sku)
        changes.append(_Change(tuple(m[0] for m in known), level.available, level.in_stock))
        before = known[0]
        if (before[1], before[2]) != (level.available, level.in_stock):
            changed += 1
            dropped += _in_stock(before[1], before[2]) and not _in_stock(level.available, level.in_stock)
    if full:
        for supplier_sku, known in mappings.items():
            if supplier_sku in listed:
                continue
            changes.append(_Change(tuple(m[0] for m in known), 0, False))
            if (known[0][1], known[0][2]) != (0, False):
                changed += 1
                dropped += _in_stock(known[0][1], known[0][2])

    run = StockFeedRun(
        shop_domain=supplier.shop_domain, supplier_id=supplier.id, source=source, full=full, as_of=as_of, status=FeedStatus.APPLIED,
        rows_total=len(levels) + sum(1 for e in errors if e.get("row") is not None),
        rows_refused=len(errors), skus_changed=changed, skus_dropped=dropped, errors=errors[:MAX_ERRORS_KEPT],
    )
    session.add(run)
    terms = inventory_terms(supplier.inventory_terms)
    if full and not levels and mappings:
        # A snapshot listing nothing at all is a broken export, not an empty warehouse.
        run.status, run.message = FeedStatus.FAILED, "the feed listed no stock at all; nothing was changed"
        session.flush()
        return run
    if not confirmed and dropped >= terms.guard_min_skus and dropped > terms.guard_share * max(1, len(mappings)):
        run.status = FeedStatus.NEEDS_CONFIRMATION
        run.message = f"this feed would take {dropped} of {len(mappings)} SKUs out of stock; confirm it to apply"
        run.held_levels = [[lv.supplier_sku, lv.available, lv.in_stock] for lv in levels]
        session.flush()
        raise_alert(session, supplier.shop_domain, "stock_feed_held", f"stock_feed_held:{run.id}",
                    f"A stock feed from {supplier.name} was held: {run.message}.", severity="critical", subject=supplier.name)
        return run
    _write(session, changes, as_of)
    run.status = FeedStatus.CONFIRMED if confirmed else FeedStatus.APPLIED
    session.flush()
    resolve_alert(session, stale_alert_key(supplier.id))
    return run


def _write(session: Session, changes: list[_Change], as_of: dt.datetime) -> None:
    rows = [{"id": mid, "stock": c.stock, "in_stock": c.in_stock, "stock_as_of": as_of} for c in changes for mid in c.mapping_ids]
    for start in range(0, len(rows), 1000):
        session.execute(update(ProductMapping), rows[start:start + 1000])


def confirm_held_feed(session: Session, run: StockFeedRun) -> StockFeedRun:
    """Apply a feed the guard held, as the merchant asked; returns the new (confirmed) run."""
    if run.status != FeedStatus.NEEDS_CONFIRMATION:
        raise ValueError(f"feed run {run.id} is {run.status}, not waiting for confirmation")
    supplier = session.get(Supplier, run.supplier_id)
    levels = [StockLevel(sku, bool(in_stock), available) for sku, available, in_stock in run.held_levels or []]
    run.status, run.held_levels = FeedStatus.DISCARDED, None
    resolve_alert(session, f"stock_feed_held:{run.id}")
    # The figures were true when the feed was read, not now.
    return apply_feed(session, supplier, levels, source=run.source, full=run.full, as_of=run.as_of, confirmed=True)


def discard_held_feed(session: Session, run: StockFeedRun) -> None:
    """Drop a held feed without applying it."""
    if run.status != FeedStatus.NEEDS_CONFIRMATION:
        raise ValueError(f"feed run {run.id} is {run.status}, not waiting for confirmation")
    run.status, run.held_levels = FeedStatus.DISCARDED, None
    resolve_alert(session, f"stock_feed_held:{run.id}")


def record_failed_feed(session: Session, supplier: Supplier, source: str, message: str) -> StockFeedRun:
    """A feed that could not be read at all (its message says why)."""
    run = StockFeedRun(shop_domain=supplier.shop_domain, supplier_id=supplier.id, source=source, status=FeedStatus.FAILED, message=message[:500])
    session.add(run)
    session.flush()
    return run


PULL_CHUNK = 100  # SKUs per adapter call


def pull_supplier_stock(session_factory, supplier_id: int, adapter) -> StockFeedRun:
    """Ask the supplier for the stock of every SKU mapped to it (a full snapshot) and apply it.

    The supplier is called outside any transaction: on SQLite a write transaction held
    across a slow supplier would stop every other writer.
    """
    with read_only(session_factory)() as session:  # SQLite: a deferred read, not a turn at the writer
        skus = list(session.scalars(select(ProductMapping.supplier_sku).where(ProductMapping.supplier_id == supplier_id).distinct()))
    as_of = utcnow()
    levels: list[StockLevel] = []
    failure = None
    try:
        for start in range(0, len(skus), PULL_CHUNK):
            levels.extend(adapter.get_stock(skus[start:start + PULL_CHUNK]))
    except (SupplierError, NotImplementedError) as exc:
        log.warning("stock pull failed supplier=%s error=%s", supplier_id, type(exc).__name__)
        failure = f"the supplier's stock call failed: {exc}"
    with session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        if failure:
            run = record_failed_feed(session, supplier, "pull", failure)
        else:
            run = apply_feed(session, supplier, levels, source="pull", full=True, as_of=as_of)
        session.flush()
        session.expunge(run)
        return run


def last_good_feed(session: Session, supplier_id: int) -> StockFeedRun | None:
    """The newest feed that was applied."""
    return session.scalar(
        select(StockFeedRun).where(StockFeedRun.supplier_id == supplier_id, StockFeedRun.status.in_(GOOD_STATUSES)).order_by(StockFeedRun.id.desc()).limit(1)
    )


# Suppliers whose stock messages are deltas (an EDI 846 advises the SKUs that changed): never
# pulled as a full snapshot (every other mapped SKU would go to 0), and no pull, so no stale alert.
DELTA_FEED_KINDS = frozenset({"edi_x12"})


def stale_alert_key(supplier_id: int) -> str:
    """Dedupe key of a supplier's stale-feed alert."""
    return f"stock_stale:{supplier_id}"


def feeding_suppliers(session: Session, shop_domain: str | None = None) -> list[Supplier]:
    """Active suppliers with at least one mapped SKU (the ones whose stock we keep)."""
    # EXISTS, not IN: one index probe a supplier (ix_product_mappings_supplier_sku), where IN read every shop's mappings
    query = select(Supplier).where(Supplier.active.is_(True), Supplier.deleted_at.is_(None), exists().where(ProductMapping.supplier_id == Supplier.id))
    if shop_domain:
        query = query.where(Supplier.shop_domain == shop_domain)
    return list(session.scalars(query.order_by(Supplier.id)))


def shops_with_stock_feeds(session: Session) -> list[str]:
    """Domains with at least one feeding supplier (one query: the per-shop stock jobs skip the rest)."""
    return list(session.scalars(
        select(Supplier.shop_domain).distinct()
        .where(Supplier.active.is_(True), Supplier.deleted_at.is_(None), Supplier.id.in_(select(ProductMapping.supplier_id)))
    ))


def check_stale_feeds(session: Session, now: dt.datetime | None = None, on_error=None, shop_domain: str | None = None) -> list[int]:
    """Alert (once) for each supplier whose last good feed is older than its terms allow; ids of the stale ones.

    With `on_error(supplier, exc)`, each supplier is checked in a savepoint of its own and a
    failure is handed to it instead of ending the check for everyone.
    """
    now = now or utcnow()
    stale: list[int] = []
    for supplier in feeding_suppliers(session, shop_domain):
        if on_error is None:
            _check_stale_feed(session, supplier, now, stale)
            continue
        try:
            with session.begin_nested():
                _check_stale_feed(session, supplier, now, stale)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            on_error(supplier, exc)
    return stale


def _newest_run(*conditions):
    return (select(StockFeedRun.created_at).where(StockFeedRun.supplier_id == Supplier.id, *conditions)
            .order_by(StockFeedRun.id.desc()).limit(1).correlate(Supplier).scalar_subquery())


# One statement, built once: per feeding supplier (of a shop, or of every shop), what decides
# whether its minute has work (its terms, its newest pull and good feed, an open stale alert).
# The stock-feeds unit of 1,000 shops runs every minute and nearly always has nothing to do.
_EVERY_FEED_STATE = select(
    Supplier.kind, Supplier.inventory_terms, Supplier.created_at,
    _newest_run(StockFeedRun.source == "pull"), _newest_run(StockFeedRun.status.in_(GOOD_STATUSES)),
    select(Alert.id).where(Alert.dedupe_key == literal("stock_stale:") + cast(Supplier.id, String), Alert.resolved_at.is_(None))
    .correlate(Supplier).exists(),
).where(Supplier.active.is_(True), Supplier.deleted_at.is_(None), Supplier.id.in_(select(ProductMapping.supplier_id)))
_FEED_STATE = _EVERY_FEED_STATE.where(Supplier.shop_domain == bindparam("shop"))


def feeds_have_work(session: Session, shop_domain: str, now: dt.datetime | None = None) -> bool:
    """Whether the shop's stock-feeds minute has anything to do: a pull due, a feed stale, or a stale alert open (one read).

    The same rules as `pull_due` and `check_stale_feeds`; when in doubt (terms that do not
    read) it answers True and the full path decides and reports.
    """
    return _feeds_need(session, shop_domain, now or utcnow(), pulls=True)


def stale_check_needed(session: Session, now: dt.datetime | None = None, shop_domain: str | None = None) -> bool:
    """Whether `check_stale_feeds` would change anything: a supplier is stale, or a stale alert is open (one read).

    Nearly every minute every feed is fresh and no alert is open: the stock-feeds unit then
    skips its write transaction (1,000 shops' units each minute would queue 1,000 writers).
    """
    return _feeds_need(session, shop_domain, now or utcnow(), pulls=False)


def _feeds_need(session: Session, shop_domain: str | None, now: dt.datetime, pulls: bool) -> bool:
    rows = session.execute(_FEED_STATE, {"shop": shop_domain}) if shop_domain else session.execute(_EVERY_FEED_STATE)
    for kind, terms_json, created_at, last_pull, last_good, alerted in rows:
        if alerted:
            return True
        if kind in DELTA_FEED_KINDS:
            continue
        try:
            terms = inventory_terms(terms_json)
        except Exception:  # noqa: BLE001 - reported by the full path
            return True
        if pulls and terms.pull_every_minutes > 0 and (last_pull is None or now - last_pull >= dt.timedelta(minutes=terms.pull_every_minutes)):
            return True
        if now - (last_good or created_at) > terms.stale_after:
            return True
    return False


def _check_stale_feed(session: Session, supplier: Supplier, now: dt.datetime, stale: list[int]) -> None:
    if supplier.kind in DELTA_FEED_KINDS:
        resolve_alert(session, stale_alert_key(supplier.id))  # one raised before this rule settles
        return
    terms = inventory_terms(supplier.inventory_terms)
    last = last_good_feed(session, supplier.id)
    since = last.created_at if last else supplier.created_at
    if now - since > terms.stale_after:
        stale.append(supplier.id)
        when = f"since {last.created_at:%Y-%m-%d %H:%M} UTC" if last else "ever"
        raise_alert(session, supplier.shop_domain, "stock_feed_stale", stale_alert_key(supplier.id),
                    f"No stock feed from {supplier.name} {when}: Shopify may be showing stock the supplier no longer has.",
                    severity="warning", subject=supplier.name)
    else:
        resolve_alert(session, stale_alert_key(supplier.id))


def pull_due(session: Session, supplier: Supplier, now: dt.datetime | None = None) -> bool:
    """True when the supplier's pull interval has passed since its last pull (never for delta feeds such as EDI)."""
    if supplier.kind in DELTA_FEED_KINDS:
        return False
    terms = inventory_terms(supplier.inventory_terms)
    if terms.pull_every_minutes <= 0:
        return False
    last = session.scalar(select(StockFeedRun.created_at).where(StockFeedRun.supplier_id == supplier.id, StockFeedRun.source == "pull").order_by(StockFeedRun.id.desc()).limit(1))
    return last is None or (now or utcnow()) - last >= dt.timedelta(minutes=terms.pull_every_minutes)
