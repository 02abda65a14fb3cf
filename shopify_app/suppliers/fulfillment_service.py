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

from ..auth.signature_headers import NonAsciiSignatureHeader, signature_headers
from ..orders.graph import order_payload_from_graphql
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
    """Create the supplier's fulfillment service in Shopify; returns its location GID."""
    with services.session_factory() as session:
        name = session.get(Supplier, supplier_id).name
    data = services.gateway(shop_domain).mutate(
        "FulfillmentServiceCreate",
        {"name": f"{name} (Dropship Ops)", "callbackUrl": services.settings.app_url + CALLBACK_PATH, "trackingSupport": True, "inventoryManagement": True},
    )
    location = data["fulfillmentServiceCreate"]["fulfillmentService"]["location"]["id"]
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.fulfillment_model = FulfillmentModel.SERVICE.value
        supplier.location_gid = location
    return location


@dataclass
class RequestReport:
    """What one pass over assigned fulfillment orders did."""

    accepted: int = 0
    rejected: int = 0
    cancellations_accepted: int = 0
    cancellations_rejected: int = 0


def process_requests(session, services, shop_domain: str) -> RequestReport:
    """Answer every pending fulfillment and cancellation request at our locations."""
    gateway = services.gateway(shop_domain)
    report = RequestReport()
    suppliers = {s.location_gid: s for s in session.scalars(select(Supplier).where(Supplier.shop_domain == shop_domain, Supplier.location_gid.is_not(None)))}
    for status in ("FULFILLMENT_REQUESTED", "CANCELLATION_REQUESTED"):
        for fo in gateway.paginate("AssignedFulfillmentOrders", {"first": 10, "assignmentStatus": status}, ("assignedFulfillmentOrders",)):
            supplier = suppliers.get((fo.get("assignedLocation") or {}).get("location", {}).get("id"))
            if status == "FULFILLMENT_REQUESTED":
                _answer_fulfillment_request(session, gateway, shop_domain, supplier, fo, report)
            else:
                _answer_cancellation_request(session, services, gateway, supplier, fo, report)
    return report


def _local_order(session, gateway, shop_domain: str, order_gid: str) -> Order | None:
    order = session.scalar(select(Order).where(Order.shop_domain == shop_domain, Order.shopify_id == gid_number(order_gid)))
    if order is None:  # the request can arrive before the order's own webhook
        data = gateway.query("OrderForSync", {"id": order_gid})
        if data.get("order"):
            order, _ = upsert_order(session, shop_domain, parse_order(order_payload_from_graphql(data["order"])))
    return order


def _answer_fulfillment_request(session, gateway, shop_domain, supplier, fo, report: RequestReport) -> None:
    order = _local_order(session, gateway, shop_domain, fo["orderId"])
    problem, reason = None, "OTHER"
    if supplier is None or not supplier.active or supplier.deleted_at is not None:
        problem = "no active supplier at this location"
    elif order is None:
        problem = "order not found"
    else:
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
            problem, reason = "out of stock at the supplier: " + ", ".join(missing), "INVENTORY_OUT_OF_STOCK"
    if problem:
        gateway.mutate("FulfillmentOrderRejectRequest", {"id": fo["id"], "reason": reason, "message": problem[:250]})
        report.rejected += 1
        if order is not None:
            record_event(session, order, "fulfillment_request_rejected", "app", reason=reason, detail=problem)
        return
    gateway.mutate("FulfillmentOrderAcceptRequest", {"id": fo["id"], "message": f"Forwarding to {supplier.name}"})
    report.accepted += 1
    record_event(session, order, "fulfillment_request_accepted", "app", supplier=supplier.name)


def _answer_cancellation_request(session, services, gateway, supplier, fo, report: RequestReport) -> None:
    order = session.scalar(select(Order).where(Order.shopify_id == gid_number(fo["orderId"])))
    deliveries = session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id)).all() if order else []
    try:
        for delivery in deliveries:
            if delivery.state in (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value):
                continue
            if delivery.supplier_order_id is None and delivery.state == DeliveryState.PENDING.value:
                delivery.state = DeliveryState.CANCELLED.value  # never sent: nothing to undo
                continue
            adapter = adapter_from_record(delivery.supplier, services.box)
            supplier_order_id = delivery.supplier_order_id or (adapter.find_order(delivery.idempotency_key) or _Missing).supplier_order_id
            if supplier_order_id:
                adapter.cancel_order(supplier_order_id)
            delivery.state = DeliveryState.CANCELLED.value
    except CancellationRefused as exc:
        gateway.mutate("FulfillmentOrderRejectCancellation", {"id": fo["id"], "message": f"The supplier cannot cancel: {exc}"[:250]})
        report.cancellations_rejected += 1
        if order is not None:
            record_event(session, order, "cancellation_rejected", "supplier", reason=str(exc)[:200])
        return
    except SupplierError:
        raise  # transient: the inbox retries the whole request later
    gateway.mutate("FulfillmentOrderAcceptCancellation", {"id": fo["id"], "message": "Cancelled at the supplier"})
    report.cancellations_accepted += 1
    if order is not None:
        record_event(session, order, "cancellation_accepted", "app")


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
    """Any sign of new requests: answer everything pending (idempotent)."""
    process_requests(ctx.session, ctx.services, ctx.shop_domain)
