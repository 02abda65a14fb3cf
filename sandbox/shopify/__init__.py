"""A local sandbox Shopify: Admin GraphQL (real 2026-10 schema), OAuth, session tokens, webhooks,
orders with fulfillment orders, fulfillments and fulfillment services.

Start one with `SandboxShopify().start()` or `python -m sandbox.shopify`.
"""
from __future__ import annotations

from .registry import resolver
from .rest_payloads import order_webhook_payload
from .server import SandboxShopify
from .store import Store, add_non_shipping_products, seed_demo_shop
from .user_errors import ShopifyUserError
from .webhooks import WebhookSender

__all__ = [
    "SandboxShopify",
    "ShopifyUserError",
    "Store",
    "WebhookSender",
    "add_non_shipping_products",
    "order_webhook_payload",
    "resolver",
    "seed_demo_shop",
]
