"""app/uninstalled: forget the shop's tokens and stop its jobs."""
from __future__ import annotations

import logging

from sqlalchemy import delete, select

from ... import lifecycle
from ...models import Shop, ShopStatus, ShopToken, utcnow
from ..registry import WebhookContext, handles

log = logging.getLogger(__name__)


@handles("app/uninstalled")
def app_uninstalled(ctx: WebhookContext) -> None:
    """Delete the shop's tokens (they are revoked) and mark it uninstalled so jobs skip it."""
    shop = ctx.session.scalar(select(Shop).where(Shop.domain == ctx.shop_domain))
    if shop is None:
        return
    ctx.session.execute(delete(ShopToken).where(ShopToken.shop_id == shop.id))
    shop.status = ShopStatus.UNINSTALLED.value
    shop.uninstalled_at = utcnow()
    ctx.session.flush()
    lifecycle.shop_uninstalled(ctx.shop_domain)
    log.info("shop %s uninstalled; tokens deleted", ctx.shop_domain)
