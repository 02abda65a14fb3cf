"""Webhook deliveries exactly as Shopify sends them, with optional misbehaviour for tests.

`deliver()` is the plain, deterministic path: sign, POST, retry non-2xx answers a few
times (same X-Shopify-Webhook-Id on every retry, as Shopify does), return the response.
`submit()` is the path events take: it applies the configured faults first, using a
seeded random.Random so a failing test replays the same way:
  - duplicate_rate: the same delivery (same webhook id) is sent again;
  - drop_rate: the delivery is never sent (kept in `dropped`);
  - reorder_window: deliveries are held until that many are waiting, then sent shuffled
    (`flush()` sends what is still held);
  - delay_seconds: deliveries are sent that much later, from a background thread
    (`wait()` blocks until they are all done).
Every attempt is recorded in `log`.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from integrations.tls_defaults import default_verify_context

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=1.0)  # Shopify: 1 s to connect, 5 s to answer


def sign_body(body: bytes, secret: str) -> str:
    """X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256(raw body, app secret)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode_payload(payload: Any) -> bytes:
    """The body bytes: JSON for dicts and lists, as-is for bytes and str."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def triggered_at_now() -> str:
    """X-Shopify-Triggered-At for now (UTC, sub-second precision)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class WebhookDelivery:
    """One delivery of one event to one address."""

    topic: str  # header form, e.g. orders/create
    shop_domain: str
    url: str
    secret: str
    body: bytes
    webhook_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    api_version: str = "2026-10"
    triggered_at: str = field(default_factory=triggered_at_now)

    def headers(self) -> dict[str, str]:
        """The headers Shopify sends with it."""
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": self.topic,
            "X-Shopify-Hmac-Sha256": sign_body(self.body, self.secret),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": self.webhook_id,
            "X-Shopify-Event-Id": self.event_id,
            "X-Shopify-Triggered-At": self.triggered_at,
        }


@dataclass
class DeliveryAttempt:
    """One POST made (or tried): what was sent and what came back."""

    delivery: WebhookDelivery
    attempt: int  # 1 for the first try, 2 for the first retry...
    status: int | None  # None when the request failed before an answer
    error: str | None = None
    duplicate: bool = False
    sent_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class WebhookFaults:
    """How badly the sender behaves (all off by default)."""

    duplicate_rate: float = 0.0
    drop_rate: float = 0.0
    reorder_window: int = 0
    delay_seconds: float = 0.0


