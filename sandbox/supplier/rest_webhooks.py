"""Signed webhook delivery for the REST sandbox supplier.

Each event is POSTed as JSON to the configured URL with `X-Signature: sha256=<hex>`, the hex
HMAC-SHA256 of the raw body keyed with the shared secret (as UTF-8 text), and
`X-Event-Id`. Deliveries leave from one background thread in the order events happened,
one attempt each, logged in `deliveries`; `flush()` waits for everything queued so far.
"""
from __future__ import annotations

import collections
import hashlib
import hmac
import itertools
import json
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import httpx

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
EVENT_ID_HEADER = "X-Event-Id"


def sign(body: bytes, secret: str) -> str:
    """`sha256=` + hex HMAC-SHA256 of the raw body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class RestDelivery:
    """One attempt to deliver one event."""

    event_type: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    error: str | None = None


class RestWebhookDispatcher:
    """Holds the URL and secret, numbers events, and sends them from a background thread."""

    def __init__(self, timeout: float = 5.0):
        self.url: str | None = None
        self.secret: str | None = None
        self.deliveries: collections.deque[RestDelivery] = collections.deque(maxlen=1000)
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._queue: queue.Queue[RestDelivery] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def configure(self, url: str | None, secret: str) -> None:
        """Send events to `url` signed with `secret` (None: send nothing)."""
        with self._lock:
            self.url, self.secret = url, secret

    def submit(self, event_type: str, created_at: str, fields: Mapping[str, Any]) -> RestDelivery | None:
        """Queue one event; None when no URL is configured."""
        with self._lock:
            url, secret = self.url, self.secret
            event_id = f"evt_{next(self._ids):06d}"
        if url is None or secret is None:
            return None
        body = json.dumps({"id": event_id, "type": event_type, "created_at": created_at, **fields}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret), EVENT_ID_HEADER: event_id}
        delivery = RestDelivery(event_type, url, headers, body)
        self._ensure_worker()
        self._queue.put(delivery)
        return delivery

    def flush(self) -> None:
        """Wait until every queued delivery has been attempted."""
        self._queue.join()

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="sandbox-rest-webhooks", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                delivery = self._queue.get()
                try:
                    delivery.status = client.post(delivery.url, content=delivery.body, headers=delivery.headers).status_code
                except httpx.HTTPError as exc:
                    delivery.error = type(exc).__name__
                    log.warning("sandbox rest supplier: %s delivery failed (%s)", delivery.event_type, delivery.error)
                finally:
                    self.deliveries.append(delivery)
                    self._queue.task_done()
