"""JSON API for suppliers and product mappings (session token; one shop's data only).

Credentials are write-only: they are encrypted on the way in and never returned.
"""
from __future__ import annotations

import json

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from integrations.suppliers.registry import known_kinds

from ..auth.session_tokens import require_session_token
from ..models import utcnow
from ..suppliers.models import FulfillmentModel, ProductMapping, Supplier

blueprint = Blueprint("suppliers_api", __name__, url_prefix="/api/suppliers")


def _services():
    return current_app.extensions["services"]


def _public(supplier: Supplier) -> dict:
    return {
        "id": supplier.id,
        "name": supplier.name,
        "kind": supplier.kind,
        "vendor": supplier.vendor,
        "priority": supplier.priority,
        "fulfillment_model": supplier.fulfillment_model,
        "active": supplier.active,
        "settings": supplier.settings,
        "location_gid": supplier.location_gid,
        "inventory_terms": supplier.inventory_terms or {},
        "return_terms": supplier.return_terms or {},
        "has_credentials": supplier.credentials_enc is not None,
    }


def _bad(message: str, status: int = 400):
    return jsonify(error=message), status


@blueprint.get("")
@require_session_token
def list_suppliers():
    """The shop's suppliers (deleted ones left out)."""
    with _services().session_factory() as session:
        rows = session.scalars(select(Supplier).where(Supplier.shop_domain == g.shop_domain, Supplier.deleted_at.is_(None)).order_by(Supplier.priority, Supplier.id))
        return jsonify(suppliers=[_public(s) for s in rows])


@blueprint.post("")
@require_session_token
def create_supplier():
    """Add a supplier: {name, kind, credentials?, settings?, vendor?, priority?, fulfillment_model?}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not str(body.get("name") or "").strip():
        return _bad("name is required")
    if body.get("kind") not in known_kinds():
        return _bad(f"kind must be one of {known_kinds()}")
    model = body.get("fulfillment_model", FulfillmentModel.MERCHANT.value)
    if model not in {m.value for m in FulfillmentModel}:
        return _bad("unknown fulfillment_model")
    for key, kind in (("credentials", dict), ("settings", dict)):
        if key in body and not isinstance(body[key], kind):
            return _bad(f"{key} must be an object")
    services = _services()
    with services.session_factory.begin() as session:
        if session.scalar(select(Supplier.id).where(Supplier.shop_domain == g.shop_domain, Supplier.name == body["name"].strip())):
            return _bad("a supplier with this name exists", 409)
        supplier = Supplier(
            shop_domain=g.shop_domain,
            name=body["name"].strip(),
            kind=body["kind"],
            vendor=body.get("vendor"),
            priority=int(body.get("priority", 100)),
            fulfillment_model=model,
            settings=body.get("settings") or {},
            credentials_enc=services.box.encrypt(json.dumps(body["credentials"])) if body.get("credentials") else None,
        )
        session.add(supplier)
        session.flush()
        return jsonify(supplier=_public(supplier)), 201


def _own_supplier(session, supplier_id: int) -> Supplier | None:
    supplier = session.get(Supplier, supplier_id)
    return supplier if supplier is not None and supplier.shop_domain == g.shop_domain and supplier.deleted_at is None else None


@blueprint.delete("/<int:supplier_id>")
@require_session_token
def delete_supplier(supplier_id: int):
    """Soft-delete: routing stops using it; its open orders raise alerts instead of vanishing."""
    with _services().session_factory.begin() as session:
        supplier = _own_supplier(session, supplier_id)
        if supplier is None:
            return _bad("not found", 404)
        supplier.deleted_at, supplier.active = utcnow(), False
    return jsonify(deleted=supplier_id)


@blueprint.post("/<int:supplier_id>/mappings")
@require_session_token
def add_mappings(supplier_id: int):
    """Map Shopify SKUs (or variant ids) to the supplier's SKUs: {mappings: [{sku, supplier_sku, variant_id?, cost?, safety_buffer?}]}."""
    body = request.get_json(silent=True) or {}
    items = body.get("mappings")
    if not isinstance(items, list) or not items:
        return _bad("mappings must be a non-empty list")
    errors = [f"row {n}: sku and supplier_sku are required" for n, m in enumerate(items, 1) if not isinstance(m, dict) or not m.get("sku") or not m.get("supplier_sku")]
    errors += [f"row {n}: safety_buffer must be a whole number >= 0" for n, m in enumerate(items, 1)
               if isinstance(m, dict) and m.get("safety_buffer") is not None and (isinstance(m["safety_buffer"], bool) or not isinstance(m["safety_buffer"], int) or m["safety_buffer"] < 0)]
    if errors:
        return jsonify(error="invalid mappings", rows=errors), 400
    with _services().session_factory.begin() as session:
        supplier = _own_supplier(session, supplier_id)
        if supplier is None:
            return _bad("not found", 404)
        existing = {m.sku: m for m in session.scalars(select(ProductMapping).where(ProductMapping.supplier_id == supplier.id))}
        for item in items:
            mapping = existing.get(item["sku"]) or ProductMapping(shop_domain=g.shop_domain, sku=item["sku"], supplier_id=supplier.id, supplier_sku=item["supplier_sku"])
            mapping.supplier_sku, mapping.variant_id, mapping.cost = item["supplier_sku"], item.get("variant_id"), item.get("cost")
            mapping.safety_buffer = item.get("safety_buffer")  # per product; None: the supplier's buffer
            session.add(mapping)
    return jsonify(mapped=len(items))


EDITABLE = {"sla_hours": (int, float), "priority": (int,), "active": (bool,), "vendor": (str, type(None))}


@blueprint.patch("/<int:supplier_id>")
@require_session_token
def update_supplier(supplier_id: int):
    """Change a supplier's SLA hours, priority, active flag or vendor: {sla_hours?, priority?, active?, vendor?}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        return _bad("send a JSON object with sla_hours, priority, active or vendor")
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        return _bad(f"cannot change: {', '.join(unknown)}")
    for name, value in body.items():
        if not isinstance(value, EDITABLE[name]) or (name != "active" and isinstance(value, bool)):
            return _bad(f"{name} has the wrong type")
    if "sla_hours" in body and not 1 <= body["sla_hours"] <= 24 * 60:
        return _bad("sla_hours must be between 1 and 1440")
    with _services().session_factory.begin() as session:
        supplier = _own_supplier(session, supplier_id)
        if supplier is None:
            return _bad("not found", 404)
        if "sla_hours" in body:
            supplier.settings = {**(supplier.settings or {}), "sla_hours": body["sla_hours"]}  # a new dict: JSON columns track assignment
        for name in ("priority", "active", "vendor"):
            if name in body:
                setattr(supplier, name, body[name])
        return jsonify(supplier=_public(supplier))
