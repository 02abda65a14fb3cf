"""Topic -> handler map, declared in one place as data; handlers register with @handles."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy.orm import Session

from ..config import Settings


@dataclass
class WebhookContext:
    """What a handler gets: the open transaction, the delivery and the parsed payload."""

    session: Session
    settings: Settings
    shop_domain: str
    topic: str
    payload: Any
    delivery_id: int
    webhook_id: str
    api_version: str | None
    services: Any = None  # the app's service container (gateway factory, token store...)


Handler = Callable[[WebhookContext], None]

HANDLERS: dict[str, Handler] = {}

# Our own topics (not Shopify's): events from suppliers go through the same inbox.
INTERNAL_TOPICS = frozenset({"supplier/event", "fulfillment_service/notification"})

# Topics that must be honoured even for shops we do not (or no longer) know.
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})


def handles(*topics: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of the given topics."""

    def register(fn: Handler) -> Handler:
        for topic in topics:
            if topic in HANDLERS and HANDLERS[topic] is not fn:
                raise ValueError(f"topic {topic} already has a handler: {HANDLERS[topic].__name__}")
            HANDLERS[topic] = fn
        return fn

    return register


def handler_for(topic: str) -> Handler | None:
    """The registered handler for a topic, if any."""
    load_handlers()
    return HANDLERS.get(topic)


def load_handlers() -> dict[str, Handler]:
    """Import the handler modules so that their @handles decorators run."""
    from ..suppliers import fulfillment_service, webhooks as supplier_webhooks  # noqa: F401
    from .handlers import fulfillment_orders, inventory, lifecycle, orders, privacy, returns  # noqa: F401

    return HANDLERS
