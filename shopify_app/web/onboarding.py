"""The first-run checklist on the dashboard: connect a supplier, map products, set the return policy, place a test order.

Each step's state is computed from the shop's data (never clicked away), so the checklist
stays until the work is done. In sandbox mode "place a test order" checks out an order in
the sandbox Shopify, which sends its orders/create and orders/paid webhooks as Shopify would.
"""
from __future__ import annotations

from dataclasses import dataclass

import httpx
from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth.session_tokens import require_session_token
from ..i18n import gettext as _
from ..models import ShopSetting
from ..suppliers.audit import SupplierAuditEntry
from ..suppliers.models import ProductMapping, Supplier, SupplierOrder
from .api_schemas import validated_body

blueprint = Blueprint("onboarding", __name__)

TEST_ORDER_EMAIL = "test-order@example.com"
SANDBOX_CALL_TIMEOUT = 10.0


@dataclass(frozen=True)
class Step:
    """One checklist step: done or not, what it means, and where the merchant does it."""

    key: str
    title: str
    help: str
    done: bool
    link: str | None
    link_label: str


def _active_suppliers(shop: str):
    return select(Supplier.id).where(Supplier.shop_domain == shop, Supplier.active.is_(True), Supplier.deleted_at.is_(None))


def facts(session: Session, shop: str) -> dict:
    """What the checklist is computed from, read from the shop's records."""
    active = _active_suppliers(shop)
    tested = session.scalars(select(SupplierAuditEntry.detail).where(
        SupplierAuditEntry.shop_domain == shop, SupplierAuditEntry.action == "connection_tested", SupplierAuditEntry.supplier_id.in_(active))).all()
    forwarded = session.scalar(select(func.count()).select_from(SupplierOrder).where(
        SupplierOrder.shop_domain == shop, SupplierOrder.supplier_order_id.is_not(None))) or 0
    return {
        "first_supplier_id": session.scalar(active.order_by(Supplier.id).limit(1)),
        "connected": any((detail or {}).get("ok") for detail in tested) or bool(forwarded),
        "mapped": session.scalar(select(func.count()).select_from(ProductMapping).where(
            ProductMapping.shop_domain == shop, ProductMapping.supplier_id.in_(active))) or 0,
        "policy_set": session.scalar(select(ShopSetting.id).where(ShopSetting.shop_domain == shop, ShopSetting.key == "return_policy")) is not None,
        "forwarded": forwarded,
    }


def checklist(session: Session, shop: str, *, sandbox: bool, url_for_page) -> dict:
    """{steps, done, total, complete} for the dashboard; `url_for_page(endpoint, **params)` builds links that keep the shop's parameters."""
    f = facts(session, shop)
    supplier_link = (url_for_page("supplier_pages.supplier_detail", supplier_id=f["first_supplier_id"]) if f["first_supplier_id"]
                     else url_for_page("supplier_pages.new_supplier"))
    steps = [
        Step("connect_supplier", _("Connect a supplier"),
             _("Add the supplier who ships your products and test its connection."), f["connected"], supplier_link, _("Suppliers")),
        Step("map_products", _("Map products"),
             _("Tell the app which supplier SKU ships each of your products (%(n)s mapped so far).", n=f["mapped"]), f["mapped"] > 0,
             mapping_link(url_for_page, f["first_supplier_id"]), _("Product mappings")),
        Step("return_policy", _("Set the return policy"),
             _("Choose your return window and which returns you review yourself."), f["policy_set"], url_for_page("pages.settings") + "#policy",
             _("Settings")),
        Step("test_order", _("Place a test order"),
             _("Place an order in the sandbox store and watch it go to your supplier and come back fulfilled.") if sandbox else
             _("In Shopify, turn on the Bogus gateway (Settings › Payments › test mode) and buy one of your mapped products; "
               "this step is done as soon as the order reaches your supplier."),
             f["forwarded"] > 0, url_for_page("pages.orders"), _("Orders")),
    ]
    done = sum(step.done for step in steps)
    return {"steps": steps, "done": done, "total": len(steps), "complete": done == len(steps), "sandbox": sandbox,
            "can_place_test_order": sandbox and f["mapped"] > 0}


def mapping_link(url_for_page, supplier_id: int | None) -> str:
    """Where products are mapped: the mappings page (search, auto-match, import), filtered to the first supplier; adding a supplier comes first."""
    if supplier_id is None:
        return url_for_page("supplier_pages.new_supplier")
    return url_for_page("pages.mappings", supplier=supplier_id)


def sandbox_mode() -> bool:
    """Whether the app runs against the sandbox Shopify (test orders can be placed from the admin)."""
    settings = current_app.extensions["services"].settings
    return bool(settings.sandbox_shopify_url)


@blueprint.app_context_processor
def _checklist_for_templates() -> dict:
    # A function, so only the page that includes the checklist (the dashboard) pays for its queries.
    def onboarding_checklist() -> dict:
        from .supplier_pages import admin_url

        with reader()() as session:
            return checklist(session, g.shop_domain, sandbox=sandbox_mode(), url_for_page=admin_url)

    return {"onboarding_checklist": onboarding_checklist}


@blueprint.post("/api/onboarding/test-order")
@require_session_token
@validated_body("Empty", optional=True)
def place_test_order():
    """Sandbox mode: check out one unit of a mapped product in the sandbox Shopify (its webhooks reach the app as Shopify's would)."""
    services = current_app.extensions["services"]
    base = services.settings.sandbox_shopify_url
    if not base:
        return jsonify(error=_("Test orders are placed in Shopify itself: use the Bogus gateway in your store's test mode.")), 409
    with reader()() as session:
        sku = session.scalar(select(ProductMapping.sku).where(ProductMapping.shop_domain == g.shop_domain,
                                                              ProductMapping.supplier_id.in_(_active_suppliers(g.shop_domain)))
                             .order_by(ProductMapping.id).limit(1))
    if sku is None:
        return jsonify(error=_("Map a product to a supplier first: the test order buys one of your mapped products.")), 409
    # The operator's sandbox, never a merchant-chosen host; no transaction is open.
    try:
        answer = httpx.post(f"{base}/admin/sandbox/orders", params={"shop": g.shop_domain}, timeout=SANDBOX_CALL_TIMEOUT,
                            json={"lines": [{"sku": sku, "quantity": 1}], "email": TEST_ORDER_EMAIL})
    except httpx.HTTPError as exc:
        return jsonify(error=_("The sandbox store could not be reached (%(error)s).", error=type(exc).__name__)), 502
    if answer.status_code != 201:
        return jsonify(error=_("The sandbox store refused the order: %(reason)s", reason=(answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}).get("error", answer.status_code))), 502
    order = answer.json()
    return jsonify(order={"id": order["id"], "name": order["name"], "sku": sku}), 201


def reader():
    """Sessions for the admin's reads (SQLite: never waiting for, nor blocking, the writer)."""
    services = current_app.extensions["services"]
    return services.read_session_factory or services.session_factory
