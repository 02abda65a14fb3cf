"""The app's webhook subscriptions: declared in shopify.app.toml, and per shop when the app manages them itself.

By default (WEBHOOK_SUBSCRIPTIONS=app) Shopify creates the subscriptions declared in
shopify.app.toml for every shop (`shopify app deploy`); the Admin API does not list those.
Shop-level subscriptions the app created at our address for the same topics would then
deliver every event twice, so they are obsolete. With WEBHOOK_SUBSCRIPTIONS=shop (custom
apps, or an app whose toml is not deployed) the app holds one shop-level subscription per
declared topic at `{APP_URL}/webhooks`.

Either way they are reconciled by diffing what the shop has against what we want:
missing ones are created, only our own obsolete ones are deleted, and anything else
(another address, another integration's) is left alone. Never delete-all-and-recreate:
events in between would be lost.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from integrations.shopify.errors import ShopifyUserError

APP_TOML = Path(__file__).resolve().parents[2] / "shopify.app.toml"
WEBHOOK_PATH = "/webhooks"


def _declared() -> list[dict]:
    return tomllib.loads(APP_TOML.read_text())["webhooks"]["subscriptions"]


def declared_topics() -> list[str]:
    """Topics the app subscribes to in shopify.app.toml, compliance topics included (what Shopify sends it)."""
    return [t for s in _declared() for t in s.get("topics", []) + s.get("compliance_topics", [])]


def subscribable_topics() -> list[str]:
    """Declared topics that can be shop-level subscriptions (compliance topics are app-level only)."""
    return [t for s in _declared() for t in s.get("topics", [])]


def topic_enum(topic: str) -> str:
    """orders/create -> ORDERS_CREATE (the GraphQL WebhookSubscriptionTopic)."""
    return topic.upper().replace("/", "_")


@dataclass(frozen=True)
class SubscriptionPlan:
    """What to change on a shop: topics (enum form) to create, subscriptions (id, topic) to delete."""

    callback_url: str
    create: tuple[str, ...]
    delete: tuple[tuple[str, str], ...]


def plan_subscriptions(existing: list[dict], *, app_url: str, mode: str) -> SubscriptionPlan:
    """Diff the shop's subscriptions against what the app wants (`mode` app|shop)."""
    callback = app_url.rstrip("/") + WEBHOOK_PATH
    declared = {topic_enum(t) for t in subscribable_topics()}
    wanted = declared if mode == "shop" else set()
    kept: set[str] = set()
    delete = []
    for sub in existing:
        url = sub.get("uri") or ""
        if not url.startswith(app_url.rstrip("/") + "/"):
            continue  # not ours: another address, another integration
        if url == callback and sub["topic"] in wanted and sub["topic"] not in kept:
            kept.add(sub["topic"])
        else:
            delete.append((sub["id"], sub["topic"]))  # a duplicate, a stray path, or a topic we no longer want
    return SubscriptionPlan(callback, tuple(sorted(wanted - kept)), tuple(delete))


def shop_subscriptions(gateway) -> list[dict]:
    """Every shop-level subscription the app holds on the shop."""
    return list(gateway.paginate("WebhookSubscriptions", {"first": 100}, ("webhookSubscriptions",)))


def create_subscription(gateway, topic: str, callback_url: str) -> str:
    """Subscribe `topic` (enum form) at `callback_url`; an existing identical one counts as done."""
    try:
        gateway.mutate("WebhookSubscriptionCreate", {"topic": topic, "webhookSubscription": {"uri": callback_url, "format": "JSON"}},
                       "webhookSubscriptionCreate")
    except ShopifyUserError as exc:
        if any("already been taken" in (e.get("message") or "") for e in exc.user_errors):
            return "already subscribed"
        raise
    return f"subscribed {topic}"


def delete_subscription(gateway, subscription_id: str) -> str:
    """Remove one subscription; one already gone counts as done."""
    try:
        gateway.mutate("WebhookSubscriptionDelete", {"id": subscription_id}, "webhookSubscriptionDelete")
    except ShopifyUserError as exc:
        if any("not exist" in (e.get("message") or "").lower() or "not found" in (e.get("message") or "").lower() for e in exc.user_errors):
            return "already gone"
        raise
    return "deleted"


def reconcile_subscriptions(gateway, *, app_url: str, mode: str) -> SubscriptionPlan:
    """Apply the diff on a shop (at install, and from the reconciliation check); returns what it changed."""
    plan = plan_subscriptions(shop_subscriptions(gateway), app_url=app_url, mode=mode)
    for topic in plan.create:
        create_subscription(gateway, topic, plan.callback_url)
    for subscription_id, _topic in plan.delete:
        delete_subscription(gateway, subscription_id)
    return plan
