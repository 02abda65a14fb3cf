"""Webhook configuration and delivery, signed as Printful v2 signs events.

Signing (Printful v2 docs, "Event signing"): each configuration has a public key (sent
base64-encoded in `x-pf-webhook-public-key`) and a secret key (hex, shown once). The
signature is the hex HMAC-SHA256 of the raw body in `x-pf-webhook-signature`. The docs do
not say how the hex secret becomes HMAC key bytes; integrations in the wild hex-decode it,
so the sandbox does too (`bytes.fromhex(secret_key)`).

Deliveries leave from one background thread in the order events happened (one attempt
each, logged in `deliveries`); `flush()` waits until every queued event has been sent.
"""
from __future__ import annotations

import base64
import datetime as dt
import collections
import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import httpx

log = logging.getLogger(__name__)

# What the dropshipping app listens to; `configure()` subscribes to these unless told otherwise.
DEFAULT_EVENTS = (
    "shipment_sent", "shipment_returned", "shipment_out_of_stock", "order_failed", "order_canceled",
    "order_put_hold", "order_remove_hold", "order_updated", "catalog_stock_updated",
)
SIGNATURE_HEADER = "x-pf-webhook-signature"
PUBLIC_KEY_HEADER = "x-pf-webhook-public-key"


def sign(body: bytes, secret_key: str) -> str:
    """Hex HMAC-SHA256 of the raw body, keyed with the hex-decoded secret key."""
    return hmac.new(bytes.fromhex(secret_key), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookConfig:
    """One store's webhook settings: where each event type goes, and the key pair."""

    default_url: str | None
    events: dict[str, dict[str, Any]]  # type -> {"url": str | None, "params": list}
    expires_at: str | None = None
    public_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(64))

    def expired(self) -> bool:
        """Past its `expires_at` (Printful then sends nothing more to it)."""
        if not self.expires_at:
            return False
        return dt.datetime.fromisoformat(self.expires_at.replace("Z", "+00:00")) <= dt.datetime.now(dt.timezone.utc)

    def url_for(self, event_type: str) -> str | None:
        """Where an event of this type goes (None: not subscribed, or the configuration expired)."""
        event = self.events.get(event_type)
        if event is None or self.expired():
            return None
        return event.get("url") or self.default_url

    def product_ids_for_stock(self) -> set[int] | None:
        """Products catalog_stock_updated reports on (None: every product)."""
        for param in self.events.get("catalog_stock_updated", {}).get("params", []):
            if param.get("name") == "products":
                return {int(product["id"]) for product in param.get("value", [])}
        return None

    def info_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        """`WebhookInfoResponse` (or `WebhookCreated` with the secret key)."""
        info: dict[str, Any] = {
            "default_url": self.default_url,
            "expires_at": self.expires_at,
            "events": [{"type": name, "url": event.get("url"), "params": event.get("params", [])} for name, event in self.events.items()],
            "public_key": self.public_key,
        }
        if with_secret:
            info["secret_key"] = self.secret_key
        return info

    def headers(self, body: bytes) -> dict[str, str]:
        """The headers a delivery carries."""
        return {
            "Content-Type": "application/json",
            PUBLIC_KEY_HEADER: base64.b64encode(self.public_key.encode()).decode(),
            SIGNATURE_HEADER: sign(body, self.secret_key),
        }


@dataclass
class Delivery:
    """One attempt to deliver one event."""

    event_type: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    error: str | None = None

    @property
    def payload(self) -> Any:
        """The decoded body."""
        return json.loads(self.body)


class WebhookDispatcher:
    """Holds the configuration and sends events to it from a background thread."""

    def __init__(self, timeout: float = 5.0):
        self.config: WebhookConfig | None = None
        self.deliveries: collections.deque[Delivery] = collections.deque(maxlen=1000)  # the latest attempts
        self._timeout = timeout
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._markers: list[threading.Event] = []
        # Where one event goes instead of the configuration's URL (None: the configuration's). Printful has
        # one webhook configuration per store; a benchmark whose shops share this one sandbox store stands
        # for a store per shop by sending each order's events to that shop's own URL.
        self.route: Callable[[Mapping[str, Any]], str | None] | None = None

    def configure(
        self,
        default_url: str | None,
        events: Iterable[str | Mapping[str, Any]] = DEFAULT_EVENTS,
        *,
        expires_at: str | None = None,
    ) -> WebhookConfig:
        """Replace the configuration (a new key pair each time, as Printful does)."""
        configured: dict[str, dict[str, Any]] = {}
        for event in events:
            spec = {"type": event} if isinstance(event, str) else dict(event)
            configured[spec["type"]] = {"url": spec.get("url"), "params": list(spec.get("params") or [])}
        with self._lock:
            self.config = WebhookConfig(default_url=default_url, events=configured, expires_at=expires_at)
            return self.config

    def disable(self) -> None:
        """No more deliveries."""
        with self._lock:
            self.config = None

    def submit(self, event_type: str, payload: Mapping[str, Any]) -> Delivery | None:
        """Queue an event if its type is subscribed; returns the queued delivery."""
        with self._lock:
            config = self.config
        url = config.url_for(event_type) if config else None
        if config is None or url is None:
            return None
        if self.route is not None:
            url = self.route(payload) or url
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = Delivery(event_type=event_type, url=url, headers=config.headers(body), body=body)
        self._ensure_worker()
        self._queue.put(delivery)
        return delivery

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far has been attempted."""
        done = threading.Event()
        self._ensure_worker()
        with self._lock:  # marker and its None go in together, so they pair up in order
            self._markers.append(done)
            self._queue.put(None)  # when the worker reaches it, everything queued before is done
        if not done.wait(timeout):
            raise TimeoutError("webhook deliveries still pending")

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="sandbox-supplier-webhooks", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    with self._lock:
                        marker = self._markers.pop(0) if self._markers else None
                    if marker:
                        marker.set()
                    continue
                try:
                    delivery.status = client.post(delivery.url, content=delivery.body, headers=delivery.headers).status_code
                except httpx.HTTPError as exc:
                    delivery.error = type(exc).__name__
                    log.warning("sandbox supplier: %s delivery failed (%s)", delivery.event_type, delivery.error)
                self.deliveries.append(delivery)
