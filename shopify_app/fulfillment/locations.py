"""Which fulfillment orders are ours: by the location Shopify assigned them to.

- A supplier's fulfillment-service location (`Supplier.location_gid` of a service supplier)
  belongs to that supplier alone.
- A merchant location is managed when the merchant mapped it (`ManagedLocation`, with the
  merchant-managed suppliers allowed there; none listed: all of them), or when it is a
  merchant-managed supplier's own location (`Supplier.location_gid`, set with its inventory
  terms): then that supplier is allowed there.
- Default, until the merchant maps any location: the shop's primary location is managed for
  every merchant-managed supplier (checked before a supplier's own location) (a shop with one location and several suppliers works as
  it is; lines route by SKU among the suppliers allowed there).
Every other location (another warehouse, another app's service) is not ours.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..suppliers.models import FulfillmentModel, Supplier
from .models import ManagedBy, ManagedLocation


@dataclass(frozen=True)
class Manager:
    """Who works fulfillment orders at a location, and which suppliers may get their lines."""

    managed_by: str
    supplier_id: int | None = None  # the service supplier of a fulfillment-service location
    allowed: frozenset[int] | None = None  # merchant locations: supplier ids, None = every merchant-managed one


def _live(shop_domain: str):
    return (Supplier.shop_domain == shop_domain, Supplier.deleted_at.is_(None))


def manager_of(session: Session, shop_domain: str, location_gid: str | None, is_primary: bool) -> Manager:
    """Classify a location for this shop (see the module docstring)."""
    if not location_gid:
        return Manager(ManagedBy.NOT_OURS)
    service = session.scalar(select(Supplier.id).where(*_live(shop_domain), Supplier.location_gid == location_gid,
                                                       Supplier.fulfillment_model == FulfillmentModel.SERVICE.value))
    if service is not None:
        return Manager(ManagedBy.SERVICE, supplier_id=service)
    mapped = session.scalar(select(ManagedLocation).where(ManagedLocation.shop_domain == shop_domain, ManagedLocation.location_gid == location_gid))
    if mapped is not None:
        return Manager(ManagedBy.MERCHANT, allowed=frozenset(int(i) for i in mapped.supplier_ids) or None)
    any_mapped = session.scalar(select(ManagedLocation.id).where(ManagedLocation.shop_domain == shop_domain).limit(1))
    if is_primary and any_mapped is None:
        return Manager(ManagedBy.MERCHANT)
    own = frozenset(session.scalars(select(Supplier.id).where(*_live(shop_domain), Supplier.location_gid == location_gid,
                                                             Supplier.fulfillment_model == FulfillmentModel.MERCHANT.value)))
    if own:
        return Manager(ManagedBy.MERCHANT, allowed=own)
    return Manager(ManagedBy.NOT_OURS)