class WebhookSender:
    """Signs and POSTs webhooks; retries; optionally duplicates, drops, reorders and delays them."""

    def __init__(
        self,
        *,
        max_retries: int = 2,
        retry_delay: float = 0.05,
        seed: int = 0,
        faults: WebhookFaults | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.faults = faults or WebhookFaults()
        self.rng = random.Random(seed)
        self.log: list[DeliveryAttempt] = []
        self.dropped: list[WebhookDelivery] = []
        self._held: list[WebhookDelivery] = []
        self._lock = threading.Lock()
        self._pending: list[threading.Thread] = []
        self._client = http_client or httpx.Client(timeout=timeout, verify=default_verify_context())
        self._sleep = sleep

    def configure(self, *, seed: int | None = None, **faults: Any) -> None:
        """Change fault options (duplicate_rate, drop_rate, reorder_window, delay_seconds) and/or reseed."""
        with self._lock:
            for name, value in faults.items():
                if not hasattr(self.faults, name):
                    raise TypeError(f"unknown fault option {name!r}")
                setattr(self.faults, name, value)
            if seed is not None:
                self.rng = random.Random(seed)

    # -- the plain path -------------------------------------------------------------------

    def deliver(
        self,
        topic: str,
        payload: Any,
        shop_domain: str,
        *,
        secret: str,
        url: str,
        webhook_id: str | None = None,
        event_id: str | None = None,
        api_version: str = "2026-10",
    ) -> httpx.Response:
        """Send one webhook now (retrying non-2xx), no faults; raise if it never got an answer."""
        delivery = WebhookDelivery(topic, shop_domain, url, secret, encode_payload(payload), api_version=api_version)
        if webhook_id:
            delivery.webhook_id = webhook_id
        if event_id:
            delivery.event_id = event_id
        return self.send(delivery)

    def send(self, delivery: WebhookDelivery, *, duplicate: bool = False) -> httpx.Response:
        """POST a delivery with Shopify-like retries; the last response, or the last network error raised."""
        last_error: Exception | None = None
        response: httpx.Response | None = None
        for attempt in range(1, self.max_retries + 2):
            try:
                response = self._client.post(delivery.url, content=delivery.body, headers=delivery.headers())
                self._record(DeliveryAttempt(delivery, attempt, response.status_code, duplicate=duplicate))
                if 200 <= response.status_code < 300:
                    return response
                last_error = None
            except httpx.HTTPError as exc:
                last_error = exc
                self._record(DeliveryAttempt(delivery, attempt, None, f"{type(exc).__name__}: {exc}", duplicate=duplicate))
            if attempt <= self.max_retries:
                self._sleep(self.retry_delay * (2 ** (attempt - 1)))
        if response is None or last_error is not None:
            raise last_error  # type: ignore[misc]
        return response

    # -- the faulty path ------------------------------------------------------------------

    def submit(self, deliveries: list[WebhookDelivery], *, background: bool = False) -> None:
        """Send deliveries of an event through the configured faults."""
        to_send: list[WebhookDelivery] = []
        with self._lock:
            faults = self.faults
            for delivery in deliveries:
                if faults.drop_rate and self.rng.random() < faults.drop_rate:
                    self.dropped.append(delivery)
                    continue
                to_send.append(delivery)
            if faults.reorder_window > 1:
                self._held.extend(to_send)
                if len(self._held) < faults.reorder_window:
                    return
                to_send, self._held = self._held, []
                self.rng.shuffle(to_send)
            plan = [(d, faults.duplicate_rate > 0 and self.rng.random() < faults.duplicate_rate) for d in to_send]
            delay = faults.delay_seconds
        self._dispatch(plan, delay, background)

    def flush(self, *, background: bool = False) -> None:
        """Send (shuffled) whatever the reorder window still holds."""
        with self._lock:
            held, self._held = self._held, []
            self.rng.shuffle(held)
            plan = [(d, self.faults.duplicate_rate > 0 and self.rng.random() < self.faults.duplicate_rate) for d in held]
            delay = self.faults.delay_seconds
        self._dispatch(plan, delay, background)

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until delayed/background deliveries are done; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._pending = [t for t in self._pending if t.is_alive()]
                pending = list(self._pending)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pending[0].join(remaining)

    def run_in_background(self, work: Callable[[], None], name: str = "sandbox-webhooks") -> threading.Thread:
        """Run `work` on a daemon thread that `wait()` waits for (events sent after a request's answer)."""
        thread = threading.Thread(target=work, name=name, daemon=True)
        with self._lock:
            self._pending.append(thread)
        thread.start()
        return thread

    def _dispatch(self, plan: list[tuple[WebhookDelivery, bool]], delay: float, background: bool) -> None:
        if not plan:
            return
        if delay <= 0 and not background:
            self._send_plan(plan, 0.0)
            return
        thread = threading.Thread(target=self._send_plan, args=(plan, delay), name="sandbox-webhooks", daemon=True)
        with self._lock:
            self._pending.append(thread)
        thread.start()

    def _send_plan(self, plan: list[tuple[WebhookDelivery, bool]], delay: float) -> None:
        if delay > 0:
            time.sleep(delay)
        for delivery, duplicate in plan:
            for is_copy in ((False, True) if duplicate else (False,)):
                try:
                    self.send(delivery, duplicate=is_copy)
                except httpx.HTTPError:
                    pass  # recorded in the log; Shopify would try again much later

    # -- inspection -----------------------------------------------------------------------

    def _record(self, attempt: DeliveryAttempt) -> None:
        with self._lock:
            self.log.append(attempt)

    def attempts(self, *, topic: str | None = None, url: str | None = None, webhook_id: str | None = None) -> list[DeliveryAttempt]:
        """Logged attempts, optionally only those of one topic, address or webhook id."""
        with self._lock:
            return [
                a for a in self.log
                if (topic is None or a.delivery.topic == topic) and (url is None or a.delivery.url == url) and (webhook_id is None or a.delivery.webhook_id == webhook_id)
            ]

    def clear_log(self) -> None:
        """Forget logged attempts and dropped deliveries."""
        with self._lock:
            self.log.clear()
            self.dropped.clear()

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
