"""The fulfillment-service model: the app's location receives Shopify's fulfillment requests.

For a supplier set to this model we register a fulfillment service (its own location).
Shopify then asks us, per fulfillment order, to fulfil: we accept when every line can go
to that location's supplier and is in stock, and reject with INVENTORY_OUT_OF_STOCK (or
OTHER) otherwise. Cancellation requests are accepted when the supplier order was never
placed or the supplier cancels it, and rejected when the supplier refuses.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select

from integrations.suppliers.base import CancellationRefused, SupplierError

from ..alerts import raise_alert, resolve_alert
from ..auth.signature_headers import NonAsciiSignatureHeader, signature_headers
from ..db import read_only
from ..fulfillment.problems import address_problem
from ..models import ShopSetting
from ..fulfillment.refresh import refresh_order
from ..fulfillment.sync import with_every_line
from ..orders.graph import order_payload_from_graphql, read_order
from ..orders.models import Order
from ..orders.payloads import parse_order
from ..orders.routing import candidates_for
from ..orders.sync import upsert_order
from ..orders.timeline import record_event
from ..privacy import gid_number
from ..webhooks.inbox import IncomingWebhook
from ..webhooks.registry import WebhookContext, handles
from .forwarding import adapter_from_record
from .models import DeliveryState, FulfillmentModel, Supplier, SupplierOrder

log = logging.getLogger(__name__)
blueprint = Blueprint("fulfillment_service", __name__)

NOTIFICATION_TOPIC = "fulfillment_service/notification"
CALLBACK_PATH = "/fulfillment_service"


def register_fulfillment_service(services, shop_domain: str, supplier_id: int) -> str:
    """Create the supplier's fulfillment service in Shopify (or bring ours in line); returns its location GID.

    trackingSupport and inventoryManagement are off: with them on, Shopify calls
    `<callbackUrl>/fetch_tracking_numbers` and `/fetch_stock`, which the app does not serve
    (tracking goes to Shopify with fulfillmentCreate, stock with inventorySetQuantities).
    The callback URL stays: fulfillment and cancellation requests arrive there.
    """
    with services.session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        name, location_gid = supplier.name, supplier.location_gid
        setting = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == _service_key(supplier_id)))
        existing = (setting.value or {}).get("id") if setting else None
    gateway = services.gateway(shop_domain)
    if not existing and location_gid:  # registered before the app kept the service's id: find it by its location
        listed = gateway.query("FulfillmentServicesList", {})["shop"]["fulfillmentServices"]
        existing = next((fs["id"] for fs in listed if (fs.get("location") or {}).get("id") == location_gid), None)
    if existing:
        data = gateway.mutate("FulfillmentServiceUpdate", {"id": existing, "trackingSupport": False, "inventoryManagement": False})
        service = data["fulfillmentServiceUpdate"]["fulfillmentService"]
    else:
        data = gateway.mutate(
            "FulfillmentServiceCreate",
            {"name": f"{name} (Dropship Ops)", "callbackUrl": services.settings.app_url + CALLBACK_PATH, "trackingSupport": False, "inventoryManagement": False},
        )
        service = data["fulfillmentServiceCreate"]["fulfillmentService"]
    location = service["location"]["id"]
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.fulfillment_model = FulfillmentModel.SERVICE.value
        supplier.location_gid = location
        setting = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == _service_key(supplier_id)))
        if setting is None:
            setting = ShopSetting(shop_domain=shop_domain, key=_service_key(supplier_id), value={})
            session.add(setting)
        setting.value = {"id": service["id"], "tracking_support": service["trackingSupport"], "inventory_management": service["inventoryManagement"]}
    return location


def deregister_fulfillment_service(services, shop_domain: str, supplier_id: int) -> str | None:
    """Delete the supplier's fulfillment service in Shopify (its open work moves to another location); returns the location it had.

    Call with no transaction open. The supplier becomes merchant-managed; a service Shopify
    no longer knows counts as removed.
    """
    from integrations.shopify.errors import ShopifyUserError

    with services.session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        location_gid = supplier.location_gid
        setting = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == _service_key(supplier_id)))
        service_id = (setting.value or {}).get("id") if setting else None
    gateway = services.gateway(shop_domain)
    if not service_id and location_gid:  # registered before the app kept the service's id
        listed = gateway.query("FulfillmentServicesList", {})["shop"]["fulfillmentServices"]
        service_id = next((fs["id"] for fs in listed if (fs.get("location") or {}).get("id") == location_gid), None)
    if service_id:
        try:
            gateway.mutate("FulfillmentServiceDelete", {"id": service_id})
        except ShopifyUserError as exc:
            if "not found" not in str(exc).lower() and "could not be found" not in str(exc).lower():
                raise
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier.fulfillment_model == FulfillmentModel.SERVICE.value:
            # The service's location is gone with it (a merchant-managed supplier's own warehouse stays).
            supplier.fulfillment_model, supplier.location_gid = FulfillmentModel.MERCHANT.value, None
        setting = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == _service_key(supplier_id)))
        if setting is not None:
            session.delete(setting)
    return location_gid


def _service_key(supplier_id: int) -> str:
    return f"fulfillment_service:{supplier_id}"  # the FulfillmentService we registered for the supplier


@dataclass
class RequestReport:
    """What one pass over assigned fulfillment orders did."""

    accepted: int = 0
    rejected: int = 0
    cancellations_accepted: int = 0
    cancellations_rejected: int = 0


def process_requests(services, shop_domain: str) -> RequestReport:
    """Answer every pending fulfillment and cancellation request at our locations.

    Call with no transaction open: each request is decided on a read-only session, answered
    in Shopify, then noted in a short transaction (answering twice is refused by Shopify,
    and a request already answered is no longer listed, so a retry is safe).
    """
    gateway = services.gateway(shop_domain)
    report = RequestReport()
    with read_only(services.session_factory)() as session:
        suppliers = {s.location_gid: s.id for s in session.scalars(select(Supplier).where(Supplier.shop_domain == shop_domain, Supplier.location_gid.is_not(None)))}
    for status in ("FULFILLMENT_REQUESTED", "CANCELLATION_REQUESTED"):
        for fo in gateway.paginate("AssignedFulfillmentOrders", {"first": 10, "assignmentStatus": status}, ("assignedFulfillmentOrders",)):
            supplier_id = suppliers.get((fo.get("assignedLocation") or {}).get("location", {}).get("id"))
            if status == "FULFILLMENT_REQUESTED":
                _answer_fulfillment_request(services, gateway, shop_domain, supplier_id, fo, report)
            else:
                _answer_cancellation_request(services, gateway, fo, report)
    return report


def _local_order_id(services, gateway, shop_domain: str, order_gid: str) -> int | None:
    with read_only(services.session_factory)() as session:
        order_id = session.scalar(select(Order.id).where(Order.shop_domain == shop_domain, Order.shopify_id == gid_number(order_gid)))
    if order_id is None:  # the request can arrive before the order's own webhook
        data = read_order(gateway, order_gid)  # every line, not only the first page
        if data.get("order"):
            with services.session_factory.begin() as session:
                order, _ = upsert_order(session, shop_domain, parse_order(order_payload_from_graphql(data["order"])))
                if order is None:
                    order = session.scalar(select(Order).where(Order.shop_domain == shop_domain, Order.shopify_id == gid_number(order_gid)))
                order_id = order.id if order is not None else None
    return order_id


def _fulfillment_problem(session, supplier_id: int | None, order_id: int | None, fo) -> tuple[str | None, str, str | None]:
    """(problem or None, Shopify's reason, the supplier's name) for a fulfillment request."""
    supplier = session.get(Supplier, supplier_id) if supplier_id else None
    order = session.get(Order, order_id) if order_id else None
    if supplier is None or not supplier.active or supplier.deleted_at is not None:
        return "no active supplier at this location", "OTHER", None
    if order is None:
        return "order not found", "OTHER", supplier.name
    # Judged before accepting: once accepted, the app could not hold it (Shopify denies an app holds on
    # its own service's fulfillment orders), so a redacted or incomplete address is refused here.
    address = address_problem(order.shipping_address)
    if address is not None:
        return address.note, address.reason, supplier.name
    lines = {l.shopify_line_id: l for l in order.lines}
    missing = []
    for item in fo["lineItems"]["nodes"]:
        if item["remainingQuantity"] <= 0 or not item.get("requiresShipping", True):
            continue
        line = lines.get(gid_number(item["lineItem"]["id"]))
        options = [c for c in candidates_for(session, order, line) if c.supplier.id == supplier.id] if line else []
        if not options or not options[0].in_stock:
            missing.append(item.get("sku") or item["lineItem"].get("sku") or "(no SKU)")
    if missing:
        return "out of stock at the supplier: " + ", ".join(missing), "INVENTORY_OUT_OF_STOCK", supplier.name
    return None, "OTHER", supplier.name


def _note(services, order_id: int | None, kind: str, actor: str, **detail) -> None:
    if order_id is None:
        return
    with services.session_factory.begin() as session:
        record_event(session, session.get(Order, order_id), kind, actor, **detail)


def _answer_fulfillment_request(services, gateway, shop_domain, supplier_id, fo, report: RequestReport) -> None:
    order_id = _local_order_id(services, gateway, shop_domain, fo["orderId"])
    fo = with_every_line(gateway, fo)  # a line past the first page must be judged too before accepting
    with read_only(services.session_factory)() as session:
        problem, reason, supplier_name = _fulfillment_problem(session, supplier_id, order_id, fo)
    if problem:
        gateway.mutate("FulfillmentOrderRejectRequest", {"id": fo["id"], "reason": reason, "message": problem[:250]})
        report.rejected += 1
        _note(services, order_id, "fulfillment_request_rejected", "app", reason=reason, detail=problem)
        _alert_address_rejection(services, shop_domain, order_id, fo)
        return
    gateway.mutate("FulfillmentOrderAcceptRequest", {"id": fo["id"], "message": f"Forwarding to {supplier_name}"})
    report.accepted += 1
    _note(services, order_id, "fulfillment_request_accepted", "app", supplier=supplier_name)
    with services.session_factory.begin() as session:  # accepted after all (address fixed, resubmitted)
        for kind in ("customer_data_redacted", "address_incomplete"):
            resolve_alert(session, _rejection_key(kind, shop_domain, fo))
    # Accepted: now the supplier gets it (routing reads the accepted fulfillment order back).
    refresh_order(services, shop_domain, fo["orderId"])


def _rejection_key(kind: str, shop_domain: str, fo) -> str:
    # Its own key: routing resolves the order-level address alert when nothing of ours is held,
    # and a rejected request is not held by us, yet the merchant still has to act.
    return f"{kind}:{shop_domain}:request:{gid_number(fo['id'])}"


def _alert_address_rejection(services, shop_domain: str, order_id: int | None, fo) -> None:
    if order_id is None:
        return
    with services.session_factory.begin() as session:
        order = session.get(Order, order_id)
        problem = address_problem(order.shipping_address)
        if problem is None:
            return  # rejected for stock or supplier: Shopify shows the reason to the merchant
        raise_alert(session, shop_domain, problem.alert_kind, _rejection_key(problem.alert_kind, shop_domain, fo),
                    f"Order {order.name or order.shopify_id}: fulfillment request rejected. {problem.note}", severity="critical", subject=order.name)


def _answer_cancellation_request(services, gateway, fo, report: RequestReport) -> None:
    with read_only(services.session_factory)() as session:
        order_id = session.scalar(select(Order.id).where(Order.shopify_id == gid_number(fo["orderId"])))
        deliveries = session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order_id)).all() if order_id else []
        work = [(d.id, d.state, d.supplier_order_id, d.idempotency_key, adapter_from_record(d.supplier, services.box) if d.supplier_order_id or d.state != DeliveryState.PENDING.value else None)
                for d in deliveries]
    try:
        for delivery_id, state, supplier_order_id, idempotency_key, adapter in work:
            if state in (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value):
                continue
            if adapter is not None:  # sent (or maybe sent): cancel at the supplier first, with no transaction open
                supplier_order_id = supplier_order_id or (adapter.find_order(idempotency_key) or _Missing).supplier_order_id
                if supplier_order_id:
                    adapter.cancel_order(supplier_order_id)
            with services.session_factory.begin() as session:  # cancelled there, or never sent: nothing to undo
                session.get(SupplierOrder, delivery_id).state = DeliveryState.CANCELLED.value
    except CancellationRefused as exc:
        gateway.mutate("FulfillmentOrderRejectCancellation", {"id": fo["id"], "message": f"The supplier cannot cancel: {exc}"[:250]})
        report.cancellations_rejected += 1
        _note(services, order_id, "cancellation_rejected", "supplier", reason=str(exc)[:200])
        return
    except SupplierError:
        raise  # transient: the inbox retries the whole request later
    gateway.mutate("FulfillmentOrderAcceptCancellation", {"id": fo["id"], "message": "Cancelled at the supplier"})
    report.cancellations_accepted += 1
    _note(services, order_id, "cancellation_accepted", "app")


class _Missing:
    supplier_order_id = None


@blueprint.post(CALLBACK_PATH + "/fulfillment_order_notification")
def fulfillment_order_notification() -> Response:
    """Shopify's fulfillment-service callback: verify, record, ack; the inbox does the work."""
    services = current_app.extensions["services"]
    body = request.get_data(cache=False)[: services.settings.webhook_max_bytes].decode("utf-8", errors="replace")
    try:
        headers = signature_headers(request.headers, ("X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain"))
    except NonAsciiSignatureHeader:
        return Response("Unauthorized", 401)
    verdict = services.shopify.verify_webhook_req({"method": "POST", "headers": headers, "url": request.path, "body": body})
    if not verdict.ok:
        return Response(verdict.response.body or "Unauthorized", verdict.response.status)
    shop = request.headers.get("X-Shopify-Shop-Domain", "").strip().lower()
    if not shop:
        return Response("Missing X-Shopify-Shop-Domain", 400)
    services.record_webhook(IncomingWebhook(webhook_id=f"fsn-{uuid.uuid4()}", shop_domain=shop, topic=NOTIFICATION_TOPIC, body=body))
    services.wake_inbox_worker()
    return Response("ok", 200)


@handles(NOTIFICATION_TOPIC, "fulfillment_orders/fulfillment_request_submitted", "fulfillment_orders/cancellation_request_submitted")
def fulfillment_requests_changed(ctx: WebhookContext) -> None:
    """Any sign of new requests: answer everything pending (idempotent), after this transaction."""
    services, shop_domain = ctx.services, ctx.shop_domain
    ctx.after_commit(lambda: process_requests(services, shop_domain))
