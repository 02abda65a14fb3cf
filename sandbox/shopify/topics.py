"""Webhook topic names: the GraphQL enum form (`ORDERS_CREATE`) and the header form (`orders/create`).

The header form is `<resource>/<event>`, where the resource is the enum's words up to
and including the first plural one (`FULFILLMENT_ORDERS_LINE_ITEMS_PREPARED_FOR_PICKUP`
-> `fulfillment_orders/line_items_prepared_for_pickup`). The few topics that break
that rule are listed explicitly.
"""
from __future__ import annotations

import functools

# Enum values whose header form the plural-word rule gets wrong.
EXCEPTIONS: dict[str, str] = {
    "APP_UNINSTALLED": "app/uninstalled",
    "APP_SCOPES_UPDATE": "app/scopes_update",
    "APP_PURCHASES_ONE_TIME_UPDATE": "app_purchases_one_time/update",
    "CUSTOMERS_EMAIL_MARKETING_CONSENT_UPDATE": "customers_email_marketing_consent/update",
    "CUSTOMERS_MARKETING_CONSENT_UPDATE": "customers_marketing_consent/update",
    "CUSTOMER_TAGS_ADDED": "customer.tags_added",
    "CUSTOMER_TAGS_REMOVED": "customer.tags_removed",
    "CUSTOMER_JOINED_SEGMENT": "customer.joined_segment",
    "CUSTOMER_LEFT_SEGMENT": "customer.left_segment",
    "SHOP_UPDATE": "shop/update",
}

# Topics Shopify sends that have no enum value (mandatory compliance webhooks).
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})


def enum_to_header(enum_value: str) -> str:
    """`ORDERS_CREATE` -> `orders/create`."""
    if enum_value in EXCEPTIONS:
        return EXCEPTIONS[enum_value]
    words = enum_value.lower().split("_")
    for i, word in enumerate(words[:-1]):
        if word.endswith("s"):
            return "_".join(words[: i + 1]) + "/" + "_".join(words[i + 1 :])
    # No plural word: a singular resource (`shop/update`-like); the last word is the event.
    return "_".join(words[:-1]) + "/" + words[-1]


@functools.lru_cache(maxsize=1)
def _header_to_enum_map() -> dict[str, str]:
    from integrations.shopify.schema import load_admin_schema

    enum = load_admin_schema().get_type("WebhookSubscriptionTopic")
    return {enum_to_header(name): name for name in enum.values}


def header_to_enum(topic: str) -> str | None:
    """`orders/create` -> `ORDERS_CREATE`; None when the schema has no such topic."""
    return _header_to_enum_map().get(topic.strip().lower())


def all_enum_topics() -> list[str]:
    """Every WebhookSubscriptionTopic value in the Admin schema (2026-10)."""
    return list(_header_to_enum_map().values())


def normalize_topic(topic: str) -> str:
    """Accept either form and return the header form (what X-Shopify-Topic carries)."""
    if "/" in topic or "." in topic:
        return topic.strip().lower()
    return enum_to_header(topic.strip().upper())
