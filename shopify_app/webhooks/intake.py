"""POST /webhooks: verify on the raw body, record in the inbox, commit, then acknowledge."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from ..auth.signature_headers import NonAsciiSignatureHeader, signature_headers
from .inbox import IncomingWebhook, Recorded

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

REQUIRED_HEADERS = ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id")
SIGNATURE_HEADERS = ("X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain")


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


@blueprint.route("/webhooks", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def receive_webhook() -> Response:
    """Acknowledge a delivery only once its row is committed."""
    services = current_app.extensions["services"]
    if request.method != "POST":
        return _plain(405, "Method not allowed")
    limit = services.settings.webhook_max_bytes
    if request.content_length is not None and request.content_length > limit:
        return _plain(413, "Payload too large")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        return _plain(413, "Payload too large")
    # Shopify's SDK takes the body as text and signs body.encode("utf-8"); Shopify only
    # sends UTF-8, so a body that is not UTF-8 cannot be genuine and fails the HMAC.
    body = raw.decode("utf-8", errors="replace")
    # The SDK reads only the HMAC and shop headers, and the URL plays no part in the
    # HMAC: hand it just those (copying every header costs more than the check).
    try:
        headers = signature_headers(request.headers, SIGNATURE_HEADERS)
    except NonAsciiSignatureHeader as exc:
        log.warning("webhook rejected: non-ASCII %s", exc)
        return _plain(401, "Unauthorized")
    verdict = services.shopify.verify_webhook_req({"method": "POST", "headers": headers, "url": request.path, "body": body})
    if not verdict.ok:
        log.warning("webhook rejected: %s (%s)", verdict.log.code, verdict.response.status)
        return _plain(verdict.response.status, verdict.response.body or "Rejected")
    missing = [h for h in REQUIRED_HEADERS if not request.headers.get(h)]
    if missing:
        return _plain(400, "Missing headers: " + ", ".join(missing))
    hook = IncomingWebhook(
        webhook_id=request.headers["X-Shopify-Webhook-Id"],
        shop_domain=request.headers["X-Shopify-Shop-Domain"].strip().lower(),
        topic=request.headers["X-Shopify-Topic"].strip().lower(),
        body=body,
        event_id=request.headers.get("X-Shopify-Event-Id") or None,
        api_version=request.headers.get("X-Shopify-API-Version"),
        triggered_at=request.headers.get("X-Shopify-Triggered-At"),
    )
    outcome = services.record_webhook(hook)
    # The commit above happened (the context manager raised otherwise): now we may ack.
    if outcome is Recorded.NEW:
        services.wake_inbox_worker()
    log.debug("webhook %s topic=%s shop=%s outcome=%s", hook.webhook_id, hook.topic, hook.shop_domain, outcome.value)
    return _plain(200, outcome.value)
