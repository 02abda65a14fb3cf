"""JSON API for suppliers and product mappings (session token; one shop's data only).

Credentials are write-only: they are encrypted on the way in and never returned.
"""
from __future__ import annotations

import json

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from ..auth.session_tokens import require_session_token
from ..models import utcnow
from ..mappings.files import parse_cost
from ..suppliers.models import FulfillmentModel, ProductMapping, Supplier
from ..suppliers.connection import connection_test, masked
from .api_schemas import bounded_ids, invalid, validated_body
from .own_supplier import own_supplier

blueprint = Blueprint("suppliers_api", __name__, url_prefix="/api/suppliers")
bounded_ids(blueprint)


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
        "credentials": masked(_credentials(supplier)),
    }


def _credentials(supplier: Supplier) -> dict:
    return json.loads(_services().box.decrypt(supplier.credentials_enc)) if supplier.credentials_enc else {}


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
@validated_body("SupplierCreate")
def create_supplier():
    """Add a supplier: {name, kind, credentials?, settings?, vendor?, priority?, fulfillment_model?}."""
    body = g.body
    model = body.get("fulfillment_model", FulfillmentModel.MERCHANT.value)
    problem = adapter_config_problem(body["kind"], body.get("settings") or {}, body.get("credentials") or {})
    if problem is not None:
        return invalid([problem])
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
        from ..suppliers.audit import record_change

        record_change(session, g.shop_domain, supplier.id, _actor(), "created", [f"settings.{k}" for k in supplier.settings] + [f"credentials.{k}" for k in body.get("credentials") or {}])
        created = _public(supplier)
    if body["kind"] == "printful" and services.scheduler is not None:
        # Connect: register its webhooks with Printful right away, in the background (committed first, no request held).
        from ..suppliers.printful_connect import register_webhooks_soon

        register_webhooks_soon(services, created["id"])
    if model == FulfillmentModel.SERVICE.value:
        # The model means a location of its own in Shopify: register it now (committed first, no transaction open).
        # A refusal keeps the supplier (the merchant retries from its page) and says why.
        registration = _register(services, created["id"])
        with services.session_factory() as session:
            return jsonify(supplier=_public(session.get(Supplier, created["id"])), registration=registration), 201
    return jsonify(supplier=created), 201


def _register(services, supplier_id: int) -> dict:
    """{ok, location_gid} or {ok: false, error} for registering the supplier as a fulfillment service."""
    from integrations.shopify.errors import ShopifyError, ShopifyUserError

    from ..suppliers.fulfillment_service import register_fulfillment_service

    try:
        return {"ok": True, "location_gid": register_fulfillment_service(services, g.shop_domain, supplier_id)}
    except ShopifyUserError as exc:
        return {"ok": False, "error": f"Shopify refused: {exc}"}
    except ShopifyError as exc:
        return {"ok": False, "error": f"Shopify could not be reached ({type(exc).__name__})"}


def adapter_config_problem(kind: str, settings: dict, credentials: dict) -> tuple[str, str] | None:
    """(field, message) when the adapter's own config refuses the settings or credentials, else None."""
    try:
        if kind == "rest":
            from integrations.suppliers.rest.config import check_credentials, parse_settings
            from integrations.suppliers.rest.presets import with_preset

            check_credentials(parse_settings(with_preset(settings)), credentials)
        elif kind == "email":
            from integrations.suppliers.email_po.config import parse_settings as parse_email_settings

            parse_email_settings(settings, credentials)
        elif kind == "printful":
            from integrations.suppliers.printful.factory import check_printful_config

            check_printful_config(credentials, settings)
        elif kind == "files":
            from integrations.suppliers import runtime
            from integrations.suppliers.files.config import check_credentials as check_file_credentials, parse_settings as parse_file_settings

            check_file_credentials(parse_file_settings(settings, local_allowed=bool(runtime.current().file_root)), credentials)
        from integrations.suppliers.registry import check_supplier_settings

        from ..suppliers.settings_forms import check_common_settings

        check_common_settings(settings)

        # The egress policy on base URLs (resolves names: before any transaction), the timeout cap, no server hosts or paths.
        check_supplier_settings(kind, settings)
    except (ValueError, TypeError, KeyError) as exc:  # the configs raise ValueError subclasses naming the key
        message = str(exc)
        return ("credentials" if message.startswith("credentials") else "settings", message)
    return None




@blueprint.get("/<id:supplier_id>/reliability")
@require_session_token
def supplier_reliability(supplier_id: int):
    """The supplier's breaker (state now and its changes), retries per order, time orders waited for the breaker vs backoff."""
    from ..suppliers.reliability import reliability

    with _services().session_factory() as session:
        if own_supplier(session, supplier_id) is None:
            return _bad("no such supplier", 404)
        return jsonify(reliability(session, g.shop_domain, supplier_id))


