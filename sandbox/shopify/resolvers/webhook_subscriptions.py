"""Shop-level webhook subscriptions: list, create, update, delete (each app sees its own)."""
from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from ..connections import Listing
from ..ids import check_gid
from ..registry import resolver
from ..search import filter_records, sort_key_function
from ..topics import enum_to_header
from .common import user_error

LOOPBACK_HOSTS = {"localhost"}


def _subscription_for_app(info, gid: str) -> dict | None:
    obj = info.context.shop.get(check_gid(gid))
    if obj is None or obj["__typename"] != "WebhookSubscription" or obj["_clientId"] != info.context.client_id:
        return None
    return obj


@resolver("Query", "webhookSubscriptions")
def webhook_subscriptions(root: Any, info, topics: list[str] | None = None, callbackUrl: str | None = None, uri: str | None = None, format: str | None = None, query: str | None = None, sortKey: str | None = None, **_: Any) -> Listing:
    """The calling app's subscriptions on this shop."""
    ctx = info.context
    subs = ctx.store.webhook_subscriptions(ctx.shop, client_id=ctx.client_id)
    subs = [
        s for s in filter_records(subs, query, "WebhookSubscription")
        if (not topics or s["topic"] in topics) and (callbackUrl is None or s["uri"] == callbackUrl) and (uri is None or s["uri"] == uri) and (format is None or s["format"] == format)
    ]
    key = sort_key_function(sortKey)
    return Listing(sorted(subs, key=key), key)


@resolver("Query", "webhookSubscription")
def webhook_subscription(root: Any, info, id: str) -> dict | None:
    """One of the app's subscriptions by GID."""
    return _subscription_for_app(info, id)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_of(webhook_subscription: dict) -> tuple[str | None, str]:
    """The address given (`uri`, or the deprecated `callbackUrl`) and the input field that held it."""
    if webhook_subscription.get("uri") is not None:
        return webhook_subscription["uri"], "uri"
    return webhook_subscription.get("callbackUrl"), "callbackUrl"


def callback_url_errors(url: str | None, input_field: str = "callbackUrl") -> list[dict]:
    """Shopify's userErrors for a bad address (http is allowed only to loopback, for local receivers)."""
    field = ["webhookSubscription", input_field]
    if not url or not url.strip():
        return [user_error(field, "Address can't be blank")]
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [user_error(field, "Address is invalid")]
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return [user_error(field, "Address protocol http:// is not supported")]
    if parts.hostname in ("shopify.com", "myshopify.com") or parts.hostname.endswith((".shopify.com", ".myshopify.com")):
        return [user_error(field, "Address cannot be a Shopify or an internal domain")]
    return []


def topic_scope_errors(info, topic: str) -> list[dict]:
    """An error if the app's scopes do not cover the topic (the scopes its schema description names)."""
    from integrations.shopify.scopes import topic_requirement

    header = enum_to_header(topic)
    requirement = topic_requirement(header, info.schema)
    needed = requirement.scopes if requirement else ()
    if needed and not info.context.has_any_scope(needed):
        return [user_error(["topic"], f"You do not have permission to create or update webhooks with {header} topic. Required access: {' or '.join(needed)}.")]
    return []


def _payload(typename: str, subscription: dict | None, errors: list[dict]) -> dict:
    return {"__typename": typename, "webhookSubscription": None if errors else subscription, "userErrors": errors}


@resolver("Mutation", "webhookSubscriptionCreate")
def webhook_subscription_create(root: Any, info, topic: str, webhookSubscription: dict) -> dict:
    """Subscribe the calling app to a topic at an address."""
    ctx = info.context
    url, input_field = address_of(webhookSubscription)
    errors = topic_scope_errors(info, topic) or callback_url_errors(url, input_field)
    if not errors and any(s["uri"] == url.strip() for s in ctx.store.webhook_subscriptions(ctx.shop, topic=topic, client_id=ctx.client_id)):
        errors = [user_error(["webhookSubscription", input_field], "Address for this topic has already been taken")]
    if errors:
        return _payload("WebhookSubscriptionCreatePayload", None, errors)
    subscription = ctx.store.add_webhook_subscription(
        ctx.shop,
        ctx.client_id,
        topic,
        url.strip(),
        api_version=ctx.api_version,
        include_fields=webhookSubscription.get("includeFields") or (),
        filter=webhookSubscription.get("filter"),
        metafield_namespaces=webhookSubscription.get("metafieldNamespaces") or (),
    )
    if webhookSubscription.get("format"):
        subscription["format"] = webhookSubscription["format"]
    return _payload("WebhookSubscriptionCreatePayload", subscription, [])


@resolver("Mutation", "webhookSubscriptionUpdate")
def webhook_subscription_update(root: Any, info, id: str, webhookSubscription: dict) -> dict:
    """Change a subscription's address, format, fields or filter."""
    ctx = info.context
    subscription = _subscription_for_app(info, id)
    if subscription is None:
        return _payload("WebhookSubscriptionUpdatePayload", None, [user_error(["id"], "Webhook subscription does not exist")])
    url, input_field = address_of(webhookSubscription)
    if url is not None:
        errors = callback_url_errors(url, input_field)
        if not errors and any(s["id"] != subscription["id"] and s["uri"] == url.strip() for s in ctx.store.webhook_subscriptions(ctx.shop, topic=subscription["topic"], client_id=ctx.client_id)):
            errors = [user_error(["webhookSubscription", input_field], "Address for this topic has already been taken")]
        if errors:
            return _payload("WebhookSubscriptionUpdatePayload", None, errors)
        subscription["callbackUrl"] = subscription["uri"] = url.strip()
        subscription["endpoint"] = {"__typename": "WebhookHttpEndpoint", "callbackUrl": url.strip()}
    for key in ("format", "filter", "includeFields", "metafieldNamespaces"):
        if key in webhookSubscription and webhookSubscription[key] is not None:
            subscription[key] = webhookSubscription[key]
    ctx.store.touch(subscription)
    return _payload("WebhookSubscriptionUpdatePayload", subscription, [])


@resolver("Mutation", "webhookSubscriptionDelete")
def webhook_subscription_delete(root: Any, info, id: str) -> dict:
    """Remove one of the app's subscriptions."""
    subscription = _subscription_for_app(info, id)
    if subscription is None:
        return {"__typename": "WebhookSubscriptionDeletePayload", "deletedWebhookSubscriptionId": None, "userErrors": [user_error(["id"], "Webhook subscription does not exist")]}
    info.context.shop.remove(subscription["id"])
    return {"__typename": "WebhookSubscriptionDeletePayload", "deletedWebhookSubscriptionId": subscription["id"], "userErrors": []}
