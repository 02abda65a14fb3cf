"""The shop itself and the calling app's installation."""
from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from ..registry import resolver


@resolver("Query", "shop")
def shop(root: Any, info) -> dict:
    """The shop the request is for (from the Host header)."""
    return info.context.shop.record


@resolver("Query", "currentAppInstallation")
def current_app_installation(root: Any, info) -> dict:
    """The calling app's installation on this shop."""
    ctx = info.context
    if ctx.client_id is None:
        raise GraphQLError("No app is associated with this access token.", extensions={"code": "ACCESS_DENIED"})
    return ctx.store.installation(ctx.shop, ctx.client_id)


@resolver("AppInstallation", "accessScopes")
def access_scopes(installation: dict, info) -> list[dict]:
    """The scopes granted to the token in use."""
    return [{"__typename": "AccessScope", "handle": s, "description": s} for s in info.context.scopes]
