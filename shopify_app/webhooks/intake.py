"""POST /webhooks: verify on the raw body, record in the inbox, commit, then acknowledge."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from .inbox import IncomingWebhook, Recorded
from .signature import body_signature_valid

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

REQUIRED_HEADERS = ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id")


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
    signature = request.headers.get("X-Shopify-Hmac-Sha256")
    if not signature:
        log.warning("webhook rejected: missing_hmac_header (400)")
        return _plain(400, "Bad Request")
    settings = services.settings
    if not body_signature_valid(raw, signature, (settings.api_secret, settings.api_secret_old)):
        log.warning("webhook rejected: invalid_hmac (401)")
        return _plain(401, "Unauthorized")
    try:
        # Shopify only sends UTF-8; the signature held, so this fails only for a forged body
        # signed with our secret: refused like any body whose HMAC does not hold.
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("webhook rejected: body is not UTF-8 (401)")
        return _plain(401, "Unauthorized")
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
        services.wake_lane_for(hook.topic)  # only the lane that handles the topic runs a claim for it
    log.debug("webhook %s topic=%s shop=%s outcome=%s", hook.webhook_id, hook.topic, hook.shop_domain, outcome.value)
    return _plain(200, outcome.value)
