"""Webhook intake measured around the /webhooks view (the view itself stays as it is)."""
from __future__ import annotations

import time

from flask import Flask, Response, g, request

from ..webhooks.inbox import Recorded
from ..webhooks.registry import COMPLIANCE_TOPICS, INTERNAL_TOPICS, load_handlers
from .instruments import WEBHOOK_INTAKE_SECONDS, WEBHOOKS_RECEIVED
from .safety import never_raises

SHOPIFY_WEBHOOKS = "webhooks.receive_webhook"
# The other doors into the inbox, each with its own (internal) topic: their path says what they are.
INBOX_DOORS = {
    SHOPIFY_WEBHOOKS: None,  # the topic is the X-Shopify-Topic header, trusted once the HMAC holds
    "supplier_webhooks.receive_supplier_webhook": "supplier/event",
    "fulfillment_service.fulfillment_order_notification": "fulfillment_service/notification",
}
RECORDED = frozenset(r.value for r in Recorded)
UNVERIFIED = "unverified"  # a refused delivery's headers are not Shopify's word: its topic is not a label


def topic_label(topic: str | None) -> str:
    """The topic as a label: one the app handles, else "other" (the label set stays the app's own)."""
    topic = (topic or "").strip().lower()
    if topic in load_handlers() or topic in COMPLIANCE_TOPICS or topic in INTERNAL_TOPICS:
        return topic
    return "other"


def _started() -> None:
    if request.endpoint in INBOX_DOORS:
        g.metrics_intake_started = time.perf_counter()


def _answered(response: Response) -> Response:
    started = g.pop("metrics_intake_started", None)
    if started is not None:
        _record_intake(response, time.perf_counter() - started)
    return response


@never_raises
def _record_intake(response: Response, seconds: float) -> None:
    door_topic = INBOX_DOORS.get(request.endpoint)
    if door_topic is not None:
        record_door_intake(door_topic, response.status_code, seconds)
    else:  # the view answers new | replay | duplicate_event
        record_shopify_intake(request.headers.get("X-Shopify-Topic"), response.status_code, response.get_data(as_text=True), seconds)


@never_raises
def record_door_intake(door_topic: str, status: int, seconds: float) -> None:
    """Count and time one answer of another door into the inbox (a supplier's webhook, a fulfillment-service callback)."""
    WEBHOOK_INTAKE_SECONDS.labels(door_topic).observe(seconds)
    WEBHOOKS_RECEIVED.labels(door_topic, "recorded" if status == 200 else str(status)).inc()


@never_raises
def record_shopify_intake(topic_header: str | None, status: int, answer: str, seconds: float) -> None:
    """Count and time one answer of POST /webhooks (also called by its path outside Flask, webhooks/intake.py)."""
    if status == 200:
        topic, outcome = topic_label(topic_header), answer if answer in RECORDED else "other"
    else:
        topic, outcome = UNVERIFIED, str(status)
    WEBHOOK_INTAKE_SECONDS.labels(topic).observe(seconds)
    WEBHOOKS_RECEIVED.labels(topic, outcome).inc()


def measure_intake(app: Flask) -> None:
    """Count and time every answer of /webhooks (and of the suppliers' and fulfillment-service callbacks) by topic and outcome."""
    app.before_request(_started)
    app.after_request(_answered)
