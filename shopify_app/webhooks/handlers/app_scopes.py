"""app/scopes_update: record the access the shop granted; alert while a scope the app needs is missing."""
from __future__ import annotations

from ...granted_scopes import record_granted_scopes, scope_list
from ...orders.payloads import parse_time
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload


@handles("app/scopes_update")
def app_scopes_updated(ctx: WebhookContext) -> None:
    """Store `current` as the shop's grant and compare it with the scopes the app requests."""
    payload = ctx.payload if isinstance(ctx.payload, dict) else None
    current = payload.get("current") if payload else None
    if not isinstance(current, list) or not all(isinstance(s, str) and len(s) <= 100 for s in current) or len(current) > 500:
        raise PoisonPayload("app/scopes_update without a list of scopes in `current`")
    try:
        updated_at = parse_time(payload.get("updated_at"))
    except (ValueError, OverflowError, TypeError):
        raise PoisonPayload("updated_at is not an ISO 8601 time") from None
    record_granted_scopes(ctx.session, ctx.shop_domain, scope_list(current), updated_at, ctx.settings.scopes)
