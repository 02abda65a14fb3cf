"""The supplier pages of the admin: add a supplier (a form per kind, generated from its settings schema) and one supplier's page.

The pages only render; every change goes through the JSON API (suppliers_api, returns_api,
inventory_api) from static/suppliers.js, so the same checks answer the browser and scripts.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from sqlalchemy import select

from ..auth.session_tokens import require_session_token
from ..i18n import gettext as _
from ..suppliers.audit import SupplierAuditEntry
from ..suppliers.models import FulfillmentModel, ProductMapping, Supplier
from ..suppliers.open_orders import open_order_counts
from ..suppliers.settings_forms import flat_fields, form_of, supplier_forms, value_at
from .api_schemas import bounded_ids
from .onboarding import reader
from .pages import admin_page, render_page

blueprint = Blueprint("supplier_pages", __name__)
bounded_ids(blueprint)

MAPPINGS_SHOWN = 100


def admin_url(endpoint: str, **params) -> str:
    """A link to any admin page that keeps the shop's parameters (shop, host, embedded, locale) and never the id_token."""
    from . import pages

    carried = {k: request.args[k] for k in (*pages.CARRIED_PARAMS, "locale") if k in request.args}
    return url_for(endpoint, **carried, **params)


@blueprint.app_context_processor
def _link_helper() -> dict:
    return {"admin_url": admin_url}


def _sandbox() -> bool:
    settings = current_app.extensions["services"].settings
    return bool(settings.sandbox or settings.sandbox_shopify_url)


def fulfillment_models() -> list[tuple[str, str, str]]:
    """(value, label, what it means) for each fulfillment model."""
    return [
        (FulfillmentModel.MERCHANT.value, _("Merchant-managed"),
         _("The app works the orders' fulfillment orders at your own location and passes tracking to Shopify.")),
        (FulfillmentModel.SERVICE.value, _("Fulfillment service"),
         _("The supplier gets a location of its own in Shopify (registered for you); orders assigned to it are requested from the app.")),
    ]


@blueprint.get("/api/supplier-kinds")
@require_session_token
def supplier_kinds():
    """The kinds of supplier this shop can add, each with JSON Schemas of its settings and credentials (labels and help in the admin's language)."""
    return jsonify(kinds=[form.as_json() for form in supplier_forms(sandbox=_sandbox())],
                   fulfillment_models=[{"value": v, "label": label, "help": text} for v, label, text in fulfillment_models()])


@blueprint.get("/suppliers/new")
@admin_page
def new_supplier():
    """Add a supplier: choose its kind, fill the kind's fields, choose the fulfillment model."""
    forms = [{"form": form, "settings": flat_fields(form.settings), "credentials": flat_fields(form.credentials)} for form in supplier_forms(sandbox=_sandbox())]
    chosen = request.args.get("kind", "")
    if chosen not in {f["form"].id for f in forms}:
        chosen = forms[0]["form"].id
    return render_page("supplier_new.html", "suppliers", title=_("Add supplier"), forms=forms, chosen=chosen, models=fulfillment_models())


