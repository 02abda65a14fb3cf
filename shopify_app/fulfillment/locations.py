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

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..db import flushed_connection
from ..suppliers.models import FulfillmentModel, Supplier
from .models import ManagedBy, ManagedLocation


@dataclass(frozen=True)
class Manager:
    """Who works fulfillment orders at a location, and which suppliers may get their lines."""

    managed_by: str
    supplier_id: int | None = None  # the service supplier of a fulfillment-service location
    allowed: frozenset[int] | None = None  # merchant locations: supplier ids, None = every merchant-managed one


def manager_of(session: Session, shop_domain: str, location_gid: str | None, is_primary: bool) -> Manager:
    """Classify a location for this shop (see the module docstring)."""
    if not location_gid:
        return Manager(ManagedBy.NOT_OURS)
    where = {"shop": shop_domain, "location": location_gid}
    # One round trip for the three looks every routed order and pushed parcel makes (each was its own statement),
    # on the session's connection: the ORM execution layer cost as much as the read (changes flushed first, as its autoflush did).
    connection = flushed_connection(session)
    service, mapped, supplier_ids, any_mapped = connection.execute(_LOOKS, where).one()
    if service is not None:
        return Manager(ManagedBy.SERVICE, supplier_id=service)
    if mapped:
        return Manager(ManagedBy.MERCHANT, allowed=frozenset(int(i) for i in supplier_ids or ()) or None)
    if is_primary and not any_mapped:
        return Manager(ManagedBy.MERCHANT)
    own = frozenset(connection.execute(_OWN_SUPPLIERS, where).scalars())
    if own:
        return Manager(ManagedBy.MERCHANT, allowed=own)
    return Manager(ManagedBy.NOT_OURS)


# Built once: every routed order and every pushed parcel asks (issue 20: building cost more than running).
_LIVE = (Supplier.shop_domain == bindparam("shop"), Supplier.deleted_at.is_(None), Supplier.location_gid == bindparam("location"))
_SERVICE_SUPPLIER = select(Supplier.id).where(*_LIVE, Supplier.fulfillment_model == FulfillmentModel.SERVICE.value)
_MAPPED_LOCATION = select(ManagedLocation.supplier_ids).where(ManagedLocation.shop_domain == bindparam("shop"), ManagedLocation.location_gid == bindparam("location"))
_ANY_MAPPED = select(ManagedLocation.id).where(ManagedLocation.shop_domain == bindparam("shop")).limit(1)
_OWN_SUPPLIERS = select(Supplier.id).where(*_LIVE, Supplier.fulfillment_model == FulfillmentModel.MERCHANT.value)
_LOOKS = select(_SERVICE_SUPPLIER.limit(1).scalar_subquery(), _MAPPED_LOCATION.exists(), _MAPPED_LOCATION.limit(1).scalar_subquery(), _ANY_MAPPED.exists())
