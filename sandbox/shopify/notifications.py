"""Shopify's `fulfillment_order_notification`: the signed POST telling a fulfillment service to look at its requests.

The body only names the kind (`{"kind":"FULFILLMENT_REQUEST"}` or CANCELLATION_REQUEST);
the service then queries `assignedFulfillmentOrders`. It is signed like a webhook
(base64 HMAC-SHA256 of the raw body with the app's secret).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import httpx

from integrations.tls_defaults import default_verify_context

from .outbox import FulfillmentServiceCallback
from .webhooks import DEFAULT_TIMEOUT, sign_body

NOTIFICATION_PATH = "/fulfillment_order_notification"


def notification_url(callback_url: str) -> str:
    """Where Shopify POSTs: the service's callbackUrl plus /fulfillment_order_notification."""
    return callback_url.rstrip("/") + NOTIFICATION_PATH


def notification_body(kind: str) -> bytes:
    """The exact body bytes Shopify sends (and signs)."""
    return json.dumps({"kind": kind}, separators=(",", ":")).encode()


@dataclass
class NotificationAttempt:
    """One notification POST and its outcome."""

    shop_domain: str
    url: str
    kind: str
    body: bytes
    status: int | None  # None when no answer came back
    error: str | None = None
    sent_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


class FulfillmentServiceNotifier:
    """Sends fulfillment_order_notification POSTs (no retries: services are expected to poll too) and logs them."""

    def __init__(self, timeout: httpx.Timeout = DEFAULT_TIMEOUT):
        self._client = httpx.Client(timeout=timeout, verify=default_verify_context())
        self._lock = threading.Lock()
        self.log: list[NotificationAttempt] = []

    def send(self, callback: FulfillmentServiceCallback, secret: str) -> NotificationAttempt:
        """POST one notification, signed with `secret`; the attempt is logged whatever happens."""
        url, body = notification_url(callback.callback_url), notification_body(callback.kind)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-SHA256": sign_body(body, secret),
            "X-Shopify-Shop-Domain": callback.shop_domain,
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
            attempt = NotificationAttempt(callback.shop_domain, url, callback.kind, body, response.status_code)
        except httpx.HTTPError as exc:
            attempt = NotificationAttempt(callback.shop_domain, url, callback.kind, body, None, f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.log.append(attempt)
        return attempt

    def skip(self, callback: FulfillmentServiceCallback, reason: str) -> NotificationAttempt:
        """Log a notification that could not be signed or sent (e.g. its app is not registered)."""
        attempt = NotificationAttempt(callback.shop_domain, notification_url(callback.callback_url), callback.kind, notification_body(callback.kind), None, reason)
        with self._lock:
            self.log.append(attempt)
        return attempt

    def attempts(self, *, kind: str | None = None) -> list[NotificationAttempt]:
        """Logged notifications, optionally of one kind."""
        with self._lock:
            return [a for a in self.log if kind is None or a.kind == kind]

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
