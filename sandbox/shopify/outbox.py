"""What the store's operations want sent once they are done: webhooks and fulfillment-service callbacks.

Operations run under the store lock (a GraphQL document holds it while it executes), and
sending HTTP from there would make an app that calls back into the sandbox while handling
the delivery wait for the lock. So operations queue messages here and SandboxShopify
sends them after the lock is released (`SandboxShopify.deliver_pending`).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True)
class WebhookEvent:
    """A webhook topic (header form) and its REST-shaped payload, as it was when the event happened."""

    shop_domain: str
    topic: str
    payload: Any
    client_id: str | None = None  # only this app's subscriptions (app/scopes_update is about one app); None: every app


@dataclass(frozen=True)
class FulfillmentServiceCallback:
    """Shopify's `fulfillment_order_notification` POST to a fulfillment service's callback URL."""

    shop_domain: str
    callback_url: str  # the service's callbackUrl; the POST goes to <callback_url>/fulfillment_order_notification
    client_id: str  # the app owning the service: its secret signs the body
    kind: str  # FULFILLMENT_REQUEST or CANCELLATION_REQUEST


Message = Union[WebhookEvent, FulfillmentServiceCallback]


class Outbox:
    """A thread-safe queue of messages, drained in the order they were put."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []

    def put(self, message: Message) -> None:
        """Queue one message."""
        with self._lock:
            self._messages.append(message)

    def drain(self) -> list[Message]:
        """Take every queued message."""
        with self._lock:
            messages, self._messages = self._messages, []
            return messages

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)
