"""Scheduled inventory work, as plain functions of the service container (any scheduler can call them)."""
from __future__ import annotations

import logging

from sqlalchemy import exists, select

from ..alerts import alert_job_failure
from ..jobs.fanout import once_per_tick, read_sessions as reads_of
from ..models import Shop, ShopStatus
from ..suppliers.forwarding import adapter_from_record
from ..suppliers.models import Supplier
from .models import CatalogVariant
from .feeds import check_stale_feeds, feeding_suppliers, feeds_have_work, pull_due, pull_supplier_stock, shops_with_stock_feeds, stale_check_needed
from .sync import sync_inventory

log = logging.getLogger(__name__)


def pull_due_stock_feeds(services, shop_domain: str | None = None) -> int:
    """Pull stock from every supplier (of `shop_domain`, or of all shops) whose interval has passed, then alert on stale feeds; how many were pulled.

    Each supplier is its own unit: one that fails (bad terms, a broken adapter, an error
    while applying its feed) is recorded and alerted for its shop, and the others go on.
    """
    failures: list[tuple[str, Supplier, BaseException]] = []
    due = []
    reads = reads_of(services)  # SQLite: deferred, never waits for (or takes) the writer's turn
    if shop_domain is not None:
        with reads() as session:
            if not feeds_have_work(session, shop_domain):
                return 0  # nearly every minute of nearly every shop: one read, nothing else
    with reads() as session:
        for supplier in feeding_suppliers(session, shop_domain):
            try:
                if pull_due(session, supplier):
                    due.append((supplier, adapter_from_record(supplier, services.box)))
            except Exception as exc:  # noqa: BLE001 - a misconfigured supplier must not stop the others
                failures.append(("stock-feeds", supplier, exc))
    pulled = 0
    for supplier, adapter in due:  # each pull calls the supplier with no transaction open
        try:
            pull_supplier_stock(services.session_factory, supplier.id, adapter)
            pulled += 1
        except Exception as exc:  # noqa: BLE001
            failures.append(("stock-feeds", supplier, exc))
    with reads() as session:
        check_needed = stale_check_needed(session, shop_domain=shop_domain)  # a read: fresh feeds and no alert need no write
    if check_needed:
        with services.session_factory.begin() as session:
            check_stale_feeds(session, on_error=lambda supplier, exc: failures.append(("stale-feed-check", supplier, exc)), shop_domain=shop_domain)
    # Alerts after the transactions above: each is a write of its own.
    for job, supplier, exc in failures:
        alert_job_failure(services.session_factory, job, supplier.shop_domain, exc, unit=f"supplier:{supplier.id}", subject=supplier.name)
    return pulled


def sync_installed_shops(services, *, refresh_catalog: bool = False) -> None:
    """One inventory sync per installed shop that has suppliers feeding stock."""
    with services.session_factory() as session:
        shops = session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)).all()
        shops = [shop for shop in shops if feeding_suppliers(session, shop)]
    for shop in shops:
        try:
            sync_inventory(services, shop, refresh_catalog=refresh_catalog)
        except Exception as exc:  # noqa: BLE001 - one shop must not stop the others
            alert_job_failure(services.session_factory, "inventory-sync", shop, exc)


def shops_with_stock_feeds_of(services) -> list[str]:
    """Shops the per-shop stock jobs have work for: those with a feeding supplier."""
    with reads_of(services)() as session:
        return shops_with_stock_feeds(session)


@once_per_tick  # inventory-sync, catalog-refresh and catalog-mirror each split this one read
def _stock_feed_shops_by_catalog(services) -> dict[str, bool]:
    """Shops with a feeding supplier -> whether we hold a mirror of their catalog (one query)."""
    with reads_of(services)() as session:
        shops = shops_with_stock_feeds(session)
        if not shops:
            return {}
        mirrored = set()
        for start in range(0, len(shops), 500):  # SQLite caps bound parameters per statement
            chunk = shops[start:start + 500]
            mirrored.update(session.scalars(select(Shop.domain).where(Shop.domain.in_(chunk), exists().where(CatalogVariant.shop_domain == Shop.domain))))
    return {shop: shop in mirrored for shop in shops}


def shops_to_sync_of(services) -> list[str]:
    """Shops the inventory sync has work for: a feeding supplier and a mirrored catalog (a shop without one waits for its first mirror)."""
    return [shop for shop, mirrored in _stock_feed_shops_by_catalog(services).items() if mirrored]


def shops_to_mirror_of(services) -> list[str]:
    """Shops with a feeding supplier and no catalog mirror yet: the first-mirror job's work."""
    return [shop for shop, mirrored in _stock_feed_shops_by_catalog(services).items() if not mirrored]


def mirror_shop_catalog(services, shop_domain: str) -> None:
    """The per-shop first-mirror unit: export the shop's catalog, then its first inventory sync."""
    sync_inventory(services, shop_domain, refresh_catalog=True)


def sync_shop_inventory(services, shop_domain: str) -> None:
    """The per-shop inventory sync unit."""
    sync_inventory(services, shop_domain)


def refresh_shop_catalog(services, shop_domain: str) -> None:
    """The per-shop catalog refresh unit: re-export the shop's catalog, then sync."""
    sync_inventory(services, shop_domain, refresh_catalog=True)


def refresh_catalogs(services) -> None:
    """Re-export every shop's catalog (catches what webhooks missed), then sync."""
    sync_installed_shops(services, refresh_catalog=True)
