"""The sandbox supplier's HTTP API: the Printful v2 endpoints a dropshipping integration uses.

Every request: Bearer token (401), optional `X-PF-Store-Id` (403 if it is not this store),
then the token's leaky bucket (429 with Retry-After when empty; X-Ratelimit-* headers on
every answer, see rate_limit.py), then the whole request (path, query, headers, body) is
validated against the spec by openapi-core (400 with Printful's `{code, result, error}`
body, see request_validation.py), then faults (see faults.py), then the handler.
Responses are checked against the spec too when `check_responses` is on, and any mismatch
is recorded in `schema_violations`.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import unquote

from flask import Flask, Response, g, request

from . import representations as rep
from .faults import GARBAGE_BODY, Fault
from .orders import BadRequest, NotFound, SupplierRefusal
from .request_validation import request_problems

if TYPE_CHECKING:
    from .printful import SandboxSupplier

MAX_PAGE = 100


@dataclass
class Answer:
    """What a handler returns: status, JSON body (None: empty) and the spec path it answers for."""

    status: int
    body: Any
    spec_path: str
    headers: dict[str, str] | None = None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (no body for None)."""
    payload = b"" if body is None else json.dumps(body).encode()
    return Response(payload, status=status, headers=headers, content_type="application/json" if body is not None else None)


def error_response(status: int, message: str, retry_after: float | None = None, headers: dict[str, str] | None = None) -> Response:
    """A Printful-style error."""
    headers = dict(headers or {})
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return json_response(status, rep.error_json(status, message), headers or None)