@blueprint.get("/suppliers/<id:supplier_id>")
@admin_page
def supplier_detail(supplier_id: int):
    """One supplier: connection (settings, masked credentials, test), fulfillment model and location, terms, mappings, deactivate and delete."""
    from ..returns.intake import store_policy
    from ..returns.policy import supplier_terms_from, window_warnings
    from ..suppliers.as2_keys import switch_days
    from .as2_api import as2_setup, as2_transport_of
    from .edi_suppliers_api import edi_runs
    from .suppliers_api import _public

    with reader()() as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier is None or supplier.shop_domain != g.shop_domain or supplier.deleted_at is not None:
            abort(404)
        public = _public(supplier)
        form = form_of(supplier.kind, supplier.settings or {}, sandbox=_sandbox())
        settings = supplier.settings or {}
        setting_fields = [{**field, "value": value_at(settings, field["name"])} for field in flat_fields(form.settings)] if form else []
        credential_fields = flat_fields(form.credentials) if form else []
        known = {field["name"] for field in credential_fields}
        # Keys saved some other way (the API, a token the adapter obtained) are listed too, masked, so they can be rotated.
        credential_fields += [{"name": name, "schema": {"type": "string", "writeOnly": True, "title": name}, "required": False}
                              for name in public["credentials"] if name not in known]
        last_test = session.scalar(select(SupplierAuditEntry).where(SupplierAuditEntry.supplier_id == supplier.id, SupplierAuditEntry.action == "connection_tested")
                                   .order_by(SupplierAuditEntry.id.desc()).limit(1))
        mappings = session.scalars(select(ProductMapping).where(ProductMapping.supplier_id == supplier.id).order_by(ProductMapping.sku).limit(MAPPINGS_SHOWN)).all()
        terms = supplier_terms_from(supplier.return_terms)
        context = {
            "supplier": public, "form": form, "setting_fields": setting_fields, "credential_fields": credential_fields,
            "sla_hours": settings.get("sla_hours", 72), "ship_to_countries": ", ".join(settings.get("ship_to_countries") or []),
            "last_test": {"at": last_test.at, **(last_test.detail or {})} if last_test else None,
            "mappings": [{"sku": m.sku, "supplier_sku": m.supplier_sku, "cost": m.cost} for m in mappings],
            "open_orders": open_order_counts(session, supplier.id), "models": fulfillment_models(),
            "return_terms": supplier.return_terms or {}, "inventory_terms": supplier.inventory_terms or {},
            "warnings": window_warnings(store_policy(session, g.shop_domain), supplier.name, terms),
            "edi_runs": edi_runs(session, g.shop_domain, supplier.id, limit=20) if supplier.kind == "edi_x12" else None,
            "file_channel": file_channel_context(session, supplier) if supplier.kind == "files" else None,
        }
    as2_transport = as2_transport_of(supplier)  # AS2 partners (issue 15): what to hand the partner; no session open while the shop's key pair is made
    context["as2"] = as2_setup(current_app.extensions["services"], g.shop_domain, supplier_id, as2_transport, 20, as_json=False) if as2_transport else None
    context["as2_days"] = switch_days()  # the days the card's date input offers (the API refuses the others)
    return render_page("supplier.html", "suppliers", title=public["name"], **context)


def file_channel_context(session, supplier: Supplier) -> dict:
    """A file supplier's mapping editor (one form per file kind) and its latest files."""
    from integrations.suppliers.files.mapping import DELIMITERS, ENCODINGS, FIELDS, KINDS, FileMapping

    from ..suppliers.file_channel_models import FileChannelFile, FileChannelPoll

    saved = (supplier.settings or {}).get("mappings") or {}
    labels = {"po_number": _("Order reference (PO number)"), "line_ref": _("Line reference"), "sku": _("SKU"), "quantity": _("Quantity"),
              "available": _("Quantity in stock"), "in_stock": _("In stock (yes/no)"), "tracking_number": _("Tracking number"), "carrier": _("Carrier"),
              "tracking_url": _("Tracking link"), "shipped_at": _("Ship date"), "status": _("Status (accepted/rejected)"), "reason": _("Reason")}
    kinds = {"tracking": _("Tracking files"), "stock": _("Stock files"), "acknowledgements": _("Acknowledgement files")}
    files = session.scalars(select(FileChannelFile).where(FileChannelFile.supplier_id == supplier.id, FileChannelFile.shop_domain == supplier.shop_domain)
                            .order_by(FileChannelFile.id.desc()).limit(50)).all()
    poll = session.scalar(select(FileChannelPoll).where(FileChannelPoll.supplier_id == supplier.id, FileChannelPoll.shop_domain == supplier.shop_domain))
    return {
        "batching": _batching_context(session, supplier),
        "kinds": [{"kind": kind, "label": kinds[kind], "mapping": {**FileMapping(kind).as_json(), **(saved.get(kind) or {})},
                   "fields": [{"name": name, "label": labels[name]} for name in FIELDS[kind]]} for kind in KINDS],
        "delimiters": [d for d in DELIMITERS if d != "\t"], "encodings": ENCODINGS,
        "files": [{"kind": f.kind, "name": f.name, "status": f.status, "applied": f.rows_applied, "refused": f.rows_refused, "message": f.message,
                   "report": (f.report or [])[:20], "at": f.processed_at or f.first_seen_at} for f in files],
        "poll": poll,
    }


def _batching_context(session, supplier: Supplier) -> dict:
    """When the supplier's POs go out (issue 15: batched POs): the saved schedule, the next slot, the orders waiting, the last batches."""
    from integrations.suppliers.files.batch_schedule import WEEKDAYS

    from ..i18n import weekday_names
    from ..suppliers.po_batches import supplier_batching

    status = supplier_batching(session, supplier, g.get("shop_profile"))  # the profile admin_page read: no second read of the time zone
    labels = weekday_names()
    chosen = set(status["po_batching"].get("weekdays") or WEEKDAYS)
    return {**status, "weekdays": [{"key": key, "label": label, "checked": key in chosen} for key, label in zip(WEEKDAYS, labels)]}