@blueprint.post("/<id:supplier_id>/fulfillment-service")
@require_session_token
@validated_body("Empty", optional=True)
def register_as_fulfillment_service(supplier_id: int):
    """Register the supplier as a fulfillment service in Shopify (a location of its own; tracking and stock callbacks off), or bring an earlier registration in line."""
    services = _services()
    with services.session_factory() as session:
        if own_supplier(session, supplier_id) is None:
            return _bad("not found", 404)
    registration = _register(services, supplier_id)  # no transaction is open while Shopify answers
    if not registration["ok"]:
        return jsonify(error=registration["error"]), 502
    with services.session_factory() as session:
        return jsonify(supplier=_public(session.get(Supplier, supplier_id)))


@blueprint.delete("/<id:supplier_id>/fulfillment-service")
@require_session_token
def deregister_as_fulfillment_service(supplier_id: int):
    """Delete the supplier's fulfillment service in Shopify (its open fulfillment orders move to another location); the supplier becomes merchant-managed."""
    services = _services()
    with services.session_factory() as session:
        if own_supplier(session, supplier_id) is None:
            return _bad("not found", 404)
    problem = _deregister(services, supplier_id)
    if problem is not None:
        return jsonify(error=problem), 502
    with services.session_factory() as session:
        return jsonify(supplier=_public(session.get(Supplier, supplier_id)))


def _deregister(services, supplier_id: int) -> str | None:
    """None once the supplier has no fulfillment service in Shopify, else why not (no transaction may be open)."""
    from integrations.shopify.errors import ShopifyError, ShopifyUserError

    from ..suppliers.fulfillment_service import deregister_fulfillment_service

    try:
        deregister_fulfillment_service(services, g.shop_domain, supplier_id)
    except ShopifyUserError as exc:
        return f"Shopify refused: {exc}"
    except ShopifyError as exc:
        return f"Shopify could not be reached ({type(exc).__name__})"
    return None


@blueprint.delete("/<id:supplier_id>")
@require_session_token
def delete_supplier(supplier_id: int):
    """Soft-delete: routing stops using it; orders still waiting to be sent fail with an alert, placed ones keep their tracking; its fulfillment service is deregistered first."""
    from ..suppliers.open_orders import open_order_counts

    services = _services()
    with services.session_factory() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None:
            return _bad("not found", 404)
        registered = supplier.fulfillment_model == FulfillmentModel.SERVICE.value
    if registered:  # Shopify first, outside any transaction: a supplier is never deleted with its location left behind
        problem = _deregister(services, supplier_id)
        if problem is not None:
            return jsonify(error=f"{problem}; nothing was deleted"), 502
    with services.session_factory.begin() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None:
            return _bad("not found", 404)
        supplier.deleted_at, supplier.active = utcnow(), False
        from ..suppliers.audit import record_change

        record_change(session, g.shop_domain, supplier_id, _actor(), "deleted", ["deleted_at", "active"])
        counts = open_order_counts(session, supplier_id)
    return jsonify(deleted=supplier_id, open_orders=counts)


@blueprint.post("/<id:supplier_id>/mappings")
@require_session_token
@validated_body("Mappings")
def add_mappings(supplier_id: int):
    """Map Shopify SKUs (or variant ids) to the supplier's SKUs: {mappings: [{sku, supplier_sku, variant_id?, cost?, safety_buffer?}]}."""
    items = g.body["mappings"]
    costs, refused = [], []
    for index, item in enumerate(items):  # one cost parser for every mapping form and file ('4,50' too)
        try:
            costs.append(parse_cost(str(item["cost"])) if item.get("cost") is not None else None)
        except ValueError as exc:
            refused.append((f"mappings[{index}].cost", str(exc)))
    if refused:
        return invalid(refused)
    with _services().session_factory.begin() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None:
            return _bad("not found", 404)
        existing = {m.sku: m for m in session.scalars(select(ProductMapping).where(ProductMapping.supplier_id == supplier.id))}
        for item, cost in zip(items, costs):
            mapping = existing.get(item["sku"]) or ProductMapping(shop_domain=g.shop_domain, sku=item["sku"], supplier_id=supplier.id, supplier_sku=item["supplier_sku"])
            mapping.supplier_sku, mapping.variant_id, mapping.cost = item["supplier_sku"], _text_or_none(item.get("variant_id")), cost
            mapping.safety_buffer = item.get("safety_buffer")  # per product; None: the supplier's buffer
            session.add(mapping)
        from ..suppliers.audit import record_change

        record_change(session, g.shop_domain, supplier.id, _actor(), "mappings_changed", [f"mappings.{item['sku']}" for item in items[:50]], count=len(items))
    from .locations_api import release_what_can_go

    release_what_can_go(_services(), g.shop_domain)  # orders held for want of a supplier may go now
    return jsonify(mapped=len(items))


