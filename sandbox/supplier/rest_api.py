"""The REST sandbox supplier's HTTP API (documented in rest_supplier.py).

Every request: `X-Api-Key` (401), then faults (faults.py: refusals before the handler, lost
or garbled answers after it), then the handler. Errors are `{"error": {"code", "message"}}`.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable

from flask import Flask, Response, g, request

from .faults import GARBAGE_BODY, Fault
from .rest_orders import RestRefusal

if TYPE_CHECKING:
    from .rest_supplier import RestSandboxSupplier

API = "/api/v1"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(json.dumps(body).encode(), status=status, headers=headers, content_type="application/json")


def error_response(status: int, code: str, message: str, retry_after: float | None = None, **extra: Any) -> Response:
    """The sandbox's error shape."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return json_response(status, {"error": {"code": code, "message": message, **extra}}, headers)


def build_rest_app(supplier: "RestSandboxSupplier") -> Flask:
    """The Flask app serving `supplier`'s state."""
    app = Flask("sandbox-rest-supplier")
    book = supplier.orders

    @app.before_request
    def authenticate_and_maybe_refuse() -> Response | None:
        if request.path == "/oauth/token":
            return None
        if not supplier.oauth.accepts(request.headers.get("Authorization", "")) and request.headers.get("X-Api-Key") != supplier.api_key:
            return error_response(401, "unauthorized", "missing or wrong X-Api-Key (or OAuth2 bearer token)")
        supplier.received.append((request.method, request.path, request.get_json(silent=True)))
        if supplier.faults.latency:
            time.sleep(supplier.faults.latency)
        fault = supplier.faults.take(f"{request.method} {request.path}")
        g.fault = fault
        if fault is not None and not fault.processes_request:
            return error_response(fault.status, "sandbox_fault", "the sandbox was told to fail this request", fault.retry_after)
        return None

    def serve(handler: Callable[[], tuple[int, Any]]) -> Response:
        try:
            status, body = handler()
        except RestRefusal as refusal:
            return error_response(refusal.status, refusal.code, refusal.message, **refusal.extra)
        fault: Fault | None = g.get("fault")
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.hold_seconds)  # the work is done; the answer arrives after the client gave up
        if fault is not None and fault.kind == "garbage":
            return Response(GARBAGE_BODY, status=200, content_type="application/json")
        return json_response(status, body)

    @app.post(f"{API}/orders")
    def create_order() -> Response:
        return serve(lambda: (201, {"order": book.create(request.get_json(silent=True)).json()}))

    @app.get(f"{API}/orders")
    def list_orders() -> Response:
        reference = request.args.get("reference")
        def answer() -> tuple[int, Any]:
            orders = book.by_reference(reference) if reference is not None else book.all()[-100:]
            return 200, {"orders": [order.json() for order in orders]}
        return serve(answer)

    @app.get(f"{API}/orders/by-reference/<path:reference>")
    def order_by_reference(reference: str) -> Response:
        def answer() -> tuple[int, Any]:
            found = book.by_reference(reference)
            if not found:
                raise RestRefusal(404, "not_found", "no order with this reference")
            return 200, {"order": found[0].json()}
        return serve(answer)

    @app.get(f"{API}/orders/<int:order_id>")
    def get_order(order_id: int) -> Response:
        return serve(lambda: (200, {"order": book.get(order_id).json()}))

    @app.patch(f"{API}/orders/<int:order_id>")
    def update_order(order_id: int) -> Response:
        return serve(lambda: (200, {"order": book.update(book.get(order_id), request.get_json(silent=True)).json()}))

    @app.post(f"{API}/orders/<int:order_id>/cancel")
    def cancel_order(order_id: int) -> Response:
        return serve(lambda: (200, {"order": book.cancel(book.get(order_id)).json()}))

    @app.get(f"{API}/orders/<int:order_id>/shipments")
    def shipments(order_id: int) -> Response:
        return serve(lambda: (200, {"shipments": [parcel.json() for parcel in book.get(order_id).parcels]}))

    @app.post(f"{API}/orders/<int:order_id>/returns")
    def create_return(order_id: int) -> Response:
        return serve(lambda: (201, {"return": supplier.returns.authorize(book.get(order_id), request.get_json(silent=True)).json(supplier.base_url)}))

    @app.get(f"{API}/returns/<rma>")
    def get_return(rma: str) -> Response:
        def answer() -> tuple[int, Any]:
            found = supplier.returns.authorizations.get(rma)
            if found is None:
                raise RestRefusal(404, "not_found", "no such return")
            return 200, {"return": found.json(supplier.base_url)}
        return serve(answer)

    @app.get(f"{API}/stock")
    def stock() -> Response:
        skus = [sku for sku in request.args.get("skus", "").split(",") if sku]
        return serve(lambda: (200, {"stock": [book.products[sku].json() for sku in skus if sku in book.products]}))

    @app.get(f"{API}/stock/<path:sku>")
    def stock_for_sku(sku: str) -> Response:
        def answer() -> tuple[int, Any]:
            if sku not in book.products:
                raise RestRefusal(404, "not_found", "unknown sku")
            return 200, book.products[sku].json()
        return serve(answer)

    @app.post("/oauth/token")
    def oauth_token() -> Response:
        status, body = supplier.oauth.token(request.form)
        return json_response(status, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.errorhandler(404)
    def not_found(_error: Any) -> Response:
        return error_response(404, "not_found", "not found")

    @app.errorhandler(405)
    def wrong_method(_error: Any) -> Response:
        return error_response(405, "method_not_allowed", "method not allowed")

    return app
