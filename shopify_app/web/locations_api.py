"""JSON API for the merchant locations the app manages (session token; one shop's data only).

A fulfillment order is forwarded only when Shopify assigned it to a location the app
manages for a supplier (see shopify_app/fulfillment/locations.py). Until the merchant maps
a location here, the shop's primary location is managed for every merchant-managed supplier.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import delete, select

from ..auth.session_tokens import require_session_token
from ..fulfillment.models import ManagedLocation
from ..suppliers.models import FulfillmentModel, Supplier
from .api_schemas import bounded_ids, invalid, validated_body

log = logging.getLogger(__name__)
blueprint = Blueprint("locations_api", __name__, url_prefix="/api/locations")
bounded_ids(blueprint)


def _services():
    return current_app.extensions["services"]


def _view(session, shop_domain: str) -> dict:
    rows = session.scalars(select(ManagedLocation).where(ManagedLocation.shop_domain == shop_domain).order_by(ManagedLocation.id)).all()
    return {
        "locations": [{"location_gid": r.location_gid, "name": r.name, "supplier_ids": [int(i) for i in r.supplier_ids or []]} for r in rows],
        "primary_location_default": not rows,
    }


@blueprint.get("")
@require_session_token
def managed_locations():
    """The merchant locations the app manages and the suppliers allowed at each (none listed: all merchant-managed ones)."""
    with _services().session_factory() as session:
        return jsonify(_view(session, g.shop_domain))


@blueprint.put("")
@require_session_token
@validated_body("ManagedLocations")
def set_managed_locations():
    """Replace the managed merchant locations: {locations: [{location_gid, name?, supplier_ids?}]}; [] returns to the primary-location default."""
    items = g.body["locations"]
    services = _services()
    with services.session_factory.begin() as session:
        merchant_suppliers = set(session.scalars(select(Supplier.id).where(
            Supplier.shop_domain == g.shop_domain, Supplier.deleted_at.is_(None), Supplier.fulfillment_model == FulfillmentModel.MERCHANT.value)))
        problems = [(f"locations[{i}].supplier_ids", "not a merchant-managed supplier of this shop")
                    for i, item in enumerate(items) if set(item.get("supplier_ids") or []) - merchant_suppliers]
        gids = [item["location_gid"] for item in items]
        if len(set(gids)) != len(gids):
            problems.append(("locations", "a location is listed twice"))
        if problems:
            return invalid(problems)
        session.execute(delete(ManagedLocation).where(ManagedLocation.shop_domain == g.shop_domain))
        for item in items:
            session.add(ManagedLocation(shop_domain=g.shop_domain, location_gid=item["location_gid"], name=item.get("name"), supplier_ids=sorted(set(item.get("supplier_ids") or []))))
    release_what_can_go(services, g.shop_domain)
    with services.session_factory() as session:
        return jsonify(_view(session, g.shop_domain))


def release_what_can_go(services, shop_domain: str) -> None:
    """After a mapping change (committed): route held orders again and make Shopify's holds agree.

    Best effort: Shopify may be unreachable; reconciliation does the same every pass.
    """
    from ..fulfillment.holds import reevaluate_held_orders

    try:
        reevaluate_held_orders(services, shop_domain)
    except Exception:  # noqa: BLE001 - the change is saved; the next reconciliation pass retries
        log.warning("re-evaluating held orders failed for shop=%s; reconciliation will retry", shop_domain, exc_info=True)
