"""Polling suppliers for shipments, for those whose webhooks were lost or that send none."""
from __future__ import annotations

import logging

from sqlalchemy import select

from integrations.shopify.errors import ShopifyError
from integrations.suppliers.base import SupplierError

from ..models import Shop, ShopStatus
from .events import sync_shipments
from .forwarding import adapter_from_record
from .models import DeliveryState, SupplierOrder

log = logging.getLogger(__name__)

OPEN_STATES = (DeliveryState.PLACED.value, DeliveryState.PARTIALLY_SHIPPED.value)


def poll_shipments(services, limit: int = 200) -> int:
    """Ask suppliers about open supplier orders and push new tracking to Shopify; returns orders checked."""
    with services.session_factory() as session:
        ids = session.scalars(
            select(SupplierOrder.id)
            .join(Shop, Shop.domain == SupplierOrder.shop_domain)
            .where(SupplierOrder.state.in_(OPEN_STATES), SupplierOrder.supplier_order_id.is_not(None), Shop.status == ShopStatus.INSTALLED.value)
            .order_by(SupplierOrder.id)
            .limit(limit)
        ).all()
    for delivery_id in ids:
        try:
            with services.session_factory.begin() as session:
                delivery = session.get(SupplierOrder, delivery_id)
                adapter = adapter_from_record(delivery.supplier, services.box)
                sync_shipments(session, delivery, adapter.get_shipments(delivery.supplier_order_id), services.gateway)
        except (SupplierError, ShopifyError) as exc:
            log.warning("shipment poll for delivery %s failed: %s", delivery_id, type(exc).__name__)
    return len(ids)