def build_app(supplier: "SandboxSupplier") -> Flask:
    """The Flask app serving `supplier`'s state."""
    app = Flask("sandbox-printful")
    orders = supplier.orders

    def base_url() -> str:
        return request.host_url.rstrip("/")

    def paging() -> tuple[int, int]:
        try:
            limit = int(request.args.get("limit", 20))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            raise BadRequest("limit and offset must be integers") from None
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise BadRequest(f"limit must be 1..{MAX_PAGE} and offset at least 0")
        return limit, offset

    def json_body(spec_method: str, spec_path: str) -> dict[str, Any]:
        # Its shape was checked against the spec by openapi-core before the handler ran.
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        return body

    # -- the pipeline around every handler ------------------------------------------------

    def raw_path() -> str:
        # The path as sent, so an `@external_id` holding an encoded "/" stays one segment.
        return (request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path).split("?", 1)[0]

    @app.after_request
    def rate_limit_headers(response: Response) -> Response:
        for name, value in (g.get("rate_headers") or {}).items():
            response.headers.setdefault(name, value)
        return response

    @app.post("/oauth/token")
    def oauth_token() -> Response:
        # Printful's token URL (spec: securitySchemes.OAuth); the refresh-token grant of RFC 6749 section 6.
        form = request.form
        answer = supplier.oauth.refresh(form.get("grant_type"), form.get("refresh_token"), form.get("client_id"), form.get("client_secret"))
        if answer is None:
            return json_response(400, {"error": "invalid_grant"})
        return json_response(200, answer)

    @app.before_request
    def authenticate_and_maybe_refuse() -> Response | None:
        if request.path == "/oauth/token":
            return None
        presented = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if presented != supplier.token and not supplier.oauth.valid(presented):
            return error_response(401, "Malformed Authorization header." if "Authorization" not in request.headers else "Invalid access token")
        store = request.headers.get("X-PF-Store-Id")
        if store is not None and store != str(supplier.store_id):
            return error_response(403, "You don't have access to this store")
        allowed, g.rate_headers = supplier.rate_limiter.take(supplier.oauth.connection_of(presented) or presented)
        if not allowed:
            return error_response(429, "Too Many Requests", headers=g.rate_headers)
        supplier.received.append((request.method, request.path, request.get_json(silent=True)))
        if supplier.validate_requests:
            problems = request_problems(request.method, raw_path(), request.args.items(multi=True), request.headers,
                                        request.get_data(cache=True) or None, request.content_type)
            if problems:
                supplier.refused_requests.append((f"{request.method} {request.path}", problems))
                return error_response(400, "Invalid request: " + "; ".join(problems[:5]))
        if supplier.faults.latency:
            time.sleep(supplier.faults.latency)
        fault = supplier.faults.take(f"{request.method} {request.path}")
        g.fault = fault
        if fault is not None and not fault.processes_request:
            return error_response(fault.status, "The sandbox was told to fail this request", fault.retry_after)
        return None

    def serve(handler: Callable[..., Answer], *args: Any) -> Response:
        try:
            answer = handler(*args)
        except SupplierRefusal as refusal:
            return error_response(refusal.status, refusal.message)
        if supplier.check_responses and supplier.spec is not None:
            problems = supplier.spec.response_errors(request.method, answer.spec_path, answer.status, answer.body)
            if problems:
                supplier.schema_violations.append((f"{request.method} {answer.spec_path} {answer.status}", problems))
        fault: Fault | None = g.get("fault")
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.hold_seconds)  # the work is done; the answer arrives after the client gave up
        if fault is not None and fault.kind == "garbage":
            return Response(GARBAGE_BODY, status=200, content_type="application/json")
        return json_response(answer.status, answer.body, answer.headers)

    # -- orders ----------------------------------------------------------------------------

    def create_order() -> Answer:
        body = json_body("post", "/v2/orders")
        order = orders.create(body)
        return Answer(200, {"data": rep.order_json(order, base_url())}, "/v2/orders")

    def list_orders() -> Answer:
        limit, offset = paging()
        everything = orders.all()
        page = everything[offset:offset + limit]
        summaries = []
        for order in page:
            summary = rep.order_json(order, base_url())
            summary["recipient"] = {k: v for k, v in summary["recipient"].items() if v}
            summary["_links"] = {k: summary["_links"][k] for k in ("self", "order_items", "shipments")}
            summaries.append(summary)
        self_link = rep.link(base_url(), f"/v2/orders?limit={limit}&offset={offset}")
        return Answer(200, {"data": summaries, "paging": {"total": len(everything), "offset": offset, "limit": limit},
                            "_links": {"self": self_link}}, "/v2/orders")

    def get_order(order_ref: str) -> Answer:
        order = orders.get(order_ref)
        return Answer(200, {"data": rep.order_json(order, base_url())}, "/v2/orders/{order_id}")

    def delete_order(order_ref: str) -> Answer:
        orders.delete(orders.get(order_ref))
        return Answer(204, None, "/v2/orders/{order_id}")

    def patch_order(order_ref: str) -> Answer:
        body = json_body("patch", "/v2/orders/{order_id}")
        order = orders.update(orders.get(order_ref), body)
        return Answer(200, {"data": rep.order_json(order, base_url())}, "/v2/orders/{order_id}")

    def confirm_order(order_ref: str) -> Answer:
        order = orders.confirm(orders.get(order_ref))
        body = {"data": rep.order_json(order, base_url()), "_links": rep.order_links_for_confirmation(order, base_url())}
        return Answer(200, body, "/v2/orders/{order_id}/confirmation")

    def list_shipments(order_ref: str) -> Answer:
        order = orders.get(order_ref)
        limit, offset = paging()
        shipments = order.shipments[offset:offset + limit]
        path = f"/v2/orders/{order.id}/shipments"
        links: dict[str, Any] = {"self": rep.link(base_url(), f"{path}?limit={limit}&offset={offset}")}
        if offset + limit < len(order.shipments):
            links["next"] = rep.link(base_url(), f"{path}?limit={limit}&offset={offset + limit}")
        body = {
            "data": [rep.shipment_json(order, shipment, base_url()) for shipment in shipments],
            "_links": links,
            "paging": {"total": len(order.shipments), "offset": offset, "limit": limit},
        }
        return Answer(200, body, "/v2/orders/{order_id}/shipments")

    @app.post("/v2/orders")
    def create_order_route() -> Response:
        return serve(create_order)

    @app.get("/v2/orders")
    def list_orders_route() -> Response:
        return serve(list_orders)

    @app.route("/v2/orders/<path:rest>", methods=["GET", "POST", "PATCH", "DELETE"])
    def order_routes(rest: str) -> Response:
        # Routed by hand on the raw path so an `@external_id` holding an encoded "/" stays one segment.
        raw = raw_path()
        segments = [unquote(segment) for segment in raw[len("/v2/orders/"):].split("/")]
        routes = {
            ("GET", 1): get_order, ("DELETE", 1): delete_order, ("PATCH", 1): patch_order,
            ("POST", 2, "confirmation"): confirm_order, ("GET", 2, "shipments"): list_shipments,
        }
        key = (request.method, len(segments)) if len(segments) == 1 else (request.method, len(segments), segments[-1])
        handler = routes.get(key)
        if handler is None:
            return error_response(404, "Not found")
        return serve(handler, segments[0])

    # -- catalog ---------------------------------------------------------------------------

    def variant_or_404(variant_id: int):
        variant = supplier.catalog.get(variant_id)
        if variant is None:
            raise NotFound("Catalog variant not found")
        return variant

    @app.get("/v2/catalog-variants/<int:variant_id>")
    def get_variant(variant_id: int) -> Response:
        return serve(lambda: Answer(200, rep.variant_json(variant_or_404(variant_id), base_url()), "/v2/catalog-variants/{id}"))

    @app.get("/v2/catalog-variants/<int:variant_id>/availability")
    def get_availability(variant_id: int) -> Response:
        def answer() -> Answer:
            region = request.args.get("selling_region_name")
            body = rep.availability_json(variant_or_404(variant_id), base_url(), region)
            return Answer(200, body, "/v2/catalog-variants/{id}/availability")
        return serve(answer)

    @app.get("/v2/catalog-products/<int:product_id>/availability")
    def get_product_availability(product_id: int) -> Response:
        def answer() -> Answer:
            variants = sorted((v for v in supplier.catalog.values() if v.product_id == product_id), key=lambda v: v.id)
            if not variants:
                raise NotFound("Catalog product not found")
            limit, offset = paging()
            body = rep.product_availability_json(product_id, variants, base_url(), request.args.get("selling_region_name"), limit, offset)
            return Answer(200, body, "/v2/catalog-products/{id}/availability")
        return serve(answer)

    # -- webhooks --------------------------------------------------------------------------

    @app.post("/v2/webhooks")
    def set_webhooks() -> Response:
        def answer() -> Answer:
            body = json_body("post", "/v2/webhooks")
            config = supplier.webhooks.configure(body.get("default_url"), body["events"], expires_at=body.get("expires_at"))
            return Answer(200, {"code": 200, "result": config.info_json(with_secret=True), "extra": []}, "/v2/webhooks")
        return serve(answer)

    @app.get("/v2/webhooks")
    def get_webhooks() -> Response:
        def answer() -> Answer:
            config = supplier.webhooks.config
            result = config.info_json() if config else {"default_url": None, "expires_at": None, "events": []}
            return Answer(200, {"code": 200, "result": result, "extra": []}, "/v2/webhooks")
        return serve(answer)

    @app.delete("/v2/webhooks")
    def disable_webhooks() -> Response:
        def answer() -> Answer:
            if supplier.webhooks.config is None:
                raise NotFound("Webhook configuration not found")
            supplier.webhooks.disable()
            return Answer(204, None, "/v2/webhooks")
        return serve(answer)

    @app.errorhandler(404)
    def not_found(_error: Any) -> Response:
        return error_response(404, "Not found")

    @app.errorhandler(405)
    def wrong_method(_error: Any) -> Response:
        return error_response(404, "Not found")

    return app
