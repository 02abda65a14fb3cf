"""Polling suppliers for shipments, for those whose webhooks were lost or that send none."""
from __future__ import annotations

import logging

from sqlalchemy import select

from integrations.shopify.errors import ShopifyError
from integrations.suppliers.base import SupplierError

from ..alerts import alert_job_failure
from ..models import Shop, ShopStatus
from .events import refresh_shipments
from .models import DeliveryState, SupplierOrder

log = logging.getLogger(__name__)

OPEN_STATES = (DeliveryState.PLACED.value, DeliveryState.PARTIALLY_SHIPPED.value)


def poll_shipments(services, limit: int = 200) -> int:
    """Ask suppliers about open supplier orders and push new tracking to Shopify; returns orders checked."""
    with services.session_factory() as session:
        rows = session.execute(
            select(SupplierOrder.id, SupplierOrder.shop_domain)
            .join(Shop, Shop.domain == SupplierOrder.shop_domain)
            .where(SupplierOrder.state.in_(OPEN_STATES), SupplierOrder.supplier_order_id.is_not(None), Shop.status == ShopStatus.INSTALLED.value)
            .order_by(SupplierOrder.id)
            .limit(limit)
        ).all()
    for delivery_id, shop_domain in rows:
        try:
            refresh_shipments(services, delivery_id)  # calls out with no transaction open
        except (SupplierError, ShopifyError) as exc:
            log.warning("shipment poll for delivery %s failed: %s", delivery_id, type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - one shop's broken supplier must not stop the others
            alert_job_failure(services.session_factory, "poll-shipments", shop_domain, exc, unit=f"delivery:{delivery_id}")
    return len(rows)
