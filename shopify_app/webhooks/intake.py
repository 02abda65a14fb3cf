"""POST /webhooks: verify on the raw body, record in the inbox, commit, then acknowledge.

Every Shopify webhook is a POST to /webhooks, so its path runs outside Flask
(`WebhookIntakeMiddleware`): Flask's request context, its hooks and a werkzeug Response cost
more CPU per delivery than the intake itself. It keeps what those hooks do for /webhooks (the
log context and X-Request-Id, the intake metrics) and runs the same `accept_delivery` as the
Flask view, which still answers every other method. A supplier's webhook (POST
/suppliers/<id>/webhooks) takes the same path with the supplier view's `accept_supplier_delivery`.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Callable

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from ..auth.install import sanitized_shop
from ..server.logs import bind, unbind
from ..server.request_context import REQUEST_ID, SHOP, TOPIC, well_formed
from ..suppliers.webhooks import SUPPLIER_EVENT_TOPIC, accept_supplier_delivery, supplier_webhook_id
from ..web.security import content_security_policy
from .inbox import IncomingWebhook, Recorded
from .signature import body_signature_valid

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

REQUIRED_HEADERS = ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id")
PATH = "/webhooks"
SUPPLIERS_PREFIX = "/suppliers/"


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def accept_delivery(services, header: Callable[[str], str | None], content_length: int | None, read: Callable[[int], bytes]) -> tuple[int, str]:
    """(status, plain-text answer) for one POSTed delivery: 200 only once its row is committed.

    `header(name)`: a request header or None; `read(n)`: at most n bytes of the body.
    """
    limit = services.settings.webhook_max_bytes
    if content_length is not None and content_length > limit:
        return 413, "Payload too large"
    raw = read(limit + 1)
    if len(raw) > limit:
        return 413, "Payload too large"
    signature = header("X-Shopify-Hmac-Sha256")
    if not signature:
        log.warning("webhook rejected: missing_hmac_header (400)")
        return 400, "Bad Request"
    settings = services.settings
    if not body_signature_valid(raw, signature, (settings.api_secret, settings.api_secret_old)):
        log.warning("webhook rejected: invalid_hmac (401)")
        return 401, "Unauthorized"
    try:
        # Shopify only sends UTF-8; the signature held, so this fails only for a forged body
        # signed with our secret: refused like any body whose HMAC does not hold.
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("webhook rejected: body is not UTF-8 (401)")
        return 401, "Unauthorized"
    missing = [h for h in REQUIRED_HEADERS if not header(h)]
    if missing:
        return 400, "Missing headers: " + ", ".join(missing)
    hook = IncomingWebhook(
        webhook_id=header("X-Shopify-Webhook-Id"),
        shop_domain=header("X-Shopify-Shop-Domain").strip().lower(),
        topic=header("X-Shopify-Topic").strip().lower(),
        body=body,
        event_id=header("X-Shopify-Event-Id") or None,
        api_version=header("X-Shopify-API-Version"),
        triggered_at=header("X-Shopify-Triggered-At"),
    )
    outcome = services.record_webhook(hook)
    # The commit above happened (the context manager raised otherwise): now we may ack.
    if outcome is Recorded.NEW:
        services.wake_lane_for(hook.topic)  # only the lane that handles the topic runs a claim for it
    log.debug("webhook %s topic=%s shop=%s outcome=%s", hook.webhook_id, hook.topic, hook.shop_domain, outcome.value)
    return 200, outcome.value


@blueprint.route(PATH, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def receive_webhook() -> Response:
    """Acknowledge a delivery only once its row is committed (POSTs normally take WebhookIntakeMiddleware's path)."""
    if request.method != "POST":
        return _plain(405, "Method not allowed")
    status, text = accept_delivery(current_app.extensions["services"], request.headers.get, request.content_length, request.stream.read)
    return _plain(status, text)


def serve_webhooks_outside_flask(app) -> None:
    """Put WebhookIntakeMiddleware in front of the app (after the hooks it stands in for are installed)."""
    from ..metrics.intake import record_door_intake, record_shopify_intake

    app.wsgi_app = WebhookIntakeMiddleware(app, app.wsgi_app, record_shopify_intake, record_door_intake)


class WebhookIntakeMiddleware:
    """WSGI: POST /webhooks and POST /suppliers/<id>/webhooks straight to their intake; every other request to the Flask app.

    A supplier's webhook is the third request of every order (Printful's): through Flask it
    cost about twice the CPU of a Shopify delivery here. It runs the Flask view's own
    `accept_supplier_delivery` and answers as the view would (text/html, its CSP, X-Request-Id);
    a body of unknown length or over the cap takes the Flask view, which answers those.
    """

    def __init__(self, app, wsgi_app, record_metrics: Callable[[str | None, int, str, float], None],
                 record_door_metrics: Callable[[str, int, float], None] | None = None):
        self.services = app.extensions["services"]
        self.wsgi_app = wsgi_app
        self.record_metrics = record_metrics  # (X-Shopify-Topic, status, answer, seconds)
        self.record_door_metrics = record_door_metrics  # (door topic, status, seconds)
        self.csp_without_shop = content_security_policy(self.services.settings, None)  # what add_content_security_policy sets when no ?shop= names one

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path == PATH:
            return self._shopify(environ, start_response)
        if path.startswith(SUPPLIERS_PREFIX):
            supplier_id = supplier_webhook_id(path)
            content_length = _content_length(environ)
            # Known length within the cap only: Flask answers the rest (its 413 for a body over MAX_CONTENT_LENGTH).
            if supplier_id is not None and content_length is not None and content_length <= self.services.settings.webhook_max_bytes:
                return self._supplier(environ, start_response, supplier_id, content_length)
        return self.wsgi_app(environ, start_response)

    def _shopify(self, environ, start_response):
        content_length = _content_length(environ)
        if content_length is None and not environ.get("wsgi.input_terminated"):
            # A body of unknown length on a server that does not end the stream for us:
            # werkzeug's own handling (it reads such a body as empty) decides.
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        request_id = well_formed(environ.get("HTTP_X_REQUEST_ID"), REQUEST_ID) or uuid.uuid4().hex
        token = bind(request_id=request_id, shop=well_formed(environ.get("HTTP_X_SHOPIFY_SHOP_DOMAIN"), SHOP),
                     topic=well_formed(environ.get("HTTP_X_SHOPIFY_TOPIC"), TOPIC))
        try:
            stream = environ["wsgi.input"]
            status, text = accept_delivery(self.services, lambda name: environ.get("HTTP_" + name.upper().replace("-", "_")), content_length,
                                           (lambda n: _read_exactly(stream, min(n, content_length))) if content_length is not None else stream.read)
        except Exception:  # noqa: BLE001 - as Flask would: a 500 (nothing acknowledged; Shopify retries), logged with its traceback
            log.exception("webhook intake failed")
            status, text = 500, "Internal Server Error"
        finally:
            unbind(token)
        self.record_metrics(environ.get("HTTP_X_SHOPIFY_TOPIC"), status, text, time.perf_counter() - started)
        return _answer(start_response, status, text, "text/plain; charset=utf-8", request_id)

    def _supplier(self, environ, start_response, supplier_id: int, content_length: int):
        started = time.perf_counter()
        request_id = well_formed(environ.get("HTTP_X_REQUEST_ID"), REQUEST_ID) or uuid.uuid4().hex
        # The request's query only matters when it has one (the log context's and the CSP's ?shop=, as Flask's hooks read it).
        query_shop = Request(environ).args.get("shop") if environ.get("QUERY_STRING") else None
        token = bind(request_id=request_id,
                     shop=well_formed(environ.get("HTTP_X_SHOPIFY_SHOP_DOMAIN"), SHOP) or well_formed(query_shop, SHOP),
                     topic=well_formed(environ.get("HTTP_X_SHOPIFY_TOPIC"), TOPIC))
        try:
            raw = _read_exactly(environ["wsgi.input"], content_length)
            status, text = accept_supplier_delivery(self.services, supplier_id, EnvironHeaders(environ), raw)
        except Exception:  # noqa: BLE001 - as Flask would: a 500 (nothing acknowledged; the supplier retries), logged with its traceback
            log.exception("supplier webhook intake failed")
            status, text = 500, "Internal Server Error"
        finally:
            unbind(token)
        if self.record_door_metrics is not None:
            self.record_door_metrics(SUPPLIER_EVENT_TOPIC, status, time.perf_counter() - started)
        shop = sanitized_shop(query_shop)
        csp = content_security_policy(self.services.settings, shop) if shop else self.csp_without_shop
        return _answer(start_response, status, text, "text/html; charset=utf-8", request_id, ("Content-Security-Policy", csp))


def _answer(start_response, status: int, text: str, content_type: str, request_id: str, *extra: tuple[str, str]) -> list[bytes]:
    data = text.encode("utf-8")
    # The status line as a werkzeug Response (the Flask view) writes it.
    start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", [
        ("Content-Type", content_type), ("Content-Length", str(len(data))), ("X-Request-Id", request_id), *extra])
    return [data]


def _content_length(environ) -> int | None:
    try:
        value = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return value if value >= 0 else None


def _read_exactly(stream, n: int) -> bytes:
    """n bytes of a body whose length is known (never more: on a raw socket that would wait for the next request)."""
    chunks, left = [], n
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
