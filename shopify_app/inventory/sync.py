"""One inventory sync for a shop: mirror the catalog if we have none, plan the levels, push the changes."""
from __future__ import annotations

import logging

from sqlalchemy import select

from ..models import utcnow
from .catalog_mirror import mirror_catalog
from .models import CatalogVariant, InventorySyncRun
from .plan import plan_levels
from .push import InventoryPusher
from .selling_policy import enforce_deny_policy

log = logging.getLogger(__name__)


def sync_inventory(services, shop_domain: str, *, gateway=None, refresh_catalog: bool = False) -> InventorySyncRun:
    """Bring Shopify's available quantities in line with supplier stock; the run records what happened."""
    gateway = gateway or services.gateway(shop_domain)
    reader = services.read_session_factory or services.session_factory
    with services.session_factory.begin() as session:
        run = InventorySyncRun(shop_domain=shop_domain)
        session.add(run)
        session.flush()
        run_id = run.id
        has_catalog = session.scalar(select(CatalogVariant.id).where(CatalogVariant.shop_domain == shop_domain).limit(1)) is not None
    status, error, planned = "done", None, 0
    pusher = InventoryPusher(services.session_factory, reader, gateway, shop_domain, run_id)
    try:
        if refresh_catalog or not has_catalog:
            mirror_catalog(services.session_factory, gateway, services.http_client, shop_domain)
        planned = plan_levels(services.session_factory, reader, shop_domain).levels_changed
        pusher.push()
        enforce_deny_policy(services.session_factory, gateway, shop_domain)
    except Exception as exc:  # the run must record the failure; the next run starts over
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        log.warning("inventory sync failed shop=%s error=%s", shop_domain, type(exc).__name__)
    stats = pusher.stats
    with services.session_factory.begin() as session:
        run = session.get(InventorySyncRun, run_id)
        run.status, run.error, run.finished_at = status, error or ("; ".join(stats.errors)[:500] or None), utcnow()
        run.levels_planned, run.quantities_set, run.calls = planned, stats.quantities_set, stats.calls
        run.stale_retries, run.rows_failed = stats.stale_retries, stats.rows_failed
    with services.session_factory() as session:
        return session.get(InventorySyncRun, run_id)