def _text_or_none(value) -> str | None:
    # Ids and costs are stored as text; the schema allowed numbers for them.
    return None if value is None else str(value)


@blueprint.patch("/<id:supplier_id>")
@require_session_token
@validated_body("SupplierUpdate")
def update_supplier(supplier_id: int):
    """Change a supplier: name, SLA hours, priority, active, vendor, and settings or credentials as merge patches; `?test=1` saves only after a successful test connection."""
    from ..suppliers.supplier_changes import SupplierChangeRefused, apply_update, prepare_update

    services = _services()
    try:
        with services.session_factory() as session:  # read only: checks and tests run with no transaction open
            supplier = own_supplier(session, supplier_id)
            if supplier is None:
                return _bad("not found", 404)
            change = prepare_update(services.box, supplier, g.body, adapter_config_problem)
    except SupplierChangeRefused as refused:
        return invalid([refused.problem])
    if request.args.get("test") == "1" and change.touches_connection:
        result, tested_credentials = connection_test(change.kind, change.settings, change.credentials)
        change.credentials = tested_credentials  # keep a token the test obtained (CJ grants one per 5 minutes)
        if not result["ok"]:
            # Nothing is saved, so the supplier keeps working with what it had; the form keeps
            # what the merchant typed (the settings are echoed back, credentials only masked).
            _audit_test(supplier_id, result, tested="unsaved changes")
            return jsonify(error="the test connection failed; nothing was saved", test=result, unsaved={"settings": change.settings, "credentials": masked(change.credentials)}), 422
    with services.session_factory.begin() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None:
            return _bad("not found", 404)
        if "name" in change.simple and session.scalar(select(Supplier.id).where(Supplier.shop_domain == g.shop_domain, Supplier.name == change.simple["name"], Supplier.id != supplier.id)):
            return _bad("a supplier with this name exists", 409)
        if not apply_update(session, services.box, supplier, change, actor=_actor()):
            return _bad("the supplier changed while this request was checked; load it again", 409)
        return jsonify(supplier=_public(supplier))


@blueprint.post("/<id:supplier_id>/test-connection")
@require_session_token
@validated_body("SupplierConnectionTest", optional=True)
def test_connection(supplier_id: int):
    """One harmless read call through the supplier's adapter, with its saved settings and credentials (or unsaved changes in the body)."""
    from ..suppliers.supplier_changes import SupplierChangeRefused, prepare_update

    services = _services()
    body = g.body or {}
    try:
        with services.session_factory() as session:
            supplier = own_supplier(session, supplier_id)
            if supplier is None:
                return _bad("not found", 404)
            change = prepare_update(services.box, supplier, body, adapter_config_problem)
    except SupplierChangeRefused as refused:
        return invalid([refused.problem])
    if body:  # unsaved changes: nothing is stored
        result, _ = connection_test(change.kind, change.settings, change.credentials)
    else:  # the saved supplier: a token it obtains is stored, as in service
        from ..suppliers.credentials import current_store
        from integrations.suppliers.runtime import SupplierRef

        result, _ = connection_test(change.kind, change.settings, change.credentials, ref=SupplierRef(g.shop_domain, supplier_id), credentials_enc=change.read_credentials_enc, store=current_store())
    _audit_test(supplier_id, result, tested="unsaved changes" if body else "saved settings")
    return jsonify(test=result)


@blueprint.get("/<id:supplier_id>/audit")
@require_session_token
def audit_trail(supplier_id: int):
    """The supplier's audit trail, newest first: who changed which fields when (never secret values)."""
    from ..suppliers.audit import trail

    with _services().session_factory() as session:
        if own_supplier(session, supplier_id) is None:
            return _bad("not found", 404)
        return jsonify(audit=trail(session, g.shop_domain, supplier_id))


def _actor() -> str:
    from ..suppliers.audit import merchant_actor

    return merchant_actor(getattr(g, "user_id", None))


def _audit_test(supplier_id: int, result: dict, *, tested: str) -> None:
    from ..suppliers.audit import record_change

    with _services().session_factory.begin() as session:
        record_change(session, g.shop_domain, supplier_id, _actor(), "connection_tested", ok=result["ok"], error_kind=result.get("error_kind"), tested=tested)


@blueprint.post("/<id:supplier_id>/printful-webhooks")
@require_session_token
@validated_body("Empty", optional=True)
def register_printful_webhooks(supplier_id: int):
    """Point this Printful supplier's webhooks at us now (POST /v2/webhooks); the keys are stored encrypted. The job does the same within minutes of connecting."""
    from ..suppliers.printful_connect import register_webhooks

    services = _services()
    with services.session_factory() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None or supplier.kind != "printful":
            return _bad("not found", 404)
    outcome = register_webhooks(services, supplier_id)  # no transaction is open while Printful answers
    return jsonify(webhooks=outcome), 200 if outcome["registered"] else 502
