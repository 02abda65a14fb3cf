"""A local ShipBob (API 1.0, the order part) as a real HTTP server on 127.0.0.1; shapes and sources in shipbob_spec.py.

    shipbob = ShipBobSandbox(token="pat-...", channel_id=4711)
    shipbob.start()                          # -> http://127.0.0.1:<port>
    shipbob.ship(order_id)                   # a label is printed: the shipment gets tracking
    shipbob.stop()

  POST /1.0/order                       201 Order; 422 {"reference_id": ["..."]} when the reference
                                        is taken or the body does not match the reference
  GET  /1.0/order?ReferenceIds=a,b      [Order]
  GET  /1.0/order/{id}                  Order, or 404
  GET  /1.0/order/{id}/shipment         [Shipment]: one per order, "Processing" (no tracking) until shipped
  POST /1.0/order/{id}/cancel           200 {"order_id", "reference_id", "order": Order,
                                        "canceled_shipment_results": [...]}; 422 once a label exists
Every call needs `Authorization: Bearer <token>` (401) and `shipbob_channel_id` naming the channel (403).
ShipBob's 422 wording for a taken reference is not published; the sandbox says "already exists",
which the shipbob preset's duplicate_message_contains names.
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import threading
import uuid
from typing import Any

from flask import Flask, Response, request
from jsonschema import Draft202012Validator

from ..serving import BackgroundServer, QuietRequestHandler
from .shipbob_spec import CREATE_ORDER


class UnderscoreHeaders(QuietRequestHandler):
    """Keeps `shipbob_channel_id`: werkzeug drops header names with underscores (as many proxies do); ShipBob reads this one."""

    def make_environ(self):  # type: ignore[override]
        environ = super().make_environ()
        value = self.headers.get("shipbob_channel_id")
        if value is not None:
            environ["HTTP_SHIPBOB_CHANNEL_ID"] = value
        return environ


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class ShipBobSandbox:
    """Orders and their shipments behind ShipBob's order endpoints."""

    def __init__(self, token: str = "shipbob-pat-0000000000000000", channel_id: int = 4711):
        self.token, self.channel_id = token, channel_id
        self.orders: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.received: collections.deque[tuple[str, str, Any]] = collections.deque(maxlen=1000)
        self.base_url = ""
        self._server = BackgroundServer()

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve in a daemon thread; the base URL."""
        self.base_url = self._server.start(build_shipbob_app(self), host=host, port=port, name="sandbox-shipbob", request_handler=UnderscoreHeaders)
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def reset(self) -> None:
        """No orders."""
        with self.lock:
            self.orders.clear()
            self.received.clear()

    def adapter_settings(self) -> dict[str, Any]:
        """The shipbob preset at this server, with this channel."""
        return {"preset": "shipbob", "base_url": self.base_url, "headers": {"shipbob_channel_id": str(self.channel_id)}}

    def adapter_credentials(self) -> dict[str, str]:
        """The Personal Access Token."""
        return {"api_token": self.token}

    def ship(self, order_id: int | str, lines: Any = None, carrier: str = "USPS") -> str:
        """The label is printed and the parcel leaves: tracking, then "Completed"; the tracking number."""
        with self.lock:
            order = self.orders[int(order_id)]
            parcel = order["shipments"][0]
            number = f"9400{uuid.uuid4().int % 10**18:018d}"
            parcel.update(status="Completed", actual_fulfillment_date=_now(),
                          tracking={"carrier": carrier, "tracking_number": number, "carrier_service": "Ground Advantage",
                                    "tracking_url": f"https://tools.usps.com/go/TrackConfirmAction?tLabels={number}", "shipping_date": _now()})
            order["status"] = "Fulfilled"
            return number

    def orders_created(self, reference: str) -> int:
        """Orders with this reference."""
        with self.lock:
            return sum(1 for o in self.orders.values() if o["reference_id"] == reference)


def build_shipbob_app(shipbob: ShipBobSandbox) -> Flask:
    """The Flask app serving `shipbob`'s orders."""
    app = Flask("sandbox-shipbob")
    create_schema = Draft202012Validator(CREATE_ORDER)

    @app.before_request
    def authenticate() -> Response | None:
        shipbob.received.append((request.method, request.path, request.get_json(silent=True)))
        if request.headers.get("Authorization") != f"Bearer {shipbob.token}":
            return _json(401, {"message": "Authorization has been denied for this request."})
        if request.environ.get("HTTP_SHIPBOB_CHANNEL_ID") != str(shipbob.channel_id):
            return _json(403, {"message": "shipbob_channel_id does not name a channel of this account"})
        return None

    @app.post("/1.0/order")
    def create_order() -> Response:
        body = request.get_json(silent=True)
        errors = sorted(create_schema.iter_errors(body), key=lambda e: list(e.path)) if isinstance(body, dict) else []
        if not isinstance(body, dict) or errors:
            field = ".".join(str(p) for p in errors[0].path) if errors else "body"
            return _json(422, {field or "body": [errors[0].message if errors else "A JSON object is required"]})
        with shipbob.lock:
            if any(o["reference_id"] == body["reference_id"] for o in shipbob.orders.values()):
                return _json(422, {"reference_id": [f"An order with reference id {body['reference_id']} already exists"]})
            order_id = 100000 + len(shipbob.orders) + 1
            products = [{"id": 500 + n, "reference_id": p.get("reference_id"), "quantity": p["quantity"], "external_line_id": p.get("external_line_id")}
                        for n, p in enumerate(body["products"])]
            shipment = {"id": order_id * 10, "order_id": order_id, "reference_id": body["reference_id"], "status": "Processing", "tracking": None,
                        "actual_fulfillment_date": None, "delivery_date": None,
                        "products": [{"id": p["id"], "reference_id": p["reference_id"], "name": p["reference_id"], "sku": p["reference_id"],
                                      "inventory_items": [{"id": p["id"] * 7, "name": p["reference_id"], "quantity": p["quantity"]}]} for p in products]}
            order = {"id": order_id, "reference_id": body["reference_id"], "order_number": body.get("order_number"), "created_date": _now(),
                     "purchase_date": None, "status": "Processing", "type": body.get("type", "DTC"), "shipping_method": body["shipping_method"],
                     "channel": {"id": shipbob.channel_id, "name": "dropship-app"}, "recipient": body["recipient"], "products": products,
                     "shipments": [shipment], "financials": {"total_price": 0.0}}
            shipbob.orders[order_id] = order
            return _json(201, order)

    @app.get("/1.0/order")
    def list_orders() -> Response:
        wanted = {r for r in request.args.get("ReferenceIds", "").split(",") if r}
        with shipbob.lock:
            return _json(200, [o for o in shipbob.orders.values() if not wanted or o["reference_id"] in wanted])

    @app.get("/1.0/order/<int:order_id>")
    def get_order(order_id: int) -> Response:
        with shipbob.lock:
            order = shipbob.orders.get(order_id)
            return _json(200, order) if order else _json(404, {"message": "Order not found"})

    @app.get("/1.0/order/<int:order_id>/shipment")
    def shipments(order_id: int) -> Response:
        with shipbob.lock:
            order = shipbob.orders.get(order_id)
            return _json(200, order["shipments"]) if order else _json(404, {"message": "Order not found"})

    @app.post("/1.0/order/<int:order_id>/cancel")
    def cancel(order_id: int) -> Response:
        with shipbob.lock:
            order = shipbob.orders.get(order_id)
            if order is None:
                return _json(404, {"message": "Order not found"})
            if any(s["status"] in ("LabeledCreated", "Completed") for s in order["shipments"]):
                return _json(422, {"order": ["The order has shipments with labels and cannot be cancelled"]})
            order["status"] = "Cancelled"
            for parcel in order["shipments"]:
                parcel["status"] = "Cancelled"
            return _json(200, {"order_id": order_id, "reference_id": order["reference_id"], "order": order,
                               "canceled_shipment_results": [{"action": "Cancel", "shipment_id": s["id"], "is_success": True, "reason": None} for s in order["shipments"]]})

    @app.errorhandler(404)
    def not_found(_error: Any) -> Response:
        return _json(404, {"message": "Not found"})

    return app
