"""A local sandbox Shopify: Admin GraphQL (real 2025-01 schema), OAuth, session tokens, webhooks.

Start one with `SandboxShopify().start()` or `python -m sandbox.shopify`.
"""
from __future__ import annotations

from .registry import resolver
from .server import SandboxShopify
from .store import Store, seed_demo_shop
from .webhooks import WebhookSender

__all__ = ["SandboxShopify", "Store", "WebhookSender", "resolver", "seed_demo_shop"]
