"""inventory_levels/update: keep our copy of Shopify's available quantities current."""
from __future__ import annotations

import re

from sqlalchemy import select

from ...inventory.models import InventoryLevel
from ...orders.payloads import parse_time
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

# gid://shopify/InventoryLevel/<location>?inventory_item_id=<item> (exact ids, unlike the payload's integers).
LEVEL_GID = re.compile(r"^gid://shopify/InventoryLevel/(\d{1,19})\?inventory_item_id=(\d{1,19})$")
MAX_AVAILABLE = 2**31 - 1  # the column is a 32-bit integer


class BadInventoryPayload(PoisonPayload):
    """The payload does not name a level we can read."""


@handles("inventory_levels/update")
def on_inventory_level_update(ctx: WebhookContext) -> None:
    """Record Shopify's new available figure unless we already hold a newer one."""
    payload = ctx.payload if isinstance(ctx.payload, dict) else {}
    match = LEVEL_GID.match(str(payload.get("admin_graphql_api_id") or ""))
    if match is None:
        raise BadInventoryPayload("inventory_levels/update without an InventoryLevel admin_graphql_api_id")
    location_gid, item_gid = f"gid://shopify/Location/{match[1]}", f"gid://shopify/InventoryItem/{match[2]}"
    available = payload.get("available")
    if available is not None and (isinstance(available, bool) or not isinstance(available, int) or abs(available) > MAX_AVAILABLE):
        raise BadInventoryPayload(f"available is not a whole number within ±{MAX_AVAILABLE}")
    try:
        seen_at = parse_time(payload.get("updated_at"))
    except (ValueError, OverflowError):
        raise BadInventoryPayload("updated_at is not an ISO 8601 time") from None
    level = ctx.session.scalar(select(InventoryLevel).where(
        InventoryLevel.shop_domain == ctx.shop_domain, InventoryLevel.inventory_item_gid == item_gid, InventoryLevel.location_gid == location_gid))
    if level is None:
        ctx.session.add(InventoryLevel(shop_domain=ctx.shop_domain, inventory_item_gid=item_gid, location_gid=location_gid, available=available, available_seen_at=seen_at))
        return
    known = level.available_seen_at
    if seen_at is not None and known is not None and seen_at < known:
        return  # an older update arriving late
    level.available, level.available_seen_at, level.stocked = available, seen_at or known, True
