"""An installation's granted access scopes changing, and the app/scopes_update Shopify sends for it.

`AccessScopesMixin` is mixed into Store. Scopes change when the merchant approves the access
a new app version requests (managed install), or when the app gives optional scopes back
(`appRevokeAccessScopes`); the app's tokens carry the new grant at once, and Shopify sends
that app (only) app/scopes_update with `previous` and `current`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from .ids import gid_number
from .outbox import WebhookEvent
from .rest_payloads import rest_time

if TYPE_CHECKING:
    from .store import ShopState


class AccessScopesMixin:
    """Granting and withdrawing access (part of Store)."""

    def change_granted_scopes(self, shop: str | ShopState, client_id: str, scopes: Iterable[str]) -> dict[str, Any]:
        """Set the app's granted scopes on the shop; its tokens follow; app/scopes_update goes to the app. Returns the payload."""
        with self.lock:
            state = self.require_shop(shop)
            installation = self.installation(state, client_id)
            previous, current = list(installation["_scopes"]), list(dict.fromkeys(scopes))
            installation["_scopes"] = tuple(current)
            for token in state.access_tokens.values():
                if token.client_id == client_id:
                    token.scopes = tuple(current)
            payload = {"id": gid_number(installation["id"]), "previous": previous, "current": current,
                       "updated_at": rest_time(self.now_iso()), "shop_id": gid_number(state.record["id"])}
            self.outbox.put(WebhookEvent(state.domain, "app/scopes_update", payload, client_id=client_id))
            return payload
