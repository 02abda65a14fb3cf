"""Topic -> handler map, declared in one place as data; handlers register with @handles."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.orm import Session

from ..config import Settings


@dataclass
class WebhookContext:
    """What a handler gets: the open transaction, the delivery and the parsed payload.

    Rule 6 (no network call inside a write transaction): a handler that must read from
    Shopify or a supplier declares a `prefetch` (run first, on a read-only session, its
    result in `prefetched`); one that must call out after writing registers the call with
    `after_commit` (run once its transaction committed, outside any transaction; the
    delivery is done only when every such call succeeded, else the whole delivery is
    retried, so handlers and calls must be idempotent).
    """

    session: Session
    settings: Settings
    shop_domain: str
    topic: str
    payload: Any
    delivery_id: int
    webhook_id: str
    api_version: str | None
    services: Any = None  # the app's service container (gateway factory, token store...)
    prefetched: Any = None  # what the topic's prefetch returned
    follow_ups: list[Callable[[], None]] = field(default_factory=list)
    calling_out: Callable[[], None] = lambda: None  # see before_calling_out

    def after_commit(self, call: Callable[[], None]) -> None:
        """Run `call` (network I/O, its own short transactions) after this handler's transaction commits."""
        self.follow_ups.append(call)

    def before_calling_out(self) -> None:
        """A prefetch registered with `lease_when_calling_out` calls this before its first network call (the delivery is leased then)."""
        self.calling_out()


Handler = Callable[[WebhookContext], None]
Prefetch = Callable[[WebhookContext], Any]

HANDLERS: dict[str, Handler] = {}
PREFETCHES: dict[str, Prefetch] = {}
SERIAL_KEYS: dict[str, Callable[[Any], Any]] = {}
HANDLED_ALIKE: dict[str, Callable[[str, Any], Any]] = {}
LAZY_LEASES: set[str] = set()

# Our own topics (not Shopify's): events from suppliers go through the same inbox.
INTERNAL_TOPICS = frozenset({"supplier/event", "fulfillment_service/notification"})

# Topics that must be honoured even for shops we do not (or no longer) know.
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})


def handles(*topics: str, prefetch: Prefetch | None = None, one_at_a_time: Callable[[Any], Any] | None = None,
            handled_alike: Callable[[str, Any], Any] | None = None, lease_when_calling_out: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of the given topics (and their network-reading prefetch).

    `one_at_a_time(payload)`: a key (e.g. the order's id); deliveries with the same key are
    handled one after another within a process (prefetch and write), so the second sees
    what the first committed. An optimisation only: handlers stay safe when run concurrently.

    `handled_alike(topic, payload)` (with `one_at_a_time`): everything the delivery's handling
    depends on besides its key, or None when it must be handled on its own. Deliveries of one
    key in one claimed batch whose values are equal are handled once: the first as usual, the
    others finished with it when it is done (webhooks/handled_alike.py). Equal values must
    mean that handling the later one right after the first would change nothing.

    `lease_when_calling_out`: the prefetch often reads nothing from the network (a repeated
    snapshot); it calls `ctx.before_calling_out()` before any network call. Its deliveries are
    then claimed like topics without a prefetch (taken in their write transaction, no lease
    written) and leased only when the prefetch is about to call out.
    """

    def register(fn: Handler) -> Handler:
        for topic in topics:
            if topic in HANDLERS and HANDLERS[topic] is not fn:
                raise ValueError(f"topic {topic} already has a handler: {HANDLERS[topic].__name__}")
            HANDLERS[topic] = fn
            if prefetch is not None:
                PREFETCHES[topic] = prefetch
            if one_at_a_time is not None:
                SERIAL_KEYS[topic] = one_at_a_time
                if handled_alike is not None:
                    HANDLED_ALIKE[topic] = handled_alike
            if lease_when_calling_out:
                LAZY_LEASES.add(topic)
        return fn

    return register


def handler_for(topic: str) -> Handler | None:
    """The registered handler for a topic, if any."""
    load_handlers()
    return HANDLERS.get(topic)


def prefetch_for(topic: str) -> Prefetch | None:
    """The topic's prefetch (network reads before the write transaction), if any."""
    load_handlers()
    return PREFETCHES.get(topic)


def serial_key(topic: str, payload: Any) -> Any:
    """The `one_at_a_time` key of a delivery (e.g. its order), or None when its topic is not handled one key at a time."""
    load_handlers()
    key_of = SERIAL_KEYS.get(topic)
    return key_of(payload) if key_of is not None else None


def handling_of(topic: str, payload: Any) -> Any:
    """The topic's `handled_alike` value of a delivery (equal values: handled once), or None (handled on its own)."""
    load_handlers()
    alike = HANDLED_ALIKE.get(topic)
    return alike(topic, payload) if alike is not None else None


def lazily_leased_topics() -> frozenset[str]:
    """The topics registered with `lease_when_calling_out`."""
    load_handlers()
    return frozenset(LAZY_LEASES)


def handled_one_at_a_time(topic: str) -> bool:
    """Whether the topic's deliveries are handled one key at a time."""
    load_handlers()
    return topic in SERIAL_KEYS


_loaded = False


def leases_when_calling_out(topic: str) -> bool:
    """Whether the topic's prefetch calls `ctx.before_calling_out()` first (its deliveries are leased only then)."""
    load_handlers()
    return topic in LAZY_LEASES


def load_handlers() -> dict[str, Handler]:
    """Import the handler modules so that their @handles decorators run."""
    global _loaded
    if _loaded:  # several calls per delivery: eleven import statements each cost more than the lookup they guard
        return HANDLERS
    from ..suppliers import fulfillment_service, webhooks as supplier_webhooks  # noqa: F401
    from .handlers import app_scopes, catalog, fulfillment_orders, fulfillments, inventory, lifecycle, orders, privacy, returns  # noqa: F401

    _loaded = True
    return HANDLERS
