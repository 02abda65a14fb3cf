"""Scheduled inventory work, as plain functions of the service container (any scheduler can call them)."""
from __future__ import annotations

import logging

from sqlalchemy import select

from ..models import Shop, ShopStatus
from ..suppliers.forwarding import adapter_from_record
from .feeds import check_stale_feeds, feeding_suppliers, pull_due, pull_supplier_stock
from .sync import sync_inventory

log = logging.getLogger(__name__)


def pull_due_stock_feeds(services) -> int:
    """Pull stock from every supplier whose interval has passed, then alert on stale feeds; how many were pulled."""
    with services.session_factory() as session:
        due = [(s.id, s) for s in feeding_suppliers(session) if pull_due(session, s)]
        adapters = {}
        for supplier_id, supplier in due:
            try:
                adapters[supplier_id] = adapter_from_record(supplier, services.box)
            except Exception as exc:  # a misconfigured supplier must not stop the others
                log.warning("stock pull skipped supplier=%s: %s", supplier_id, type(exc).__name__)
    for supplier_id, adapter in adapters.items():
        pull_supplier_stock(services.session_factory, supplier_id, adapter)
    with services.session_factory.begin() as session:
        check_stale_feeds(session)
    return len(adapters)


def sync_installed_shops(services, *, refresh_catalog: bool = False) -> None:
    """One inventory sync per installed shop that has suppliers feeding stock."""
    with services.session_factory() as session:
        shops = session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)).all()
        shops = [shop for shop in shops if feeding_suppliers(session, shop)]
    for shop in shops:
        sync_inventory(services, shop, refresh_catalog=refresh_catalog)


def refresh_catalogs(services) -> None:
    """Re-export every shop's catalog (catches what webhooks missed), then sync."""
    sync_installed_shops(services, refresh_catalog=True)
